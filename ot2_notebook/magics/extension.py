"""``OT2Magics``: the ``%ot2_*`` magics and their settings, thin over the modules below.

Each magic parses its arguments (``magic_arguments``; bad ones raise ``UsageError``), updates
the notebook's :class:`~ot2_notebook.magics.bundle.NotebookBundle` (checked by
:mod:`~ot2_notebook.magics.checks`), and leaves the robot to
:class:`~ot2_notebook.magics.connection.Connection` (which robot; the simulated robot) and
:class:`~ot2_notebook.magics.flow.Flow` (uploads, runs, cleanup). Failures raise the
exceptions of :mod:`~ot2_notebook.magics.errors`, which IPython shows as a short report.
The connection and the flow, and with them the client, are imported on first use, so
``%load_ext ot2_notebook`` stays cheap.

Settings (``%config OT2Magics.<name> = value``, or ``c.OT2Magics.<name>`` in a config file):
``robot_url``, ``simulate_speed``, ``simulate_max_protocols``, ``simulate_robot_software``,
``simulate_hardware``, ``analysis_timeout``, ``wait_timeout``, ``simulator_python``,
``simulator_command``, ``make_room``, ``workspace``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.utils.process import arg_split
from traitlets import Bool, Float, Int, TraitError, Unicode, observe, validate

from ot2_notebook.magics import display
from ot2_notebook.magics.bundle import BundledFile, NotebookBundle
from ot2_notebook.magics.cellmap import join_cells
from ot2_notebook.magics.cells import CellTracker, text_key
from ot2_notebook.magics.checks import (
    require_clean_bundle,
    require_clean_file,
    require_clean_part,
)
from ot2_notebook.names import file_name_problem, protocol_id_for, protocol_name_problem

if TYPE_CHECKING:
    from ot2_notebook.client import RobotClient
    from ot2_notebook.magics.connection import Connection
    from ot2_notebook.magics.flow import Flow
    from ot2_notebook.magics.ledger import Ledger

__all__ = ["OT2Magics"]

#: What a cell that fails its checks changed: nothing.
_UNCHANGED = "The notebook's bundle and the robot were not changed."

# Options several magics share. magic_arguments keeps each decorator in a list on the magic it
# decorates, so one instance can decorate several magics.
_robot_option = argument(
    "--robot",
    default=None,
    metavar="NAME",
    help="The robot connected as NAME (%%ot2_connect URL --name NAME); default: the kernel's "
    "default robot.",
)


def _support_option(help_text: str) -> argument:
    """``--support PATH ...``: files from disk sent with the protocol (repeatable, extends)."""
    return argument(
        "--support", action="extend", nargs="+", default=[], metavar="PATH", help=help_text
    )


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
        help="How many protocols a simulated robot on software 4 keeps at once (a real OT-2 "
        "on 4.x keeps 1; one on software 8 keeps 5 that no run uses, and so does its "
        "simulation).",
    ).tag(config=True)
    simulate_robot_software = Int(
        4,
        help="The robot software %ot2_connect --simulate imitates: 4 (protocol sessions) or 8 "
        "(protocols and runs, as every OT-2 in the field today); --robot-software overrides "
        "it.",
    ).tag(config=True)
    simulate_hardware = Unicode(
        "",
        help="The pipettes and modules of the simulated robot started by %ot2_connect "
        "--simulate: a preset (tutorial, recorded, empty) or a JSON file, as ot2-sim "
        "--hardware takes (e.g. one saved from a robot's robot.attached().as_hardware_file()). "
        "Empty: the tutorials' hardware.",
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
    simulator_python = Unicode(
        "",
        help="The Python interpreter of an environment that has the simulator (opentrons) "
        "installed, for %ot2_connect --simulate. Empty: found or set up automatically.",
    ).tag(config=True)
    simulator_command = Unicode(
        "",
        help="A command line that runs the simulator (e.g. 'conda run -n ot2sim ot2-sim'), "
        "for %ot2_connect --simulate. Empty: found or set up automatically.",
    ).tag(config=True)

    make_room = Bool(
        True,
        help="When the robot is full (a real OT-2 keeps one protocol), an upload replaces the "
        "protocols this notebook uploaded that no run is using, saying so. False: the "
        "upload fails instead, naming what is in the way. Protocols someone else uploaded, "
        "and protocols whose run is in progress, are never removed.",
    ).tag(config=True)
    workspace = Unicode(
        "",
        help="Who 'this notebook' is, so that what it uploaded stays its own across kernel "
        "restarts (for %ot2_cleanup and making room). Empty: the notebook's path, which "
        "Jupyter gives the kernel; without one (terminal IPython, nbclient), only this "
        "kernel's uploads count.",
    ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.bundle = NotebookBundle()
        self.cells = CellTracker(shell)
        self._connection: Connection | None = None
        self._flow: Flow | None = None
        self._syncing_url = False

    # -- life cycle ------------------------------------------------------------------------

    @property
    def connection(self) -> Connection:
        """The kernel's robot and the simulated robot (created on first use)."""
        if self._connection is None:
            from ot2_notebook.magics.connection import Connection

            self._connection = Connection(self, self._set_url, on_stopped=self._forget_robot)
        return self._connection

    @property
    def flow(self) -> Flow:
        """Uploads and runs, and what this notebook created (created on first use)."""
        if self._flow is None:
            from ot2_notebook.magics.flow import Flow

            self._flow = Flow(self, self._ledger())
        return self._flow

    def _ledger(self) -> Ledger:
        from ot2_notebook.magics.ledger import Ledger, workspace_from_environment

        user_ns = getattr(self.shell, "user_ns", None)
        return Ledger(self.workspace or workspace_from_environment(user_ns))

    @observe("workspace")
    def _workspace_changed(self, change: Any) -> None:
        flow = getattr(self, "_flow", None)  # None while the config is applied at __init__
        if flow is not None:
            ledger = self._ledger()
            ledger.absorb(flow.ledger)
            flow.ledger = ledger

    def install(self) -> None:
        """Start following cell runs (for cell ids and execution counts)."""
        self.cells.register()

    def shutdown(self) -> None:
        """Stop what this extension started: live panels (and their feed threads), the
        simulated robot, the HTTP connections. Called by ``%unload_ext ot2_notebook``."""
        self.cells.unregister()
        if self._flow is not None:
            self._flow.close()
        if self._connection is not None:
            self._connection.close()

    def _forget_robot(self, url: str) -> None:
        if self._flow is not None:
            self._flow.forget_robot(url)

    # -- settings ----------------------------------------------------------------------------

    @validate("robot_url")
    def _validate_robot_url(self, proposal: Any) -> str:
        value = str(proposal["value"] or "").strip()
        if not value:
            return ""
        from ot2_notebook.client.urls import normalize_url

        try:
            return normalize_url(value)
        except ValueError as exc:
            raise TraitError(str(exc)) from None

    @validate("simulate_robot_software")
    def _validate_robot_software(self, proposal: Any) -> int:
        value = proposal["value"]
        if value not in (4, 8):
            raise TraitError(
                f"simulate_robot_software must be 4 (protocol sessions) or 8 (protocols and "
                f"runs), not {value!r}."
            )
        return int(value)

    @observe("robot_url")
    def _robot_url_changed(self, change: Any) -> None:
        if self._syncing_url or not change["new"]:
            return
        self.connection.use_url(change["new"])

    def _set_url(self, url: str) -> None:
        """Set ``robot_url`` without connecting again (the connection already did)."""
        self._syncing_url = True
        try:
            self.robot_url = url
        finally:
            self._syncing_url = False

    # -- argument checks ---------------------------------------------------------------------

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

    @staticmethod
    def _protocol_name(name: str, magic: str) -> str:
        for suffix in (".py", ".json"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
                break
        problem = protocol_name_problem(name)
        if problem:
            raise UsageError(f"{magic}: {problem}.")
        return name

    @staticmethod
    def _support_paths(values: list[str], magic: str = "%%ot2_protocol") -> list[Path]:
        paths: list[Path] = []
        for value in values:
            path = Path(value).expanduser().absolute()
            if not path.exists():
                raise UsageError(
                    f"{magic}: no such file {value!r} for --support (relative paths "
                    f"start from the kernel's working directory, {Path.cwd()})."
                )
            if not path.is_file():
                raise UsageError(f"{magic}: --support {value!r} is not a file.")
            problem = file_name_problem(path.name, "support file")
            if problem:
                raise UsageError(f"{magic}: --support {value!r}: {problem}.")
            paths.append(path)
        return paths

    def _known_protocol(self, value: str, magic: str) -> str:
        name = self._protocol_name(value, magic)
        if name not in self.bundle:
            known = ", ".join(repr(n) for n in self.bundle.names()) or "none yet"
            raise UsageError(
                f"{magic}: this notebook has no protocol {name!r} (protocols: {known}). Define "
                f"it with %%ot2_protocol {name}, or give the path of a protocol file."
            )
        return name

    def _protocol_file(self, value: str, magic: str) -> Path | None:
        """The protocol file ``value`` names, or ``None`` when it names a protocol of the
        notebook (or nothing on disk). A name that is both is refused as ambiguous."""
        path = Path(value).expanduser()
        looks_like_path = "/" in value or "\\" in value or value.endswith(".json")
        exists = path.is_file()
        if not exists and not looks_like_path:
            return None
        stem = protocol_id_for(path.name)
        if exists and not looks_like_path and stem in self.bundle and value.endswith(".py"):
            raise UsageError(
                f"{magic}: {value!r} is both a file here and protocol {stem!r} of this "
                f"notebook; write ./{value} for the file, or {stem} for the notebook's protocol."
            )
        if not exists:
            if looks_like_path:
                raise UsageError(
                    f"{magic}: no such protocol file {value!r} (relative paths start from the "
                    f"kernel's working directory, {Path.cwd()})."
                )
            return None
        if path.suffix.lower() not in (".py", ".json"):
            raise UsageError(
                f"{magic}: {value!r} is not a protocol file: give a Python (.py) or Protocol "
                "Designer JSON (.json) protocol."
            )
        problem = file_name_problem(path.name, "protocol file") or protocol_name_problem(stem)
        if problem:
            raise UsageError(f"{magic}: {value!r}: {problem}.")
        return path.absolute()

    def _target(self, value: str, support: list[str], magic: str) -> str:
        """``%ot2_upload``/``%ot2_run``'s protocol: a file on disk (made a protocol of the
        notebook, with its ``--support`` files) or a protocol of the notebook; its name."""
        path = self._protocol_file(value, magic)
        if path is None:
            if support:
                raise UsageError(
                    f"{magic}: --support goes with a protocol file; a cell's protocol takes "
                    "its files in its own line (%%ot2_protocol NAME --support PATH)."
                )
            return self._protocol_name(value, magic)
        name = protocol_id_for(path.name)
        paths = self._support_paths(support, magic)
        replaced = self.bundle.set_disk_protocol(name, path, paths)
        if replaced:
            cells = ", ".join(c.label for c in replaced)
            display.show(
                display.Note(
                    f"Protocol {name!r} now comes from {path} (no longer from {cells}).",
                    css_class="ot2-bundle-note",
                )
            )
        return name

    def _robot(self, name: str | None, magic: str) -> RobotClient:
        if name is not None:
            from ot2_notebook.client import robots

            if name not in robots():
                names = ", ".join(repr(n) for n in robots()) or "none yet"
                raise UsageError(
                    f"{magic}: --robot {name}: no robot of that name in this kernel (robots: "
                    f"{names}). "
                    f"Connect it with %ot2_connect http://ROBOT_IP:31950 --name {name}."
                )
        return self.connection.robot(name)

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
    @argument(
        "--name",
        default=None,
        metavar="NAME",
        help="Keep this robot as NAME beside the others (the magics take --robot NAME; "
        "ot2_notebook.robot(NAME) returns it). Without it: the kernel's default robot.",
    )
    @argument(
        "--default",
        action="store_true",
        help="With --name: also make it the kernel's default robot (ot2_notebook."
        "current_robot()); the first robot connected is the default anyway.",
    )
    @argument(
        "--robot-software",
        type=int,
        default=None,
        choices=(4, 8),
        metavar="N",
        help="With --simulate: the robot software to imitate, 4 (protocol sessions) or 8 "
        "(protocols and runs, as today's robots); default 4.",
    )
    @argument(
        "--hardware",
        default=None,
        metavar="PRESET|FILE.json",
        help="With --simulate: the robot's pipettes and modules, a preset (tutorial, "
        "recorded, empty) or a JSON file such as one saved from "
        "robot.attached().as_hardware_file() (see ot2-sim --help).",
    )
    @line_magic
    def ot2_connect(self, line: str = "") -> None:
        """Choose a robot for this kernel; show its health and what is on it (protocols,
        sessions and their states, which of them this notebook made)."""
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
        if args.hardware is not None and not args.simulate:
            raise UsageError("%ot2_connect: --hardware applies to --simulate only.")
        if args.speed is not None and not args.speed > 0:
            raise UsageError(f"%ot2_connect: --speed must be a positive number, not {args.speed}.")
        if args.robot_software is not None and not args.simulate:
            raise UsageError(
                "%ot2_connect: --robot-software applies to --simulate only (a real robot's "
                "software is read from the robot)."
            )
        if args.default and not args.name:
            raise UsageError("%ot2_connect: --default goes with --name NAME.")
        if args.name is not None:
            problem = protocol_name_problem(args.name)
            if problem or not args.name.replace("-", "_").replace(".", "_").isidentifier():
                raise UsageError(
                    f"%ot2_connect: --name {args.name!r}: a robot's name is a short word "
                    "(letters, digits, '_', '-'), such as left_robot."
                )
        from ot2_notebook.client.current import DEFAULT_NAME
        from ot2_notebook.client.urls import normalize_url

        connection = self.connection
        simulator = None
        if args.simulate:
            simulator = connection.ensure_simulator(
                args.speed,
                args.name or DEFAULT_NAME,
                robot_software=args.robot_software,
                hardware=args.hardware,
            )
            url = simulator.url
        elif args.url:
            try:
                url = normalize_url(args.url)
            except ValueError as exc:
                raise UsageError(f"%ot2_connect: {exc}") from None
        elif args.name and connection.url_of(args.name):
            url = connection.url_of(args.name)
        elif args.name is None and self.robot_url:
            url = self.robot_url
        elif args.name is None and connection.current_url():
            url = connection.current_url()
        else:
            raise UsageError(
                "%ot2_connect: which robot? Give its URL (%ot2_connect http://ROBOT_IP:31950) "
                "or start a simulated one (%ot2_connect --simulate)."
            )
        found = connection.connect(url, simulator, name=args.name, default=args.default)
        note = display.health_note(found.client, found.health, found.sessions_enabled, simulator)
        if args.name is not None:
            note.text = note.text.replace("Connected to ", f"Connected robot {args.name!r}: ", 1)
        display.show(note)
        contents = self.flow.contents(found.client)
        if contents is not None:
            display.show(contents)

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
        problem = file_name_problem(filename, "support file")
        if problem:
            raise UsageError(f"%%ot2_support: {problem}.")
        header = f"%%ot2_support {line.strip()}"
        ref = self.cells.cell_ref(header, cell, f"support:{filename}")
        text, cellmap = join_cells([(ref, cell)])
        bundled = BundledFile(filename, text.encode("utf-8"), "support", cellmap=cellmap)
        clash = [n for n in self.bundle.names() if f"{n}.py" == filename]
        require_clean_file(bundled, clash[0] if clash else "", _UNCHANGED)
        change = self.bundle.set_support(filename, ref, cell)
        hint = None
        if clash:
            hint = (
                f"Note: protocol {clash[0]!r} is also {filename}; rename this support file or "
                "the protocol, or its upload will fail."
            )
        display.show(display.change_note(change, filename, hint, part=False))

    @magic_arguments()
    @argument(
        "name",
        help="The protocol's name: uploaded as NAME.py (NAME.json for a JSON protocol), its id "
        "on the robot.",
    )
    @_support_option("Files from disk to send with this protocol (Python, CSV, JSON, labware).")
    @argument(
        "--part",
        action="store_true",
        help="Append this cell to protocol NAME instead of replacing it (one protocol over "
        "several cells); re-running the cell replaces its part. Parts are not uploaded "
        "until %%ot2_upload NAME, %%ot2_run NAME, or a part cell with --run.",
    )
    @argument(
        "--json",
        action="store_true",
        help="The cell is a Protocol Designer JSON protocol (uploaded as NAME.json); a body "
        "that starts with '{' is taken as one anyway.",
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
        "returns at once. A run of NAME already in progress is followed instead.",
    )
    @argument(
        "--wait",
        action="store_true",
        help="With --run: wait until the run ends; the cell fails unless it finished.",
    )
    @_robot_option
    @cell_magic
    def ot2_protocol(self, line: str, cell: str) -> None:
        """The cell body is protocol NAME (uploaded as NAME.py, with the notebook's support
        files); by default it is checked, uploaded (replacing a protocol of that name) and its
        equipment panel shown."""
        args = self._parse(self.ot2_protocol, line, "%%")
        if args is None:
            return
        as_json = args.json or args.name.endswith(".json") or cell.lstrip().startswith("{")
        name = self._protocol_name(args.name, "%%ot2_protocol")
        if args.wait and not args.run:
            raise UsageError("%%ot2_protocol: --wait needs --run (it waits for the run to end).")
        if args.no_upload and args.run:
            raise UsageError(
                "%%ot2_protocol: --no-upload and --run contradict each other (a run needs the "
                "upload)."
            )
        if as_json and args.part:
            raise UsageError(
                "%%ot2_protocol: a JSON protocol is one cell: --part is for Python protocols "
                "written over several cells."
            )
        paths = self._support_paths(args.support)
        if args.robot is not None:
            self._robot(args.robot, "%%ot2_protocol")  # a wrong name changes nothing
        header = f"%%ot2_protocol {line.strip()}"
        # The cell's change is tried on a copy of the bundle, kept only if its checks pass.
        trial = self.bundle.copy()
        if args.part:
            ref = self.cells.cell_ref(header, cell, text_key("part", name, cell))
            change = trial.add_part(name, ref, cell, paths)
        else:
            ref = self.cells.cell_ref(header, cell, f"protocol:{name}")
            change = trial.set_protocol(name, ref, cell, paths, suffix="json" if as_json else "py")
        upload = args.run or not (args.part or args.no_upload)
        built = trial.build(name)
        if upload or not args.part:
            require_clean_bundle(built, "Fix the cell and run it again.", _UNCHANGED)
        else:
            require_clean_part(built, ref.key, change.index == change.count - 1, _UNCHANGED)
        self.bundle = trial
        if not upload:
            hint = f"Upload with %ot2_upload {name}, or run with %ot2_run {name}."
            display.show(display.change_note(change, built.protocol.name, hint, part=args.part))
            return
        robot = self._robot(args.robot, "%%ot2_protocol")
        protocol = self.flow.upload(robot, built)
        if args.run:
            self.flow.run(robot, name, built, protocol, args.wait, uploaded_now=True)

    @magic_arguments()
    @argument(
        "protocol",
        help="A protocol of this notebook (%%%%ot2_protocol NAME ...), or the path of a "
        "protocol file: Python (.py) or Protocol Designer JSON (.json).",
    )
    @_support_option(
        "With a protocol file: files from disk to send with it (helpers, data, labware)."
    )
    @_robot_option
    @line_magic
    def ot2_upload(self, line: str = "") -> None:
        """Check and upload a protocol, replacing the one of that name on the robot; shows the
        equipment panel. NAME: as this notebook built it (parts joined, with its support
        files). PATH: the file as it is on disk now (with --support files and the notebook's
        support cells); it is then protocol NAME of the notebook (%ot2_run NAME)."""
        args = self._parse(self.ot2_upload, line, "%")
        if args is None:
            return
        target = self._target(args.protocol, args.support, "%ot2_upload")
        name = self._known_protocol(target, "%ot2_upload")
        built = self.bundle.build(name)
        require_clean_bundle(
            built,
            f"Fix it, then %ot2_upload {args.protocol} again.",
            "The robot was not changed.",
        )
        self.flow.upload(self._robot(args.robot, "%ot2_upload"), built)

    @magic_arguments()
    @argument(
        "protocol",
        help="A protocol of this notebook, the path of a protocol file, or a protocol already "
        "on the robot.",
    )
    @argument(
        "--wait",
        action="store_true",
        help="Wait until the run ends; the cell fails unless it finished.",
    )
    @_support_option("With a protocol file: files from disk to send with it.")
    @_robot_option
    @line_magic
    def ot2_run(self, line: str = "") -> None:
        """Run protocol NAME: upload it first if this notebook changed it since its last
        upload, create a session (or use the one loaded and waiting), start the run and show
        the run panel. A run of NAME already in progress on the robot (started before a kernel
        restart, or elsewhere) is followed instead: its panel, and with --wait its end."""
        args = self._parse(self.ot2_run, line, "%")
        if args is None:
            return
        name = self._target(args.protocol, args.support, "%ot2_run")
        robot = self._robot(args.robot, "%ot2_run")
        built = self.bundle.build(name) if name in self.bundle else None
        live = self.flow.live_run(robot, name)
        if live is not None:
            stored = self.flow.fetch(robot, name)
            self.flow.follow(robot, live, built, stored, args.wait)
            return
        built, protocol, uploaded_now = self.flow.ready_to_run(robot, name, self.bundle)
        if protocol is None:
            known = ", ".join(repr(n) for n in self.bundle.names()) or "none yet"
            raise UsageError(
                f"%ot2_run: no protocol {name!r} in this notebook (protocols: {known}) or "
                f"on the robot at {robot.base_url}."
            )
        self.flow.run(robot, name, built, protocol, args.wait, uploaded_now=uploaded_now)

    @magic_arguments()
    @argument(
        "--all",
        action="store_true",
        help="Every connected robot, live, in one fleet panel (reachable or not, software, "
        "protocol, session state and progress).",
    )
    @_robot_option
    @line_magic
    def ot2_status(self, line: str = "") -> None:
        """Show the robot panel (health, protocols, sessions) and this notebook's bundle; with
        --all, the fleet panel of every connected robot."""
        args = self._parse(self.ot2_status, line, "%")
        if args is None:
            return
        if args.all:
            if args.robot:
                raise UsageError("%ot2_status: --all shows every robot; leave out --robot.")
            from ot2_notebook.client import default_robot_name, robots

            connected = robots()
            if not connected:
                self._robot(None, "%ot2_status")  # raises: no robot chosen, and how to choose one
            panel = display.show_fleet(connected, default_robot_name())
            self.flow.panels.append(panel)
            return
        self.flow.status(self._robot(args.robot, "%ot2_status"), self.bundle)

    @magic_arguments()
    @argument(
        "--all",
        action="store_true",
        help="Delete every session and protocol on the robot, not only this notebook's.",
    )
    @_robot_option
    @line_magic
    def ot2_cleanup(self, line: str = "") -> None:
        """Delete the sessions and protocols this notebook created on the robot (also those
        from before a kernel restart, when the notebook is known: see OT2Magics.workspace)."""
        args = self._parse(self.ot2_cleanup, line, "%")
        if args is None:
            return
        report = self.flow.cleanup(self._robot(args.robot, "%ot2_cleanup"), everything=args.all)
        display.show(display.cleanup_note(report, everything=args.all))
