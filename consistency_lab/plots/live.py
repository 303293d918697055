"""Figures that are built once and then updated in place, for explorers that redraw on every change.

Rebuilding a matplotlib figure costs far more than drawing it: clearing axes throws
away every tick, text and legend object, and creating them again dominates an
explorer's update.  A :class:`LiveFigure` keeps the figure, its axes and its artists;
an explorer only changes their data.  On top of that it caches the *static* part of
the image (frame, ticks, labels, titles): artists registered with :meth:`LiveFigure.dynamic`
are left out of that background and painted over it on every frame, and the
background is drawn again only when something it shows (limits, titles, tick labels)
has changed.  The PNG is always a complete, real rendering of the figure.
"""

from __future__ import annotations

import math
import struct
import zlib
from typing import TYPE_CHECKING, Any, Iterable, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.collections import PolyCollection

__all__ = ["LiveFigure", "nice_limit", "sticky_limit", "lean_axes", "encode_png", "time_spans", "set_spans",
           "PNG_COMPRESS_LEVEL"]

#: zlib level for explorer PNGs: higher levels cost several times the encoding time for
#: files only a little smaller (measured in benchmarks/bench_explorers.py).
PNG_COMPRESS_LEVEL = 1


def nice_limit(value: float, minimum: float = 1.0) -> float:
    """The smallest of 1, 1.5, 2, 3, 4, 5, 6, 8 x 10^k that is >= ``value`` (an axis end that changes rarely)."""
    value = max(float(value), float(minimum))
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"value={value!r} must be a positive finite number")
    scale = 10 ** math.floor(math.log10(value))
    for step in (1, 1.5, 2, 3, 4, 5, 6, 8, 10):
        if step * scale >= value * (1 - 1e-12):
            return step * scale
    return 10 * scale  # pragma: no cover - the loop always returns


def lean_axes(ax: "Axes", title: str = "", nbins: int = 5, x: bool = True, y: bool = True) -> None:
    """Make ``ax`` cheaper to draw from scratch: at most ``nbins`` ticks, and a title that is not re-placed.

    Most of a full redraw is tick labels (laid out twice: to draw them and to place
    the axis labels and the title).  Fewer ticks read just as well on a small figure,
    and a title pinned to the top of the axes skips the search for overlapping ticks.
    """
    from matplotlib.ticker import MaxNLocator

    if x and ax.get_xscale() == "linear":
        ax.xaxis.set_major_locator(MaxNLocator(nbins=nbins))
    if y and ax.get_yscale() == "linear":
        ax.yaxis.set_major_locator(MaxNLocator(nbins=nbins))
    ax.set_title(title, y=1.0)  # an explicit y turns off automatic title placement


def sticky_limit(current: "float | None", needed: float, minimum: float = 1.0, slack: float = 0.7) -> float:
    """An axis end for ``needed``: keep ``current`` while the data fits and fills more than ``slack`` of it.

    Successive runs (a new seed) then mostly share their axes, so the cached
    background survives; a much smaller or larger range still gets a fitting axis.
    """
    if current is not None and slack * current <= max(needed, minimum) <= current:
        return current
    return nice_limit(needed, minimum)


def encode_png(rgba, size: tuple[int, int], dpi: float) -> bytes:
    """Encode RGBA pixels (bytes or a memoryview, top row first) as a PNG that records its pixel density.

    No row filter and zlib level 1 (``PNG_COMPRESS_LEVEL``), alpha kept.  Measured on a
    1600x608 explorer figure: about a third of the time of Pillow's encoder at its fastest
    level, for a file about 15% larger (about 100 KB).  Row filters cost more time than
    they save bytes here, and so does dropping the (opaque) alpha channel: picking three
    bytes out of four is a strided copy that takes as long as compressing all four.
    """
    import numpy as np

    width, height = size
    rows = np.frombuffer(rgba, dtype=np.uint8).reshape(height, 4 * width)
    raw = np.empty((height, 1 + 4 * width), dtype=np.uint8)
    raw[:, 0] = 0  # filter type "None" on every row
    raw[:, 1:] = rows
    ppm = round(dpi / 0.0254)  # pixels per metre, so viewers know the image is high density
    return b"".join((
        b"\x89PNG\r\n\x1a\n",
        _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)),  # 8-bit RGBA
        _chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1)),
        _chunk(b"IDAT", zlib.compress(raw, PNG_COMPRESS_LEVEL)),
        _chunk(b"IEND", b""),
    ))


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def time_spans(ax: "Axes", colour: str, alpha: float = 0.15) -> "PolyCollection":
    """An empty set of shaded time windows spanning the full height of ``ax`` (fill with :func:`set_spans`)."""
    from matplotlib.collections import PolyCollection

    spans = PolyCollection([], facecolors=colour, alpha=alpha, linewidths=0,
                           transform=ax.get_xaxis_transform())
    ax.add_collection(spans, autolim=False)
    return spans


