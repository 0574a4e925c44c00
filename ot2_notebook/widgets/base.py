"""What every panel shares: its outer box, its stylesheet and its plain-text face.

A panel is an ``ipywidgets.VBox``, so ``display(panel)`` and returning it from a cell just
work. Its ``text/plain`` representation is :meth:`Panel.text`: a deterministic description
(no ids, times or URLs that change between runs) that terminals show and nbval compares.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from ot2_notebook.widgets.style import PANEL_CLASS, style_widget

__all__ = ["Panel", "close_tree"]


def close_tree(widget: widgets.Widget) -> None:
    """Close a widget and every widget inside it (their comms and registry entries)."""
    if isinstance(widget, widgets.Box):
        for child in widget.children:
            close_tree(child)
    widget.close()


class Panel(widgets.VBox):
    """Base of the panels: a ``VBox`` with the ``ot2-panel`` class and the stylesheet."""

    #: Extra class of the concrete panel (``ot2-equipment-panel`` ...).
    css_class = ""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_class(PANEL_CLASS)
        if self.css_class:
            self.add_class(self.css_class)
        self._style = style_widget()

    def _set_body(self, *children: widgets.Widget) -> None:
        self.children = (self._style, *children)

    def text(self) -> str:
        """The panel as plain text (deterministic; see the module doc)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(type(self).__name__ + "(...)" if cycle else self.text())

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        # ipywidgets cuts ``text/plain`` at 110 characters; the whole description is the
        # point here (the widget view's JSON comes from ipywidgets unchanged).
        data = dict(super()._repr_mimebundle_(**kwargs) or {})
        data["text/plain"] = self.text()
        return data

    def close(self) -> None:
        """Close the panel and all its widgets."""
        for child in self.children:
            close_tree(child)
        super().close()
