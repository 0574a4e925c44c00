"""The deck as SVG: slots, modules, labware and wells from their definitions, and the state
of a run on top (liquid in wells, tips taken, the current step's wells highlighted).

Drawn in deck millimetres (one SVG unit = 1 mm), so it stays crisp at any zoom. Two layers,
so that playback only resends what changes:

* the *base* (:meth:`DeckRenderer.base_svg`): slots, module bodies, labware outlines and
  every well (one shape per well: ``circle`` or ``rect`` with class ``ot2-well`` and
  ``data-well``), drawn once per deck;
* the *state* (:meth:`DeckRenderer.state_svg`): only wells whose state differs from new
  (class ``ot2-fill`` / ``ot2-fill-drawn`` for liquid in or out, ``ot2-tip-used``,
  ``ot2-tip-inuse``, ``ot2-tip-returned``), the highlights (``ot2-hl-source``,
  ``ot2-hl-dest``, ``ot2-hl-place``, ``ot2-hl-labware``) and the labware names.

:meth:`DeckRenderer.svg` puts both into one document (export, tests). Colours come from a
small stylesheet: with ``theme="jupyter"`` it uses JupyterLab's theme variables and
``currentColor`` (light and dark themes alike), ``"light"`` and ``"dark"`` use fixed colours
(files and PNG, where no page supplies the variables).
"""

from __future__ import annotations

import html

from ot2_notebook.deck.layout import DeckLayout, PlacedLabware, PlacedModule
from ot2_notebook.deck.timeline import DeckState, WellKey

__all__ = ["THEMES", "DeckRenderer", "png_bytes"]

_FIXED_FONT = "'DejaVu Sans', Arial, Helvetica, sans-serif"
_JUPYTER = {
    "fg": "var(--jp-ui-font-color1, #1f1f1f)",
    "bg": "var(--jp-layout-color1, #ffffff)",
    "deck": "var(--jp-layout-color2, #eeeeee)",
    "font": f"var(--jp-ui-font-family, system-ui, -apple-system, {_FIXED_FONT})",
}
#: Colour sets: ``"jupyter"`` follows the notebook's theme; the others are fixed.
THEMES: dict[str, dict[str, str]] = {
    "jupyter": _JUPYTER,
    "light": {"fg": "#1f1f1f", "bg": "#ffffff", "deck": "#e9e9e9", "font": _FIXED_FONT},
    "dark": {"fg": "#e6e6e6", "bg": "#1e1e1e", "deck": "#2b2b2b", "font": _FIXED_FONT},
}

# (selector under .ot2-deck-svg, declarations); {fg} {bg} {deck} {font} come from a theme.
_RULES = (
    ("", "color: {fg}; font-family: {font};"),
    (".ot2-deck-bg", "fill: {deck};"),
    (".ot2-slot", "fill: {bg}; stroke: currentColor; stroke-opacity: 0.3; stroke-width: 0.6;"),
    (".ot2-slot-covered", "fill-opacity: 0.35; stroke-dasharray: 3 2;"),
    (
        ".ot2-slot-label",
        "fill: currentColor; fill-opacity: 0.45; font-size: 9px; font-weight: 700;",
    ),
    (
        ".ot2-module-body",
        "fill: rgba(156, 39, 176, 0.14); stroke: rgba(156, 39, 176, 0.75); stroke-width: 0.8;",
    ),
    (".ot2-module-label", "fill: currentColor; font-size: 5.5px; font-weight: 600;"),
    (
        ".ot2-labware-outline",
        "fill: {bg}; stroke: currentColor; stroke-opacity: 0.7; stroke-width: 0.6;",
    ),
    (".ot2-unknown .ot2-labware-outline", "fill-opacity: 0.6; stroke-dasharray: 3 2;"),
    (".ot2-custom .ot2-labware-outline", "stroke: rgba(33, 150, 243, 0.9);"),
    (".ot2-well", "fill: none; stroke: currentColor; stroke-opacity: 0.5; stroke-width: 0.35;"),
    (".ot2-tiprack .ot2-well", "fill: currentColor; fill-opacity: 0.3;"),
    (".ot2-trash .ot2-well", "fill: currentColor; fill-opacity: 0.06;"),
    (".ot2-fill", "fill: rgb(33, 150, 243); stroke: none;"),
    (".ot2-fill-drawn", "fill: rgb(255, 152, 0); stroke: none;"),
    (
        ".ot2-tip-used",
        "fill: {bg}; stroke: currentColor; stroke-opacity: 0.45; stroke-width: 0.35; "
        "stroke-dasharray: 0.8 0.6;",
    ),
    (".ot2-tip-inuse", "fill: rgb(76, 175, 80); stroke: none;"),
    (
        ".ot2-tip-returned",
        "fill: currentColor; fill-opacity: 0.12; stroke: currentColor; stroke-width: 0.35;",
    ),
    (".ot2-hl-source", "fill: none; stroke: rgb(229, 57, 53); stroke-width: 1.3;"),
    (".ot2-hl-dest", "fill: none; stroke: rgb(0, 172, 193); stroke-width: 1.3;"),
    (".ot2-hl-place", "fill: none; stroke: rgb(255, 179, 0); stroke-width: 1.3;"),
    (
        ".ot2-hl-labware",
        "fill: none; stroke: rgb(255, 179, 0); stroke-width: 1; stroke-dasharray: 2 1.2;",
    ),
    (".ot2-label-bg", "fill: {bg}; fill-opacity: 0.85;"),
    (".ot2-labware-label", "fill: currentColor; font-size: 5px;"),
    (".ot2-caption", "fill: currentColor; font-size: 6px;"),
)
_CSS = "".join(
    ".ot2-deck-svg" + (" " + selector if selector else "") + " { " + body + " }\n"
    for selector, body in _RULES
) + (
    ".ot2-deck-svg.ot2-deck-state { pointer-events: none; }\n"
    ".ot2-deck-svg.ot2-deck-state title { pointer-events: auto; }\n"
)

