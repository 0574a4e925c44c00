"""The plain parts of the workspace features, on their own: the ownership record, the step
texts that tell a step's length, the run tracker's step timing (with an injected clock),
and the error advice (with the valid names of the installed opentrons-shared-data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ot2_notebook.client.models import StepEvent
from ot2_notebook.magics import catalogue
from ot2_notebook.magics.advice import CUSTOM_LABWARE_ADVICE, improve, suggestions
from ot2_notebook.magics.ledger import Ledger, workspace_from_environment
from ot2_notebook.widgets.progress import RunTracker
from ot2_notebook.widgets.steptime import DELAY, HOLD, MODULE, PAUSE, PROFILE, step_timing

URL = "http://10.0.0.5:31950"

# -- the ownership record ---------------------------------------------------------------------


def test_a_workspace_record_survives_a_new_ledger_and_names_one_upload(tmp_path: Path) -> None:
    first = Ledger("lab/plates.ipynb", tmp_path)
    assert first.persistent and not first
    first.add_protocol(URL, "transfer", "2026-01-01T10:00:00+00:00", "abc")
    first.add_session(URL, "session-1")

    again = Ledger("lab/plates.ipynb", tmp_path)  # the kernel restarted
    assert again.owns_protocol(URL, "transfer", {"createdAt": "2026-01-01T10:00:00+00:00"})
    assert again.owned_protocol(URL, "transfer", "2026-01-01T10:00:00+00:00").fingerprint == ("abc")
    assert again.owns_session(URL, "session-1")
    # Someone deleted it and uploaded their own under the same name: not ours.
    assert not again.owns_protocol(URL, "transfer", {"createdAt": "2026-01-02T09:00:00+00:00"})
    assert not again.owns_protocol("http://10.0.0.6:31950", "transfer", {"createdAt": "x"})

    other = Ledger("lab/another.ipynb", tmp_path)  # a second notebook
    assert not other.owns_protocol(URL, "transfer", {"createdAt": "2026-01-01T10:00:00+00:00"})


def test_prune_forgets_what_the_robot_no_longer_holds(tmp_path: Path) -> None:
    ledger = Ledger("w", tmp_path)
    ledger.add_protocol(URL, "kept", "t1", "f")
    ledger.add_protocol(URL, "replaced", "t2", "f")
    ledger.add_protocol(URL, "gone", "t3", "f")
    ledger.add_session(URL, "s-kept")
    ledger.add_session(URL, "s-gone")
    ledger.prune(URL, [("kept", "t1"), ("replaced", "t9")], ["s-kept"])
    assert ledger.protocol_ids(URL) == ["kept"] and ledger.session_ids(URL) == ["s-kept"]
    assert Ledger("w", tmp_path).protocol_ids(URL) == ["kept"]


def test_without_a_workspace_nothing_is_written(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OT2_NOTEBOOK_STATE_DIR", str(tmp_path))
    ledger = Ledger("")
    ledger.add_protocol(URL, "p", "t", "f")
    assert not ledger.persistent and ledger.owns_protocol(URL, "p", {"createdAt": "t"})
    assert list(tmp_path.iterdir()) == []


def test_an_unreadable_record_starts_afresh(tmp_path: Path) -> None:
    ledger = Ledger("w", tmp_path)
    ledger.add_protocol(URL, "p", "t", "f")
    assert ledger.path is not None
    ledger.path.write_text("{not json")
    fresh = Ledger("w", tmp_path)
    assert fresh.protocol_ids(URL) == []
    fresh.add_protocol(URL, "q", "t", "f")
    assert json.loads(ledger.path.read_text())["robots"][URL]["protocols"]["q"]["createdAt"] == "t"


def test_the_workspace_is_the_notebook_jupyter_names(monkeypatch) -> None:
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/plates.ipynb")
    assert workspace_from_environment({}) == "/home/me/plates.ipynb"
    monkeypatch.delenv("JPY_SESSION_NAME")
    assert workspace_from_environment({"__vsc_ipynb_file__": "/x/y.ipynb"}) == "/x/y.ipynb"
    assert workspace_from_environment({}) == ""


# -- what a step's text says about its length -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "seconds", "what"),
    [
        ("Delaying for 5 minutes and 0.0 seconds", DELAY, 300.0, "delay"),
        ("Delaying for 0 minutes and 42.0 seconds. let it settle", DELAY, 42.0, "delay"),
        (
            "Setting Thermocycler well block temperature to 95.0 °C with a hold time of 30 seconds",
            HOLD,
            30.0,
            "hold at 95.0 °C",
        ),
        (
            "Setting Thermocycler well block temperature to 4.0 °C with a hold time of 1.0 "
            "minutes and 0 seconds",
            HOLD,
            60.0,
            "hold at 4.0 °C",
        ),
        (
            "Thermocycler starting 2 repetitions of cycle composed of the following steps: "
            "[{'temperature': 95, 'hold_time_seconds': 10}, {'temperature': 60, "
            "'hold_time_minutes': 1}]",
            PROFILE,
            140.0,
            "thermocycler profile, 2 repetitions",
        ),
        (  # robot software 4.7 leaves the steps unformatted
            "Thermocycler starting 30 repetitions of cycle composed of the following steps: "
            "{steps}",
            PROFILE,
            None,
            "thermocycler profile, 30 repetitions",
        ),
        (
            "Waiting for Temperature Module to reach temperature 20.0 °C (rounded off to "
            "nearest integer)",
            MODULE,
            None,
            "waiting for the Temperature Module to reach 20.0 °C",
        ),
        (
            "Setting Temperature Module temperature to 4.0 °C (rounded off to nearest integer)",
            MODULE,
            None,
            "waiting for the Temperature Module to reach 4.0 °C",
        ),
        (
            "Setting Thermocycler lid temperature to 105.0 °C",
            MODULE,
            None,
            "waiting for the Thermocycler lid to reach 105.0 °C",
        ),
        ("Pausing robot operation: check the plate", PAUSE, None, "check the plate"),
        ("Pausing robot operation", PAUSE, None, ""),
    ],
)
def test_long_steps_are_told_by_their_text(
    text: str, kind: str, seconds: float | None, what: str
) -> None:
    timing = step_timing(text)
    assert timing is not None
    assert (timing.kind, timing.seconds, timing.what) == (kind, seconds, what)


@pytest.mark.parametrize(
    "text",
    [None, "", "Aspirating 100.0 uL from A1 of plate on 2", "Engaging Magnetic Module", "done"],
)
def test_ordinary_steps_have_no_timing(text: str | None) -> None:
    assert step_timing(text) is None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def step(index: int, text: str) -> StepEvent:
    return StepEvent("s", f"c{index}", "command.DELAY.start", text, index, 3)


def test_the_tracker_counts_down_a_delay_at_the_robots_pace() -> None:
    clock = Clock()
    tracker = RunTracker(600.0, pace=10.0, clock=clock)  # a simulated robot at --speed 10
    tracker.on_state("loaded", "running", None)
    tracker.on_step(step(1, "Delaying for 1 minutes and 0.0 seconds"))
    clock.now += 2.0
    assert tracker.step_timing() is not None
    assert tracker.step_remaining() == pytest.approx(4.0)  # 60 s / 10 - 2 s
    assert tracker.remaining() == pytest.approx(600.0 / 10 * (2 / 3))
    tracker.on_state("running", "paused", None)  # the Pause button: the delay waits too
    clock.now += 30.0
    assert tracker.step_remaining() == pytest.approx(4.0)
    assert tracker.waiting_for_user() is None  # paused, but not by the protocol
    tracker.on_state("paused", "running", None)
    clock.now += 5.0
    assert tracker.step_remaining() == 0.0
    tracker.on_step(step(2, "Pausing robot operation: add the enzyme"))
    tracker.on_state("running", "paused", None)
    assert tracker.waiting_for_user() == "add the enzyme"
    tracker.on_state("paused", "finished", None)
    assert tracker.step_timing() is None and tracker.waiting_for_user() is None


def test_the_tracker_refuses_a_pace_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="pace must be a positive number"):
        RunTracker(pace=0)


# -- errors that name the right word ---------------------------------------------------------


def test_the_catalogue_is_read_from_the_installed_shared_data() -> None:
    assert "corning_96_wellplate_360ul_flat" in catalogue.labware_load_names()
    assert "p300_single_gen2" in catalogue.pipette_names()
    assert "temperatureModuleV2" in catalogue.module_models()


def test_suggestions_keep_only_the_close_ones() -> None:
    labware = catalogue.labware_load_names()
    assert suggestions("corning_96_wellplate_360ul_flt", labware) == [
        "corning_96_wellplate_360ul_flat"
    ]
    assert suggestions("zzzz", labware) == []
    assert suggestions("corning_96_wellplate_360ul_flat", labware) == []  # it is valid


OT8_LABWARE = (
    'Unable to find a labware definition for "opentrons_96_tiprack_300", version 1, in the '
    "opentrons namespace. Please confirm your protocol includes the correct labware spelling "
    "and (optionally) the correct version number and namespace.\nIf you are referencing a "
    "custom labware in your protocol, you must add it to your Custom Labware Definitions "
    "Folder from the Opentrons App before uploading your protocol."
)


def test_the_app_advice_becomes_this_projects_way() -> None:
    better = improve(OT8_LABWARE)
    assert "namespace. Please confirm" in better
    assert better.splitlines()[0].endswith('Did you mean "opentrons_96_tiprack_300ul"?')
    assert "Opentrons App" not in better
    assert better.splitlines()[-1] == CUSTOM_LABWARE_ADVICE


def test_robot_software_4_7_wordings_are_recognised() -> None:
    pipette = improve("p300_singel_gen2 is not a valid pipette name")
    assert pipette == (
        'p300_singel_gen2 is not a valid pipette name. Did you mean "p300_single_gen2"?'
    )
    module = improve(
        'tempdek is not a valid module load name.\nValid names (ignoring case): "magdeck", '
        '"magnetic module", "tempdeck", "temperature module"\nYou can also refer to modules by '
        'their exact model: "magneticModuleV1", "temperatureModuleV1"'
    )
    assert module.splitlines()[0].endswith('Did you mean "tempdeck"?')
    assert improve("something else went wrong") == "something else went wrong"
