"""The OT-2 deck map: what goes in each of the 12 slots, as data, text and a widget.

The OT-2 deck seen from the front, as the Opentrons App draws it::

    10  11  12      (12 holds the fixed trash)
     7   8   9
     4   5   6
     1   2   3

The robot lists labware that sits on a module at the module's slot, and a thermocycler at
slot 7 although it covers 7, 8, 10 and 11. :func:`deck_contents` turns the required
equipment into one :class:`SlotContent` per slot (the thermocycler's four slots share one),
which :class:`DeckMap` draws as a CSS grid (a ``GridBox`` whose thermocycler cell spans two
rows and two columns) and :func:`deck_lines` writes as text.
"""

from __future__ import annotations

from dataclasses import dataclass

import ipywidgets as widgets

from ot2_notebook.client.models import Equipment, Labware, Module
from ot2_notebook.widgets.style import esc, html_block

__all__ = [
    "DECK_ROWS",
    "FIXED_TRASH_SLOT",
    "DeckMap",
    "SlotContent",
    "deck_contents",
    "deck_lines",
    "labware_text",
]

#: The slots row by row, back of the robot first, as seen from the front.
DECK_ROWS: tuple[tuple[int, int, int], ...] = ((10, 11, 12), (7, 8, 9), (4, 5, 6), (1, 2, 3))

#: The OT-2's fixed trash always takes slot 12.
FIXED_TRASH_SLOT = 12

_THERMOCYCLER_SLOTS = (7, 8, 10, 11)  # as Module.slots reports them


@dataclass(frozen=True)
class SlotContent:
    """What occupies one place on the deck.

    ``slots`` is ``(4,)`` for an ordinary slot and ``(7, 8, 10, 11)`` for a thermocycler.
    ``labware`` includes labware standing on ``module``. ``fixed_trash`` marks slot 12.
    """

    slots: tuple[int, ...]
    module: Module | None = None
    labware: tuple[Labware, ...] = ()
    fixed_trash: bool = False

    @property
    def slot(self) -> int:
        """The slot the robot reports for this place (7 for a thermocycler)."""
        if self.module is not None and self.module.slot is not None:
            return self.module.slot
        return self.slots[0]

    @property
    def is_empty(self) -> bool:
        return self.module is None and not self.labware and not self.fixed_trash

    @property
    def other_labware(self) -> tuple[Labware, ...]:
        """The labware apart from the fixed trash."""
        return tuple(lw for lw in self.labware if not lw.is_fixed_trash)

    @property
    def has_custom_labware(self) -> bool:
        return any(lw.is_custom for lw in self.labware)

    def describe(self) -> str:
        """``"Magnetic Module GEN2 + nest_96_wellplate_100ul_pcr_full_skirt"``, ``"empty"``."""
        parts: list[str] = []
        if self.fixed_trash:
            parts.append("fixed trash")
        items = [labware_text(lw) for lw in self.other_labware]
        if self.module is not None:
            parts.append(" + ".join([self.module.display_name, *items]))
        elif items:
            parts.append(", ".join(items))
        return "; ".join(parts) if parts else "empty"

    @property
    def label(self) -> str:
        """``"slot 4"`` or ``"slots 7, 8, 10, 11"``."""
        if len(self.slots) == 1:
            return f"slot {self.slots[0]}"
        return "slots " + ", ".join(str(s) for s in self.slots)


def labware_text(labware: Labware) -> str:
    """A labware's name for people: its label, the load name when the label differs, and
    ``(custom)`` for labware defined outside the Opentrons library."""
    text = labware.label or labware.load_name or labware.uri or "labware"
    if labware.load_name and labware.label and labware.load_name != labware.label:
        text = f"{labware.label} ({labware.load_name})"
    if labware.is_custom:
        text += " (custom)"
    return text


def deck_contents(equipment: Equipment) -> dict[int, SlotContent]:
    """Slot number (1-12) -> what is there. A thermocycler's four slots map to one object;
    slot 12 always holds the fixed trash."""
    contents: dict[int, SlotContent] = {}
    for module in equipment.modules:
        if module.slot is None or not 1 <= module.slot <= 12:
            continue
        item = SlotContent(
            slots=module.slots,
            module=module,
            labware=tuple(equipment.labware_in(module.slot)),
            fixed_trash=FIXED_TRASH_SLOT in module.slots,
        )
        for slot in module.slots:
            contents[slot] = item
    for slot in range(1, 13):
        if slot in contents:
            continue
        contents[slot] = SlotContent(
            slots=(slot,),
            labware=tuple(equipment.labware_in(slot)),
            fixed_trash=slot == FIXED_TRASH_SLOT,
        )
    return contents


def unique_places(contents: dict[int, SlotContent]) -> list[SlotContent]:
    """Each place once, in slot order (a thermocycler once, at slot 7)."""
    seen: list[SlotContent] = []
    for slot in range(1, 13):
        item = contents[slot]
        if not any(item is other for other in seen):
            seen.append(item)
    return seen


