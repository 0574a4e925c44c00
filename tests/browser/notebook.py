"""Driving one notebook in JupyterLab from Playwright: open it, wait for its kernel, run
cells one by one, read their outputs, and watch a run panel change while no cell runs.

Cells are run through JupyterLab's own commands (``window.jupyterapp``, exposed by the
server option ``expose_app_in_browser``), as JupyterLab's Galata tests do: a cell runs
exactly as it does when a user presses Shift+Enter, and the command's promise says when
the kernel has answered, with no guessing from the page's look. Every wait is bounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from playwright.sync_api import Locator, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

__all__ = ["CellFailed", "LabNotebook", "ProgressSample"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# Finds the open notebook panel for ``path`` and keeps it as window.__ot2nb.
_FIND_PANEL = """
(path) => {
    const app = window.jupyterapp;
    if (!app) { return false; }
    for (const widget of app.shell.widgets('main')) {
        if (widget.context && widget.context.path === path && widget.content
                && widget.sessionContext) {
            window.__ot2nb = widget;
            return true;
        }
    }
    return false;
}
"""

# The notebook is loaded and its kernel is up and idle.
_KERNEL_IDLE = """
() => {
    const nb = window.__ot2nb;
    const kernel = nb && nb.context.isReady && nb.sessionContext.session
        && nb.sessionContext.session.kernel;
    return !!kernel && kernel.status === 'idle' && nb.content.widgets.length > 0;
}
"""

# Runs cell i as Shift+Enter would (without moving on); the outcome lands in window.__ot2done.
# The cell's node is marked (data-ot2-cell="i", data-ot2-ran) so that locators can tell the
# outputs of this run from outputs saved with the notebook in cells not run.
_RUN_CELL = """
(index) => {
    const nb = window.__ot2nb;
    window.__ot2done = window.__ot2done || {};
    delete window.__ot2done[index];
    const node = nb.content.widgets[index].node;
    node.dataset.ot2Cell = String(index);
    node.dataset.ot2Ran = 'yes';
    nb.content.activeCellIndex = index;
    nb.content.deselectAll();
    window.jupyterapp.commands.execute('notebook:run-cell').then(
        (ok) => { window.__ot2done[index] = {ok: ok !== false}; },
        (err) => { window.__ot2done[index] = {ok: false, error: String(err)}; });
}
"""

_CELL_OUTPUTS = """
(index) => window.__ot2nb.content.widgets[index].model.outputs.toJSON()
"""

_KERNEL_STATE = """
() => {
    const nb = window.__ot2nb;
    const kernel = nb.sessionContext.session && nb.sessionContext.session.kernel;
    const prompts = Array.from(nb.node.querySelectorAll('.jp-InputPrompt'));
    return {
        status: kernel ? kernel.status : 'no kernel',
        running: prompts.filter((p) => p.textContent.includes('*')).length,
    };
}
"""

# Records every change of a run panel's progress text, with the kernel's status and the
# number of cells shown as running ([*]) at that moment, in window.__ot2progress.
_WATCH_PROGRESS = """
(panel) => {
    const nb = window.__ot2nb;
    const text = panel.querySelector('.ot2-run-progress-text');
    const bar = panel.querySelector('.ot2-run-progress .progress-bar');
    const samples = [];
    const sample = () => {
        const value = text ? text.textContent.trim() : '';
        if (samples.length && samples[samples.length - 1].text === value) { return; }
        const kernel = nb.sessionContext.session && nb.sessionContext.session.kernel;
        const prompts = Array.from(nb.node.querySelectorAll('.jp-InputPrompt'));
        samples.push({
            text: value,
            bar: bar ? bar.style.width : null,
            kernel: kernel ? kernel.status : 'no kernel',
            running: prompts.filter((p) => p.textContent.includes('*')).length,
            at: performance.now(),
        });
    };
    sample();
    const observer = new MutationObserver(sample);
    observer.observe(panel, {subtree: true, childList: true, characterData: true,
                             attributes: true});
    window.__ot2progress = {samples, observer};
}
"""


class CellFailed(AssertionError):
    """A cell ended with an error (its traceback is the message)."""


@dataclass(frozen=True)
class ProgressSample:
    """The run panel's progress as the page showed it at one change."""

    text: str
    bar: str | None
    kernel: str
    running_cells: int
    at_ms: float

    @property
    def step(self) -> int | None:
        """N in "step N of M" (``None`` for "no steps yet")."""
        match = re.search(r"step (\d+)", self.text)
        return int(match.group(1)) if match else None