_LABEL_SIZE = 5.0
_CAPTION_HEIGHT = 10.0


def _f(value: float) -> str:
    """A coordinate, short: 2 decimals at most."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _fit(text: str, width_mm: float, size: float = _LABEL_SIZE) -> str:
    """Cut ``text`` to about what fits in ``width_mm`` at font ``size``."""
    room = max(4, int(width_mm / (size * 0.56)))
    return text if len(text) <= room else text[: room - 1] + "…"


def _volume_text(value: float) -> str:
    sign = "+" if value > 0 else "\u2212" if value < 0 else ""
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{sign}{magnitude / 1000:.3g} mL"
    return f"{sign}{magnitude:.4g} µL"


class DeckRenderer:
    """Draws one :class:`~ot2_notebook.deck.layout.DeckLayout` (see the module doc).
    The base layer and the geometry of every well are computed once."""

    def __init__(self, layout: DeckLayout, *, theme: str = "jupyter") -> None:
        if theme not in THEMES:
            raise ValueError(f"theme must be one of {sorted(THEMES)}, not {theme!r}.")
        self.layout = layout
        self.theme = theme
        x0, y0, x1, y1 = layout.bounds()
        self._x0, self._y1 = x0, y1
        self.width = x1 - x0
        self.height = y1 - y0
        self._shapes: dict[WellKey, tuple[str, str]] = {}
        for slot, labware in layout.labware.items():
            for name in labware.well_names:
                self._shapes[(slot, name)] = self._well_shape(labware, name)
        self._base: str | None = None

    # -- coordinates -------------------------------------------------------------------------

    def _sx(self, x: float) -> float:
        return x - self._x0

    def _sy(self, y: float) -> float:
        return self._y1 - y

    def _rect(self, x: float, y: float, width: float, depth: float) -> str:
        """SVG rect attributes for a deck rectangle given by its front left corner."""
        return (
            f'x="{_f(self._sx(x))}" y="{_f(self._sy(y + depth))}" '
            f'width="{_f(width)}" height="{_f(depth)}"'
        )

    def _box(self, labware: PlacedLabware) -> str:
        return self._rect(labware.x, labware.y, labware.width, labware.depth)

    def _well_shape(self, labware: PlacedLabware, name: str) -> tuple[str, str]:
        """(element name, geometry attributes) of a well, in SVG coordinates."""
        assert labware.definition is not None
        well = labware.definition.wells[name]
        cx, cy = self._sx(labware.x + well.x), self._sy(labware.y + well.y)
        if well.circular:
            return "circle", f'cx="{_f(cx)}" cy="{_f(cy)}" r="{_f(well.diameter / 2)}"'
        return "rect", (
            f'x="{_f(cx - well.size_x / 2)}" y="{_f(cy - well.size_y / 2)}" '
            f'width="{_f(well.size_x)}" height="{_f(well.size_y)}"'
        )

    # -- documents ---------------------------------------------------------------------------

    def stylesheet(self, theme: str | None = None) -> str:
        colours = THEMES[theme or self.theme]
        css = _CSS
        for name, value in colours.items():
            css = css.replace("{" + name + "}", value)
        return css

    def _open(self, css_class: str, caption: bool = False, theme: str | None = None) -> str:
        height = self.height + (_CAPTION_HEIGHT if caption else 0.0)
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="ot2-deck-svg {css_class}" '
            f'viewBox="0 0 {_f(self.width)} {_f(height)}" width="100%" '
            f'preserveAspectRatio="xMidYMin meet" role="img" aria-label="OT-2 deck">'
            f"<style>{self.stylesheet(theme)}</style>"
        )

    def base_svg(self) -> str:
        """The base layer as an SVG document (cached)."""
        if self._base is None:
            self._base = self._open("ot2-deck-base") + self._base_body() + "</svg>"
        return self._base

    def state_svg(self, state: DeckState | None) -> str:
        """The state layer (same size and view box as the base) as an SVG document."""
        return self._open("ot2-deck-state") + self._state_body(state) + "</svg>"

    def svg(
        self,
        state: DeckState | None = None,
        *,
        caption: str | None = None,
        theme: str | None = None,
    ) -> str:
        """Base and state in one document; ``caption`` is written under the deck;
        ``theme`` overrides the renderer's colours (``"light"`` for a file to share)."""
        parts = [
            self._open("ot2-deck-full", caption=bool(caption), theme=theme),
            self._base_body(),
            self._state_body(state),
        ]
        if caption:
            parts.append(
                f'<text class="ot2-caption" x="4" y="{_f(self.height + _CAPTION_HEIGHT - 3)}">'
                f"{_esc(_fit(caption, self.width - 8, 6.0))}</text>"
            )
        parts.append("</svg>")
        return "".join(parts)

    # -- the base ----------------------------------------------------------------------------

    def _base_body(self) -> str:
        layout = self.layout
        out = [
            f'<rect class="ot2-deck-bg" x="0" y="0" width="{_f(self.width)}" '
            f'height="{_f(self.height)}" rx="4"/>'
        ]
        covered = layout.covered_slots()
        for slot in sorted(layout.slots):
            geometry = layout.slots[slot]
            css = "ot2-slot ot2-slot-covered" if slot in covered else "ot2-slot"
            box = self._rect(geometry.x, geometry.y, geometry.width, geometry.depth)
            out.append(f'<rect class="{css}" data-slot="{slot}" {box} rx="1.5"/>')
        for module in layout.unique_modules():
            out.append(self._module(module))
        for slot in sorted(layout.slots):
            geometry = layout.slots[slot]
            if slot in layout.labware or slot in layout.modules:
                continue
            out.append(
                f'<text class="ot2-slot-label" x="{_f(self._sx(geometry.x + geometry.width / 2))}" '
                f'y="{_f(self._sy(geometry.y + geometry.depth / 2) + 3)}" '
                f'text-anchor="middle">{slot}</text>'
            )
        for labware in sorted(
            layout.stacked + list(layout.labware.values()), key=lambda lw: lw.slot
        ):
            out.append(self._labware(labware))
        return "".join(out)

    def _module(self, module: PlacedModule) -> str:
        x, y, width, depth = module.body
        slots = " ".join(str(s) for s in module.slots)
        label_x = self._sx(x + width / 2)
        label_y = self._sy(y + depth) + 7
        return (
            f'<g class="ot2-module" data-slot="{module.slot}" data-slots="{slots}" '
            f'data-model="{_esc(module.model)}" data-type="{_esc(module.module_type)}">'
            f"<title>{_esc(module.display_name)} (slots {slots})</title>"
            f'<rect class="ot2-module-body" {self._rect(x, y, width, depth)} rx="3"/>'
            f'<text class="ot2-module-label" x="{_f(label_x)}" y="{_f(label_y)}" '
            f'text-anchor="middle">{_esc(_fit(module.display_name, width - 4, 5.5))}</text>'
            "</g>"
        )

    def _labware(self, labware: PlacedLabware) -> str:
        classes = ["ot2-labware"]
        if labware.is_tiprack:
            classes.append("ot2-tiprack")
        if labware.is_trash:
            classes.append("ot2-trash")
        if labware.is_custom:
            classes.append("ot2-custom")
        if labware.definition is None:
            classes.append("ot2-unknown")
        out = [
            f'<g class="{" ".join(classes)}" data-slot="{labware.slot}" '
            f'data-load-name="{_esc(labware.load_name)}" data-uri="{_esc(labware.uri)}">'
            f"<title>{_esc(labware.name)} ({_esc(labware.uri or labware.load_name)}) "
            f"in slot {labware.slot}</title>",
            f'<rect class="ot2-labware-outline" {self._box(labware)} rx="2"/>',
        ]
        for name in labware.well_names:
            element, geometry = self._shapes[(labware.slot, name)]
            out.append(f'<{element} class="ot2-well" data-well="{name}" {geometry}/>')
        out.append("</g>")
        return "".join(out)

    # -- the state ---------------------------------------------------------------------------

    def _shape(self, key: WellKey, css: str, style: str = "", title: str = "") -> str:
        shape = self._shapes.get(key)
        if shape is None:
            return ""
        element, geometry = shape
        extra = f' style="{style}"' if style else ""
        inner = f"<title>{_esc(title)}</title>" if title else ""
        return (
            f'<{element} class="{css}" data-slot="{key[0]}" data-well="{_esc(key[1])}" '
            f"{geometry}{extra}>{inner}</{element}>"
        )

    def _state_body(self, state: DeckState | None) -> str:
        out: list[str] = []
        layout = self.layout
        if state is not None:
            for key, net in state.volumes.items():
                if abs(net) < 1e-9:
                    continue
                labware = layout.labware_in(key[0])
                if labware is None or labware.is_trash:
                    continue
                capacity = labware.capacity(key[1]) or 0.0
                fraction = min(1.0, abs(net) / capacity) if capacity > 0 else 1.0
                opacity = 0.25 + 0.75 * fraction
                css = "ot2-fill" if net > 0 else "ot2-fill-drawn"
                title = (
                    f"{key[1]} of {labware.name} (slot {key[0]}): {_volume_text(net)} "
                    f"(in {state.added.get(key, 0.0):.4g} µL, "
                    f"out {state.removed.get(key, 0.0):.4g} µL)"
                )
                out.append(self._shape(key, css, f"fill-opacity:{opacity:.2f}", title))
            for key, tip in state.tips.items():
                css = {"in use": "ot2-tip-inuse", "used": "ot2-tip-used"}.get(
                    tip, "ot2-tip-returned"
                )
                out.append(self._shape(key, css, title=f"tip {key[1]} (slot {key[0]}): {tip}"))
            highlighted = {key[0] for key in (*state.sources, *state.destinations, *state.places)}
            for slot in sorted(highlighted):
                labware = layout.labware_in(slot)
                if labware is not None:
                    out.append(
                        f'<rect class="ot2-hl-labware" data-slot="{slot}" '
                        f'{self._box(labware)} rx="2"/>'
                    )
            for keys, css in (
                (state.places, "ot2-hl-place"),
                (state.sources, "ot2-hl-source"),
                (state.destinations, "ot2-hl-dest"),
            ):
                for key in sorted(keys):
                    out.append(self._shape(key, css))
        out.append(self._labels())
        return "".join(out)

    def _labels(self) -> str:
        out = []
        for labware in sorted(self.layout.labware.values(), key=lambda lw: lw.slot):
            name = labware.name
            if labware.is_trash and labware.slot == 12:
                name = "Fixed trash"
            width = min(labware.width, 128.0)
            text = _fit(f"{labware.slot} · {name}", width - 3)
            band_y = self._sy(labware.y) - _LABEL_SIZE - 2.5
            x = self._sx(labware.x)
            out.append(
                f'<g class="ot2-label" data-slot="{labware.slot}">'
                f'<rect class="ot2-label-bg" x="{_f(x)}" y="{_f(band_y)}" width="{_f(width)}" '
                f'height="{_f(_LABEL_SIZE + 2.5)}" rx="1"/>'
                f'<text class="ot2-labware-label" x="{_f(x + 1.5)}" '
                f'y="{_f(band_y + _LABEL_SIZE + 0.6)}">{_esc(text)}</text></g>'
            )
        return "".join(out)


def png_bytes(svg: str, *, scale: float = 2.0, background: str | None = "#ffffff") -> bytes:
    """Rasterise an SVG document (from :meth:`DeckRenderer.svg`, best with ``theme="light"``)
    to PNG with ``resvg`` (the optional ``resvg-py`` package: ``pip install
    'ot2-notebook[png]'``). ``scale`` is pixels per millimetre of deck (2: about 900 px wide)."""
    try:
        import resvg_py  # type: ignore[import-not-found,unused-ignore]
    except ModuleNotFoundError as exc:
        raise RuntimeError(
            "PNG export needs the resvg-py package (an SVG renderer with no system "
            "dependencies): pip install resvg-py, or pip install 'ot2-notebook[png]'. "
            "The SVG export needs nothing extra."
        ) from exc
    fixed = svg.replace('width="100%"', "", 1)
    data = resvg_py.svg_to_bytes(
        svg_string=fixed,
        zoom=float(scale),
        background=background,
        sans_serif_family="DejaVu Sans",
    )
    return bytes(data)
