"""Where the notification feed and ``SessionWatcher`` used to live: kept so that code
written against ``ot2_notebook.notifications`` goes on working.

The feed is :mod:`ot2_notebook.client.feed`, the watcher :mod:`ot2_notebook.client.watcher`
and ``StepEvent`` :mod:`ot2_notebook.client.models`; import them from
:mod:`ot2_notebook.client`. This module only re-exports the same objects.
"""

from __future__ import annotations

from ot2_notebook.client.feed import (
    HARDWARE_EVENTS,
    SESSION_EVENTS,
    Notification,
    NotificationSubscriber,
)
from ot2_notebook.client.models import StepEvent
from ot2_notebook.client.watcher import SessionWatcher

__all__ = [
    "HARDWARE_EVENTS",
    "SESSION_EVENTS",
    "Notification",
    "NotificationSubscriber",
    "SessionWatcher",
    "StepEvent",
]
