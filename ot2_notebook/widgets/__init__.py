"""ipywidgets panels for the OT-2: equipment and deck map, live run controls, robot status.

* :class:`EquipmentPanel` (``show_equipment``): a protocol's pipettes, deck map, labware,
  modules and analysis errors (placed in notebook cells with :class:`ErrorLocation`).
* :class:`RunPanel` (``show_run``): a session's state, Start / Pause / Resume / Cancel,
  progress, current step, times, log and run error, updated live from the robot.
* :class:`RobotPanel` (``show_robot``): health, protocols and sessions, with delete buttons.
* :class:`FleetPanel` (``show_fleet``): every connected robot, live: reachable or not, its
  software, the protocol it holds, its session's state and progress (a poller thread per
  robot, so one robot going away never holds up the others).
* :class:`DeckView` (``show_deck``): the deck drawn from the labware definitions, the
  deck's state after each step (tips, liquid) with a slider and play button, a live run
  followed step by step, SVG/PNG export. The equipment panel shows it without steps; the
  run panel (``deck=True``, as the magics show it) with the session's steps.

Each panel is an ``ipywidgets.VBox``; its ``text/plain`` form (``repr(panel)``,
``panel.text()``) is a deterministic description for terminals and nbval.

Stable CSS classes (for browser tests and custom styling)::

    every panel        ot2-panel
    EquipmentPanel     ot2-equipment-panel; parts ot2-equipment-header, ot2-errors,
                       ot2-pipettes, ot2-labware-table, ot2-modules-table
    deck map           ot2-deck (the grid); each cell ot2-deck-slot and ot2-slot-<n>
                       (a thermocycler's cell: ot2-slot-7, -8, -10, -11 and ot2-thermocycler);
                       state: ot2-slot-empty, ot2-slot-has-module, ot2-slot-has-labware,
                       ot2-slot-trash, ot2-slot-custom
    RunPanel           ot2-run-panel; parts ot2-run-header, ot2-run-controls, ot2-run-state
                       (badge inside: ot2-badge ot2-state-<state>), ot2-btn-start,
                       ot2-btn-pause, ot2-btn-resume, ot2-btn-cancel (all: ot2-btn),
                       ot2-run-progress, ot2-run-progress-text, ot2-run-step (inside it,
                       for a delay, hold, module wait or pause: ot2-run-step-time),
                       ot2-run-time, ot2-run-error, ot2-run-message, ot2-run-log
    DeckView           ot2-deck-view (in an EquipmentPanel, and in a RunPanel made with
                       deck=True); parts ot2-deck-header, ot2-deck-layer-base and
                       ot2-deck-layer-state (the two SVG layers), ot2-deck-play,
                       ot2-deck-slider, ot2-deck-speed, ot2-deck-follow, ot2-deck-step,
                       ot2-deck-time, ot2-deck-export-svg, ot2-deck-export-png,
                       ot2-deck-export, ot2-deck-message
    RobotPanel         ot2-robot-panel; parts ot2-robot-health, ot2-btn-refresh,
                       ot2-robot-message, ot2-robot-protocols (rows ot2-protocol-row, button
                       ot2-btn-delete-protocol), ot2-robot-sessions (rows ot2-session-row,
                       button ot2-btn-delete-session)

For the magics: ``show_equipment``, ``show_run``, ``show_robot`` and ``show_fleet`` build a
panel, display it (``display=False`` to only build it) and return it. Do not also return a
displayed panel as a cell's value (it would be shown twice). A :class:`RunPanel` draws from
its own threads: call ``panel.wait_for(state)`` before relying on its text (nbval,
papermill), and ``panel.close()`` (or a newer panel for the same session) stops its threads.
:class:`ErrorLocation` ``(label, line, source_line, message, error_type=None)`` places an
error in a cell: ``"In [5], line 3: ValueError: ..."``, the quoted line below.

The stylesheet is ``panels.css`` beside this module; it uses JupyterLab's theme variables,
so the panels follow light and dark themes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ot2_notebook.client.http import Protocol, RobotClient, Session
from ot2_notebook.client.models import ProtocolData
from ot2_notebook.client.preflight import PreflightReport
from ot2_notebook.widgets.deck import DeckMap, SlotContent, deck_contents, deck_lines
from ot2_notebook.widgets.deck_view import DeckView, show_deck
from ot2_notebook.widgets.equipment import EquipmentPanel
from ot2_notebook.widgets.errors import ErrorLocation
from ot2_notebook.widgets.fleet import FleetPanel, RobotStatus
from ot2_notebook.widgets.robot import RobotPanel
from ot2_notebook.widgets.run import BUTTON_COMMANDS, ErrorLocator, RunPanel, enabled_buttons

__all__ = [
    "BUTTON_COMMANDS",
    "DeckMap",
    "DeckView",
    "EquipmentPanel",
    "ErrorLocation",
    "FleetPanel",
    "RobotPanel",
    "RobotStatus",
    "RunPanel",
    "SlotContent",
    "deck_contents",
    "deck_lines",
    "enabled_buttons",
    "show_deck",
    "show_equipment",
    "show_fleet",
    "show_robot",
    "show_run",
]


def _display(panel: Any) -> None:
    from IPython.display import display

    display(panel)


def show_equipment(
    protocol: Protocol | ProtocolData,
    cell_errors: Sequence[ErrorLocation] | None = None,
    *,
    display: bool = True,
    preflight: PreflightReport | bool | None = None,
    definitions: Iterable[Mapping[str, Any] | str | Path] = (),
) -> EquipmentPanel:
    """Build an :class:`EquipmentPanel`, display it (unless ``display=False``), return it.
    ``definitions``: the custom labware definitions uploaded with the protocol, for the
    deck drawing; ``preflight``: the check of the robot's attached hardware to show, or
    ``True`` to ask the protocol's robot for it (``protocol`` must then be a ``Protocol``).

    Magics: display it *before* raising for an analysis error, so the cell shows the panel
    with the errors placed in their cells, and then fails.
    """
    if preflight is True:
        if not isinstance(protocol, Protocol):
            raise TypeError("show_equipment(..., preflight=True) needs a Protocol handle.")
        preflight = protocol.client.preflight(protocol)
    report = preflight if isinstance(preflight, PreflightReport) else None
    panel = EquipmentPanel(protocol, cell_errors, preflight=report, definitions=definitions)
    if display:
        _display(panel)
    return panel


def show_run(
    session: Session,
    *,
    protocol: Protocol | ProtocolData | None = None,
    locate_error: ErrorLocator | None = None,
    display: bool = True,
    **options: Any,
) -> RunPanel:
    """Build a live :class:`RunPanel`, display it (unless ``display=False``), return it.

    A panel built earlier for the same session stops updating (re-running a cell does not
    pile up watcher threads). To show a final, deterministic state (``--wait``, nbval),
    call ``panel.wait_for("finished")`` (or the state expected) before the cell ends.
    ``options`` go to :class:`RunPanel` (``use_feed``, ``log_limit``, ``watcher_options``,
    ``deck=True`` and ``definitions`` for the deck view following the run).
    """
    panel = RunPanel(session, protocol=protocol, locate_error=locate_error, **options)
    if display:
        _display(panel)
    return panel


def show_robot(robot: RobotClient, *, display: bool = True) -> RobotPanel:
    """Build a :class:`RobotPanel`, display it (unless ``display=False``), return it."""
    panel = RobotPanel(robot)
    if display:
        _display(panel)
    return panel


def show_fleet(
    robots: Mapping[str, RobotClient] | None = None,
    *,
    default: str | None = None,
    display: bool = True,
    **options: Any,
) -> FleetPanel:
    """Build a live :class:`FleetPanel` (every connected robot when ``robots`` is
    ``None``), display it (unless ``display=False``), return it. ``options`` go to
    :class:`FleetPanel` (``interval``, ``timeout``). ``panel.close()`` stops its threads."""
    panel = FleetPanel(robots, default=default, **options)
    if display:
        _display(panel)
    return panel