def deck_lines(equipment: Equipment, *, include_empty: bool = False) -> list[str]:
    """The deck as text, one occupied place per line, in slot order:
    ``"slot 4: Magnetic Module GEN2 + nest_96_wellplate_100ul_pcr_full_skirt"``."""
    lines = []
    for item in unique_places(deck_contents(equipment)):
        if item.is_empty and not include_empty:
            continue
        lines.append(f"{item.label}: {item.describe()}")
    unplaced = [lw for lw in equipment.labware if lw.slot is None]
    if unplaced:
        lines.append("no slot: " + ", ".join(labware_text(lw) for lw in unplaced))
    return lines


def _grid_areas(has_thermocycler: bool) -> str:
    rows = []
    for row in DECK_ROWS:
        names = []
        for slot in row:
            names.append("tc" if has_thermocycler and slot in _THERMOCYCLER_SLOTS else f"s{slot}")
        rows.append('"' + " ".join(names) + '"')
    return "\n".join(rows)


def _slot_html(item: SlotContent) -> str:
    number = ", ".join(str(s) for s in item.slots)
    parts = [f'<span class="ot2-slot-number">{esc(number)}</span>']
    if item.module is not None:
        parts.append(f'<div class="ot2-module-name">{esc(item.module.display_name)}</div>')
    for lw in item.other_labware:
        name = esc(lw.label or lw.load_name).replace("_", "_<wbr>")
        tag = ' <span class="ot2-tag">custom</span>' if lw.is_custom else ""
        parts.append(f'<div class="ot2-labware-name" title="{esc(lw.uri)}">{name}{tag}</div>')
    if item.fixed_trash:
        parts.append('<div class="ot2-muted">fixed trash</div>')
    if item.is_empty:
        parts.append('<div class="ot2-muted">&nbsp;</div>')
    return html_block("".join(parts))


def _tooltip(item: SlotContent) -> str:
    """Model and URIs, for a mouse-over: the exact names to look up or order."""
    lines = [f"{item.module.display_name} ({item.module.model})"] if item.module else []
    lines += [lw.uri for lw in item.labware if lw.uri]
    return "\n".join(lines)


def _slot_classes(item: SlotContent) -> list[str]:
    classes = ["ot2-deck-slot", *(f"ot2-slot-{s}" for s in item.slots)]
    if item.is_empty:
        classes.append("ot2-slot-empty")
    if item.module is not None:
        classes.append("ot2-slot-has-module")
        if item.module.type == "thermocyclerModuleType":
            classes.append("ot2-thermocycler")
    if item.other_labware:
        classes.append("ot2-slot-has-labware")
    if item.fixed_trash:
        classes.append("ot2-slot-trash")
    if item.has_custom_labware:
        classes.append("ot2-slot-custom")
    return classes


class DeckMap(widgets.GridBox):
    """The deck as a 3-by-4 grid of ``HTML`` cells, laid out as on the robot.

    Each cell carries the classes ``ot2-deck-slot`` and ``ot2-slot-<n>`` (a thermocycler's
    cell carries ``ot2-slot-7``, ``-8``, ``-10`` and ``-11`` and ``ot2-thermocycler``), plus
    ``ot2-slot-empty``, ``ot2-slot-has-module``, ``ot2-slot-has-labware``, ``ot2-slot-trash``
    and ``ot2-slot-custom`` as they apply.
    """

    def __init__(self, equipment: Equipment, **kwargs: object) -> None:
        self.equipment = equipment
        #: slot number -> what is there (see :func:`deck_contents`).
        self.contents = deck_contents(equipment)
        places = unique_places(self.contents)
        has_tc = any(len(item.slots) > 1 for item in places)
        self._cells: dict[int, widgets.HTML] = {}
        order = [slot for row in DECK_ROWS for slot in row]
        children: list[widgets.HTML] = []
        for slot in order:
            item = self.contents[slot]
            if slot in self._cells:
                continue
            cell = widgets.HTML(value=_slot_html(item))
            cell.layout.grid_area = "tc" if len(item.slots) > 1 else f"s{slot}"
            for css in _slot_classes(item):
                cell.add_class(css)
            tooltip = _tooltip(item)
            if tooltip:
                cell.tooltip = tooltip
            for covered in item.slots:
                self._cells[covered] = cell
            children.append(cell)
        layout = widgets.Layout(
            grid_template_columns="repeat(3, minmax(0, 1fr))",
            grid_template_rows="repeat(4, minmax(64px, auto))",
            grid_template_areas=_grid_areas(has_tc),
            grid_gap="4px",
            width="100%",
            max_width="520px",
        )
        super().__init__(children=children, layout=layout, **kwargs)
        self.add_class("ot2-deck")

    def cell(self, slot: int) -> widgets.HTML:
        """The widget that draws ``slot`` (shared by a thermocycler's four slots)."""
        if slot not in self._cells:
            raise ValueError(f"The OT-2 deck has slots 1 to 12, not {slot!r}.")
        return self._cells[slot]

    def lines(self, *, include_empty: bool = False) -> list[str]:
        """The deck as text (see :func:`deck_lines`)."""
        return deck_lines(self.equipment, include_empty=include_empty)

    def close(self) -> None:
        for cell in {id(c): c for c in self._cells.values()}.values():
            cell.close()
        super().close()
