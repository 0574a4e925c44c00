"""``ot2-sim``: the command line of the simulated robot, which it runs in the foreground."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ot2_notebook.simulator.config import (
    DEFAULT_PORT,
    DEFAULT_STOP_DELAY,
    ROBOT_SOFTWARE_4_MAX_API,
    Limits,
    SimulatorConfig,
)
from ot2_notebook.simulator.hardware import PRESETS, HardwareError, hardware_from_options
from ot2_notebook.simulator.sockets import bind

if TYPE_CHECKING:  # imported when the server starts, so that --help answers at once
    import uvicorn

log = logging.getLogger("ot2_notebook.simulator")


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0, not {text}")
        return value

    parse.__name__ = getattr(kind, "__name__", "value")
    return parse


def _api_level(text: str) -> tuple[int, int]:
    major, dot, minor = text.partition(".")
    if not (dot and major.isdigit() and minor.isdigit()):
        raise argparse.ArgumentTypeError(f"must look like 2.11, not {text!r}")
    return int(major), int(minor)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ot2-sim",
        description=(
            "A simulated Opentrons OT-2: the robot software 4.x HTTP API (protocol sessions) "
            "and notification feed, backed by the real opentrons simulation."
        ),
        epilog="ot2-sim analyse PATH ... analyses many protocols (ot2-sim analyse --help).",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; the API has no "
        "authentication, so other addresses expose it to the network)",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also serve requests whose Host is NAME (a host name or address; repeatable; "
        "'*' for any). Loopback names and addresses and the --host address are always "
        "served; requests from other sites' web pages (Origin) never are",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}, as the robot; 0 picks a free one)",
    )
    parser.add_argument(
        "--robot-software",
        type=int,
        choices=(4, 8),
        default=4,
        help="the robot software to imitate: 4 (HTTP protocol sessions, default) or 8 "
        "(/protocols + /runs and MQTT notifications, as robot-server 8)",
    )
    parser.add_argument(
        "--mqtt-broker",
        default="auto",
        metavar="auto|none|HOST:PORT",
        help="software 8: where to publish MQTT notifications: auto (start mosquitto on a free "
        "loopback port if it is installed; default), none, or a broker's HOST:PORT",
    )
    parser.add_argument(
        "--max-protocols",
        type=_positive(int),
        default=None,
        help="uploaded protocols kept at once (default as the robot: 1 on software 4; "
        "5 not used by a run on software 8)",
    )
    parser.add_argument(
        "--analysis-timeout",
        type=_positive(float),
        default=60.0,
        help="seconds a protocol may take to simulate before it counts as hung (default 60)",
    )
    parser.add_argument(
        "--speed",
        type=_positive(float),
        default=None,
        help="pace runs at estimated robot time / SPEED (default: steps back "
        "to back); e.g. --speed 10 runs ten times faster than a robot",
    )
    parser.add_argument(
        "--max-api-level",
        type=_api_level,
        default=None,
        metavar="X.Y",
        help="refuse protocols above this Python Protocol API level, as a real robot does "
        "(robot software 4.7: 2.11); default: no limit beyond the simulation's own",
    )
    parser.add_argument(
        "--no-protocol-sessions",
        action="store_true",
        help="start with the enableHttpProtocolSessions feature flag off",
    )
    parser.add_argument(
        "--no-session-events",
        action="store_true",
        help="publish no session_events on the notification feed, as a real 4.x robot",
    )
    hardware = parser.add_argument_group(
        "attached hardware",
        "The pipettes and modules the robot has. A run whose protocol loads others fails "
        "where a robot's run fails (state 'error'); GET /pipettes and GET /modules show them.",
    )
    hardware.add_argument(
        "--hardware",
        default=None,
        metavar="PRESET|FILE.json",
        help="a preset ("
        + "; ".join(f"{name}: {about}" for name, (_hw, about) in PRESETS.items())
        + ') or a JSON file: {"pipettes": {"left": NAME, "right": NAME}, "modules": '
        "[MODEL, ...]}, or robot-server's simulator file (attached_instruments ...)",
    )
    hardware.add_argument(
        "--left",
        default=None,
        metavar="PIPETTE",
        help="the pipette on the left mount: a name (p20_single_gen2), a model "
        "(p20_single_v2.2) or none",
    )
    hardware.add_argument("--right", default=None, metavar="PIPETTE", help="the right mount's")
    hardware.add_argument(
        "--module",
        action="append",
        default=None,
        metavar="MODEL",
        help="a module plugged in (magneticModuleV2, temperatureModuleV1, thermocyclerModuleV1, "
        "...; repeatable, replaces the preset's modules; none for none)",
    )
    parser.add_argument(
        "--robot-like",
        action="store_true",
        help="behave as a real robot-server 4.7 where a client must cope: no session events, "
        "API level 2.11 at most, no run errors (nor the simulator's other additions) in "
        "answers, a cancel or delete of a running session holds every request for "
        "--stop-delay s; a cancel or delete of a paused session (which deadlocks 4.7) is "
        "refused and recorded in GET /simulator/requests",
    )
    parser.add_argument(
        "--stop-delay",
        type=float,
        default=DEFAULT_STOP_DELAY,
        metavar="SECONDS",
        help=f"robot-like: how long a cancel or delete of a running session blocks the "
        f"server (default {DEFAULT_STOP_DELAY:g}, as recorded on 4.7; 0 for none)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder for uploaded files (default: a new temporary folder)",
    )
    parser.add_argument(
        "--max-upload-mb",
        type=_positive(float),
        default=50.0,
        help="largest request body accepted, in MB (default 50)",
    )
    parser.add_argument(
        "--spare-workers",
        type=int,
        default=2,
        help="worker processes forked ahead of time (default 2)",
    )
    parser.add_argument(
        "--analysis-cache",
        type=int,
        default=128,
        metavar="ENTRIES",
        help="analyses kept so that an unchanged re-upload is answered without simulating "
        "again (default 128; 0 turns the cache off)",
    )
    parser.add_argument(
        "--analysis-cache-mb",
        type=_positive(float),
        default=64.0,
        metavar="MB",
        help="memory the kept analyses may take, in MB (default 64)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    # for ot2_notebook.simulator.start(): serve on a socket the parent bound, and exit
    # when the parent's end of a pipe closes (the parent died)
    parser.add_argument("--fd", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--parent-pipe", type=int, default=None, help=argparse.SUPPRESS)
    return parser


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    max_request = int(args.max_upload_mb * 1024 * 1024)
    try:
        hardware = hardware_from_options(
            args.hardware, left=args.left, right=args.right, modules=args.module
        )
    except HardwareError as exc:
        raise SystemExit(f"ot2-sim: {exc}") from None
    if args.stop_delay < 0:
        raise SystemExit(f"ot2-sim: --stop-delay must be 0 or more, not {args.stop_delay:g}")
    max_api_level = args.max_api_level
    if args.robot_like:
        max_api_level = min(max_api_level or ROBOT_SOFTWARE_4_MAX_API, ROBOT_SOFTWARE_4_MAX_API)
    return SimulatorConfig(
        host=args.host,
        port=args.port,
        max_protocols=args.max_protocols or (1 if args.robot_software < 5 else 5),
        robot_software=args.robot_software,
        mqtt_broker=args.mqtt_broker,
        analysis_timeout=args.analysis_timeout,
        speed=args.speed,
        max_api_level=max_api_level,
        protocol_sessions=not args.no_protocol_sessions,
        session_events=not (args.no_session_events or args.robot_like),
        hardware=hardware,
        robot_like=args.robot_like,
        stop_delay=args.stop_delay,
        data_dir=args.data_dir,
        spare_workers=max(0, args.spare_workers),
        analysis_cache_entries=max(0, args.analysis_cache),
        analysis_cache_mb=args.analysis_cache_mb,
        allow_hosts=tuple(args.allow_host),
        limits=Limits(
            max_file_bytes=min(Limits().max_file_bytes, max_request), max_request_bytes=max_request
        ),
    )


def _exit_with_parent(server: uvicorn.Server, fd: int) -> None:
    def watch() -> None:
        try:
            while os.read(fd, 1):
                pass
        except OSError:
            pass
        server.should_exit = True

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["analyse"]:  # `ot2-sim analyse PATH ...`: batch analysis
        from ot2_notebook.simulator.batch.cli import main as analyse

        return analyse(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="ot2-sim: %(message)s")
    config = config_from_args(args)
    log.info("attached hardware: %s", config.hardware.describe())
    if config.robot_like:
        log.info(
            "robot-like: as robot-server 4.7 (no session events, API <= %s, stops block %g s)",
            ".".join(map(str, config.max_api_level or ())),
            config.stop_delay,
        )
    if not config.is_loopback:
        log.warning(
            "listening on %s: the robot API has no authentication, so anyone who can reach "
            "this address can upload and run protocols. Use --host 127.0.0.1 unless you mean it.",
            config.host,
        )
        if config.host in ("0.0.0.0", "::", "") and not config.allow_hosts:
            log.warning(
                "requests are served only when their Host names this machine by a loopback "
                "name or the --host address; name what other machines use with --allow-host "
                "NAME (e.g. the machine's address on the network)."
            )

    import uvicorn

    from ot2_notebook.simulator.app import create_app

    app = create_app(config)
    uvicorn_config = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_level=args.log_level,
        lifespan="on",
        ws="auto",
        access_log=args.log_level == "debug",
    )
    server = uvicorn.Server(uvicorn_config)
    if args.fd is not None:
        sock = socket.socket(fileno=args.fd)
    else:
        try:
            sock = bind(config.host, config.port)
        except OSError as exc:
            log.error(
                "cannot listen on %s port %s: %s (is another ot2-sim or robot server "
                "running? try --port 0)",
                config.host,
                config.port,
                exc.strerror or exc,
            )
            return 2
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    log.info("listening on http://%s:%s (starting workers...)", shown, port)
    if args.parent_pipe is not None:
        _exit_with_parent(server, args.parent_pipe)
    try:
        server.run(sockets=[sock])
    except SystemExit:  # uvicorn exits when the lifespan fails: say why, last, plainly
        if app.state.startup_error:
            log.error("%s", app.state.startup_error)
        raise
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
