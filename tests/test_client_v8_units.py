"""The plain-data parts of the robot software 5+ client, on what the real robot-server 8.1.0
sent (``tests/recordings/robot-server-8``) and on packed protocols executed here as the
robot executes them (``exec`` of the file's code in a fresh namespace, then ``run``).

No server here: the same parts against real ``ot2-sim`` processes are in
``test_client_v8.py``; the packed seed example ran on the real robot-server 8.1.0 (see
``README.md``, "Robot software 5 and later").
"""

from __future__ import annotations

import builtins
import gc
import json
import subprocess
import sys
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from ot2_notebook import session_states as states
from ot2_notebook.client.commands_v8 import Deck, display_names, legacy_name, step_events
from ot2_notebook.client.errors_v8 import error_info, rejection_info
from ot2_notebook.client.models import ProtocolData, SessionData
from ot2_notebook.client.packing import BOOT_LINES, BundleKey, is_labware_definition, pack
from ot2_notebook.client.protocols_v8 import protocol_json, protocol_name
from ot2_notebook.client.runs_v8 import action_events, session_json
from ot2_notebook.client.software import RobotSoftware
from ot2_notebook.simulator.environment import simulator_interpreter

HERE = Path(__file__).resolve().parent
RECORDED = HERE / "recordings" / "robot-server-8"
PROTOCOLS = HERE / "protocols"


def exchanges(name: str) -> dict[int, Mapping[str, Any]]:
    data = json.loads((RECORDED / name).read_text())
    return {e["seq"]: e for e in data["exchanges"]}


def answer(name: str, seq: int) -> Any:
    return exchanges(name)[seq]["response"]["json"]["data"]


# -- which robot ----------------------------------------------------------------------------


def test_the_api_is_read_from_health() -> None:
    real8 = exchanges("00_health_settings_version_header.json")[1]["response"]["json"]
    assert real8["api_version"] == "8.1.0"
    software = RobotSoftware.from_health(real8, "http://10.0.0.5:31950")
    assert (software.api, software.major, software.mqtt) == ("runs", 8, ("10.0.0.5", 1883))
    assert not software.simulated
    four = json.loads(
        (HERE / "recordings" / "robot-server-4" / "00_health_and_feature_flag.json").read_text()
    )
    body = next(
        e["response"]["json"] for e in four["exchanges"] if e["request"]["path"] == "/health"
    )
    assert RobotSoftware.from_health(body, "http://10.0.0.5:31950").api == "sessions"
    sim8 = {"api_version": "8.8.2", "simulator": {"robot_software": 8, "mqtt": None}}
    assert RobotSoftware.from_health(sim8, "http://127.0.0.1:1").mqtt is None  # poll
    sim4 = {"api_version": "4.7.0", "simulator": {"name": "ot2-sim"}}
    assert RobotSoftware.from_health(sim4, "http://127.0.0.1:1").api == "sessions"
    assert RobotSoftware.assumed(7, "http://robot:31950").mqtt == ("robot", 1883)
    with pytest.raises(ValueError, match="robot_software"):
        RobotSoftware.assumed("latest", "http://robot:31950")


# -- packing --------------------------------------------------------------------------------


@pytest.fixture
def clean_imports() -> Iterator[None]:
    """Every test leaves the interpreter's import machinery as it found it."""
    original = builtins.__import__
    modules = set(sys.modules)
    yield
    gc.collect()
    assert builtins.__import__ is original
    assert not {m for m in set(sys.modules) - modules if m in ("helpers", "rules", "shapes")}


def execute(packed_text: str, file_name: str = "protocol.py") -> dict[str, Any]:
    """What the robot does with a protocol file: compile it under its name and run its code
    in a fresh namespace (opentrons' ``exec_run``)."""
    namespace: dict[str, Any] = {}
    exec(compile(packed_text, file_name, "exec"), namespace)
    return namespace


def packed(protocol: str, *support: tuple[str, str | bytes], name: str = "protocol.py") -> str:
    files = [(n, c.encode() if isinstance(c, str) else c) for n, c in support]
    return pack((name, protocol.encode()), files).main[1].decode()


