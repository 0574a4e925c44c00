"""The one lenient rule for numbers in a robot's JSON (``ot2_notebook/json_values.py``), which
the client's models, software 8's commands and the steps' structured data all read with."""

from __future__ import annotations

from typing import Any

import pytest

from ot2_notebook.client.models import Labware
from ot2_notebook.json_values import as_int, as_number


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3), ("3", 3), (" 12 ", 12), (0, 0), (True, None), (False, None), (3.0, None),
     ("3a", None), ("", None), ("-1", None), (None, None), ([3], None)],
)  # fmt: skip
def test_as_int_takes_ints_and_digit_strings_only(value: Any, expected: int | None) -> None:
    assert as_int(value) == expected
    assert as_int(value) is None or type(as_int(value)) is int


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3.0), (2.5, 2.5), (0, 0.0), (True, None), ("2.5", None), (None, None)],
)
def test_as_number_takes_ints_and_floats_only(value: Any, expected: float | None) -> None:
    assert as_number(value) == expected
    assert as_number(value) is None or type(as_number(value)) is float


def test_the_client_reads_slots_with_it() -> None:
    """4.7 sends ``"slot": "1"``, 8.1 a location; a boolean is not slot 1."""
    assert Labware.from_json({"label": "tips", "slot": "1"}).slot == 1
    assert Labware.from_json({"label": "tips", "location": 4}).slot == 4
    assert Labware.from_json({"label": "tips", "slot": True}).slot is None
