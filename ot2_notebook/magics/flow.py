"""The magics' upload and run flow, and what the notebook remembers of what it did.

:class:`Flow` strings the steps of :mod:`~ot2_notebook.magics.robotops` into what a cell
does: upload a protocol (replacing the one of that name, making room on a full robot from
this notebook's idle protocols) and show its equipment panel (with the deck drawn, custom
labware from the bundle's definitions), even when the analysis fails; run it: create a
session (or use the one already loaded), wait until it is loaded, show the live run panel
(with the deck following the run), start, and with ``--wait`` block until the run ends,
failing the cell unless it finished; or, when a run of that protocol is already in progress
on the robot (after a kernel restart, from another notebook), follow it instead of failing
or starting another.

What it remembers is in the :class:`~ot2_notebook.magics.ledger.Ledger` (what this notebook
uploaded and created on each robot, and the fingerprint of each upload, so that ``%ot2_run``
uploads only what changed, also after a kernel restart), and the live panels it showed
(closed when the extension unloads).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from ot2_notebook import session_states as states
from ot2_notebook.client import (
    NotFoundError,
    ProtocolErrorInfo,
    RobotClient,
    RobotError,
    Session,
)
from ot2_notebook.client import Protocol as StoredProtocol
from ot2_notebook.magics import display, robotops
from ot2_notebook.magics.bundle import BuiltBundle, NotebookBundle
from ot2_notebook.magics.checks import labware_definitions, require_clean_bundle
from ot2_notebook.magics.errors import CellProblem, OT2MagicError, RobotRequestError
from ot2_notebook.magics.ledger import Ledger, created_stamp
from ot2_notebook.magics.robotops import CellAnalysisError, CleanupReport

__all__ = ["Flow", "FlowSettings", "robot_errors"]

log = logging.getLogger("ot2_notebook.magics")

#: The states a run panel ends in when a run fails or is stopped.
_RUN_OVER = ("error", "stopped", "finished", "deleted")


class FlowSettings(Protocol):
    """The settings the flow reads (``OT2Magics`` has them, as ``%config`` traits)."""

    @property
    def analysis_timeout(self) -> float: ...

    @property
    def wait_timeout(self) -> float | None: ...

    @property
    def make_room(self) -> bool: ...


@contextlib.contextmanager
def robot_errors(doing: str, state: str | None = None) -> Iterator[None]:
    """Turn a client error into a short report (no traceback of the extension)."""
    try:
        yield
    except RobotError as exc:
        if isinstance(exc, OT2MagicError):
            raise
        raise RobotRequestError(doing, exc, state) from exc


def _note(text: str) -> None:
    display.show(display.Note(text, css_class="ot2-flow-note"))


class Flow:
    """Uploads and runs for one notebook (see the module doc)."""

    def __init__(self, settings: FlowSettings, ledger: Ledger | None = None) -> None:
        self.settings = settings
        self.ledger = ledger if ledger is not None else Ledger()
        self.panels: list[Any] = []

    def forget_robot(self, url: str) -> None:
        """The robot at ``url`` is gone (a stopped simulator): forget what was made there."""
        self.ledger.forget_robot(url)

    def close(self) -> None:
        """Close the live panels (and their threads)."""
        for panel in self.panels:
            try:
                panel.close()
            except Exception:  # one broken panel must not keep the others (or more) running
                log.exception("closing panel %r", panel)
        self.panels.clear()

    # -- what the robot holds ----------------------------------------------------------------

    def fetch(self, robot: RobotClient, name: str) -> StoredProtocol | None:
        """Protocol ``name`` as stored on the robot, ``None`` if it is not there."""
        with robot_errors(f"Reading protocol {name!r} from the robot"):
            try:
                return robot.protocol(name)
            except NotFoundError:
                return None

    def holds(self, robot: RobotClient, protocol: StoredProtocol, built: BuiltBundle) -> bool:
        """Whether ``protocol`` on the robot is exactly ``built`` as this notebook uploaded
        it (the same upload, by the robot's ``createdAt``, and the same files)."""
        owned = self.ledger.owned_protocol(
            robot.base_url, protocol.id, created_stamp(protocol.data.raw)
        )
        return owned is not None and owned.fingerprint == built.fingerprint()

    def live_run(self, robot: RobotClient, name: str) -> Session | None:
        """The session of protocol ``name`` whose run is in progress on the robot, if any."""
        with robot_errors(f"Reading the sessions on {robot.base_url}"):
            return robotops.live_session(robot.sessions(), name)

    # -- upload ----------------------------------------------------------------------------

    def upload(self, robot: RobotClient, built: BuiltBundle) -> StoredProtocol:
        """Replace the protocol on the robot; show the equipment panel (with the errors
        placed in cells when the analysis fails, before the cell fails).

        A protocol whose run is in progress is not replaced; if the robot holds exactly this
        upload already, that is no error: the cell says so and shows its panel.
        """
        live = self.live_run(robot, built.name)
        if live is not None:
            stored = self.fetch(robot, built.name)
            if stored is not None and self.holds(robot, stored, built):
                _note(
                    f"Protocol {built.name!r} is unchanged on the robot and its run is "
                    f"{live.state} (session {live.id}), so it was not uploaded again."
                )
                display.show_equipment(
                    stored,
                    definitions=labware_definitions(built.files),
                    preflight=robotops.equipment_report(robot, stored),
                )
                return stored
        definitions = labware_definitions(built.files)
        try:
            protocol = robotops.replace_protocol(
                robot, built, self.ledger, room=self.settings.make_room, notify=_note
            )
        except CellAnalysisError as exc:
            display.show_equipment(exc.protocol, exc.problems, definitions)
            raise
        display.show_equipment(
            protocol, definitions=definitions, preflight=robotops.equipment_report(robot, protocol)
        )
        return protocol

    def ready_to_run(
        self, robot: RobotClient, name: str, bundle: NotebookBundle
    ) -> tuple[BuiltBundle | None, StoredProtocol | None, bool]:
        """What ``%ot2_run NAME`` runs: ``(built, protocol, uploaded_now)``.

        A protocol of this notebook is uploaded first unless the robot holds exactly the
        version built now, without errors; another protocol is taken as it is on the robot
        (``protocol`` is ``None`` when there is none).
        """
        if name not in bundle:
            return None, self.fetch(robot, name), False
        built = bundle.build(name)
        protocol = self.fetch(robot, name)
        if protocol is not None and not protocol.errors and self.holds(robot, protocol, built):
            return built, protocol, False
        require_clean_bundle(
            built,
            f"Fix the cells and run them again, then %ot2_run {name}.",
            "The robot was not changed.",
        )
        return built, self.upload(robot, built), True

    # -- run -------------------------------------------------------------------------------

    def run(
        self,
        robot: RobotClient,
        name: str,
        built: BuiltBundle | None,
        protocol: StoredProtocol | None,
        wait: bool,
        *,
        uploaded_now: bool = False,
    ) -> Session:
        """Create a session (or use the one loaded and waiting), wait until the robot has
        loaded it, show the run panel, start the run; with ``wait``, block until it ends
        (raising unless it finished). A run of ``name`` already in progress is followed
        instead (:meth:`follow`).

        The panel is shown once the session is ``loaded`` (loading is the robot simulating the
        protocol: brief), so the first view a saved notebook records is always the same.
        Before anything, the robot's attached pipettes and modules are checked against what
        the protocol needs (:class:`~ot2_notebook.magics.robotops.CellEquipmentError`).
        """
        live = self.live_run(robot, name)
        if live is not None:
            return self.follow(robot, live, built, protocol, wait)
        if protocol is not None:
            robotops.require_equipment(robot, protocol)
        session = self._waiting_session(robot, name) if not uploaded_now else None
        if session is None:
            session = robotops.start_run(robot, name, self.ledger, uploaded_now=uploaded_now)
        locate = self._locator(built, name)
        # The panel's threads refresh their own handle; this one is for this thread.
        runner = Session(robot, session.data)
        panel = handle = None
        try:
            try:
                robotops.load_session(runner, built, self.settings.analysis_timeout + 60.0)
            finally:
                panel, handle = display.show_run(session, protocol, locate, _definitions(built))
                self.panels.append(panel)
            robotops.begin(runner)
            if not wait:
                return runner
            robotops.wait_for_run(runner, built, self.settings.wait_timeout)
        except KeyboardInterrupt:
            raise self._interrupted(name, session) from None
        except OT2MagicError:
            if panel is not None:
                _settle(panel, handle, _RUN_OVER)
            raise
        _settle(panel, handle, ("finished",))
        return runner

    def _waiting_session(self, robot: RobotClient, name: str) -> Session | None:
        """The robot's newest session, if it is of ``name`` and loaded (ready to start): a
        session made before a kernel restart, or in another notebook, is used, not doubled."""
        with robot_errors(f"Reading the sessions on {robot.base_url}"):
            sessions = robot.sessions()
        if not sessions:
            return None
        newest = sessions[-1]  # only the newest session accepts commands
        if newest.protocol_id != name or newest.state != states.LOADED:
            return None
        _note(
            f"Using session {newest.id} of protocol {name!r}, already loaded on the robot, "
            "instead of creating another."
        )
        return newest

    def follow(
        self,
        robot: RobotClient,
        session: Session,
        built: BuiltBundle | None,
        protocol: StoredProtocol | None,
        wait: bool,
    ) -> Session:
        """Show the run panel of a run already in progress (no new session, no start); with
        ``wait``, block until it ends (raising unless it finished)."""
        name = session.protocol_id
        _note(self._follow_text(robot, session, built))
        locate = self._locator(built, name)
        runner = Session(robot, session.data)
        panel, handle = display.show_run(session, protocol, locate, _definitions(built))
        self.panels.append(panel)
        if not wait:
            return runner
        try:
            robotops.wait_for_run(runner, built, self.settings.wait_timeout)
        except KeyboardInterrupt:
            raise self._interrupted(name, session) from None
        except OT2MagicError:
            _settle(panel, handle, _RUN_OVER)
            raise
        _settle(panel, handle, ("finished",))
        return runner

    def _follow_text(self, robot: RobotClient, session: Session, built: BuiltBundle | None) -> str:
        name = session.protocol_id
        what = "is paused" if session.state == states.PAUSED else "is already running"
        text = (
            f"Protocol {name!r} {what} on the robot (session {session.id}): following that "
            "run instead of starting another."
        )
        if session.state == states.PAUSED:
            text += " Press Resume in the panel to go on."
        if built is not None:
            stored = self.fetch(robot, name)
            if stored is not None and not self.holds(robot, stored, built):
                text += (
                    f" This notebook's {name!r} differs from the one on the robot: run "
                    f"%ot2_run {name} again once this run is over to run yours."
                )
        return text

    @staticmethod
    def _interrupted(name: str, session: Session) -> OT2MagicError:
        return OT2MagicError(
            f"Stopped waiting (interrupted). The run of {name!r} goes on on the robot "
            f"(session {session.id}): pause or cancel it in its run panel, or look at "
            "%ot2_status."
        )

    @staticmethod
    def _locator(built: BuiltBundle | None, name: str) -> Callable[[ProtocolErrorInfo], Any]:
        def locate(info: ProtocolErrorInfo) -> CellProblem:
            return robotops.error_problems(built, [info], f"{name}.py")[0]

        return locate

    # -- status and cleanup ----------------------------------------------------------------

    def contents(self, robot: RobotClient) -> display.Note | None:
        """What is on the robot (protocols, sessions, whose; ``None`` when it holds nothing),
        pruning stale records."""
        with robot_errors(f"Reading the robot at {robot.base_url}"):
            protocols = robot.protocols()
            sessions = robot.sessions()
        url = robot.base_url
        self.ledger.prune(
            url, [(p.id, created_stamp(p.data.raw)) for p in protocols], [s.id for s in sessions]
        )
        if not protocols and not sessions:
            return None
        ours = {p.id for p in protocols if self.ledger.owns_protocol(url, p.id, p.data.raw)}
        return display.contents_note(protocols, sessions, ours, self.ledger.persistent)

    def status(self, robot: RobotClient, bundle: NotebookBundle) -> None:
        """Show the robot panel (health, protocols, sessions) and this notebook's bundle."""
        with robot_errors(f"Reading the robot at {robot.base_url}"):
            robot.health()
        display.show_robot(robot)
        display.show(display.Note("\n".join(display.bundle_lines(bundle))))

    def cleanup(self, robot: RobotClient, everything: bool) -> CleanupReport:
        """Delete what this notebook created on ``robot`` (``everything``: all of it)."""
        return robotops.cleanup(robot, self.ledger, everything=everything)


def _definitions(built: BuiltBundle | None) -> list[dict[str, Any]]:
    """The custom labware of an upload of this notebook (none known for another's)."""
    return labware_definitions(built.files) if built is not None else []


def _settle(panel: Any, handle: Any, states_: tuple[str, ...]) -> None:
    """The run is over on the robot: let the panel draw its end, then re-send its display so
    the cell's saved output shows the final state. The panel reads the session now rather
    than waiting for its watcher to notice (which a loaded machine can delay past any bound)."""
    try:
        panel.refresh()
    except RobotError as exc:  # the robot is gone or the session deleted: the watcher says so
        log.debug("run panel refresh failed: %s", exc)
    try:
        panel.wait_for(states_, timeout=10.0)
    except TimeoutError:
        log.warning("run panel did not show %s in time", states_)
    if handle is not None:
        handle.update(panel)
