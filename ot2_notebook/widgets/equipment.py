"""``EquipmentPanel``: what a protocol needs on the robot, shown after every upload.

Name, author, API level and estimated run time; pipettes by mount; the deck drawn from the
labware and module definitions (a :class:`~ot2_notebook.widgets.deck_view.DeckView`
without steps; custom labware from the ``definitions`` uploaded with the protocol); the slot
map; labware and modules tables; the liquids the protocol loads (robot software 5+
analyses, API level 2.14+); and the analysis errors, placed in the notebook (cell and line)
when the magics say where the code came from. Given the pre-flight check of the robot's
attached hardware (``RobotClient.preflight``), each pipette and module also shows whether
the robot has it: ok, missing, or wrong (another model attached). Nothing here talks to the
robot: the panel draws the data it is given, so it has no threads.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ot2_notebook.client.http import Protocol
from ot2_notebook.client.models import Equipment, ProtocolData
from ot2_notebook.client.preflight import EquipmentCheck, PreflightReport
from ot2_notebook.deck import DefinitionError
from ot2_notebook.widgets.base import Panel
from ot2_notebook.widgets.deck import DeckMap, deck_lines
from ot2_notebook.widgets.deck_view import DeckView
from ot2_notebook.widgets.errors import ErrorLocation, describe_error
from ot2_notebook.widgets.style import esc, format_duration, html_block

if TYPE_CHECKING:
    import pandas

__all__ = ["EquipmentPanel", "error_html", "error_lines"]

log = logging.getLogger("ot2_notebook.widgets")

MOUNTS = ("left", "right")


def _as_data(protocol: Protocol | ProtocolData) -> ProtocolData:
    if isinstance(protocol, Protocol):
        return protocol.data
    if isinstance(protocol, ProtocolData):
        return protocol
    raise TypeError(
        f"EquipmentPanel needs a Protocol (from robot.upload or robot.protocol) or its "
        f"ProtocolData, not {type(protocol).__name__}."
    )


def error_lines(errors: Sequence[ErrorLocation]) -> list[str]:
    """Errors as text: ``"error: In [5], line 3: ValueError: ..."`` and the quoted line."""
    lines = []
    for error in errors:
        lines.append(f"error: {error}")
        if error.source_line is not None and error.source_line.strip():
            lines.append(f"    {error.source_line.strip()}")
    return lines


def error_html(errors: Sequence[ErrorLocation], title: str = "Error") -> str:
    """Errors as boxes: where, what, and the offending source line."""
    boxes = []
    for error in errors:
        where = f"<b>{esc(error.where)}</b>: " if error.where else ""
        source = ""
        if error.source_line is not None and error.source_line.strip():
            source = f"<pre>{esc(error.source_line.rstrip())}</pre>"
        boxes.append(
            f'<div class="ot2-error-box"><b>{esc(title)}</b> {where}'
            f"{esc(error.headline)}{source}</div>"
        )
    return html_block("".join(boxes))


class EquipmentPanel(Panel):
    """The equipment a protocol needs, with a deck map (see the module doc).

    ``protocol`` is a :class:`~ot2_notebook.client.Protocol` or its
    :class:`~ot2_notebook.client.ProtocolData`. ``cell_errors`` (or its alias
    ``error_locations``) places the analysis errors in the notebook; without it the errors
    are shown with the file and line the robot reports. ``preflight`` is the check of the
    robot's attached hardware (a :class:`~ot2_notebook.client.PreflightReport`), shown per
    pipette and module; without it the panel shows only what the protocol needs.
    ``definitions``: custom labware definitions (dicts or JSON files, the labware uploaded
    with the protocol) for the deck drawing; ``drawing=False`` leaves the drawing out (the
    slot map stays).

    Parts, for code and browser tests: ``header``, ``errors_view`` (class ``ot2-errors``),
    ``preflight_view`` (``ot2-preflight``), ``pipettes_view`` (``ot2-pipettes``),
    ``deck_view`` (a :class:`DeckView`, ``ot2-deck-view``; ``None`` without the drawing),
    ``deck`` (the slot map, a :class:`DeckMap`, ``ot2-deck``), ``labware_view``
    (``ot2-labware-table``), ``modules_view`` (``ot2-modules-table``), ``liquids_view``
    (``ot2-liquids-table``). The text form (:meth:`text`) is the same with or without the
    drawing.
    """

    css_class = "ot2-equipment-panel"

    def __init__(
        self,
        protocol: Protocol | ProtocolData,
        cell_errors: Sequence[ErrorLocation] | None = None,
        *,
        error_locations: Sequence[ErrorLocation] | None = None,
        preflight: PreflightReport | None = None,
        definitions: Iterable[Mapping[str, Any] | str | Path] = (),
        drawing: bool = True,
    ) -> None:
        super().__init__()
        self.protocol = _as_data(protocol)
        #: The check of the robot's attached hardware, if given.
        self.preflight = preflight
        if cell_errors is not None and error_locations is not None:
            raise TypeError("Pass cell_errors or error_locations (the same thing), not both.")
        located = cell_errors if cell_errors is not None else error_locations
        #: The errors as shown: placed in cells when known, else in the bundled file.
        self.errors: tuple[ErrorLocation, ...] = (
            tuple(describe_error(e) for e in located)
            if located
            else tuple(describe_error(e) for e in self.protocol.errors)
        )
        equipment = self.protocol.equipment
        self.header = widgets.HTML(value=self._header_html())
        self.header.add_class("ot2-equipment-header")
        self.errors_view = widgets.HTML(value=error_html(self.errors, "Analysis error"))
        self.errors_view.add_class("ot2-errors")
        if not self.errors:
            self.errors_view.layout.display = "none"
        self.preflight_view = widgets.HTML(value=self._preflight_html())
        self.preflight_view.add_class("ot2-preflight")
        if preflight is None or preflight.ok:
            self.preflight_view.layout.display = "none"
        self.pipettes_view = widgets.HTML(value=self._pipettes_html(equipment))
        self.pipettes_view.add_class("ot2-pipettes")
        self.deck = DeckMap(equipment)
        labware = self.labware_table
        labware["label"] = [
            f"{label} (custom)" if custom else label
            for label, custom in zip(labware["label"], labware["custom"], strict=True)
        ]
        self.labware_view = widgets.HTML(
            value=self._table_html("Labware", labware.drop(columns=["custom"]))
        )
        self.labware_view.add_class("ot2-labware-table")
        modules = self.modules_table.drop(columns=["type"])
        if preflight is not None and len(preflight.modules) == len(modules):
            modules["robot"] = [self._check_text(c) for c in preflight.modules]
        self.modules_view = widgets.HTML(value=self._table_html("Modules", modules))
        self.modules_view.add_class("ot2-modules-table")
        if not equipment.modules:
            self.modules_view.layout.display = "none"
        self.liquids_view = widgets.HTML(
            value=self._table_html("Liquids", equipment.liquids_dataframe())
        )
        self.liquids_view.add_class("ot2-liquids-table")
        if not equipment.liquids:
            self.liquids_view.layout.display = "none"
        #: Why the deck could not be drawn (a custom definition that cannot be read).
        self.drawing_error: str | None = None
        self.deck_view = self._drawing(definitions) if drawing else None
        map_title = widgets.HTML(value=html_block("Deck", "ot2-section-title"))
        side = [self.pipettes_view, self.labware_view, self.modules_view, self.liquids_view]
        if self.deck_view is not None:
            # the drawing is the deck; the slot map sums it up beside the tables
            map_title.value = html_block("Slots", "ot2-section-title")
            deck_column = widgets.VBox(
                [self.deck_view],
                layout=widgets.Layout(flex="1 1 420px", min_width="300px", max_width="720px"),
            )
            side += [map_title, self.deck]
        else:
            parts: list[widgets.Widget] = [map_title, self.deck]
            if self.drawing_error is not None:
                note = f"The deck could not be drawn: {self.drawing_error}"
                parts.append(
                    widgets.HTML(value=html_block(f'<div class="ot2-info-box">{esc(note)}</div>'))
                )
            deck_column = widgets.VBox(
                parts,
                layout=widgets.Layout(flex="1 1 320px", min_width="280px", max_width="540px"),
            )
        side_column = widgets.VBox(
            side,
            layout=widgets.Layout(
                flex="1 1 300px", min_width="260px", margin="0 0 0 12px", overflow="hidden"
            ),
        )
        body = widgets.HBox([deck_column, side_column], layout=widgets.Layout(flex_flow="row wrap"))
        self._set_body(self.header, self.errors_view, self.preflight_view, body)

    def _drawing(self, definitions: Iterable[Mapping[str, Any] | str | Path]) -> DeckView | None:
        """The deck drawn from the definitions; ``None`` (and the slot map alone) when a
        custom definition cannot be read, which the panel says."""
        try:
            return DeckView(self.protocol, definitions=definitions, watch=False)
        except DefinitionError as exc:
            log.warning("equipment panel of %s: no deck drawing: %s", self.protocol.id, exc)
            self.drawing_error = str(exc)
            return None

    # -- data ------------------------------------------------------------------------------

    @property
    def equipment(self) -> Equipment:
        return self.protocol.equipment

    @property
    def labware_table(self) -> pandas.DataFrame:
        """The labware, one row per item, ordered by slot."""
        frame = self.equipment.labware_dataframe()
        return frame.sort_values("slot", kind="stable", na_position="last").reset_index(drop=True)

    @property
    def modules_table(self) -> pandas.DataFrame:
        """The modules, with their display names, ordered by slot."""
        frame = self.equipment.modules_dataframe()
        frame.insert(1, "name", [m.display_name for m in self.equipment.modules])
        return frame.sort_values("slot", kind="stable", na_position="last").reset_index(drop=True)

    # -- text ------------------------------------------------------------------------------

    def text(self) -> str:
        data = self.protocol
        api = f"API {data.api_level}" if data.api_level else "API level unknown"
        lines = [f"EquipmentPanel: {data.name} ({api})"]
        files = data.protocol_file or f"{data.id}.py"
        if data.support_files:
            files += " + " + ", ".join(data.support_files)
        lines.append(f"  protocol: {data.id} ({files})")
        author = data.metadata.get("author")
        if author:
            lines.append(f"  author: {author}")
        if data.estimated_duration is not None:
            lines.append(f"  estimated run time: {format_duration(data.estimated_duration)}")
        for mount in MOUNTS:
            pipette = self.equipment.pipette_on(mount)
            line = f"  {mount}: {pipette.pipette_name if pipette else 'empty'}"
            check = self.preflight.for_mount(mount) if self.preflight else None
            if check is not None:
                line += f" (robot: {self._check_text(check)})"
            lines.append(line)
        lines += [f"  {line}" for line in deck_lines(self.equipment)]
        for liquid in self.equipment.liquids:
            lines.append(
                f"  liquid {liquid.name}: {liquid.volume:g} uL in {len(liquid.wells)} well(s)"
            )
        if self.preflight is not None:
            for check in self.preflight.modules:
                lines.append(f"  robot, {check.where}: {check.wanted}: {self._check_text(check)}")
            if not self.preflight.ok:
                lines += [f"  not on the robot: {c.describe()}" for c in self.preflight.problems]
        lines += [f"  {line}" for line in error_lines(self.errors)]
        return "\n".join(lines)

    @staticmethod
    def _check_text(check: EquipmentCheck) -> str:
        """``ok``, ``missing``, ``wrong: p300_single_v1 attached``."""
        if check.status == "wrong":
            return f"wrong: {check.attached} attached"
        return check.status

    # -- html ------------------------------------------------------------------------------

    def _header_html(self) -> str:
        data = self.protocol
        facts = [f"protocol <code>{esc(data.id)}</code>"]
        author = data.metadata.get("author")
        if author:
            facts.append(f"by {esc(author)}")
        facts.append(f"API {esc(data.api_level)}" if data.api_level else "API level unknown")
        if data.estimated_duration is not None:
            facts.append(f"about {esc(format_duration(data.estimated_duration))} to run")
        files = [data.protocol_file, *data.support_files]
        if any(files):
            facts.append("files: " + ", ".join(f"<code>{esc(f)}</code>" for f in files if f))
        status = (
            '<span class="ot2-tag ot2-tag-error">analysis failed</span>'
            if self.errors
            else '<span class="ot2-tag ot2-tag-ok">analysed</span>'
        )
        if self.preflight is not None and not self.errors:
            status += (
                ' <span class="ot2-tag ot2-tag-ok">robot has its equipment</span>'
                if self.preflight.ok
                else ' <span class="ot2-tag ot2-tag-error">robot lacks equipment</span>'
            )
        return html_block(
            f'<div class="ot2-title">{esc(data.name)} {status}</div>'
            f'<div class="ot2-muted">{" · ".join(facts)}</div>'
        )

    def _pipettes_html(self, equipment: Equipment) -> str:
        rows = []
        for mount in MOUNTS:
            pipette = equipment.pipette_on(mount)
            if pipette is None:
                what = '<span class="ot2-muted">empty</span>'
            else:
                what = f"<code>{esc(pipette.pipette_name)}</code>"
                if pipette.channels:
                    what += f' <span class="ot2-muted">{pipette.channels}-channel</span>'
                if pipette.requested_as and pipette.requested_as != pipette.pipette_name:
                    what += f' <span class="ot2-muted">(asked for {esc(pipette.requested_as)})'
                    what += "</span>"
            check = self.preflight.for_mount(mount) if self.preflight else None
            robot = f"<td>{self._check_html(check)}</td>" if check is not None else ""
            if self.preflight is not None and check is None:
                attached = self.preflight.attached.pipette_on(mount)
                has = attached.model or attached.name
                robot = f'<td><span class="ot2-muted">robot: {esc(has or "empty")}</span></td>'
            rows.append(f"<tr><th>{mount}</th><td>{what}</td>{robot}</tr>")
        return html_block(
            '<div class="ot2-section-title">Pipettes</div>'
            f'<table class="ot2-table">{"".join(rows)}</table>'
        )

    @staticmethod
    def _check_html(check: EquipmentCheck) -> str:
        kind = "ok" if check.ok else "error"
        tag = f'<span class="ot2-tag ot2-tag-{kind} ot2-check-{check.status}">{check.status}</span>'
        if check.attached and check.kind == "pipette":
            return f'{tag} <span class="ot2-muted">{esc(check.attached)}</span>'
        return tag

    def _preflight_html(self) -> str:
        report = self.preflight
        if report is None or report.ok:
            return ""
        items = "".join(f"<li>{esc(c.describe())}</li>" for c in report.problems)
        return html_block(
            '<div class="ot2-error-box"><b>Not on the robot</b>: a run would fail where the '
            f"protocol loads it.<ul>{items}</ul></div>"
        )

    @staticmethod
    def _table_html(title: str, frame: pandas.DataFrame) -> str:
        if frame.empty:
            table = '<div class="ot2-muted">none</div>'
        else:
            table = frame.to_html(index=False, border=0, classes="ot2-table", escape=True)
        return html_block(f'<div class="ot2-section-title">{esc(title)}</div>{table}')
