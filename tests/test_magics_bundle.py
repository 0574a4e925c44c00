"""The notebook bundle, the cell/line mapping and the local checks, as plain Python.

No shell and no robot: these are the rules the magics rely on (re-running a cell replaces
its contribution; every line of a bundled file maps back to its cell and line; the checks
place each problem in a cell).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ot2_notebook.magics.bundle import NotebookBundle
from ot2_notebook.magics.cellmap import CellRef, join_cells
from ot2_notebook.magics.cells import body_offset
from ot2_notebook.magics.checks import (
    check_bundle,
    compile_problem,
    is_incomplete_input,
)
from ot2_notebook.magics.errors import BundleCheckError, CellProblem
from ot2_notebook.names import file_name_problem

PROTOCOLS = Path(__file__).resolve().parent / "protocols"


def cell(key: str, count: int | None = None, offset: int = 1) -> CellRef:
    return CellRef(key, count, offset, f"%%ot2_protocol demo  # {key}", True)


# -- mapping lines back to cells ------------------------------------------------------------

line_text = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029",
    ),
    max_size=12,
)
bodies = st.lists(st.lists(line_text, max_size=6), min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(bodies=bodies, trailing=st.lists(st.booleans(), min_size=6, max_size=6))
def test_every_joined_line_maps_back_to_its_cell_and_line(
    bodies: list[list[str]], trailing: list[bool]
) -> None:
    parts = []
    for index, lines in enumerate(bodies):
        body = "\n".join(lines)
        if lines and trailing[index]:
            body += "\n"
        parts.append((cell(f"c{index}", index + 1, offset=index % 3 + 1), body))
    text, cellmap = join_cells(parts)
    joined = text.splitlines()
    expected = [
        (index, line_no, line)
        for index, (_, body) in enumerate(parts)
        for line_no, line in enumerate(body.splitlines(), start=1)
    ]
    assert len(joined) == len(expected)
    for file_line, (index, body_line, content) in enumerate(expected, start=1):
        part, ref, found_line = cellmap.locate(file_line)  # type: ignore[misc]
        assert (part, ref.key, found_line) == (index, f"c{index}", body_line)
        assert joined[file_line - 1] == content
        assert ref.cell_line(found_line) == body_line + index % 3 + 1


def test_a_single_part_file_is_exactly_the_cell_body() -> None:
    body = "metadata = {'apiLevel': '2.13'}\n\ndef run(ctx):\n    pass"
    text, cellmap = join_cells([(cell("a"), body)])
    assert text == body + "\n"
    assert cellmap.locate(3) == (0, cell("a"), 3)


def test_a_line_past_the_end_belongs_to_the_last_nonempty_part() -> None:
    _, cellmap = join_cells([(cell("a"), "x = 1\ny = 2\n"), (cell("b"), ""), (cell("c"), "z(\n")])
    assert cellmap.locate(4) == (2, cell("c"), 1)
    assert cellmap.locate(0) is None


def test_body_offset_counts_the_magic_line_and_blank_lines_above_it() -> None:
    assert body_offset("%%ot2_protocol demo\nx = 1\n", "x = 1\n") == 1
    assert body_offset("\n\n%%ot2_protocol demo\nx = 1\n", "x = 1\n") == 3
    # called as run_cell_magic inside code: found by the body's position
    code = "a = 1\nget_ipython().run_cell_magic('ot2_protocol', 'demo', BODY)\nx = 1\ny = 2\n"
    assert body_offset(code, "x = 1\ny = 2\n") == 2


# -- re-running cells replaces, never duplicates --------------------------------------------


def test_rerunning_a_part_replaces_it_in_place() -> None:
    bundle = NotebookBundle()
    bundle.add_part("demo", cell("a", 1), "one\n")
    bundle.add_part("demo", cell("b", 2), "two\n")
    bundle.add_part("demo", cell("c", 3), "three\n")
    change = bundle.add_part("demo", cell("b", 7), "two, edited\n")
    assert [p.text for p in bundle.parts("demo")] == ["one\n", "two, edited\n", "three\n"]
    assert (change.index, change.count, change.replaced) == (1, 3, cell("b", 2))
    assert bundle.build("demo").protocol.text == "one\ntwo, edited\nthree\n"
    assert [c.execution_count for c in bundle.cells_of("demo")] == [1, 7, 3]


def test_a_cell_without_part_replaces_the_whole_protocol() -> None:
    bundle = NotebookBundle()
    bundle.add_part("demo", cell("a", 1), "one\n")
    bundle.add_part("demo", cell("b", 2), "two\n")
    change = bundle.set_protocol("demo", cell("z", 3), "whole\n")
    assert [p.text for p in bundle.parts("demo")] == ["whole\n"]
    assert change.dropped == (cell("a", 1), cell("b", 2))
    # the dropped cells, run again as parts, are appended anew
    bundle.add_part("demo", cell("a", 4), "one\n")
    assert [p.cell.key for p in bundle.parts("demo")] == ["z", "a"]


def test_a_cell_whose_magic_changed_leaves_its_old_place() -> None:
    bundle = NotebookBundle()
    bundle.add_part("first", cell("a", 1), "a\n")
    bundle.add_part("first", cell("b", 2), "b\n")
    change = bundle.add_part("second", cell("b", 3), "b\n")
    assert [p.cell.key for p in bundle.parts("first")] == ["a"]
    assert change.moved_from == "protocol 'first'"
    bundle.set_support("helpers.py", cell("a", 4), "x = 1\n")
    assert "first" not in bundle  # its only part became a support file
    change = bundle.set_support("utils.py", cell("a", 5), "x = 1\n")
    assert list(bundle.support) == ["utils.py"]  # renamed, not duplicated
    assert change.moved_from == "support file 'helpers.py'"


def test_the_last_cell_run_for_a_support_file_wins() -> None:
    bundle = NotebookBundle()
    bundle.set_protocol("demo", cell("p", 1), "x = 1\n")
    bundle.set_support("config.json", cell("a", 2), "{}\n")
    change = bundle.set_support("config.json", cell("b", 3), '{"v": 1}\n')
    assert change.replaced == cell("a", 2)
    built = bundle.build("demo")
    assert built.file_names == ("demo.py", "config.json")
    assert built.file("config.json").content == b'{"v": 1}\n'  # type: ignore[union-attr]
    # the replaced cell no longer owns anything: re-running it takes the name back
    bundle.set_support("config.json", cell("a", 4), "[]\n")
    assert bundle.support["config.json"].cell.key == "a"


def test_support_paths_of_all_parts_travel_once(tmp_path: Path) -> None:
    bundle = NotebookBundle()
    helpers = PROTOCOLS / "dilution_helpers.py"
    settings_file = PROTOCOLS / "dilution_settings.json"
    bundle.add_part("demo", cell("a"), "x = 1\n", [helpers])
    bundle.add_part("demo", cell("b"), "y = 2\n", [settings_file, helpers])
    built = bundle.build("demo")
    assert built.file_names == ("demo.py", "dilution_helpers.py", "dilution_settings.json")
    assert built.file("dilution_helpers.py").content == helpers.read_bytes()  # type: ignore[union-attr]


# -- checks, placed in cells ------------------------------------------------------------------


def test_a_syntax_error_in_the_third_part_names_that_cell_and_line() -> None:
    bundle = NotebookBundle()
    bundle.add_part("demo", cell("a", 4), "metadata = {'apiLevel': '2.13'}\n")
    bundle.add_part("demo", cell("b", 5), "def run(ctx):\n    ctx.comment('hi')\n")
    bundle.add_part("demo", cell("c", 6), "    x = 1\n    ctx.comment('a' 'b' x)\n")
    built = bundle.build("demo")
    [problem] = check_bundle(built)
    assert (problem.file, problem.kind, problem.line) == ("demo.py", "SyntaxError", 5)
    location = built.locate(problem.file, problem.line)
    assert location.cell == cell("c", 6)
    assert location.cell_line == 3  # the %% line is line 1 of the cell
    assert location.text == "    ctx.comment('a' 'b' x)"
    assert location.where() == "In [6], line 3 (part 3 of 3 of demo.py, line 5)"


def test_an_error_without_a_line_names_every_cell_of_the_file() -> None:
    bundle = NotebookBundle()
    bundle.add_part("demo", cell("a", 3), "x = 1\n")
    bundle.add_part("demo", cell("b", 5), "y = 2\n")
    built = bundle.build("demo")
    assert built.locate(None, None).where() == "demo.py (from In [3], In [5])"
    bundle.set_protocol("demo", cell("c", 8), "z = 3\n")
    assert bundle.build("demo").locate("demo.py", None).where() == "In [8] (demo.py)"


def test_json_errors_are_placed_in_the_support_cell() -> None:
    bundle = NotebookBundle()
    bundle.set_protocol("demo", cell("p", 1), "x = 1\n")
    bundle.set_support(
        "plan.json", CellRef("s", 2, 1, "%%ot2_support plan.json"), '{\n "a": 1,\n}\n'
    )
    built = bundle.build("demo")
    [problem] = check_bundle(built)
    # the same words and place on Python 3.10-3.13 (3.13 names a trailing comma, older
    # versions complain at the closing brace): the comma's line
    assert problem.kind == "JSONDecodeError" and (problem.line, problem.column) == (2, 8)
    assert problem.message == "Illegal trailing comma before end of object"
    location = built.locate(problem.file, problem.line)
    assert location.where() == "In [2], line 3 (support file plan.json)"
    assert location.text == ' "a": 1,'


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ('{"steps": [1, 2,\n  ]}', "Illegal trailing comma before end of array", 1),
        ('{"a": 1\n "b": 2}', "Expecting ',' delimiter", 2),
        ('{"a": }', "Expecting value", 1),
    ],
)
def test_json_errors_read_the_same_on_every_python(text: str, message: str, line: int) -> None:
    bundle = NotebookBundle()
    bundle.set_protocol("demo", cell("p", 1), "x = 1\n")
    bundle.set_support("plan.json", cell("s", 2), text)
    [problem] = check_bundle(bundle.build("demo"))
    assert (problem.kind, problem.message, problem.line) == ("JSONDecodeError", message, line)


def test_disk_support_files_are_named_by_their_path(tmp_path: Path) -> None:
    broken = tmp_path / "broken_helpers.py"
    broken.write_text("def f():\n    return (1,\n\nx = 2\n")
    bundle = NotebookBundle()
    bundle.set_protocol("demo", cell("p", 1), "import broken_helpers\n", [broken])
    built = bundle.build("demo")
    [problem] = check_bundle(built)
    location = built.locate(problem.file, problem.line)
    assert location.cell is None
    assert location.where().startswith(f"{broken}, line 2")
    assert location.text == "    return (1,"


def test_name_clashes_and_unreadable_files_are_reported(tmp_path: Path) -> None:
    other = tmp_path / "helpers.py"
    other.write_text("y = 2\n")
    bundle = NotebookBundle()
    bundle.set_protocol("demo", cell("p", 1), "x = 1\n", [other, tmp_path / "gone.csv"])
    bundle.set_support("helpers.py", cell("s", 2), "y = 1\n")
    bundle.set_support("demo.py", cell("t", 3), "z = 1\n")
    (tmp_path / "gone.csv").write_text("a,b\n")
    built_later = bundle.build("demo")  # gone.csv exists now: readable
    assert not built_later.unreadable
    (tmp_path / "gone.csv").unlink()
    built = bundle.build("demo")
    kinds = {(p.kind, p.file) for p in check_bundle(built)}
    assert ("FileNotReadable", "gone.csv") in kinds
    assert ("NameClash", "helpers.py") in kinds
    assert ("NameClash", "demo.py") in kinds
    clash = next(p for p in check_bundle(built) if p.file == "helpers.py")
    assert "In [2]" in clash.message and str(other) in clash.message


@pytest.mark.parametrize("name", ["../x.py", "a/b.py", "C:\\x.py", ".hidden", "bell\x07.py"])
def test_unsafe_support_names_are_refused_in_the_shared_words(name: str) -> None:
    bundle = NotebookBundle()
    bundle.set_protocol("demo", cell("p", 1), "x = 1\n")
    bundle.set_support(name, cell("s", 2), "y = 1\n")
    problems = [p for p in check_bundle(bundle.build("demo")) if p.kind == "FileNameError"]
    assert [(p.file, p.message) for p in problems] == [
        (name, file_name_problem(name, "support file"))
    ]


@pytest.mark.parametrize(
    "name", ["helpers.py", "plate_map.csv", "my-labware_v2.json", "_x", "-x.py", "plate map.csv"]
)
def test_names_every_robot_stores_pass(name: str) -> None:
    # The magics' own stricter rule (ASCII letters, digits, '_-.') is gone: the robot stores
    # any plain file name, and the client and the simulated robot accept these too.
    bundle = NotebookBundle()
    bundle.set_protocol("demo", cell("p", 1), "x = 1\n")
    bundle.set_support(name, cell("s", 2), "1\n")  # Python, JSON and CSV alike
    assert check_bundle(bundle.build("demo")) == []


@pytest.mark.parametrize(
    ("source", "incomplete"),
    [
        ("def run(ctx):\n", True),  # body comes in the next part
        ("x = foo(\n    1,\n", True),  # bracket closed in the next part
        ("def run(ctx)\n    pass\n", False),
        ("x = = 1\n", False),
        ("    x = 1\n", False),  # unexpected indent: a real error
    ],
)
def test_incomplete_input_is_told_apart_from_real_errors(source: str, incomplete: bool) -> None:
    found = compile_problem("p.py", source)
    assert found is not None
    assert is_incomplete_input(found[1], source) is incomplete


def test_labware_definitions_and_encodings_are_checked(tmp_path: Path) -> None:
    good = PROTOCOLS / "ot2nb_6_tuberack_5000ul.json"
    lacking = json.loads(good.read_text())
    del lacking["namespace"]
    bad_labware = tmp_path / "bad_rack.json"
    bad_labware.write_text(json.dumps(lacking))
    latin = tmp_path / "notes.csv"
    latin.write_bytes("a,b\nna\xefve,1\n".encode("latin-1"))
    bundle = NotebookBundle()
    bundle.set_protocol("demo", cell("p"), "x = 1\n", [good, bad_labware, latin])
    problems = {p.file: p for p in check_bundle(bundle.build("demo"))}
    assert set(problems) == {"bad_rack.json", "notes.csv"}
    assert "'namespace'" in problems["bad_rack.json"].message
    assert problems["notes.csv"].kind == "UnicodeDecodeError" and problems["notes.csv"].line == 2


def test_an_empty_protocol_is_an_error() -> None:
    bundle = NotebookBundle()
    bundle.set_protocol("demo", cell("p", 3), "\n\n")
    [problem] = check_bundle(bundle.build("demo"))
    assert problem.kind == "EmptyProtocol"


# -- the report a failing cell shows -------------------------------------------------------------


def test_the_report_quotes_the_line_points_at_the_column_and_has_no_traceback() -> None:
    bundle = NotebookBundle()
    bundle.add_part("demo", cell("a", 4), "def run(ctx):\n")
    bundle.add_part("demo", cell("b", 9), "    volume = 10 +* 2\n")
    built = bundle.build("demo")
    [problem] = check_bundle(built)
    located = CellProblem(
        built.locate(problem.file, problem.line),
        problem.kind,
        problem.message,
        problem.column,
        problem.end_column,
    )
    error = BundleCheckError(
        "Protocol 'demo' has 1 error; nothing was uploaded.",
        [located],
        protocol="demo",
        robot_state="The robot was not changed.",
        advice="Fix the cell and run it again.",
    )
    lines = error._render_traceback_()
    assert lines[0] == "BundleCheckError: Protocol 'demo' has 1 error; nothing was uploaded."
    assert lines[1] == "In [9], line 2 (part 2 of 2 of demo.py, line 2):"
    assert lines[2] == "    volume = 10 +* 2"
    assert lines[3].index("^") == lines[2].index("*")
    assert lines[4].startswith("SyntaxError: ")
    assert lines[5] == "The robot was not changed. Fix the cell and run it again."
    assert (error.execution_count, error.cell_line) == (9, 2)
    assert not any("Traceback" in line or 'File "' in line for line in lines)
