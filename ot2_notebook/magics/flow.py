"""The magics' upload and run flow, and the notebook's records of what it did on each robot.

:class:`Flow` strings the steps of :mod:`~ot2_notebook.magics.robotops` into what a cell
does: upload a protocol (replacing the one of that name) and show its equipment panel,
even when the analysis fails; run it: create a session, wait until it is loaded, show the
live run panel, start, and with ``--wait`` block until the run ends, failing the cell
unless it finished. It keeps what the notebook needs to remember: the protocols and
sessions it created on each robot (for ``%ot2_cleanup``), the last upload of each protocol
(so ``%ot2_run`` uploads only what changed, and a run's errors map to that upload's cells)
and the live panels it showed (closed when the extension unloads).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

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
from ot2_notebook.magics.checks import require_clean_bundle
from ot2_notebook.magics.errors import CellProblem, OT2MagicError, RobotRequestError
from ot2_notebook.magics.robotops import CellAnalysisError, CleanupReport, Created

__all__ = ["Flow", "FlowSettings", "Uploaded", "robot_errors"]

log = logging.getLogger("ot2_notebook.magics")

#: The states a run panel ends in when a run fails or is stopped.
_RUN_OVER = ("error", "stopped", "finished", "deleted")


class FlowSettings(Protocol):
    """The settings the flow reads (``OT2Magics`` has them, as ``%config`` traits)."""

    @property
    def analysis_timeout(self) -> float: ...

    @property
    def wait_timeout(self) -> float | None: ...


@dataclass(frozen=True)
class Uploaded:
    """The last upload of a protocol: where to, what exactly (to map later run errors)."""

    robot_url: str
    fingerprint: str
    built: BuiltBundle


@contextlib.contextmanager
def robot_errors(doing: str, state: str | None = None) -> Iterator[None]:
    """Turn a client error into a short report (no traceback of the extension)."""
    try:
        yield
    except RobotError as exc:
        if isinstance(exc, OT2MagicError):
            raise
        raise RobotRequestError(doing, exc, state) from exc


class Flow:
    """Uploads and runs for one notebook (see the module doc)."""

    def __init__(self, settings: FlowSettings) -> None:
        self.settings = settings
        #: robot URL -> what this notebook created there
        self.created: dict[str, Created] = {}
        #: protocol name -> its last upload
        self.uploaded: dict[str, Uploaded] = {}
        self.panels: list[Any] = []

    def created_on(self, robot: RobotClient) -> Created:
        return self.created.setdefault(robot.base_url, Created())

    def forget_robot(self, url: str) -> None:
        """The robot at ``url`` is gone (a stopped simulator): forget what was made there."""
        self.created.pop(url, None)

    def close(self) -> None:
        """Close the live panels (and their feed threads)."""
        for panel in self.panels:
            try:
                panel.close()
            except Exception:  # one broken panel must not keep the others (or more) running
                log.exception("closing panel %r", panel)
        self.panels.clear()

    # -- upload ----------------------------------------------------------------------------

    def upload(self, robot: RobotClient, built: BuiltBundle) -> StoredProtocol:
        """Replace the protocol on the robot; show the equipment panel (with the errors
        placed in cells when the analysis fails, before the cell fails)."""
        try:
            protocol = robotops.replace_protocol(robot, built, self.created_on(robot))
        except CellAnalysisError as exc:
            self._remember_upload(robot, built)
            display.show_equipment(exc.protocol, exc.problems)
            raise
        self._remember_upload(robot, built)
        display.show_equipment(protocol, preflight=robotops.equipment_report(robot, protocol))
        return protocol

    def _remember_upload(self, robot: RobotClient, built: BuiltBundle) -> None:
        self.uploaded[built.name] = Uploaded(robot.base_url, built.fingerprint(), built)

    def fetch(self, robot: RobotClient, name: str) -> StoredProtocol | None:
        """Protocol ``name`` as stored on the robot, ``None`` if it is not there."""
        with robot_errors(f"Reading protocol {name!r} from the robot"):
            try:
                return robot.protocol(name)
            except NotFoundError:
                return None

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
        last = self.uploaded.get(name)
        current = (
            last is not None
            and last.robot_url == robot.base_url
            and last.fingerprint == built.fingerprint()
        )
        protocol = self.fetch(robot, name) if current else None
        if protocol is not None and not protocol.errors:
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
        """Create a session, wait until the robot has loaded it, show the run panel, start
        the run; with ``wait``, block until it ends (raising unless it finished).

        The panel is shown once the session is ``loaded`` (loading is the robot simulating the
        protocol: brief), so the first view a saved notebook records is always the same.
        Before anything, the robot's attached pipettes and modules are checked against what
        the protocol needs (:class:`~ot2_notebook.magics.robotops.CellEquipmentError`).
        """
        if protocol is not None:
            robotops.require_equipment(robot, protocol)
        session = robotops.start_run(robot, name, self.created_on(robot), uploaded_now=uploaded_now)
        locate = self._locator(built, name)
        # The panel's threads refresh their own handle; this one is for this thread.
        runner = Session(robot, session.data)
        panel = handle = None
        try:
            try:
                robotops.load_session(runner, built, self.settings.analysis_timeout + 60.0)
            finally:
                panel, handle = display.show_run(session, protocol, locate)
                self.panels.append(panel)
            robotops.begin(runner)
            if not wait:
                return runner
            robotops.wait_for_run(runner, built, self.settings.wait_timeout)
        except KeyboardInterrupt:
            raise OT2MagicError(
                f"Stopped waiting (interrupted). The run of {name!r} goes on on the robot "
                f"(session {session.id}): pause or cancel it in its run panel, or look at "
                "%ot2_status."
            ) from None
        except OT2MagicError:
            if panel is not None:
                _settle(panel, handle, _RUN_OVER)
            raise
        _settle(panel, handle, ("finished",))
        return runner

    @staticmethod
    def _locator(built: BuiltBundle | None, name: str) -> Callable[[ProtocolErrorInfo], Any]:
        def locate(info: ProtocolErrorInfo) -> CellProblem:
            return robotops.error_problems(built, [info], f"{name}.py")[0]

        return locate

    # -- status and cleanup ----------------------------------------------------------------

    def status(self, robot: RobotClient, bundle: NotebookBundle) -> None:
        """Show the robot panel (health, protocols, sessions) and this notebook's bundle."""
        with robot_errors(f"Reading the robot at {robot.base_url}"):
            robot.health()
        display.show_robot(robot)
        display.show(display.Note("\n".join(display.bundle_lines(bundle))))

    def cleanup(self, robot: RobotClient, everything: bool) -> CleanupReport:
        """Delete what this notebook created on ``robot`` (``everything``: all of it)."""
        report = robotops.cleanup(robot, self.created_on(robot), everything=everything)
        for name, uploaded in list(self.uploaded.items()):
            if uploaded.robot_url == robot.base_url:
                del self.uploaded[name]
        return report


def _settle(panel: Any, handle: Any, states: tuple[str, ...]) -> None:
    """Let the panel draw the run's end, then re-send its display so the cell's saved
    output shows the final state."""
    try:
        panel.wait_for(states, timeout=10.0)
    except TimeoutError:
        log.warning("run panel did not show %s in time", states)
    if handle is not None:
        handle.update(panel)
