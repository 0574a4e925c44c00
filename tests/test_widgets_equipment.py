"""EquipmentPanel and the deck map, on protocols analysed by a real ot2-sim.

Widgets are built and inspected as ipywidgets' own tests do: real widget objects, their
traits and classes, no browser. Protocols are uploaded to the shared simulator, so the
equipment is what the real opentrons analysis reports (custom labware, modules,
thermocycler).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ipywidgets as widgets
import pytest

from ot2_notebook.client import ProtocolData, RobotClient
from ot2_notebook.widgets import (
    DeckMap,
    EquipmentPanel,
    ErrorLocation,
    deck_contents,
    show_equipment,
)
from ot2_notebook.widgets.style import stylesheet

PROTOCOLS = Path(__file__).resolve().parent / "protocols"


@pytest.fixture
def robot(robot_url: str, clean_robot: None) -> Iterator[RobotClient]:
    with RobotClient(robot_url) as client:
        yield client


def upload(robot: RobotClient, name: str, *support: str) -> ProtocolData:
    protocol = robot.upload(
        PROTOCOLS / name, [PROTOCOLS / s for s in support], raise_on_error=False
    )
    return protocol.data


def classes(widget: widgets.DOMWidget) -> set[str]:
    return set(widget._dom_classes)


# -- the deck map -------------------------------------------------------------------------------


def test_deck_map_of_custom_labware_on_the_deck_and_on_a_module(robot: RobotClient) -> None:
    data = upload(robot, "custom_labware.py", "ot2nb_6_tuberack_5000ul.json")
    panel = EquipmentPanel(data)
    deck = panel.deck

    contents = deck.contents
    assert [lw.uri for lw in contents[1].labware] == ["ot2_notebook/ot2nb_6_tuberack_5000ul/1"]
    assert contents[1].module is None and contents[1].has_custom_labware
    # the temperature module in 3 carries the second rack of custom labware
    assert contents[3].module is not None
    assert contents[3].module.model == "temperatureModuleV2"
    assert [lw.load_name for lw in contents[3].labware] == ["ot2nb_6_tuberack_5000ul"]
    assert [lw.load_name for lw in contents[2].labware] == ["opentrons_96_tiprack_1000ul"]
    assert contents[12].fixed_trash
    assert all(contents[s].is_empty for s in (4, 5, 6, 7, 8, 9, 10, 11))

    slot3 = deck.cell(3)
    assert {"ot2-deck-slot", "ot2-slot-3", "ot2-slot-has-module", "ot2-slot-custom"} <= classes(
        slot3
    )
    assert "Temperature Module GEN2" in slot3.value
    assert "ot2nb_<wbr>6_<wbr>tuberack_<wbr>5000ul" in slot3.value
    assert ">custom<" in slot3.value
    assert "ot2-slot-custom" in classes(deck.cell(1))
    assert "ot2-slot-has-module" not in classes(deck.cell(1))
    assert {"ot2-slot-empty"} <= classes(deck.cell(9))
    assert {"ot2-slot-trash", "ot2-slot-12"} <= classes(deck.cell(12))
    assert "fixed trash" in deck.cell(12).value

    assert panel.text() == "\n".join(
        [
            "EquipmentPanel: Custom labware (API 2.13)",
            "  protocol: custom_labware (custom_labware.py + ot2nb_6_tuberack_5000ul.json)",
            "  estimated run time: 49 s",
            "  left: p1000_single_gen2",
            "  right: empty",
            "  slot 1: ot2nb_6_tuberack_5000ul (custom)",
            "  slot 2: opentrons_96_tiprack_1000ul",
            "  slot 3: Temperature Module GEN2 + ot2nb_6_tuberack_5000ul (custom)",
            "  slot 12: fixed trash",
        ]
    )


def test_deck_cells_are_laid_out_as_on_the_robot(robot: RobotClient) -> None:
    deck = EquipmentPanel(upload(robot, "magnetic_module.py")).deck
    areas = [
        line.strip().strip('"').split() for line in deck.layout.grid_template_areas.split("\n")
    ]
    assert areas == [
        ["s10", "s11", "s12"],
        ["s7", "s8", "s9"],
        ["s4", "s5", "s6"],
        ["s1", "s2", "s3"],
    ]
    # children in reading order (back row first), each placed in its own area
    assert [c.layout.grid_area for c in deck.children] == [
        f"s{n}" for n in (10, 11, 12, 7, 8, 9, 4, 5, 6, 1, 2, 3)
    ]
    for slot in range(1, 13):
        assert f"ot2-slot-{slot}" in classes(deck.cell(slot))
        assert f'<span class="ot2-slot-number">{slot}</span>' in deck.cell(slot).value
    magnet = deck.cell(4)
    assert "Magnetic Module GEN2" in magnet.value
    assert "nest_<wbr>96_<wbr>wellplate_<wbr>100ul_<wbr>pcr_<wbr>full_<wbr>skirt" in magnet.value
    assert magnet.tooltip == (
        "Magnetic Module GEN2 (magneticModuleV2)\n"
        "opentrons/nest_96_wellplate_100ul_pcr_full_skirt/1"
    )
    assert "ot2-deck" in classes(deck)


def test_a_thermocycler_spans_slots_7_8_10_and_11(robot: RobotClient) -> None:
    data = upload(robot, "thermocycler_module.py")
    deck = DeckMap(data.equipment)
    cycler = deck.cell(7)
    assert all(deck.cell(s) is cycler for s in (8, 10, 11))
    assert cycler.layout.grid_area == "tc"
    assert deck.layout.grid_template_areas.split("\n")[:2] == ['"tc tc s12"', '"tc tc s9"']
    assert len(deck.children) == 9  # 12 slots, four of them one cell
    assert {f"ot2-slot-{s}" for s in (7, 8, 10, 11)} | {"ot2-thermocycler"} <= classes(cycler)
    assert "Thermocycler GEN1" in cycler.value and "nest_<wbr>96" in cycler.value
    assert deck.lines() == [
        "slots 7, 8, 10, 11: Thermocycler GEN1 + nest_96_wellplate_100ul_pcr_full_skirt",
        "slot 12: fixed trash",
    ]


def test_deck_from_the_spec_example_json() -> None:
    # The shape of SPEC section 3 (a 4.0-style robot sending only "slot").
    data = ProtocolData.from_json(
        {
            "id": "basic_transfer",
            "protocolFile": {"basename": "basic_transfer.py"},
            "supportFiles": [{"basename": "helpers.py"}],
            "metadata": {"name": None, "author": None, "apiLevel": "2.6"},
            "requiredEquipment": {
                "pipettes": [
                    {
                        "mount": "right",
                        "requestedAs": "p300_single",
                        "pipetteName": "p300_single",
                        "channels": 1,
                    }
                ],
                "labware": [
                    {
                        "label": "corning_96_wellplate_360ul_flat",
                        "uri": "opentrons/corning_96_wellplate_360ul_flat/1",
                        "slot": 1,
                    },
                    {
                        "label": "samples",
                        "uri": "opentrons/nest_96_wellplate_100ul_pcr_full_skirt/1",
                        "slot": 6,
                    },
                ],
                "modules": [{"type": "magneticModuleType", "model": "magneticModuleV2", "slot": 6}],
            },
            "errors": [],
        }
    )
    contents = deck_contents(data.equipment)
    assert contents[6].module is not None and contents[6].labware[0].label == "samples"
    # no trash listed by this robot: slot 12 still shows the OT-2's fixed trash
    assert contents[12].fixed_trash and not contents[12].labware
    assert EquipmentPanel(data).text() == "\n".join(
        [
            "EquipmentPanel: basic_transfer (API 2.6)",
            "  protocol: basic_transfer (basic_transfer.py + helpers.py)",
            "  left: empty",
            "  right: p300_single",
            "  slot 1: corning_96_wellplate_360ul_flat",
            "  slot 6: Magnetic Module GEN2 + samples (nest_96_wellplate_100ul_pcr_full_skirt)",
            "  slot 12: fixed trash",
        ]
    )


# -- the rest of the panel ---------------------------------------------------------------------


def test_panel_shows_metadata_pipettes_and_tables(robot: RobotClient) -> None:
    protocol = robot.upload(
        PROTOCOLS / "serial_dilution.py",
        [PROTOCOLS / "dilution_helpers.py", PROTOCOLS / "dilution_settings.json"],
    )
    panel = EquipmentPanel(protocol)  # a live Protocol works as well as its data
    assert {"ot2-panel", "ot2-equipment-panel"} <= classes(panel)
    assert isinstance(panel, widgets.VBox)
    header = panel.header.value
    for expected in (
        "Serial dilution",
        "by ot2_notebook tests",
        "API 2.11",
        "about 45 s to run",
        "<code>dilution_helpers.py</code>",
    ):
        assert expected in header
    assert "<th>right</th><td><code>p300_single_gen2</code>" in panel.pipettes_view.value
    assert "1-channel" in panel.pipettes_view.value
    assert '<th>left</th><td><span class="ot2-muted">empty</span>' in panel.pipettes_view.value

    table = panel.labware_table
    assert list(table["slot"]) == [1, 2, 3, 12]
    assert list(table["label"])[:3] == [
        "opentrons_96_tiprack_300ul",
        "corning_96_wellplate_360ul_flat",
        "nest_12_reservoir_15ml",
    ]
    assert "ot2-labware-table" in classes(panel.labware_view)
    assert "<td>corning_96_wellplate_360ul_flat</td>" in panel.labware_view.value
    # no modules: that table is hidden, and so is the (empty) error box
    assert panel.modules_table.empty and panel.modules_view.layout.display == "none"
    assert panel.errors == () and panel.errors_view.layout.display == "none"
    # the stylesheet travels with the panel, hidden
    style = panel.children[0]
    assert style.layout.display == "none" and stylesheet() in style.value
    assert ".ot2-deck-slot" in stylesheet() and "--jp-layout-color1" in stylesheet()


def test_modules_table_lists_modules_with_display_names(robot: RobotClient) -> None:
    panel = EquipmentPanel(upload(robot, "magnetic_module.py"))
    assert panel.modules_table.to_dict("records") == [
        {
            "slot": 4,
            "name": "Magnetic Module GEN2",
            "type": "magneticModuleType",
            "model": "magneticModuleV2",
        }
    ]
    assert panel.modules_view.layout.display != "none"
    assert "<td>Magnetic Module GEN2</td>" in panel.modules_view.value


def test_analysis_error_with_the_file_and_line_the_robot_reports(robot: RobotClient) -> None:
    panel = EquipmentPanel(upload(robot, "raises.py"))
    assert panel.errors == (
        ErrorLocation("raises.py", 7, None, "volume must be positive", "ValueError"),
    )
    assert panel.errors_view.layout.display != "none"
    assert "<b>raises.py, line 7</b>: ValueError: volume must be positive" in (
        panel.errors_view.value
    )
    assert "analysis failed" in panel.header.value
    assert panel.text().endswith("  error: raises.py, line 7: ValueError: volume must be positive")


def test_analysis_error_placed_in_a_notebook_cell(robot: RobotClient) -> None:
    data = upload(robot, "syntax_error.py")
    located = [
        ErrorLocation("In [5]", 3, "    for i in range(3)", "expected ':'", "SyntaxError"),
    ]
    panel = show_equipment(data, cell_errors=located, display=False)
    assert panel.errors == tuple(located)
    value = panel.errors_view.value
    assert "<b>In [5], line 3</b>: SyntaxError: expected &#x27;:&#x27;" in value
    assert "<pre>    for i in range(3)</pre>" in value
    assert panel.text().splitlines()[-2:] == [
        "  error: In [5], line 3: SyntaxError: expected ':'",
        "      for i in range(3)",
    ]
    # the API level is unknown when the file does not even parse
    assert panel.text().splitlines()[0] == "EquipmentPanel: syntax_error (API level unknown)"
    # the alias the magics may use
    assert EquipmentPanel(data, error_locations=located).errors == tuple(located)
    with pytest.raises(TypeError, match="not both"):
        EquipmentPanel(data, cell_errors=located, error_locations=located)


def test_error_location_text() -> None:
    assert str(ErrorLocation("In [5]", 3, None, "boom", "ValueError")) == (
        "In [5], line 3: ValueError: boom"
    )
    assert str(ErrorLocation(None, None, None, "ValueError: boom", "ValueError")) == (
        "ValueError: boom"
    )
    assert str(ErrorLocation("helpers.py", None, None, "boom")) == "helpers.py: boom"


def test_text_is_deterministic_across_uploads(robot: RobotClient) -> None:
    first = EquipmentPanel(upload(robot, "magnetic_module.py"))
    robot.delete_protocol("magnetic_module")
    second = EquipmentPanel(upload(robot, "magnetic_module.py"))
    assert first.text() == second.text()
    # and it is what a notebook shows as text/plain (ipywidgets would cut it at 110 chars)
    bundle = second._repr_mimebundle_()
    assert bundle["text/plain"] == second.text() == repr(second)
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == second.model_id


def test_pretty_printing_uses_the_text() -> None:
    from IPython.lib.pretty import pretty

    data = ProtocolData.from_json({"id": "empty", "metadata": {"apiLevel": "2.13"}})
    panel = EquipmentPanel(data)
    assert pretty(panel) == panel.text()
    assert panel.text().splitlines()[:2] == [
        "EquipmentPanel: empty (API 2.13)",
        "  protocol: empty (empty.py)",
    ]


def test_bad_input_is_refused_with_a_clear_message() -> None:
    with pytest.raises(TypeError, match="needs a Protocol"):
        EquipmentPanel({"id": "x"})  # type: ignore[arg-type]
    deck = DeckMap(ProtocolData.from_json({"id": "x"}).equipment)
    with pytest.raises(ValueError, match="slots 1 to 12"):
        deck.cell(13)


def test_close_closes_every_widget_of_the_panel(robot: RobotClient) -> None:
    panel = EquipmentPanel(upload(robot, "thermocycler_module.py"))
    inner = [panel.header, panel.deck, panel.deck.cell(7), panel.deck.cell(1), panel.labware_view]
    assert all(w.comm is not None for w in inner)
    panel.close()
    assert panel.comm is None and all(w.comm is None for w in inner)
