"""A generated protocol library for the batch benchmark: 62 protocols in 7 folders.

What a lab's library looks like: several protocol shapes, each folder with helper modules
and data that its protocols share, module protocols, a custom labware definition, API
levels 2.9 to 2.13 (robot software 4.x), protocols of 40 to 900 commands, and two protocols
that fail as real ones do (a mistyped labware name, running out of tips). Every protocol is
written here from templates of this project; nothing is copied from elsewhere.

opentrons simulates a thermocycler profile by polling its simulated block every 20 ms of
wall clock, so a 30-cycle profile takes about 17 s to simulate with the CPU idle (0.6 s of
CPU). Such protocols would measure waiting, not the batch; the PCR protocols here run two
or three cycles, and most only heat the lid.

* ``dilutions`` (10): serial dilutions down rows, with mixing; ``dilution_tools.py``,
  ``plans.csv``;
* ``normalisation`` (8): per-well water and sample volumes from a CSV; ``normalise.py``,
  ``samples_<n>.csv``;
* ``pcr`` (8): mastermix on a cold block, a thermocycler (2 run a short profile);
  ``pcr_steps.py``, ``profiles.json``;
* ``cleanup`` (8): magnetic bead clean-up with an 8-channel pipette; ``beads.py``,
  ``cleanup.json``;
* ``aliquots`` (8): aliquots into tubes on a temperature module; a custom labware
  definition ``ot2nb_24_tuberack_2000ul.json``, ``volumes.csv``;
* ``picking`` (12, 2 fail): cherry picking between plates; ``picklist_<n>.json``;
* ``replication`` (8): 8-channel plate replication; ``layout.json``.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.labware import grid_labware

ROWS = "ABCDEFGH"


@dataclass(frozen=True)
class CorpusProtocol:
    path: Path
    #: The exception type its analysis must report, or ``None`` when it must pass.
    fails_with: str | None = None


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _csv(rows: Sequence[Sequence[object]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


# -- dilutions ---------------------------------------------------------------------------------

DILUTION_TOOLS = '''"""Shared steps of the dilution protocols."""
import csv


def load_plan(name, path="plans.csv"):
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["plan"] == name:
                return {
                    "rows": row["rows"],
                    "steps": int(row["steps"]),
                    "volume": float(row["volume"]),
                    "mixes": int(row["mixes"]),
                }
    raise KeyError(f"no dilution plan named {name!r} in {path}")


def dilute_row(pipette, diluent, row, steps, volume, mixes):
    """Fill the row with diluent, then carry ``volume`` down it, mixing at every well."""
    pipette.pick_up_tip()
    for well in row[1 : steps + 1]:
        pipette.aspirate(volume, diluent)
        pipette.dispense(volume, well)
    pipette.drop_tip()
    for source, target in zip(row[:steps], row[1 : steps + 1]):
        pipette.pick_up_tip()
        pipette.aspirate(volume, source)
        pipette.dispense(volume, target)
        for _ in range(mixes):
            pipette.aspirate(volume / 2, target)
            pipette.dispense(volume / 2, target)
        pipette.blow_out(target.top())
        pipette.drop_tip()
'''

DILUTION_PROTOCOL = '''"""Serial dilution, plan {plan!r}: {description}."""
from dilution_tools import dilute_row, load_plan

metadata = {{
    "apiLevel": "{api}",
    "protocolName": "Serial dilution {plan}",
    "author": "bench lab",
    "description": "{description}",
}}


def run(ctx):
    plan = load_plan("{plan}")
    plate = ctx.load_labware("{plate}", 1)
    reservoir = ctx.load_labware("nest_12_reservoir_15ml", 2)
    tips = [ctx.load_labware("opentrons_96_tiprack_300ul", slot) for slot in (3, 6)]
    pipette = ctx.load_instrument("p300_single_gen2", "{mount}", tip_racks=tips)
    rows = plate.rows_by_name()
    for index, name in enumerate(plan["rows"]):
        diluent = reservoir.wells()[index % 12]
        ctx.comment(f"row {{name}}: {{plan['steps']}} steps of {{plan['volume']}} uL")
        dilute_row(pipette, diluent, rows[name], plan["steps"], plan["volume"], plan["mixes"])
'''


def _dilutions(root: Path, rng: random.Random) -> list[CorpusProtocol]:
    folder = root / "dilutions"
    _write(folder / "dilution_tools.py", DILUTION_TOOLS)
    plans: list[list[object]] = [["plan", "rows", "steps", "volume", "mixes"]]
    protocols = []
    for i in range(10):
        rows = "".join(rng.sample(ROWS, rng.randint(1, 4)))
        steps, volume, mixes = rng.randint(4, 11), rng.choice([20, 50, 100, 150]), rng.randint(1, 3)
        plan = f"P{i + 1:02d}"
        plans.append([plan, rows, steps, volume, mixes])
        source = DILUTION_PROTOCOL.format(
            plan=plan,
            description=f"rows {rows}, {steps} steps of {volume} uL, {mixes} mixes",
            api=rng.choice(["2.9", "2.11", "2.13"]),
            plate=rng.choice(["corning_96_wellplate_360ul_flat", "nest_96_wellplate_200ul_flat"]),
            mount=rng.choice(["left", "right"]),
        )
        protocols.append(CorpusProtocol(_write(folder / f"dilution_{plan.lower()}.py", source)))
    _write(folder / "plans.csv", _csv(plans))
    return protocols


# -- normalisation -----------------------------------------------------------------------------

NORMALISE = '''"""Volumes that bring every sample to the same concentration."""
import csv


def read_samples(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return [
            (row["well"], float(row["concentration"]))
            for row in csv.DictReader(handle)
        ]


def volumes(concentration, target, final_volume):
    sample = min(final_volume, final_volume * target / concentration)
    return round(final_volume - sample, 1), round(sample, 1)
'''

NORMALISATION_PROTOCOL = '''"""Normalise {samples} to {target} ng/uL in {final} uL."""
from normalise import read_samples, volumes

metadata = {{"apiLevel": "{api}", "protocolName": "Normalisation {n}", "author": "bench lab"}}


def run(ctx):
    source = ctx.load_labware("nest_96_wellplate_100ul_pcr_full_skirt", 1)
    target = ctx.load_labware("nest_96_wellplate_100ul_pcr_full_skirt", 2)
    water = ctx.load_labware("nest_12_reservoir_15ml", 3)["A1"]
    tips20 = [ctx.load_labware("opentrons_96_tiprack_20ul", slot) for slot in (4, 5)]
    tips300 = [ctx.load_labware("opentrons_96_tiprack_300ul", 6)]
    p20 = ctx.load_instrument("p20_single_gen2", "left", tip_racks=tips20)
    p300 = ctx.load_instrument("p300_single_gen2", "right", tip_racks=tips300)
    plan = [(well, *volumes(c, {target}, {final})) for well, c in read_samples("{samples}")]
    p300.pick_up_tip()
    for well, water_volume, _sample in plan:
        if water_volume > 0:
            pipette = p20 if water_volume <= 20 else p300
            if pipette is p20:
                p20.transfer(water_volume, water, target[well], new_tip="always")
            else:
                p300.aspirate(water_volume, water)
                p300.dispense(water_volume, target[well].top())
    p300.drop_tip()
    for well, _water, sample_volume in plan:
        pipette = p20 if sample_volume <= 20 else p300
        pipette.transfer(sample_volume, source[well], target[well], mix_after=(2, 5))
'''


def _normalisation(root: Path, rng: random.Random) -> list[CorpusProtocol]:
    folder = root / "normalisation"
    _write(folder / "normalise.py", NORMALISE)
    protocols = []
    for i in range(8):
        count = rng.choice([12, 24, 36, 48])
        wells = [f"{ROWS[k % 8]}{k // 8 + 1}" for k in range(count)]
        rows: list[list[object]] = [["well", "concentration"]]
        rows += [[well, round(rng.uniform(5, 120), 1)] for well in wells]
        samples = f"samples_{i + 1}.csv"
        _write(folder / samples, _csv(rows))
        source = NORMALISATION_PROTOCOL.format(
            samples=samples,
            target=rng.choice([2, 4, 5]),
            final=rng.choice([30, 40, 50]),
            api=rng.choice(["2.11", "2.13"]),
            n=i + 1,
        )
        protocols.append(CorpusProtocol(_write(folder / f"normalise_{i + 1}.py", source)))
    return protocols


# -- pcr ---------------------------------------------------------------------------------------

PCR_STEPS = '''"""Mastermix distribution and thermocycling for the PCR protocols."""
import json


def profile(name):
    with open("profiles.json", encoding="utf-8") as handle:
        return json.load(handle)[name]


def run_profile(thermocycler, settings):
    thermocycler.close_lid()
    thermocycler.set_lid_temperature(settings["lid"])
    thermocycler.execute_profile(
        steps=[{"temperature": t, "hold_time_seconds": s} for t, s in settings["initial"]],
        repetitions=1,
        block_max_volume=settings["volume"],
    )
    thermocycler.execute_profile(
        steps=[{"temperature": t, "hold_time_seconds": s} for t, s in settings["cycle"]],
        repetitions=settings["cycles"],
        block_max_volume=settings["volume"],
    )
    thermocycler.set_block_temperature(4)
    thermocycler.open_lid()
    thermocycler.deactivate_lid()
'''

PCR_PROTOCOL = '''"""PCR set-up for {columns} columns, profile {profile!r}."""
from pcr_steps import profile, run_profile

metadata = {{"apiLevel": "2.13", "protocolName": "PCR {n}", "author": "bench lab"}}


def run(ctx):
    settings = profile("{profile}")
    thermocycler = ctx.load_module("thermocycler module")
    plate = thermocycler.load_labware("nest_96_wellplate_100ul_pcr_full_skirt")
    cold = ctx.load_module("temperature module gen2", 3)
    tubes = cold.load_labware("opentrons_24_aluminumblock_nest_1.5ml_snapcap")
    templates = ctx.load_labware("nest_96_wellplate_100ul_pcr_full_skirt", 1)
    tips = [ctx.load_labware("opentrons_96_filtertiprack_20ul", slot) for slot in (2, 5, 6)]
    p20 = ctx.load_instrument("p20_single_gen2", "right", tip_racks=tips)
    cold.set_temperature(4)
    thermocycler.open_lid()
    thermocycler.set_block_temperature(4)
    targets = [well for column in plate.columns()[: {columns}] for well in column]
    p20.distribute({mastermix}, tubes["A1"], targets, disposal_volume=2)
    for source, target in zip(templates.wells(), targets):
        p20.transfer({template}, source, target, mix_after=(2, 10))
    if {cycle}:
        run_profile(thermocycler, settings)
    else:
        thermocycler.close_lid()
        thermocycler.set_lid_temperature(settings["lid"])
    cold.deactivate()
'''

PCR_PROFILES = {
    "standard": {
        "lid": 105,
        "volume": 25,
        "initial": [[95, 180]],
        "cycle": [[95, 15], [60, 30], [72, 30]],
        "cycles": 3,
    },
    "touchdown": {
        "lid": 105,
        "volume": 20,
        "initial": [[98, 30]],
        "cycle": [[98, 10], [65, 20], [72, 20]],
        "cycles": 2,
    },
    "colony": {
        "lid": 100,
        "volume": 20,
        "initial": [[95, 300]],
        "cycle": [[95, 30], [55, 30], [72, 60]],
        "cycles": 2,
    },
}


def _pcr(root: Path, rng: random.Random) -> list[CorpusProtocol]:
    folder = root / "pcr"
    _write(folder / "pcr_steps.py", PCR_STEPS)
    _write(folder / "profiles.json", json.dumps(PCR_PROFILES, indent=2) + "\n")
    protocols = []
    for i in range(8):
        source = PCR_PROTOCOL.format(
            columns=rng.randint(1, 4),
            profile=rng.choice(sorted(PCR_PROFILES)),
            mastermix=rng.choice([8, 10, 15]),
            template=rng.choice([2, 5]),
            cycle=i in (3, 6),  # the others leave the plate on the closed, heated block
            n=i + 1,
        )
        protocols.append(CorpusProtocol(_write(folder / f"pcr_{i + 1}.py", source)))
    return protocols


# -- cleanup -----------------------------------------------------------------------------------

BEADS = '''"""Bead clean-up steps on a magnetic module, with an 8-channel pipette."""
import json


def settings(name):
    with open("cleanup.json", encoding="utf-8") as handle:
        return json.load(handle)[name]


def mix_in(pipette, volume, well, times):
    for _ in range(times):
        pipette.aspirate(volume, well)
        pipette.dispense(volume, well)


def wash(ctx, pipette, magnet, columns, ethanol, waste, volume, washes):
    for _ in range(washes):
        magnet.engage(height_from_base=5)
        ctx.delay(seconds=30)
        for column in columns:
            pipette.pick_up_tip()
            pipette.aspirate(volume, column[0])
            pipette.dispense(volume, waste)
            pipette.aspirate(volume, ethanol)
            pipette.dispense(volume, column[0].top())
            pipette.drop_tip()
    magnet.disengage()
'''

CLEANUP_PROTOCOL = '''"""Bead clean-up of {columns} columns, settings {name!r}."""
from beads import mix_in, settings, wash

metadata = {{"apiLevel": "{api}", "protocolName": "Clean-up {n}", "author": "bench lab"}}


def run(ctx):
    config = settings("{name}")
    magnet = ctx.load_module("magnetic module gen2", 1)
    plate = magnet.load_labware("nest_96_wellplate_100ul_pcr_full_skirt")
    reservoir = ctx.load_labware("nest_12_reservoir_15ml", 2)
    elution = ctx.load_labware("nest_96_wellplate_100ul_pcr_full_skirt", 3)
    tips = [ctx.load_labware("opentrons_96_tiprack_300ul", slot) for slot in (4, 5, 6, 7)]
    pipette = ctx.load_instrument("p300_multi_gen2", "left", tip_racks=tips)
    columns = plate.columns()[: {columns}]
    beads, ethanol, water, waste = (reservoir.wells()[i] for i in (0, 1, 2, 11))
    for column in columns:
        pipette.pick_up_tip()
        pipette.aspirate(config["beads"], beads)
        pipette.dispense(config["beads"], column[0])
        mix_in(pipette, config["beads"], column[0], config["mixes"])
        pipette.drop_tip()
    ctx.delay(minutes=config["bind_minutes"])
    wash(ctx, pipette, magnet, columns, ethanol, waste, config["wash"], config["washes"])
    for column, target in zip(columns, elution.columns()):
        pipette.pick_up_tip()
        pipette.aspirate(config["elute"], water)
        pipette.dispense(config["elute"], column[0])
        mix_in(pipette, config["elute"], column[0], config["mixes"])
        pipette.aspirate(config["elute"], column[0])
        pipette.dispense(config["elute"], target[0])
        pipette.drop_tip()
'''

CLEANUP_SETTINGS = {
    "fast": {"beads": 50, "mixes": 5, "bind_minutes": 3, "wash": 150, "washes": 1, "elute": 30},
    "standard": {
        "beads": 90,
        "mixes": 10,
        "bind_minutes": 5,
        "wash": 180,
        "washes": 2,
        "elute": 40,
    },
    "thorough": {
        "beads": 100,
        "mixes": 15,
        "bind_minutes": 8,
        "wash": 200,
        "washes": 3,
        "elute": 50,
    },
}


def _cleanup(root: Path, rng: random.Random) -> list[CorpusProtocol]:
    folder = root / "cleanup"
    _write(folder / "beads.py", BEADS)
    _write(folder / "cleanup.json", json.dumps(CLEANUP_SETTINGS, indent=2) + "\n")
    protocols = []
    for i in range(8):
        source = CLEANUP_PROTOCOL.format(
            columns=rng.randint(2, 6),
            name=rng.choice(sorted(CLEANUP_SETTINGS)),
            api=rng.choice(["2.11", "2.13"]),
            n=i + 1,
        )
        protocols.append(CorpusProtocol(_write(folder / f"cleanup_{i + 1}.py", source)))
    return protocols


# -- aliquots (custom labware) -----------------------------------------------------------------

TUBE_RACK = "ot2nb_24_tuberack_2000ul"

ALIQUOT_PROTOCOL = '''"""Aliquot {reagent} into chilled tubes (custom rack {rack})."""
import csv

metadata = {{"apiLevel": "2.13", "protocolName": "Aliquots {n}", "author": "bench lab"}}


def volumes():
    with open("volumes.csv", newline="", encoding="utf-8") as handle:
        return {{row["reagent"]: float(row["volume"]) for row in csv.DictReader(handle)}}


def run(ctx):
    volume = volumes()["{reagent}"]
    block = ctx.load_module("temperature module gen2", 1)
    tubes = block.load_labware("{rack}")
    spare = ctx.load_labware("{rack}", 4)
    stock = ctx.load_labware("nest_12_reservoir_15ml", 2)
    tips = ctx.load_labware("opentrons_96_tiprack_1000ul", 3)
    pipette = ctx.load_instrument("p1000_single_gen2", "left", tip_racks=[tips])
    block.set_temperature(4)
    targets = tubes.wells()[: {tubes}] + spare.wells()[: {spares}]
    pipette.distribute(volume, stock["A{column}"], targets, disposal_volume=20)
    pipette.transfer(volume / 2, stock["A{column}"], spare.wells()[-1], new_tip="always")
    block.deactivate()
'''


def _aliquots(root: Path, rng: random.Random) -> list[CorpusProtocol]:
    folder = root / "aliquots"
    definition = grid_labware(
        TUBE_RACK,
        "ot2_notebook 24 Tube Rack 2 mL",
        rows=4,
        columns=6,
        well_volume_ul=2000,
        well_diameter_mm=10.0,
        well_depth_mm=38.0,
        spacing_mm=19.0,
        height_mm=44.0,
    )
    _write(folder / f"{TUBE_RACK}.json", json.dumps(definition, indent=1) + "\n")
    reagents = ["buffer_a", "buffer_b", "enzyme_mix", "primer_mix", "dntp", "ladder"]
    _write(
        folder / "volumes.csv",
        _csv([["reagent", "volume"]] + [[r, rng.choice([50, 100, 200, 500])] for r in reagents]),
    )
    protocols = []
    for i in range(8):
        source = ALIQUOT_PROTOCOL.format(
            reagent=rng.choice(reagents),
            rack=TUBE_RACK,
            tubes=rng.randint(8, 24),
            spares=rng.randint(0, 12),
            column=rng.randint(1, 12),
            n=i + 1,
        )
        protocols.append(CorpusProtocol(_write(folder / f"aliquot_{i + 1}.py", source)))
    return protocols


# -- picking -----------------------------------------------------------------------------------

PICKING_PROTOCOL = '''"""Cherry picking from {picklist}."""
import json

metadata = {{"apiLevel": "{api}", "protocolName": "Cherry picking {n}", "author": "bench lab"}}


def run(ctx):
    with open("{picklist}", encoding="utf-8") as handle:
        picks = json.load(handle)["picks"]
    source = ctx.load_labware("{source_plate}", 1)
    target = ctx.load_labware("corning_96_wellplate_360ul_flat", 2)
    tips = ctx.load_labware("opentrons_96_tiprack_20ul", 3)
    pipette = ctx.load_instrument("p20_single_gen2", "right", tip_racks=[tips])
    for pick in picks:
        pipette.pick_up_tip()
        pipette.aspirate(pick["volume"], source[pick["from"]])
        pipette.dispense(pick["volume"], target[pick["to"]])
        pipette.touch_tip(target[pick["to"]])
        pipette.drop_tip()
'''


def _wells(rng: random.Random, count: int) -> list[str]:
    every = [f"{r}{c}" for c in range(1, 13) for r in ROWS]
    return rng.sample(every, count)


def _picking(root: Path, rng: random.Random) -> list[CorpusProtocol]:
    folder = root / "picking"
    protocols = []
    for i in range(12):
        count = rng.randint(10, 80)
        failing = None
        source_plate = "nest_96_wellplate_200ul_flat"
        if i == 10:  # a typo a reviewer missed: the labware does not exist
            source_plate, failing = "nest_96_wellplate_200ul_flatt", "FileNotFoundError"
        if i == 11:  # more picks than one tip rack holds
            count, failing = 120, "OutOfTipsError"
        sources = _wells(rng, min(count, 96)) * 2
        targets = _wells(rng, min(count, 96)) * 2
        picks = [
            {"from": a, "to": b, "volume": rng.choice([2, 5, 10, 15])}
            for a, b in zip(sources[:count], targets[:count], strict=True)
        ]
        picklist = f"picklist_{i + 1}.json"
        _write(folder / picklist, json.dumps({"picks": picks}, indent=1) + "\n")
        source = PICKING_PROTOCOL.format(
            picklist=picklist,
            api=rng.choice(["2.9", "2.11", "2.13"]),
            source_plate=source_plate,
            n=i + 1,
        )
        path = _write(folder / f"pick_{i + 1}.py", source)
        protocols.append(CorpusProtocol(path, failing))
    return protocols


# -- replication -------------------------------------------------------------------------------

REPLICATION_PROTOCOL = '''"""Replicate {columns} columns of the master onto {copies} plates."""
import json

metadata = {{"apiLevel": "{api}", "protocolName": "Replication {n}", "author": "bench lab"}}


def run(ctx):
    with open("layout.json", encoding="utf-8") as handle:
        layout = json.load(handle)
    master = ctx.load_labware(layout["master"], 1)
    copies = [ctx.load_labware(layout["copy"], slot) for slot in layout["slots"][: {copies}]]
    tips = [ctx.load_labware("opentrons_96_tiprack_300ul", slot) for slot in (10, 11)]
    pipette = ctx.load_instrument("p300_multi_gen2", "{mount}", tip_racks=tips)
    for index in range({columns}):
        pipette.pick_up_tip()
        for plate in copies:
            pipette.aspirate({volume}, master.columns()[index][0])
            pipette.dispense({volume}, plate.columns()[index][0])
            pipette.blow_out(plate.columns()[index][0].top())
        pipette.drop_tip()
'''


def _replication(root: Path, rng: random.Random) -> list[CorpusProtocol]:
    folder = root / "replication"
    layout = {
        "master": "corning_96_wellplate_360ul_flat",
        "copy": "nest_96_wellplate_200ul_flat",
        "slots": [2, 3, 4, 5, 6, 7, 8, 9],
    }
    _write(folder / "layout.json", json.dumps(layout, indent=2) + "\n")
    protocols = []
    for i in range(8):
        source = REPLICATION_PROTOCOL.format(
            columns=rng.randint(3, 12),
            copies=rng.randint(2, 8),
            volume=rng.choice([10, 20, 50]),
            mount=rng.choice(["left", "right"]),
            api=rng.choice(["2.9", "2.11", "2.13"]),
            n=i + 1,
        )
        protocols.append(CorpusProtocol(_write(folder / f"replicate_{i + 1}.py", source)))
    return protocols


def write_library(root: Path, seed: int = 15) -> list[CorpusProtocol]:
    """Write the library under ``root`` (the same files for the same seed)."""
    rng = random.Random(seed)
    protocols: list[CorpusProtocol] = []
    for make in (_dilutions, _normalisation, _pcr, _cleanup, _aliquots, _picking, _replication):
        protocols += make(root, rng)
    return protocols


if __name__ == "__main__":  # write the library somewhere to look at it
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "batch-library")
    found = write_library(target)
    print(f"{len(found)} protocols under {target}")
