"""The files of an upload: names are checked by the client before anything is sent, with the
repository's one rule (``ot2_notebook.names``) and its words, and good names reach the robot.

The refusals are tested against a port where nothing listens: had the client sent anything,
the error would be "cannot reach the robot", not the name's ``ValueError``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import ot2_notebook.client
import ot2_notebook.names
from ot2_notebook.client import RobotClient, RobotUnreachableError
from ot2_notebook.client.files import read_file, upload_parts
from ot2_notebook.names import file_name_problem

NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing listens there

BAD_NAMES = [
    ".hidden.py",  # hidden: passed the client before, then the simulator refused it (422)
    "a/b.py",
    "../escape.py",
    "a\\b.py",
    ".",
    "..",
    "tab\tname.py",
    "invisible\u200bname.py",
    "x" * 253 + ".py",  # 256 bytes: 255 is the limit
]


def the_rule(name: str, what: str) -> str:
    """What ``ot2_notebook.names`` says about ``name``, as a sentence."""
    problem = file_name_problem(name, what)
    assert problem is not None
    return problem[0].upper() + problem[1:] + "."


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_bad_support_file_name_is_refused_before_sending(name: str) -> None:
    robot = RobotClient(NOWHERE)
    with pytest.raises(ValueError) as caught:
        robot.upload(("protocol.py", "x = 1\n"), support=[(name, "data")])
    assert str(caught.value) == the_rule(name, "support file")


@pytest.mark.parametrize("name", [".hidden.py", "a/b.py"])
def test_a_bad_protocol_file_name_is_refused_before_sending(name: str) -> None:
    robot = RobotClient(NOWHERE)
    with pytest.raises(ValueError) as caught:
        robot.upload((name, "x = 1\n"))
    assert str(caught.value) == the_rule(name, "protocol file")
    with pytest.raises(ValueError) as caught:
        robot.replace_file("protocol", (name, "x = 1\n"))
    assert str(caught.value) == the_rule(name, "file")


def test_a_hidden_file_on_disk_is_refused_by_its_base_name(tmp_path: Path) -> None:
    hidden = tmp_path / ".helpers.py"
    hidden.write_text("x = 1\n")
    with pytest.raises(ValueError) as caught:
        RobotClient(NOWHERE).upload(("protocol.py", "x = 1\n"), support=[hidden])
    assert str(caught.value) == the_rule(".helpers.py", "support file")
    plain = tmp_path / "helpers.py"
    plain.write_text("x = 1\n")
    assert read_file(plain, "support file") == ("helpers.py", b"x = 1\n")  # the folder is fine


def test_good_names_are_sent() -> None:
    # The same upload with good names gets as far as the network, which is not there.
    with pytest.raises(RobotUnreachableError):
        RobotClient(NOWHERE).upload(
            ("protocol.ot2.py", "x = 1\n"), support=[("plate map.csv", "a,b\n"), ("é.json", "{}")]
        )


def test_upload_parts_name_fields_and_content_types() -> None:
    name, parts = upload_parts(
        ("demo.py", "x = 1\n"), [("helpers.py", b"y = 2\n"), ("layout.json", "{}")]
    )
    assert name == "demo.py"
    assert parts == [
        ("protocolFile", ("demo.py", b"x = 1\n", "text/x-python")),
        ("supportFiles", ("helpers.py", b"y = 2\n", "text/x-python")),
        ("supportFiles", ("layout.json", b"{}", "application/json")),
    ]


def test_protocol_id_for_is_written_once() -> None:
    assert ot2_notebook.client.protocol_id_for is ot2_notebook.names.protocol_id_for
    assert ot2_notebook.client.http.protocol_id_for is ot2_notebook.names.protocol_id_for


def test_names_the_simulator_accepts_reach_it(robot: RobotClient) -> None:
    protocol = robot.upload(
        ("names_demo.py", 'metadata = {"apiLevel": "2.13"}\ndef run(ctx):\n    pass\n'),
        support=[("plate map.csv", "a,b\n1,2\n")],
    )
    assert protocol.id == "names_demo"
    assert protocol.support_files == ("plate map.csv",)