def set_spans(spans: "PolyCollection", windows: Iterable[tuple[float, float]], end: float) -> None:
    """Show ``windows`` (start, end) in ``spans``; an open window (end = inf) runs to ``end``."""
    verts = []
    for a, b in windows:
        b = end if math.isinf(b) else b
        verts.append([(a, 0.0), (a, 1.0), (b, 1.0), (b, 0.0)])
    spans.set_verts(verts)


class LiveFigure:
    """A figure drawn many times: cached background, dynamic artists painted on top, PNG out.

    ``width_px`` x ``height_px`` is the size shown on screen; the PNG has
    ``pixel_ratio`` times as many pixels each way, so text stays sharp on high-DPI
    screens while the layout (in points) is the same as at 1x.
    """

    def __init__(self, figsize: Sequence[float], dpi: float, pixel_ratio: int = 2) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        if pixel_ratio not in (1, 2, 3):
            raise ValueError(f"pixel_ratio={pixel_ratio!r} must be 1, 2 or 3")
        self.pixel_ratio = pixel_ratio
        self.display_dpi = float(dpi)
        self.fig = Figure(figsize=tuple(figsize), dpi=dpi * pixel_ratio, facecolor="white")
        self.canvas = FigureCanvasAgg(self.fig)
        self._dynamic: list[Artist] = []
        self._overlays: dict[int, list] = {}  # id -> [artist, key function, key, pixels]
        self._background = None
        self._key: Any = None
        #: How many frames needed a full redraw, or a redraw of some axes (the rest reused the background).
        self.full_redraws = 0
        self.partial_redraws = 0
        self._boxes: dict = {}
        self.frames = 0

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) in CSS pixels at which the PNG should be shown."""
        w, h = self.fig.get_size_inches()
        return round(w * self.display_dpi), round(h * self.display_dpi)

    def dynamic(self, *artists: "Artist") -> None:
        """Register artists that change from frame to frame (drawn over the background, in this order)."""
        for a in artists:
            a.set_animated(True)
            self._dynamic.append(a)

    def overlay(self, artist: "Artist", key=None) -> None:
        """Register an artist drawn on top of everything (a legend): rendered once, then pasted.

        Its pixels are kept until ``key()`` (default: the legend's texts) returns something
        new, even across full redraws: give legends ``framealpha=1`` so what lies beneath
        them does not show through.
        """
        artist.set_animated(True)
        if key is None:
            texts = getattr(artist, "texts", None) or ()
            key = lambda: tuple(t.get_text() for t in texts)  # noqa: E731 - a legend's own words
        self._overlays[id(artist)] = [artist, key, None, None]

    def forget(self, artist: "Artist") -> None:
        """Stop drawing ``artist`` (dynamic or overlay), e.g. a legend that was replaced."""
        if artist in self._dynamic:
            self._dynamic.remove(artist)
        self._overlays.pop(id(artist), None)

    def static_key(self, extra: Any = None) -> tuple:
        """Everything the cached background shows that can change: limits, scales, titles, labels, fixed ticks.

        ``extra`` names whatever else the background shows (e.g. a run's digest when its data is
        drawn statically).  A dict ``{axes: key}`` ties each key to one axes, so a change redraws
        only that axes (when it overlaps no other) instead of the whole figure.
        """
        per_axes = extra if isinstance(extra, dict) else {}
        parts: list[Any] = [tuple(self.fig.get_size_inches()), None if per_axes else extra]
        for ax in self.fig.axes:
            parts.append((ax.get_xlim(), ax.get_ylim(), ax.get_xscale(), ax.get_yscale(), ax.get_title(),
                          ax.get_xlabel(), ax.get_ylabel(), _fixed_ticks(ax.xaxis), _fixed_ticks(ax.yaxis),
                          ax.get_visible(), per_axes.get(ax)))
        return tuple(parts)

    def draw(self, extra_key: Any = None) -> None:
        """Render the current state into the canvas buffer (background reused when nothing static changed)."""
        key = self.static_key(extra_key)
        if self._background is None or key != self._key:
            if not self._redraw_changed_axes(key):
                self.canvas.draw()  # dynamic and overlay artists are animated, so left out of this pass
                self._background = self.canvas.copy_from_bbox(self.fig.bbox)
                self._boxes = self._axes_boxes(range(len(self.fig.axes)))
                self.full_redraws += 1
            self._key = key
        renderer = self.canvas.get_renderer()
        for entry in self._overlays.values():
            artist, key_fn, old, pixels = entry
            new = key_fn()
            if pixels is None or new != old:
                self.canvas.restore_region(self._background)
                artist.draw(renderer)
                box = artist.get_window_extent(renderer).padded(2)  # the frame line straddles the edge
                entry[2], entry[3] = new, self.canvas.copy_from_bbox(box)
        self.canvas.restore_region(self._background)
        for a in sorted(self._dynamic, key=lambda a: a.get_zorder()):  # stable: ties keep their order
            if a.get_visible():
                a.draw(renderer)
        for entry in self._overlays.values():
            if entry[0].get_visible():
                self.canvas.restore_region(entry[3])
        self.frames += 1

    def _axes_boxes(self, which) -> dict:
        """Where each axes draws (frame, ticks, labels, title; not its data), in pixels."""
        renderer = self.canvas.get_renderer()
        return {i: self.fig.axes[i].get_tightbbox(renderer, bbox_extra_artists=[]) for i in which}

    def _redraw_changed_axes(self, key: tuple) -> bool:
        """Redraw only the axes whose part of the key changed, if they do not overlap the others.

        Blanks the union of each changed axes' old and new extent and draws that axes
        alone into the cached background.  Returns False (do a full redraw) when the
        figure itself changed or a blanked area would touch an unchanged axes.
        """
        import numpy as np
        from matplotlib.transforms import Bbox

        old = self._key
        if self._background is None or old is None or old[:2] != key[:2] or len(old) != len(key):
            return False
        changed = [i for i, (a, b) in enumerate(zip(old[2:], key[2:])) if a != b]
        if not changed or len(changed) == len(self.fig.axes):
            return False
        new_boxes = self._axes_boxes(changed)
        regions = [Bbox.union([self._boxes[i], new_boxes[i]]).padded(2) for i in changed]
        if any(r.overlaps(self._boxes[j]) for r in regions for j in self._boxes if j not in changed):
            return False
        self.canvas.restore_region(self._background)
        pixels = np.asarray(self.canvas.buffer_rgba())
        height, width = pixels.shape[:2]
        face = (np.asarray(self.fig.get_facecolor()) * 255).round().astype(np.uint8)
        for r in regions:  # display y grows upwards, buffer rows downwards
            x0, x1 = max(0, int(np.floor(r.x0))), min(width, int(np.ceil(r.x1)))
            y0, y1 = max(0, int(np.floor(height - r.y1))), min(height, int(np.ceil(height - r.y0)))
            pixels[y0:y1, x0:x1] = face
        renderer = self.canvas.get_renderer()
        for i in changed:
            self.fig.axes[i].draw(renderer)  # its dynamic artists are animated, so skipped here
        self._background = self.canvas.copy_from_bbox(self.fig.bbox)
        self._boxes.update(new_boxes)
        self.partial_redraws += 1
        return True

    def png(self, extra_key: Any = None) -> bytes:
        """Draw and encode the figure as PNG at ``pixel_ratio`` x the display size."""
        self.draw(extra_key)
        return encode_png(self.canvas.buffer_rgba(), self.canvas.get_width_height(), self.fig.dpi)

    def redraw_png(self) -> bytes:
        """A bare redraw of the same figure, nothing cached: the baseline the benchmark compares with."""
        for a in self._dynamic:
            a.set_animated(False)
        try:
            self.canvas.draw()
            renderer = self.canvas.get_renderer()
            for artist, *_ in self._overlays.values():  # on top of everything, as in a cached frame
                if artist.get_visible():
                    artist.draw(renderer)
            return encode_png(self.canvas.buffer_rgba(), self.canvas.get_width_height(), self.fig.dpi)
        finally:
            for a in self._dynamic:
                a.set_animated(True)


def _fixed_ticks(axis) -> tuple:
    """Tick positions and labels an explorer pinned (categorical axes); () for automatic ticks."""
    from matplotlib.ticker import FixedFormatter, FixedLocator

    loc, fmt = axis.get_major_locator(), axis.get_major_formatter()
    locs = tuple(loc.locs) if isinstance(loc, FixedLocator) else ()
    labels = tuple(fmt.seq) if isinstance(fmt, FixedFormatter) else ()
    return locs, labels