class LabNotebook:
    """One notebook open in JupyterLab in ``page`` (see the module doc)."""

    def __init__(self, page: Page, path: str) -> None:
        self.page = page
        self.path = path

    def open(self, url: str, timeout_ms: float = 120_000) -> None:
        """Load JupyterLab at ``url`` (which opens the notebook) and wait for an idle kernel."""
        self.page.goto(url, timeout=timeout_ms)
        self.page.wait_for_function(_FIND_PANEL, arg=self.path, timeout=timeout_ms, polling=100)
        self.page.wait_for_function(_KERNEL_IDLE, timeout=timeout_ms, polling=100)

    def cell_count(self) -> int:
        return int(self.page.evaluate("() => window.__ot2nb.content.widgets.length"))

    def run_cell(self, index: int, timeout_ms: float = 120_000) -> list[dict[str, Any]]:
        """Run cell ``index`` and wait until the kernel has answered; returns its outputs
        (nbformat dicts). Raises :class:`CellFailed` with the traceback when it fails."""
        self.page.evaluate(_RUN_CELL, index)
        handle = self.page.wait_for_function(
            "(i) => window.__ot2done && window.__ot2done[i]", arg=index, timeout=timeout_ms
        )
        done = handle.json_value()
        outputs: list[dict[str, Any]] = self.page.evaluate(_CELL_OUTPUTS, index)
        errors = [o for o in outputs if o.get("output_type") == "error"]
        if errors or not done.get("ok"):
            detail = "\n".join(
                _ANSI.sub("", "\n".join(e.get("traceback") or [f"{e['ename']}: {e['evalue']}"]))
                for e in errors
            )
            raise CellFailed(
                f"Cell {index} of {self.path} failed in JupyterLab: "
                f"{detail or done.get('error') or 'the kernel reported an error'}"
            )
        return outputs

    def cell(self, index: int) -> Locator:
        """Cell ``index`` (a cell run by :meth:`run_cell`)."""
        return self.page.locator(f'[data-ot2-cell="{index}"]')

    def ran(self, selector: str) -> Locator:
        """``selector`` within the outputs of the cells run by :meth:`run_cell` (not in
        outputs saved with the notebook)."""
        return self.page.locator(f"[data-ot2-ran] {selector}")

    def kernel_state(self) -> dict[str, Any]:
        """``{"status": "idle"|"busy"|..., "running": cells shown as [*]}``."""
        return dict(self.page.evaluate(_KERNEL_STATE))

    def wait_kernel_idle(self, timeout_ms: float = 30_000) -> None:
        self.page.wait_for_function(_KERNEL_IDLE, timeout=timeout_ms, polling=100)

    def watch_progress(self, panel_selector: str) -> None:
        """Start recording the progress of the run panel ``panel_selector``."""
        self.page.locator(panel_selector).first.evaluate(_WATCH_PROGRESS)

    def wait_progress_samples(self, count: int, timeout_ms: float) -> list[ProgressSample]:
        """Wait until the progress was seen with ``count`` distinct values; return them."""
        try:
            self.page.wait_for_function(
                "(n) => window.__ot2progress.samples.length >= n", arg=count, timeout=timeout_ms
            )
        except PlaywrightTimeoutError:
            seen = [s.text for s in self.progress_samples()]
            raise AssertionError(
                f"The run panel's progress took {len(seen)} value(s) in {timeout_ms / 1000:g} s "
                f"({seen}), not {count}: live updates from the panel's threads did not reach "
                "the browser."
            ) from None
        return self.progress_samples()

    def progress_samples(self) -> list[ProgressSample]:
        raw = self.page.evaluate("() => window.__ot2progress.samples")
        return [
            ProgressSample(s["text"], s["bar"], s["kernel"], int(s["running"]), float(s["at"]))
            for s in raw
        ]

    def stop_watching_progress(self) -> None:
        self.page.evaluate("() => window.__ot2progress.observer.disconnect()")
