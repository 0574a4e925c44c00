"""Which files a batch analyses and which files travel with each protocol (no simulation)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ot2_notebook.simulator.batch.discovery import (
    BundleError,
    DiscoveryError,
    discover,
    is_protocol,
    read_bundle,
)
from ot2_notebook.simulator.config import Limits
from tests.conftest import PROTOCOLS

PROTOCOL = 'metadata = {"apiLevel": "2.13"}\n\n\ndef run(ctx):\n    pass\n'
LABWARE = PROTOCOLS / "ot2nb_6_tuberack_5000ul.json"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("p.py", PROTOCOL, True),
        ("p.py", 'requirements = {"apiLevel": "2.15", "robotType": "OT-2"}\ndef run(c): ...', True),
        ("p.py", 'metadata: dict = {"apiLevel": "2.13"}\ndef run(c): ...', True),
        ("p.py", 'metadata = dict(apiLevel="2.13")\ndef run(c): ...', True),
        # a syntax error must not turn a protocol into a "helper" nobody checks
        ("p.py", 'metadata = {"apiLevel": "2.13"}\ndef run(ctx)\n    pass\n', True),
        ("helpers.py", "def run(pipette):\n    pipette.pick_up_tip()\n", False),
        ("settings.py", 'metadata = {"apiLevel": "2.13"}\n', False),
        ("nested.py", 'def outer():\n    metadata = {"apiLevel": "2"}\n    def run(c): ...', False),
        ("p.json", json.dumps({"schemaVersion": 3, "commands": []}), True),
        ("data.json", json.dumps({"volume": 50}), False),
        ("rack.json", LABWARE.read_text(), False),  # labware: schemaVersion but no commands
        ("notes.txt", PROTOCOL, False),
    ],
)
def test_what_counts_as_a_protocol(tmp_path: Path, name: str, text: str, expected: bool) -> None:
    assert is_protocol(write(tmp_path / name, text)) is expected


def test_a_folder_is_searched_and_support_files_are_its_other_files(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    first = write(lib / "dilution" / "first.py", PROTOCOL)
    second = write(lib / "dilution" / "second.py", PROTOCOL)
    write(lib / "dilution" / "helpers.py", "def fill(p): ...\n")
    write(lib / "dilution" / "plan.csv", "well,volume\nA1,50\n")
    (lib / "dilution" / "rack.json").write_bytes(LABWARE.read_bytes())
    nested = write(lib / "dilution" / "variants" / "third.py", PROTOCOL)
    write(lib / "dilution" / "variants" / "other_helpers.py", "X = 1\n")
    write(lib / "dilution" / ".hidden.py", PROTOCOL)
    write(lib / ".git" / "ignored.py", PROTOCOL)
    write(lib / "dilution" / "__pycache__" / "cached.py", PROTOCOL)
    (lib / "dilution" / "helpers.cpython-311.pyc").write_bytes(b"\0")

    found = {source.path: source for source in discover([lib])}

    assert set(found) == {first.resolve(), second.resolve(), nested.resolve()}
    # protocols in one folder share its support files; a protocol is never a support file
    expected = ["helpers.py", "plan.csv", "rack.json"]
    assert [p.name for p in found[first.resolve()].support] == expected
    assert [p.name for p in found[second.resolve()].support] == expected
    # a subfolder's protocol takes its own folder's files, not its parent's
    assert [p.name for p in found[nested.resolve()].support] == ["other_helpers.py"]


def test_named_files_are_protocols_each_once_in_order(tmp_path: Path) -> None:
    helper = write(tmp_path / "helper_like.py", "def run(x): ...\n")
    protocol = write(tmp_path / "b.py", PROTOCOL)
    sources = discover([str(helper), tmp_path, protocol])
    names = [s.path.name for s in sources]
    assert names == ["helper_like.py", "b.py"]
    # a file named explicitly is a protocol, so it is not a support file of the other
    assert all("helper_like.py" not in [p.name for p in s.support] for s in sources)


def test_names_are_relative_to_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "lib" / "p.py", PROTOCOL)
    monkeypatch.chdir(tmp_path)
    assert [s.name for s in discover(["lib"])] == ["lib/p.py"]


def test_missing_paths_and_empty_folders_are_errors(tmp_path: Path) -> None:
    with pytest.raises(DiscoveryError, match="does not exist"):
        discover([tmp_path / "nope"])
    write(tmp_path / "only_helpers" / "helpers.py", "def fill(): ...\n")
    with pytest.raises(DiscoveryError, match="No protocols found"):
        discover([tmp_path / "only_helpers"])


def test_bundles_carry_the_files_and_obey_the_upload_bounds(tmp_path: Path) -> None:
    protocol = write(tmp_path / "p.py", PROTOCOL)
    write(tmp_path / "helpers.py", "X = 1\n")
    (source,) = discover([tmp_path])
    bundle = read_bundle(source)
    assert bundle.protocol_file == "p.py"
    assert dict(bundle.files) == {"p.py": protocol.read_bytes(), "helpers.py": b"X = 1\n"}
    assert bundle.support_files == ("helpers.py",)

    with pytest.raises(BundleError, match="at most 1 per protocol"):
        read_bundle(source, Limits(max_files=1))
    with pytest.raises(BundleError, match="accepts files up to"):
        read_bundle(source, Limits(max_file_bytes=10))
    with pytest.raises(BundleError, match="uploads up to"):
        read_bundle(source, Limits(max_request_bytes=len(PROTOCOL) + 2))