def test_the_seed_packs_into_one_file_whose_helpers_import_and_whose_json_opens(
    tmp_path: Path,
) -> None:
    support = [
        (p.name, p.read_bytes())
        for p in (PROTOCOLS / "helpers.py", PROTOCOLS / "basic_transfer_config.json")
    ]
    result = pack(("basic_transfer.py", (PROTOCOLS / "basic_transfer.py").read_bytes()), support)
    assert result.main[0] == "basic_transfer.py" and result.extra == ()
    assert result.key == BundleKey(
        "basic_transfer", ("helpers.py", "basic_transfer_config.json"), at=1, lines=BOOT_LINES
    )
    text = result.main[1].decode()
    original = (PROTOCOLS / "basic_transfer.py").read_text().splitlines()
    lines = text.splitlines()
    assert lines[BOOT_LINES : BOOT_LINES + len(original)] == original  # line N is N + 2
    assert lines[-1] == "__ot2nb_end__()"
    # The seed imports opentrons, which only the simulator's environment has: the packed file
    # runs there, in a fresh interpreter, as the robot runs it.
    script = (
        "import json, sys\n"
        "namespace = {}\n"
        "exec(compile(sys.stdin.read(), 'basic_transfer.py', 'exec'), namespace)\n"
        "config = namespace['load_config']('basic_transfer_config.json')\n"
        "print(json.dumps([config['tiprack'], callable(namespace['run'])]))\n"
    )
    done = subprocess.run(
        [simulator_interpreter(), "-c", script],
        input=text,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # the json is read from the bundle, not from the working directory
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == ["opentrons_96_tiprack_300ul", True]


def test_imports_and_files_inside_functions_and_modules(clean_imports: None, tmp_path: Any) -> None:
    protocol = """import json
import rules
SETTINGS = json.load(open("settings.json"))
metadata = {"apiLevel": "2.20"}


def run(ctx):
    from shapes import area
    with open("./plate_map.csv", newline="") as f:
        rows = f.read().splitlines()
    with open("plate_map.csv", "rb") as f:
        raw = f.read()
    return rules.scaled(area(2)), rows, raw, SETTINGS["factor"]
"""
    rules = "from shapes import area\n\ndef scaled(x):\n    return x * area(1)\n"
    shapes = "import rules\n\ndef area(side):\n    return side * side\n"
    namespace = execute(
        packed(
            protocol,
            ("rules.py", rules),
            ("shapes.py", shapes),
            ("settings.json", '{"factor": 3}'),
            ("plate_map.csv", "well,volume\r\nA1,10\r\n"),
        )
    )
    scaled, rows, raw, factor = namespace["run"](None)
    assert (scaled, factor) == (4, 3)  # shapes and rules import each other, lazily too
    assert rows == ["well,volume", "A1,10"] and raw == b"well,volume\r\nA1,10\r\n"
    # anything else is the real open, in the robot-server's own working directory
    with pytest.raises(FileNotFoundError):
        namespace["open"](str(tmp_path / "no_such.csv"))
    out = tmp_path / "out.txt"
    with namespace["open"](out, "w") as f:
        f.write("written")
    assert out.read_text() == "written"


def test_helper_modules_may_use_future_annotations_and_dataclasses(
    clean_imports: None,
) -> None:
    helper = (
        "from __future__ import annotations\nfrom dataclasses import dataclass\n\n@dataclass\n"
        "class Well:\n    name: str\n    volume: float = 0.0\n"
    )
    protocol = '"""A protocol."""\nfrom __future__ import annotations\nfrom helpers import Well\n'
    protocol += "def run(ctx) -> Well:\n    return Well('A1', 5)\n"
    text = packed(protocol, ("helpers.py", helper))
    assert text.splitlines()[1].startswith("from __future__ import annotations")
    assert execute(text)["run"](None).volume == 5
    key = pack(("protocol.py", protocol.encode()), [("helpers.py", helper.encode())]).key
    assert (key.at, key.lines) == (3, BOOT_LINES)
    assert [key.protocol_line(n) for n in (1, 2, 3, 4, 5)] == [1, 2, None, None, 3]


def test_two_bundles_at_once_each_import_their_own_helpers(clean_imports: None) -> None:
    inner = packed("from helpers import WHO\nINNER = WHO\n", ("helpers.py", "WHO = 'inner'\n"))
    outer = (
        "def start_another(text):\n"
        "    space = {}\n"
        "    exec(compile(text, 'inner.py', 'exec'), space)\n"
        "    return space['INNER']\n"
        f"SEEN_INSIDE = start_another({inner!r})\n"
        "from helpers import WHO\n"
    )
    namespace = execute(packed(outer, ("helpers.py", "WHO = 'outer'\n")))
    assert (namespace["SEEN_INSIDE"], namespace["WHO"]) == ("inner", "outer")
    assert "helpers" not in sys.modules


def test_a_protocol_failing_at_the_top_leaves_the_import_hook_only_until_collected(
    clean_imports: None,
) -> None:
    failing = packed("import helpers\nraise RuntimeError('at import')\n", ("helpers.py", "X = 1\n"))
    with pytest.raises(RuntimeError, match="at import"):
        execute(failing)
    gc.collect()  # the robot drops the protocol's namespace
    execute(packed("import helpers\n", ("helpers.py", "X = 2\n")))  # its last line unhooks


def test_an_exception_in_an_embedded_module_names_that_module_and_line(
    clean_imports: None,
) -> None:
    text = packed(
        "from helpers import check\n\ndef run(ctx):\n    check()\n",
        ("helpers.py", "def check():\n    raise ValueError('bad')\n"),
    )
    namespace = execute(text)
    with pytest.raises(ValueError) as raised:
        namespace["run"](None)
    frames = [(f.filename, f.lineno) for f in traceback.extract_tb(raised.tb)]
    assert ("protocol.py", 4 + BOOT_LINES) in frames and ("helpers.py", 2) in frames


def test_what_travels_beside_the_packed_file() -> None:
    labware = (PROTOCOLS / "ot2nb_6_tuberack_5000ul.json").read_bytes()
    assert is_labware_definition("ot2nb_6_tuberack_5000ul.json", labware)
    config = (PROTOCOLS / "basic_transfer_config.json").read_bytes()
    assert not is_labware_definition("basic_transfer_config.json", config)
    result = pack(
        ("p.py", b"metadata = {'apiLevel': '2.20'}\ndef run(ctx): pass\n"),
        [("tubes.json", labware), ("map.csv", b"a"), ("config.json", config)],
    )
    assert [n for n, _ in result.extra] == ["tubes.json", "map.csv"]
    alone = pack(("p.py", b"def run(ctx): pass\n"), [])
    assert alone.main == ("p.py", b"def run(ctx): pass\n") and alone.key.lines == 0


def test_the_key_round_trips_and_other_keys_are_not_ours() -> None:
    key = BundleKey("dilution", ("helpers.py", "map.csv"), at=3, lines=2)
    assert BundleKey.parse(key.to_text()) == key
    assert len(BundleKey("basic_transfer", ("helpers.py",), lines=2).to_text()) < 100
    for other in (None, "", "client-key-123", '{"ot2nb": 2, "name": "x"}', "{broken"):
        assert BundleKey.parse(other) is None


# -- errors ---------------------------------------------------------------------------------


def analysis_errors(name: str, seq: int) -> list[Mapping[str, Any]]:
    return list(answer(name, seq)["errors"])


def test_recorded_analysis_errors_become_the_4x_errors() -> None:
    raised = error_info(analysis_errors("02_analysis_errors.json", 5)[0], "raise_in_run.py")
    assert (raised.type, raised.exception_type) == ("ExceptionInProtocolError", "RuntimeError")
    assert (raised.file, raised.line) == ("raise_in_run.py", 8)
    assert raised.description == "deliberate failure in protocol"
    shifted = error_info(
        analysis_errors("02_analysis_errors.json", 5)[0],
        "raise_in_run.py",
        BundleKey("raise_in_run", ("helpers.py",), lines=2),
    )
    assert shifted.line == 6  # the packed file's line 8 is the protocol's line 6
    missing = error_info(analysis_errors("02_analysis_errors.json", 22)[0], "missing_import.py")
    assert (missing.type, missing.file, missing.line) == (
        "ModuleNotFoundError",
        "missing_import.py",
        2,
    )
    assert missing.description == "No module named 'no_such_module_here'"
    labware = error_info(analysis_errors("02_analysis_errors.json", 18)[0], "missing_labware.py")
    assert (labware.exception_type, labware.line) == ("FileNotFoundError", 5)
    assert labware.description.startswith('Labware "no_such_labware_definition" not found')


def test_a_run_error_from_a_helper_names_the_helper() -> None:
    error = {
        "errorType": "ExceptionInProtocolError",
        "detail": "ValueError [line 7]: bad config x.json",
        "wrappedErrors": [
            {
                "errorType": "PythonException",
                "detail": "ValueError: bad config x.json",
                "errorInfo": {
                    "class": "ValueError",
                    "traceback": '  File "/venv/opentrons/execute_python.py", line 155, in run\n'
                    '  File "<string>", line 1, in <module>\n'
                    '  File "basic_transfer.py", line 7, in run\n'
                    '  File "<ot2-notebook bundle>", line 142, in bundle_import\n'
                    '  File "helpers.py", line 5, in load_config\n',
                },
            }
        ],
    }
    key = BundleKey("basic_transfer", ("helpers.py", "x.json"), lines=2)
    info = error_info(error, "basic_transfer.py", key)
    assert (info.file, info.line, info.exception_type) == ("helpers.py", 5, "ValueError")
    assert info.description == "bad config x.json"
    unpacked = error_info(error, "basic_transfer.py", None)  # not our upload: no helpers
    assert (unpacked.file, unpacked.line) == ("basic_transfer.py", 7)


def test_refused_uploads_name_their_file_and_line() -> None:
    detail = exchanges("02_analysis_errors.json")[1]["response"]["json"]["errors"][0]["detail"]
    info = rejection_info(detail, "syntax_error.py", None)
    assert (info.type, info.description, info.file, info.line) == (
        "SyntaxError",
        "expected ':'",
        "syntax_error.py",
        3,
    )
    other = rejection_info("No function 'run(ctx)' defined", "p.py", None)
    assert (other.type, other.line) == ("ProtocolFilesInvalid", None)


# -- commands, runs, protocols --------------------------------------------------------------


def test_recorded_run_commands_become_step_events_with_text_and_data() -> None:
    run = answer("01_seed_happy_path.json", 67)  # the API 2.20 variant, with a liquid
    commands = answer("01_seed_happy_path.json", 76)
    analysis = answer("01_seed_happy_path.json", 63)
    events = step_events(commands, Deck.of(run, display_names(analysis["commands"])))
    starts = [e for e in events if e["event"].endswith(".start")]
    # no home, no loads; the engine's move to the trash is part of the drop
    assert [e["event"] for e in starts] == [
        "command.PICK_UP_TIP.start",
        "command.ASPIRATE.start",
        "command.DISPENSE.start",
        "command.DROP_TIP.start",
    ]
    texts = [e["params"]["text"] for e in starts]
    assert texts[0] == "Picking up tip from A1 of Opentrons OT-2 96 Tip Rack 300 µL on 2"
    aspirate = next(e for e in starts if e["event"] == "command.ASPIRATE.start")
    assert aspirate["params"]["structured"] == {
        "command": "ASPIRATE",
        "pipette": {"mount": "right", "name": "p300_single", "channels": 1},
        "volume": 100.0,
        "flowRate": 150.0,
        "location": {"slot": 1, "labware": "corning_96_wellplate_360ul_flat", "well": "A1"},
    }
    assert len(events) == 2 * len(starts)  # every step started and ended
    assert texts[-1] == "Dropping tip into Trash Bin on slot 12"  # the engine's trash drop


def test_legacy_custom_commands_keep_their_names_and_texts() -> None:
    commands = answer("03_run_control_pause_resume_stop.json", 137)
    custom = next(c for c in commands if c["commandType"] == "custom")
    assert legacy_name(custom) == "DELAY"
    events = step_events(commands, Deck.of({}))
    delay = next(e for e in events if e["commandId"] == custom["id"])
    assert delay["params"]["text"] == "Delaying for 0 minutes and 1.0 seconds"
    assert legacy_name({"commandType": "temperatureModule/setTargetTemperature"}) == (
        "TEMPERATURE_MODULE_SET_TARGET_TEMPERATURE"
    )


def test_nesting_follows_start_and_end_times() -> None:
    def command(cid: str, start: str, end: str | None, kind: str = "comment") -> dict[str, Any]:
        return {
            "id": cid,
            "commandType": kind,
            "params": {"message": cid},
            "startedAt": f"2026-01-01T00:00:{start}+00:00",
            "completedAt": f"2026-01-01T00:00:{end}+00:00" if end else None,
        }

    events = step_events(
        [
            command("outer", "01", "05"),
            command("inner1", "02", "03"),
            command("inner2", "03", "04"),
            command("next", "06", None),
        ],
        Deck.of({}),
    )
    assert [(e["commandId"], e["event"].rsplit(".", 1)[1]) for e in events] == [
        ("outer", "start"),
        ("inner1", "start"),
        ("inner1", "end"),
        ("inner2", "start"),
        ("inner2", "end"),
        ("outer", "end"),
        ("next", "start"),  # still running
    ]


def test_every_recorded_run_status_maps_to_a_session_state() -> None:
    seen = {}
    for name in RECORDED.glob("0*.json"):
        for exchange in json.loads(name.read_text())["exchanges"]:
            body = exchange["response"].get("json")
            data = body.get("data") if isinstance(body, dict) else None
            if isinstance(data, dict) and "actions" in data and "status" in data:
                seen[data["status"]] = states.run_state(data["status"])
    assert seen == {
        "idle": "loaded",
        "running": "running",
        "finishing": "running",
        "paused": "paused",
        "stop-requested": "stopped",
        "stopped": "stopped",
        "succeeded": "finished",
        "failed": "error",
    }


def test_a_recorded_run_reads_as_a_session() -> None:
    run = answer("03_run_control_pause_resume_stop.json", 28)  # play, play, pause, play, stop
    assert [e["event"] for e in action_events(run["actions"])] == [
        states.START_RUN,
        states.RESUME,
        states.PAUSE,
        states.RESUME,
        states.CANCEL,
    ]
    data = SessionData.from_json(
        session_json(run, name="long_run", main_file="long_run.py", key=None, commands=[])
    )
    assert (data.state, data.robot_status, data.protocol_id) == ("stopped", "stopped", "long_run")
    assert data.protocol_robot_id == run["protocolId"]
    failed = answer("03_run_control_pause_resume_stop.json", 123)
    error = SessionData.from_json(
        session_json(failed, name="f", main_file="raise_in_real_run.py", key=None, commands=None)
    ).error
    assert error is not None and (error.exception_type, error.line) == ("RuntimeError", 11)


def test_a_recorded_analysis_fills_the_equipment() -> None:
    resource = answer("05_json_protocols.json", 3)
    analysis = answer("05_json_protocols.json", 4)
    data = ProtocolData.from_json(protocol_json(resource, analysis))
    assert protocol_name(resource) == "simpleV6" and data.id == "simpleV6"
    assert data.robot_id == resource["id"]
    modules = {m.slot: (m.type, m.model) for m in data.equipment.modules}
    assert modules == {
        3: ("magneticModuleType", "magneticModuleV2"),
        1: ("temperatureModuleType", "temperatureModuleV2"),
    }
    on_modules = {lw.label: lw.slot for lw in data.equipment.labware}
    assert on_modules["foo_8_plate_33ul"] in (1, 3)
    assert {lw.slot for lw in data.equipment.labware if lw.label == "foo_8_plate_33ul"} == {1, 3}
    assert [(p.mount, p.pipette_name) for p in data.equipment.pipettes] == [("left", "p10_single")]
    [water] = data.equipment.liquids
    assert (water.name, water.color) == ("Water", "#7332a8")
    assert water.wells and all(slot == 1 for slot, *_ in water.wells)
    assert water.volume > 0
    assert list(data.equipment.liquids_dataframe().columns) == [
        "liquid",
        "slot",
        "labware",
        "well",
        "volume",
    ]
