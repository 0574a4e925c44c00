"""``OT2Magics``: the ``%ot2_*`` magics, thin over the bundle, the checks and the client.

Each magic parses its arguments (``magic_arguments``; bad ones raise ``UsageError``), updates
the notebook's :class:`~ot2_notebook.magics.bundle.NotebookBundle`, and calls
:mod:`~ot2_notebook.magics.robotops` for the robot. Failures raise the exceptions of
:mod:`~ot2_notebook.magics.errors`, which IPython shows as a short report.

Settings (``%config OT2Magics.<name> = value``, or ``c.OT2Magics.<name>`` in a config file):
``robot_url``, ``simulate_speed``, ``simulate_max_protocols``, ``analysis_timeout``,
``wait_timeout``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.utils.process import arg_split
from traitlets import Float, Int, TraitError, Unicode, observe, validate

from ot2_notebook.magics import display
from ot2_notebook.magics.bundle import BuiltBundle, NotebookBundle
from ot2_notebook.magics.cells import CellTracker, text_key
from ot2_notebook.magics.checks import (
    Problem,
    check_bundle,
    check_file,
    check_file_name,
    check_protocol_name,
)
from ot2_notebook.magics.errors import (
    BundleCheckError,
    CellProblem,
    OT2MagicError,
    RobotRequestError,
)

if TYPE_CHECKING:
    from ot2_notebook.client import Protocol, ProtocolErrorInfo, RobotClient, Session
    from ot2_notebook.magics.robotops import Created
    from ot2_notebook.simulator import SimulatorHandle

__all__ = ["OT2Magics"]

log = logging.getLogger("ot2_notebook.magics")


#: What a cell that fails its checks changed: nothing.
_UNCHANGED = "The notebook's bundle and the robot were not changed."


@dataclass(frozen=True)
class _Uploaded:
    """The last upload of a protocol: where to, what exactly (to map later run errors)."""

    robot_url: str
    fingerprint: str
    built: BuiltBundle


@magics_class
class OT2Magics(Magics):
    """Cell magics that bundle notebook cells and files into OT-2 protocol uploads."""

    robot_url = Unicode(
        "",
        help="The robot the magics use when %ot2_connect was not run (http://ROBOT_IP:31950). "
        "Setting it makes it the current robot; %ot2_connect sets it too.",
    ).tag(config=True)
    simulate_speed = Float(
        None,
        allow_none=True,
        help="Speed of the simulated robot started by %ot2_connect --simulate: runs are paced "
        "by estimated robot time divided by this. None: steps run back to back.",
    ).tag(config=True)
    simulate_max_protocols = Int(
        1,
        help="How many protocols the simulated robot keeps at once (a real OT-2 keeps 1).",
    ).tag(config=True)
    analysis_timeout = Float(
        60.0,
        help="Seconds the simulated robot allows one analysis; the magics also wait this long "
        "(plus a margin) for uploads and for a session to load.",
    ).tag(config=True)
    wait_timeout = Float(
        3600.0,
        allow_none=True,
        help="Seconds --wait waits for a run to end (None: no limit).",
    ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.bundle = NotebookBundle()
        self.cells = CellTracker(shell)
        self._created: dict[str, Created] = {}
        self._uploaded: dict[str, _Uploaded] = {}
        self._simulator: SimulatorHandle | None = None
        self._simulator_options: dict[str, Any] = {}
        self._client: RobotClient | None = None
        self._panels: list[Any] = []
        self._syncing_url = False

    # -- life cycle ------------------------------------------------------------------------

    def install(self) -> None:
        """Start following cell runs (for cell ids and execution counts)."""
        self.cells.register()

    def shutdown(self) -> None:
        """Stop what this extension started: live panels (and their feed threads), the
        simulated robot, the HTTP connections. Called by ``%unload_ext ot2_notebook``."""
        self.cells.unregister()
        for panel in self._panels:
            try:
                panel.close()
            except Exception:  # one broken panel must not keep the simulator running
                log.exception("closing panel %r", panel)
        self._panels.clear()
        self._stop_simulator()
        if self._client is not None:
            self._client.close()
            self._client = None

    def _stop_simulator(self) -> None:
        handle, self._simulator = self._simulator, None
        if handle is None:
            return
        from ot2_notebook.client import current_robot, set_current_robot
        from ot2_notebook.client.errors import NoCurrentRobotError

        with contextlib.suppress(NoCurrentRobotError):
            if current_robot().base_url == handle.url:
                set_current_robot(None)
        if self.robot_url == handle.url:
            self._set_url("")
        self._created.pop(handle.url, None)
        handle.stop()

    # -- settings ----------------------------------------------------------------------------

    @validate("robot_url")
    def _validate_robot_url(self, proposal: Any) -> str:
        value = str(proposal["value"] or "").strip()
        if not value:
            return ""
        from ot2_notebook.client.http import normalize_url

        try:
            return normalize_url(value)
        except ValueError as exc:
            raise TraitError(str(exc)) from None

    @observe("robot_url")
    def _robot_url_changed(self, change: Any) -> None:
        if self._syncing_url or not change["new"]:
            return
        from ot2_notebook.client import set_current_robot

        set_current_robot(self._new_client(change["new"]))

    def _set_url(self, url: str) -> None:
        self._syncing_url = True
        try:
            self.robot_url = url
        finally:
            self._syncing_url = False

    def _new_client(self, url: str) -> RobotClient:
        from ot2_notebook.client import RobotClient

        if self._client is not None:
            self._client.close()
        self._client = RobotClient(url, timeout=max(30.0, self.analysis_timeout + 15.0))
        return self._client

    def _robot(self) -> RobotClient:
        """The current robot (``%ot2_connect``, or ``robot_url``)."""
        from ot2_notebook.client import current_robot, set_current_robot
        from ot2_notebook.client.errors import NoCurrentRobotError

        try:
            return current_robot()
        except NoCurrentRobotError as exc:
            if self.robot_url:
                return set_current_robot(self._new_client(self.robot_url))  # type: ignore[return-value]
            raise OT2MagicError(
                "No robot chosen for this kernel.\nRun %ot2_connect http://ROBOT_IP:31950 for "
                "an OT-2, or %ot2_connect --simulate for a simulated robot (or %config "
                "OT2Magics.robot_url = 'http://ROBOT_IP:31950')."
            ) from exc

    @staticmethod
    def _current_url() -> str:
        """The URL of the kernel's current robot, or ``""``."""
        from ot2_notebook.client import current_robot
        from ot2_notebook.client.errors import NoCurrentRobotError

        try:
            return current_robot().base_url
        except NoCurrentRobotError:
            return ""

    def _created_on(self, robot: RobotClient) -> Created:
        from ot2_notebook.magics.robotops import Created

        return self._created.setdefault(robot.base_url, Created())

    # -- helpers -----------------------------------------------------------------------------

    def _parse(self, magic: Callable[..., Any], line: str, prefix: str) -> Any | None:
        """Parse a magic's arguments; ``None`` when ``--help`` was asked for (help printed).

        Every malformed line is a ``UsageError`` naming the magic and pointing to its help.
        """
        name = f"{prefix}{magic.__name__}"
        try:
            argv = arg_split(line, strict=True)
        except ValueError as exc:
            raise UsageError(
                f"{name}: cannot read the arguments ({exc}); check the quotes in {line!r}."
            ) from None
        if "-h" in argv or "--help" in argv:
            print(magic.parser.format_help())  # type: ignore[attr-defined]
            return None
        try:
            return parse_argstring(magic, line)
        except UsageError as exc:
            raise UsageError(f"{name}: {exc}. See {name} --help.") from None

    def _protocol_name(self, name: str, magic: str) -> str:
        if name.endswith(".py"):
            name = name[:-3]
        problem = check_protocol_name(name)
        if problem:
            raise UsageError(f"{magic}: {problem}.")
        return name

    def _support_paths(self, values: list[str]) -> list[Path]:
        paths: list[Path] = []
        for value in values:
            path = Path(value).expanduser().absolute()
            if not path.exists():
                raise UsageError(
                    f"%%ot2_protocol: no such file {value!r} for --support (relative paths "
                    f"start from the kernel's working directory, {Path.cwd()})."
                )
            if not path.is_file():
                raise UsageError(f"%%ot2_protocol: --support {value!r} is not a file.")
            problem = check_file_name(path.name, "support file")
            if problem:
                raise UsageError(f"%%ot2_protocol: --support {value!r}: {problem}.")
            paths.append(path)
        return paths

    def _located(self, built: BuiltBundle, problems: list[Problem]) -> list[CellProblem]:
        located = []
        for problem in problems:
            location = built.locate(problem.file, problem.line)
            column = problem.column
            located.append(
                CellProblem(location, problem.kind, problem.message, column, problem.end_column)
            )
        return located

    def _check(
        self, built: BuiltBundle, advice: str, state: str = "The robot was not changed."
    ) -> None:
        """Raise :class:`BundleCheckError` for anything the local checks find."""
        problems = check_bundle(built)
        if not problems:
            return
        count = len(problems)
        raise BundleCheckError(
            f"Protocol {built.name!r} has {count} error{'s' if count > 1 else ''}; nothing was "
            "uploaded.",
            self._located(built, problems),
            protocol=built.name,
            robot_state=state,
            advice=advice,
        )

    def _check_cell(self, built: BuiltBundle, key: str, last_part: bool) -> None:
        """The checks of one part cell: only errors in that cell, and not "the code stops
        too early" when more parts may follow."""
        mine = []
        problems = check_bundle(built)
        for problem, located in zip(problems, self._located(built, problems), strict=True):
            cell = located.location.cell
            if cell is None or cell.key != key:
                continue
            if problem.incomplete and last_part:
                continue
            mine.append(located)
        if mine:
            raise BundleCheckError(
                f"This part of protocol {built.name!r} has an error.",
                mine,
                protocol=built.name,
                robot_state=_UNCHANGED,
                advice="Fix the cell and run it again.",
            )

    def _remember_panel(self, panel: Any) -> Any:
        self._panels.append(panel)
        return panel

    def _locator(self, built: BuiltBundle | None, name: str) -> Callable[[ProtocolErrorInfo], Any]:
        from ot2_notebook.magics.robotops import error_problems

        def locate(info: ProtocolErrorInfo) -> CellProblem:
            return error_problems(built, [info], f"{name}.py")[0]

        return locate

    @contextlib.contextmanager
    def _robot_errors(self, doing: str, state: str | None = None) -> Iterator[None]:
        """Turn a client error into a short report (no traceback of the extension)."""
        from ot2_notebook.client import RobotError

        try:
            yield
        except RobotError as exc:
            if isinstance(exc, OT2MagicError):
                raise
            raise RobotRequestError(doing, exc, state) from exc

    # -- robot operations ------------------------------------------------------------------

    def _upload(self, robot: RobotClient, built: BuiltBundle) -> Protocol:
        """Replace the protocol on the robot; show the equipment panel (with the errors
        placed in cells when the analysis fails, before the cell fails)."""
        from ot2_notebook.magics.robotops import CellAnalysisError, replace_protocol

        try:
            protocol = replace_protocol(robot, built, self._created_on(robot))
        except CellAnalysisError as exc:
            self._uploaded[built.name] = _Uploaded(robot.base_url, built.fingerprint(), built)
            display.show_equipment(exc.protocol, exc.problems)
            raise
        self._uploaded[built.name] = _Uploaded(robot.base_url, built.fingerprint(), built)
        display.show_equipment(protocol)
        return protocol

    def _run(
        self,
        robot: RobotClient,
        name: str,
        built: BuiltBundle | None,
        protocol: Protocol | None,
        wait: bool,
        *,
        uploaded_now: bool = False,
    ) -> Session:
        """Create a session, wait until the robot has loaded it, show the run panel, start
        the run; with ``wait``, block until it ends (raising unless it finished).

        The panel is shown once the session is ``loaded`` (loading is the robot simulating the
        protocol: brief), so the first view a saved notebook records is always the same.
        """
        from ot2_notebook.client import Session
        from ot2_notebook.magics import robotops

        session = robotops.start_run(
            robot, name, self._created_on(robot), uploaded_now=uploaded_now
        )
        locate = self._locator(built, name)
        # The panel's threads refresh their own handle; this one is for this thread.
        runner = Session(robot, session.data)
        panel = handle = None
        try:
            try:
                robotops.load_session(runner, built, self.analysis_timeout + 60.0)
            finally:
                panel, handle = display.show_run(session, protocol, locate)
                self._remember_panel(panel)
            robotops.begin(runner)
            if not wait:
                return runner
            robotops.wait_for_run(runner, built, self.wait_timeout)
        except KeyboardInterrupt:
            raise OT2MagicError(
                f"Stopped waiting (interrupted). The run of {name!r} goes on on the robot "
                f"(session {session.id}): pause or cancel it in its run panel, or look at "
                "%ot2_status."
            ) from None
        except OT2MagicError:
            if panel is not None:
                self._settle(panel, handle, ("error", "stopped", "finished", "deleted"))
            raise
        self._settle(panel, handle, ("finished",))
        return runner

    @staticmethod
    def _settle(panel: Any, handle: Any, states: tuple[str, ...]) -> None:
        """Let the panel draw the run's end, then re-send its display so the cell's saved
        output shows the final state."""
        try:
            panel.wait_for(states, timeout=10.0)
        except TimeoutError:
            log.warning("run panel did not show %s in time", states)
        if handle is not None:
            handle.update(panel)

    # -- magics ----------------------------------------------------------------------------

    @magic_arguments()
    @argument("url", nargs="?", help="The robot: http://ROBOT_IP:31950, or just its IP address.")
    @argument(
        "--simulate",
        action="store_true",
        help="Start a local simulated robot (a child process, stopped when the kernel exits or "
        "the extension unloads) and use it; called again, it reuses the running one.",
    )
    @argument(
        "--speed",
        type=float,
        default=None,
        metavar="X",
        help="With --simulate: pace runs at X times the estimated robot speed (e.g. 10).",
    )
    @line_magic
    def ot2_connect(self, line: str = "") -> None:
        """Choose the robot for this kernel and show its health."""
        args = self._parse(self.ot2_connect, line, "%")
        if args is None:
            return
        if args.simulate and args.url:
            raise UsageError(
                "%ot2_connect: give either a robot URL or --simulate, not both. See "
                "%ot2_connect --help."
            )
        if args.speed is not None and not args.simulate:
            raise UsageError("%ot2_connect: --speed applies to --simulate only.")
        if args.speed is not None and not args.speed > 0:
            raise UsageError(f"%ot2_connect: --speed must be a positive number, not {args.speed}.")
        from ot2_notebook.client import set_current_robot
        from ot2_notebook.client.http import normalize_url

        simulator = None
        if args.simulate:
            simulator = self._ensure_simulator(args.speed)
            url = simulator.url
        elif args.url:
            try:
                url = normalize_url(args.url)
            except ValueError as exc:
                raise UsageError(f"%ot2_connect: {exc}") from None
        elif self.robot_url:
            url = self.robot_url
        elif self._current_url():
            url = self._current_url()
        else:
            raise UsageError(
                "%ot2_connect: which robot? Give its URL (%ot2_connect http://ROBOT_IP:31950) "
                "or start a simulated one (%ot2_connect --simulate)."
            )
        from ot2_notebook.client import RobotClient, RobotError

        client = RobotClient(url, timeout=max(30.0, self.analysis_timeout + 15.0))
        try:
            health = client.health()
        except RobotError as exc:
            client.close()
            raise RobotRequestError(
                f"Connecting to {url}", exc, "The kernel's robot was not changed."
            ) from exc
        try:
            enabled = client.settings().get("enableHttpProtocolSessions")
            sessions_enabled: bool | None = bool(enabled)
        except RobotError:
            sessions_enabled = None
        if self._client is not None:
            self._client.close()
        self._client = client
        set_current_robot(client)
        self._set_url(url)
        display.show(display.health_note(client, health, sessions_enabled, simulator))

    def _ensure_simulator(self, speed: float | None) -> SimulatorHandle:
        options = {
            "speed": speed if speed is not None else self.simulate_speed,
            "max_protocols": self.simulate_max_protocols,
            "analysis_timeout": self.analysis_timeout,
        }
        handle = self._simulator
        if handle is not None and handle.running and options == self._simulator_options:
            return handle
        if handle is not None:
            if handle.running:
                print(
                    f"Restarting the simulated robot with new options ({options}); the "
                    "protocols and sessions on the old one are gone."
                )
            self._stop_simulator()
        from ot2_notebook import simulator

        try:
            handle = simulator.start(port=0, **options)
        except (RuntimeError, OSError) as exc:
            raise OT2MagicError(f"Could not start the simulated robot: {exc}") from exc
        self._simulator = handle
        self._simulator_options = options
        return handle

    @magic_arguments()
    @argument(
        "filename",
        help="The support file's name: helpers.py, config.json, plate_map.csv, my_labware.json",
    )
    @cell_magic
    def ot2_support(self, line: str, cell: str) -> None:
        """The cell body becomes support file FILENAME of this notebook's bundle: it travels
        with every protocol the notebook uploads (Python modules can be imported by the
        protocol, data files opened by name, labware definitions loaded)."""
        args = self._parse(self.ot2_support, line, "%%")
        if args is None:
            return
        filename = args.filename
        problem = check_file_name(filename, "support file")
        if problem:
            raise UsageError(f"%%ot2_support: {problem}.")
        header = f"%%ot2_support {line.strip()}"
        ref = self.cells.cell_ref(header, cell, f"support:{filename}")
        from ot2_notebook.magics.bundle import BundledFile
        from ot2_notebook.magics.cellmap import join_cells

        text, cellmap = join_cells([(ref, cell)])
        bundled = BundledFile(filename, text.encode("utf-8"), "support", cellmap=cellmap)
        problems = check_file(bundled)
        clash = [n for n in self.bundle.names() if f"{n}.py" == filename]
        if problems:
            located = [
                CellProblem(bundled.locate(p.line), p.kind, p.message, p.column, p.end_column)
                for p in problems
            ]
            raise BundleCheckError(
                f"Support file {filename!r} has an error.",
                located,
                protocol=clash[0] if clash else "",
                robot_state=_UNCHANGED,
                advice="Fix the cell and run it again.",
            )
        change = self.bundle.set_support(filename, ref, cell)
        hint = None
        if clash:
            hint = (
                f"Note: protocol {clash[0]!r} is also {filename}; rename this support file or "
                "the protocol, or its upload will fail."
            )
        display.show(display.change_note(change, filename, hint, part=False))

    @magic_arguments()
    @argument("name", help="The protocol's name: uploaded as NAME.py, its id on the robot.")
    @argument(
        "--support",
        action="extend",
        nargs="+",
        default=[],
        metavar="PATH",
        help="Files from disk to send with this protocol (Python, CSV, JSON, labware).",
    )
    @argument(
        "--part",
        action="store_true",
        help="Append this cell to protocol NAME instead of replacing it (one protocol over "
        "several cells); re-running the cell replaces its part. Parts are not uploaded "
        "until %%ot2_upload NAME, %%ot2_run NAME, or a part cell with --run.",
    )
    @argument(
        "--no-upload",
        action="store_true",
        help="Only check the protocol and keep it in the bundle (upload later with %%ot2_upload).",
    )
    @argument(
        "--run",
        action="store_true",
        help="After uploading, create a session, start the run and show the run panel; "
        "returns at once.",
    )
    @argument(
        "--wait",
        action="store_true",
        help="With --run: wait until the run ends; the cell fails unless it finished.",
    )
    @cell_magic
    def ot2_protocol(self, line: str, cell: str) -> None:
        """The cell body is protocol NAME (uploaded as NAME.py, with the notebook's support
        files); by default it is checked, uploaded (replacing a protocol of that name) and its
        equipment panel shown."""
        args = self._parse(self.ot2_protocol, line, "%%")
        if args is None:
            return
        name = self._protocol_name(args.name, "%%ot2_protocol")
        if args.wait and not args.run:
            raise UsageError("%%ot2_protocol: --wait needs --run (it waits for the run to end).")
        if args.no_upload and args.run:
            raise UsageError(
                "%%ot2_protocol: --no-upload and --run contradict each other (a run needs the "
                "upload)."
            )
        paths = self._support_paths(args.support)
        header = f"%%ot2_protocol {line.strip()}"
        # The cell's change is tried on a copy of the bundle, kept only if its checks pass.
        trial = self.bundle.copy()
        if args.part:
            ref = self.cells.cell_ref(header, cell, text_key("part", name, cell))
            change = trial.add_part(name, ref, cell, paths)
        else:
            ref = self.cells.cell_ref(header, cell, f"protocol:{name}")
            change = trial.set_protocol(name, ref, cell, paths)
        upload = args.run or not (args.part or args.no_upload)
        built = trial.build(name)
        advice = "Fix the cell and run it again."
        if upload or not args.part:
            self._check(built, advice, _UNCHANGED)
        else:
            self._check_cell(built, ref.key, change.index == change.count - 1)
        self.bundle = trial
        if not upload:
            hint = f"Upload with %ot2_upload {name}, or run with %ot2_run {name}."
            display.show(display.change_note(change, f"{name}.py", hint, part=args.part))
            return
        robot = self._robot()
        protocol = self._upload(robot, built)
        if args.run:
            self._run(robot, name, built, protocol, args.wait, uploaded_now=True)

    @magic_arguments()
    @argument("name", help="A protocol of this notebook (%%%%ot2_protocol NAME ...).")
    @line_magic
    def ot2_upload(self, line: str = "") -> None:
        """Check and upload protocol NAME as this notebook built it (parts joined, with its
        support files), replacing the one on the robot; shows the equipment panel."""
        args = self._parse(self.ot2_upload, line, "%")
        if args is None:
            return
        name = self._known_protocol(args.name, "%ot2_upload")
        built = self.bundle.build(name)
        self._check(built, "Fix the cells and run them again, then %ot2_upload " + name + ".")
        robot = self._robot()
        self._upload(robot, built)

    def _known_protocol(self, value: str, magic: str) -> str:
        name = self._protocol_name(value, magic)
        if name not in self.bundle:
            known = ", ".join(repr(n) for n in self.bundle.names()) or "none yet"
            raise UsageError(
                f"{magic}: this notebook has no protocol {name!r} (protocols: {known}). Define "
                f"it with %%ot2_protocol {name}."
            )
        return name

    @magic_arguments()
    @argument("name", help="A protocol of this notebook, or one already on the robot.")
    @argument(
        "--wait",
        action="store_true",
        help="Wait until the run ends; the cell fails unless it finished.",
    )
    @line_magic
    def ot2_run(self, line: str = "") -> None:
        """Run protocol NAME: upload it first if this notebook changed it since its last
        upload, create a session, start the run and show the run panel."""
        args = self._parse(self.ot2_run, line, "%")
        if args is None:
            return
        name = self._protocol_name(args.name, "%ot2_run")
        robot = self._robot()
        built: BuiltBundle | None = None
        protocol: Protocol | None = None
        uploaded_now = False
        if name in self.bundle:
            built = self.bundle.build(name)
            last = self._uploaded.get(name)
            current = (
                last is not None
                and last.robot_url == robot.base_url
                and last.fingerprint == built.fingerprint()
            )
            if current:
                protocol = self._fetch(robot, name)
            if protocol is None or protocol.errors:
                self._check(built, f"Fix the cells and run them again, then %ot2_run {name}.")
                protocol = self._upload(robot, built)
                uploaded_now = True
        else:
            protocol = self._fetch(robot, name)
            if protocol is None:
                known = ", ".join(repr(n) for n in self.bundle.names()) or "none yet"
                raise UsageError(
                    f"%ot2_run: no protocol {name!r} in this notebook (protocols: {known}) or "
                    f"on the robot at {robot.base_url}."
                )
        self._run(robot, name, built, protocol, args.wait, uploaded_now=uploaded_now)

    def _fetch(self, robot: RobotClient, name: str) -> Protocol | None:
        from ot2_notebook.client import NotFoundError

        with self._robot_errors(f"Reading protocol {name!r} from the robot"):
            try:
                return robot.protocol(name)
            except NotFoundError:
                return None

    @magic_arguments()
    @line_magic
    def ot2_status(self, line: str = "") -> None:
        """Show the robot panel (health, protocols, sessions) and this notebook's bundle."""
        args = self._parse(self.ot2_status, line, "%")
        if args is None:
            return
        robot = self._robot()
        with self._robot_errors(f"Reading the robot at {robot.base_url}"):
            robot.health()
        display.show_robot(robot)
        display.show(display.Note("\n".join(display.bundle_lines(self.bundle))))

    @magic_arguments()
    @argument(
        "--all",
        action="store_true",
        help="Delete every session and protocol on the robot, not only this notebook's.",
    )
    @line_magic
    def ot2_cleanup(self, line: str = "") -> None:
        """Delete the sessions and protocols this notebook created on the robot."""
        args = self._parse(self.ot2_cleanup, line, "%")
        if args is None:
            return
        from ot2_notebook.magics.robotops import cleanup

        robot = self._robot()
        report = cleanup(robot, self._created_on(robot), everything=args.all)
        for name, uploaded in list(self._uploaded.items()):
            if uploaded.robot_url == robot.base_url:
                del self._uploaded[name]
        deleted = []
        if report.protocols:
            count = len(report.protocols)
            names = ", ".join(report.protocols)
            deleted.append(f"{count} protocol{'s' if count > 1 else ''} ({names})")
        if report.sessions:
            count = len(report.sessions)
            deleted.append(f"{count} session{'s' if count > 1 else ''}")
        whose = "" if args.all else " this notebook created"
        text = (
            f"Deleted {' and '.join(deleted)} from the robot."
            if deleted
            else f"Nothing{whose} to delete on the robot."
        )
        display.show(display.Note(text, css_class="ot2-cleanup-note"))
