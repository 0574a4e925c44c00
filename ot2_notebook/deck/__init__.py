"""The OT-2 deck as plain data and SVG: definitions, layout, step timeline, rendering.

No Jupyter here (the widget is :class:`ot2_notebook.widgets.deck_view.DeckView`): this
package turns a protocol's equipment and a session's step events into

* :class:`DeckLayout`: every labware and module placed from its definition
  (``opentrons-shared-data`` for standard ones, :class:`DefinitionLibrary` for custom);
* :class:`Timeline`: the deck after every step (tips, volumes, pipettes), with pandas
  tables (``volumes``, ``tips``, ``pipettes``, ``summary``, ``steps_dataframe``) and time
  estimates;
* :class:`DeckRenderer`: SVG of the deck and of a :class:`DeckState`; :func:`deck_svg` in
  one call.

Example::

    layout = DeckLayout.from_protocol(protocol)            # robot.upload(...) / robot.protocol(id)
    timeline = Timeline.from_session(session, layout)      # the run's (or load's) steps
    timeline.volumes()                                     # µL in/out of each well at the end
    timeline.tips(10)                                      # every tip after step 10
    svg = deck_svg(layout, timeline.state(10))
"""

from __future__ import annotations

from ot2_notebook.deck.definitions import (
    DefinitionError,
    DefinitionLibrary,
    LabwareDefinition,
    ModuleDefinition,
)
from ot2_notebook.deck.layout import DeckLayout, PipetteInfo, PlacedLabware, PlacedModule
from ot2_notebook.deck.render import THEMES, DeckRenderer, png_bytes
from ot2_notebook.deck.steps import Step, WellRef, parse_location, select_steps, steps_from_events
from ot2_notebook.deck.timeline import DeckState, PipetteState, Timeline, estimate_seconds

__all__ = [
    "THEMES",
    "DeckLayout",
    "DeckRenderer",
    "DeckState",
    "DefinitionError",
    "DefinitionLibrary",
    "LabwareDefinition",
    "ModuleDefinition",
    "PipetteInfo",
    "PipetteState",
    "PlacedLabware",
    "PlacedModule",
    "Step",
    "Timeline",
    "WellRef",
    "deck_svg",
    "estimate_seconds",
    "parse_location",
    "png_bytes",
    "select_steps",
    "steps_from_events",
]


def deck_svg(
    layout: DeckLayout,
    state: DeckState | None = None,
    *,
    theme: str = "light",
    caption: str | None = None,
) -> str:
    """The deck (and ``state`` on it) as one SVG document, fixed colours by default."""
    return DeckRenderer(layout, theme=theme).svg(state, caption=caption)
