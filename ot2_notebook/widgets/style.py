"""Shared look and small text helpers for the panels.

The stylesheet (``panels.css``, beside this module) reaches the browser inside a hidden
``HTML`` widget that every panel carries: no custom JavaScript, no front-end extension, and
a panel shown on its own (or re-shown after a kernel restart) always brings its styles.
Every HTML fragment the panels build goes through :func:`html_block`, which escapes nothing
itself (callers escape user text with :func:`esc`) but wraps the fragment so that the
notebook's LaTeX typesetter leaves a ``$`` in a step text alone.
"""

from __future__ import annotations

import html
import math
from functools import lru_cache
from importlib import resources

import ipywidgets as widgets

__all__ = [
    "PANEL_CLASS",
    "esc",
    "format_duration",
    "html_block",
    "style_widget",
    "stylesheet",
]

#: Class carried by the outer box of every panel (scopes the stylesheet).
PANEL_CLASS = "ot2-panel"


@lru_cache(maxsize=1)
def stylesheet() -> str:
    """The panels' CSS."""
    return resources.files("ot2_notebook.widgets").joinpath("panels.css").read_text("utf-8")


def style_widget() -> widgets.HTML:
    """A hidden widget whose only content is the panels' ``<style>`` element.

    A ``<style>`` element applies wherever it sits in the page, even inside an element that
    is not displayed, so the widget takes no room.
    """
    style = widgets.HTML(value=f"<style>{stylesheet()}</style>")
    style.layout.display = "none"
    style.add_class("ot2-style")
    return style


def esc(text: object) -> str:
    """``text`` escaped for HTML (quotes too: it may land in an attribute)."""
    return html.escape(str(text), quote=True)


def html_block(inner: str, css_class: str = "") -> str:
    """Wrap an HTML fragment for an ``HTML`` widget.

    ``tex2jax_ignore`` keeps MathJax (which ipywidgets runs over HTML widgets) from turning
    text between two ``$`` signs into formulas.
    """
    classes = f"tex2jax_ignore {css_class}".strip()
    return f'<div class="{classes}">{inner}</div>'


def format_duration(seconds: float | None) -> str:
    """``45.4`` -> ``"45 s"``, ``281.75`` -> ``"4 min 42 s"``, ``3725`` -> ``"1 h 02 min"``.

    Rounded to whole seconds so that text built from a robot's estimate is the same on
    every run (notebooks are compared by nbval on their text output).
    """
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "unknown"
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
