"""Importing the package and its client stays cheap: no ``opentrons`` (the client never needs
it), and nothing heavy for a bare ``import ot2_notebook``. Checked in a fresh interpreter,
since this test process has imported everything already."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("opentrons", "pandas", "requests", "websocket", "numpy", "IPython", "ipywidgets")


def loaded_after(statement: str) -> set[str]:
    code = (
        f"import sys, json\n{statement}\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_ot2_notebook_loads_nothing_heavy() -> None:
    loaded = loaded_after("import ot2_notebook")
    assert loaded.isdisjoint(HEAVY), loaded & set(HEAVY)


def test_the_client_does_not_import_opentrons_or_pandas() -> None:
    loaded = loaded_after(
        "import ot2_notebook.client, ot2_notebook.notifications\n"
        "from ot2_notebook import RobotClient, current_robot"
    )
    assert "requests" in loaded and "websocket" in loaded  # what it does need
    assert "opentrons" not in loaded
    assert "pandas" not in loaded  # only when a table is asked for


def test_importing_the_client_leaves_the_websocket_for_first_use() -> None:
    loaded = loaded_after("import ot2_notebook.client")
    assert "requests" in loaded and "websocket" not in loaded
    loaded = loaded_after("from ot2_notebook.client import SessionWatcher")
    assert "websocket" in loaded


def test_the_old_notifications_module_re_exports_the_clients_objects() -> None:
    import ot2_notebook.client as client
    import ot2_notebook.notifications as old
    from ot2_notebook.client import feed, models, watcher

    assert old.SessionWatcher is watcher.SessionWatcher is client.SessionWatcher
    assert old.NotificationSubscriber is feed.NotificationSubscriber
    assert old.Notification is feed.Notification is client.Notification
    assert old.StepEvent is models.StepEvent is client.StepEvent
    assert old.SESSION_EVENTS == client.SESSION_EVENTS == "session_events"
    assert old.HARDWARE_EVENTS == "hardware_events"
