"""Generated OT-2 protocols of a chosen size, so every benchmark times the same, known work.

A protocol of ``n`` commands is a plate fill: pick up a tip, ten aspirate/dispense pairs from
a reservoir into the plate, drop the tip, and so on. Each of those is one command of the
``opentrons.simulate`` run log (one protocol step of the simulator), so the size is exact.
API level 2.13: the newest level that OT-2 robots on software 4.x ran through the same
(non protocol-engine) path as the simulator's analysis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PAIRS_PER_TIP = 10
API_LEVEL = "2.13"
_TIP_SLOTS = (3, 4, 5, 6, 7, 8, 9, 10, 11)


def command_count(pairs: int) -> int:
    """Commands of a plate fill with ``pairs`` aspirate/dispense pairs."""
    tips = math.ceil(pairs / PAIRS_PER_TIP)
    return 2 * pairs + 2 * tips


def pairs_for(commands: int) -> int:
    """The fewest pairs giving at least ``commands`` commands."""
    pairs = max(1, commands // 2)
    while command_count(pairs) > commands and pairs > 1:
        pairs -= 1
    while command_count(pairs) < commands:
        pairs += 1
    return pairs


@dataclass(frozen=True)
class GeneratedProtocol:
    name: str
    commands: int
    source: str

    @property
    def data(self) -> bytes:
        return self.source.encode()


def plate_fill(name: str, commands: int) -> GeneratedProtocol:
    """A protocol of about ``commands`` commands (exactly ``command_count(pairs_for(n))``)."""
    pairs = pairs_for(commands)
    tips = math.ceil(pairs / PAIRS_PER_TIP)
    racks = math.ceil(tips / 96)
    if racks > len(_TIP_SLOTS):
        raise ValueError(f"{commands} commands need {racks} tip racks; the deck holds 9")
    slots = ", ".join(str(s) for s in _TIP_SLOTS[:racks])
    source = f'''"""Benchmark protocol {name}: {command_count(pairs)} commands (generated)."""
metadata = {{"apiLevel": "{API_LEVEL}", "protocolName": "benchmark {name}"}}


def run(ctx):
    plate = ctx.load_labware("corning_96_wellplate_360ul_flat", 1)
    reservoir = ctx.load_labware("nest_12_reservoir_15ml", 2)
    racks = [ctx.load_labware("opentrons_96_tiprack_300ul", slot) for slot in ({slots},)]
    pipette = ctx.load_instrument("p300_single_gen2", "right", tip_racks=racks)
    wells = plate.wells()
    for i in range({pairs}):
        if i % {PAIRS_PER_TIP} == 0:
            pipette.pick_up_tip()
        pipette.aspirate(50, reservoir["A1"])
        pipette.dispense(50, wells[i % 96])
        if i % {PAIRS_PER_TIP} == {PAIRS_PER_TIP - 1} or i == {pairs - 1}:
            pipette.drop_tip()
'''
    return GeneratedProtocol(name=name, commands=command_count(pairs), source=source)


#: The sizes the analysis benchmarks compare (name -> commands).
SIZES = {"small": 10, "500": 500, "3500": 3500}


def standard(size: str) -> GeneratedProtocol:
    return plate_fill(f"bench_{size}", SIZES[size])
