"""The explorer pattern every chapter reuses: controls -> pure run -> redraw.

An explorer is a few small pieces:

* ``controls``: a dict of parameter name -> ipywidget (sliders never update while
  dragging, so one release is one simulation);
* ``run(params)``: a pure function of the parameters, returning a result object;
* ``setup(live)`` and ``refresh(result, live)``: build the figure's axes and artists
  once, then update their data for each result (a :class:`~consistency_lab.plots.live.LiveFigure`
  keeps the figure and redraws only what changed);
* ``metric_labels``: the numbers shown under or beside the figure, named in words.

Changing any control calls :meth:`Explorer.update`, which runs, renders a PNG at twice
the displayed pixel density and shows it in an ``Image`` widget that keeps its aspect
ratio at any width, next to (or, when there is no room, below) the metrics.  Controls
that do nothing in the current mode are disabled with a short hint.  Errors (a bad
combination of parameters, a simulator bug) appear in the widget in red instead of
vanishing into a log.  Because everything is an ordinary widget, a test or a benchmark
can set ``explorer.controls["mode"].value = "sync"`` and read ``explorer.result``
without a browser.

**Time scrubber.**  An explorer that also defines ``time_range(result) -> (start_ms, end_ms)``
and ``at_time(result, t_ms, live)`` gets a row under the figure: step back, an
``ipywidgets.Play`` linked in the browser (``jslink``) to an ``IntSlider`` over the run's
virtual time in whole milliseconds, step forward, and the time in words.  One step is
``scrub_step_ms(result)`` (default: a 200th of the range, at least 1 ms).  Moving the scrubber
never re-simulates: it calls ``at_time``, which updates only the time-dependent artists (a
"now" line, a per-server panel, messages in flight; register them with ``live.dynamic`` so
the cached background survives) and re-encodes the PNG.  Changing any other control re-runs,
and the range follows the new run: the time is kept when it lies inside the new range, else
clamped to its nearest end (a fresh explorer starts at the end of the run, so the whole run
is shown).  ``explorer.scrub_to(t_ms)`` does from code what the slider does (tests,
benchmarks) and ``explorer.time`` is the current time; ``last_scrub_ms`` times the last move.
The scrubber needs the ``setup``/``refresh`` path (a :class:`~consistency_lab.plots.live.LiveFigure`).
"""

from __future__ import annotations

import gc
import html
import math
import time
from typing import TYPE_CHECKING, Any, Mapping, Optional

import ipywidgets as W

from ..tables import format_value

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from ..plots.live import LiveFigure

__all__ = ["Explorer", "figure_png", "slider", "float_slider", "dropdown", "toggle", "metrics_html",
           "format_metric", "CONTROL_WIDTH_PX"]

#: Width of one control (label above it): leaves a slider track of about 160 px after the readout.
CONTROL_WIDTH_PX = 230


def _boxed(widget: W.ValueWidget, label: str) -> W.ValueWidget:
    """Give ``widget`` the explorer look: its label goes above it (see ``Explorer.widget``), fixed width."""
    widget.tooltip = label
    widget.layout = W.Layout(width=f"{CONTROL_WIDTH_PX}px")
    widget._explorer_label = label  # shown above the control, so the slider keeps its whole width
    return widget


def slider(value: int, lo: int, hi: int, description: str, step: int = 1) -> W.IntSlider:
    """An integer slider that only reports when released (``description`` is shown above it)."""
    return _boxed(W.IntSlider(value=value, min=lo, max=hi, step=step, continuous_update=False), description)


def float_slider(value: float, lo: float, hi: float, description: str, step: float = 0.01,
                 readout_format: str = ".2f") -> W.FloatSlider:
    """A float slider that only reports when released (``description`` is shown above it)."""
    return _boxed(W.FloatSlider(value=value, min=lo, max=hi, step=step, continuous_update=False,
                                readout_format=readout_format), description)


def dropdown(value: str, options, description: str) -> W.Dropdown:
    """A dropdown of choices (``description`` is shown above it)."""
    return _boxed(W.Dropdown(value=value, options=options), description)


def toggle(value: bool, description: str) -> W.Checkbox:
    """An on/off switch, labelled beside its box."""
    w = W.Checkbox(value=value, description=description, indent=False,
                   layout=W.Layout(width=f"{CONTROL_WIDTH_PX}px"))
    w._explorer_label = ""
    return w


def format_metric(value: Any, kind: str = "num") -> str:
    """A metric rounded for reading: ``kind`` is "ms", "pct" (a share in [0, 1]), "count", "yes/no" or "num"."""
    if kind not in ("ms", "pct", "count", "yes/no", "num"):
        raise ValueError(f"kind={kind!r} must be one of: ms, pct, count, yes/no, num")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if kind == "yes/no" or isinstance(value, bool):
        return "yes" if value else "no"
    if kind == "pct":
        pct = 100 * float(value)
        if pct in (0.0, 100.0) or abs(pct) >= 10:
            return f"{pct:.0f}%"
        return f"{pct:.1f}%"
    if kind == "ms":
        v = float(value)
        if math.isinf(v):
            return "∞"
        return f"{v:,.0f}" if abs(v) >= 10 else f"{v:.1f}"
    if kind == "count":
        return f"{int(value):,}"
    return format_value(value)


def metrics_html(metrics: Mapping[str, Any], keys: Optional[list[str]] = None,
                 labels: Optional[Mapping[str, tuple[str, str]]] = None) -> str:
    """A small two-column HTML table of metrics; ``labels`` maps a key to (words, kind for :func:`format_metric`)."""
    labels = labels or {}
    cell = ("<tr><td style='padding:1px 1em 1px 0;white-space:normal'>{}</td>"
            "<td style='text-align:right;white-space:nowrap'><b>{}</b></td></tr>")
    shown = [k for k in (keys or list(labels) or list(metrics)) if k in metrics]
    rows = []
    for k in shown:
        words, kind = labels.get(k, (k.replace("_", " "), "num"))
        rows.append(cell.format(html.escape(words), html.escape(format_metric(metrics[k], kind))))
    return f"<table style='font-size:90%;max-width:100%;border-collapse:collapse'>{''.join(rows)}</table>"


def figure_png(fig) -> bytes:
    """Draw ``fig`` once and encode it as PNG (light compression: encoding time matters more than bytes)."""
    from ..plots.live import encode_png

    canvas = fig.canvas
    canvas.draw()
    return encode_png(canvas.buffer_rgba(), canvas.get_width_height(), fig.dpi)


class Explorer:
    """Base class: subclasses define ``title``, ``make_controls``, ``run``, ``setup`` and ``refresh``."""

    title = "Explorer"
    #: Metrics shown next to the figure, in order (None: all of ``metric_labels``, else all metrics).
    shown_metrics: Optional[list[str]] = None
    #: metric key -> (label in words, kind: "ms", "pct", "count", "yes/no" or "num").
    metric_labels: dict[str, tuple[str, str]] = {}
    #: Size on screen: figsize (inches) x dpi = CSS pixels; the PNG has pixel_ratio times more each way.
    figsize = (9.0, 4.0)
    dpi = 80
    pixel_ratio = 2
    #: Fixed margins: an automatic layout engine would double the redraw time.
    margins = dict(left=0.08, right=0.98, bottom=0.14, top=0.9, wspace=0.25)

    def __init__(self, seed: int = 0, **initial: Any) -> None:
        self.controls: dict[str, W.ValueWidget] = self.make_controls()
        self.controls["seed"] = W.BoundedIntText(value=seed, min=0, max=2**31 - 1, description="seed",
                                                 layout=W.Layout(width="150px"))
        self.controls["seed"]._explorer_label = ""
        self.hints: dict[str, W.HTML] = {k: W.HTML(layout=W.Layout(width=f"{CONTROL_WIDTH_PX}px"))
                                         for k in self.controls}
        self._batch = True  # no updates while the starting values go in
        try:
            self._assign(initial)
        finally:
            self._batch = False
        self._defaults = {k: w.value for k, w in self.controls.items()}
        self.reset_button = W.Button(description="reset", icon="undo", layout=W.Layout(width="90px"))
        self.reset_button.on_click(lambda _b: self.reset())
        self.image = W.Image(format="png", layout=W.Layout(
            # The PNG has pixel_ratio x the pixels of its displayed size: width pins the 1x size,
            # max-width lets it shrink in a narrow window, height auto keeps the aspect ratio.
            max_width="100%", height="auto", flex="0 1 auto", object_fit="contain"))
        self.table = W.HTML(layout=W.Layout(flex="0 1 auto", max_width="100%", margin="0 0 0 12px"))
        self.message = W.HTML()
        self.result: Any = None
        self.error: Optional[str] = None
        self.last_update_ms: float = math.nan
        #: The last update split in two: simulation (run) and drawing + PNG encoding.
        self.last_run_ms: float = math.nan
        self.last_draw_ms: float = math.nan
        self.live = None  # the LiveFigure, built on first draw
        self._fig = None  # legacy render() path only
        self._widget: Optional[W.Widget] = None
        for w in self.controls.values():
            w.observe(self._on_change, names="value")
        self.scrubber: Optional[W.IntSlider] = None
        self.play: Optional[W.Play] = None
        self.last_scrub_ms: float = math.nan
        self._extra: Any = None  # what the last refresh returned for the static background
        if self.scrubbable:
            self._build_scrubber()
        self.update()

    # -- to override ---------------------------------------------------------
    def make_controls(self) -> dict[str, W.ValueWidget]:
        """Build the controls (parameter name -> widget)."""
        raise NotImplementedError

    def run(self, params: dict) -> Any:
        """Pure: compute a result from parameter values."""
        raise NotImplementedError

    def setup(self, live) -> None:
        """Create the axes and artists once in ``live.fig``; register the changing ones with ``live.dynamic``."""
        raise NotImplementedError

    def refresh(self, result: Any, live) -> Any:
        """Put ``result`` into the artists made by ``setup``; return anything else the static background shows."""
        raise NotImplementedError

    def render(self, result: Any, fig) -> None:
        """Draw ``result`` into ``fig`` (already cleared): the slower path for explorers without ``setup``."""
        raise NotImplementedError

    def disabled_controls(self, params: dict) -> dict[str, str]:
        """Controls that do nothing with these settings: name -> a short hint why."""
        return {}

    def result_hints(self, result: Any) -> dict[str, str]:
        """Hints that depend on the outcome (e.g. "the breaker never opened"): name -> text."""
        return {}

    def adjust_controls(self) -> None:
        """Keep controls consistent with each other (e.g. bounds that depend on another control)."""

    def metrics(self, result: Any) -> Mapping[str, Any]:
        """Numbers to show beside the figure."""
        return getattr(result, "metrics", {})

    def time_range(self, result: Any) -> tuple[float, float]:
        """(start_ms, end_ms) of ``result``'s virtual time: defining it (with ``at_time``) adds the scrubber."""
        raise NotImplementedError

    def at_time(self, result: Any, t_ms: float, live) -> None:
        """Show ``result`` as it was at ``t_ms``: update only the time-dependent artists, never re-run."""
        raise NotImplementedError

    def scrub_step_ms(self, result: Any) -> float:
        """One step of the scrubber (ms): a 200th of the run's time range by default."""
        start, end = self.time_range(result)
        return (end - start) / 200

    # -- the time scrubber -----------------------------------------------------
    @property
    def scrubbable(self) -> bool:
        """True when the subclass defines ``time_range`` and ``at_time`` (then it has a scrubber row)."""
        cls = type(self)
        return cls.time_range is not Explorer.time_range and cls.at_time is not Explorer.at_time

    @property
    def time(self) -> float:
        """The scrubbed virtual time (ms); NaN for an explorer without a scrubber."""
        return float(self.scrubber.value) if self.scrubber is not None else math.nan

    def _build_scrubber(self) -> None:
        if type(self).setup is Explorer.setup:
            raise ValueError(f"{type(self).__name__} defines time_range/at_time but not setup/refresh; "
                             "the scrubber needs a LiveFigure")
        # Whole milliseconds: ipywidgets.Play counts in integers, and jslink copies values as they are.
        self.scrubber = W.IntSlider(value=0, min=0, max=1, step=1, continuous_update=False, readout=True,
                                    description="", layout=W.Layout(width="420px"))
        self.play = W.Play(value=0, min=0, max=1, step=1, interval=150, description="play",
                           layout=W.Layout(width="auto"))
        self._scrub_link = W.jslink((self.play, "value"), (self.scrubber, "value"))
        self.step_back = W.Button(description="", icon="step-backward", tooltip="one step back",
                                  layout=W.Layout(width="40px"))
        self.step_forward = W.Button(description="", icon="step-forward", tooltip="one step forward",
                                     layout=W.Layout(width="40px"))
        self.step_back.on_click(lambda _b: self._step(-1))
        self.step_forward.on_click(lambda _b: self._step(+1))
        self.time_label = W.HTML()
        self._scrub_batch = False
        self._scrub_fitted = False  # the first run starts the scrubber at its end
        self.scrubber.observe(self._on_scrub, names="value")

    def _step(self, direction: int) -> None:
        if self.scrubber is None or self.result is None:
            return
        target = self.scrubber.value + direction * self.scrubber.step
        self.scrub_to(min(max(target, self.scrubber.min), self.scrubber.max))

    def scrub_to(self, t_ms: float) -> None:
        """Show the current run at virtual time ``t_ms`` (rounded to whole ms) without re-running it."""
        if self.scrubber is None:
            raise ValueError(f"{type(self).__name__} has no time scrubber (it defines no time_range/at_time)")
        if self.result is None:
            raise ValueError("no run to scrub: the last update failed; fix the controls first")
        lo, hi = self.scrubber.min, self.scrubber.max
        if not isinstance(t_ms, (int, float)) or isinstance(t_ms, bool) or not lo <= round(t_ms) <= hi:
            raise ValueError(f"t_ms={t_ms!r} must be a time within this run; allowed: {lo} to {hi} ms")
        t = int(round(t_ms))
        if t == self.scrubber.value:
            self._show_time(t)  # same value: the slider would not report a change
        else:
            self.scrubber.value = t  # reports to _on_scrub, as a move in the browser does

    def _on_scrub(self, change) -> None:
        if self._scrub_batch or self.result is None:
            return
        self._show_time(int(change["new"]))

    def _show_time(self, t: int) -> None:
        """Redraw the time-dependent artists at ``t`` and re-encode the image (no simulation)."""
        t0 = time.perf_counter()
        if self.play is not None and self.play.value != t:
            self.play.value = t  # headless callers have no jslink to keep the two together
        try:
            live = self.live_figure()
            self.at_time(self.result, t, live)
            png = live.png(self._extra)
        except Exception as exc:  # noqa: BLE001 - shown to the student, not swallowed
            self.error = f"{type(exc).__name__}: {exc}"
            self.message.value = (f"<span style='color:#D55E00'><b>Cannot show this time:</b> "
                                  f"{html.escape(self.error)}</span>")
            return
        self.image.value = png
        self.time_label.value = f"<span style='font-size:90%'>t = <b>{t:,} ms</b></span>"
        self.last_scrub_ms = (time.perf_counter() - t0) * 1000

    def _fit_scrubber(self, result: Any) -> int:
        """Give the scrubber the new run's range and step; keep the time if it is inside, else clamp it."""
        start, end = self.time_range(result)
        lo, hi = int(math.floor(start)), max(int(math.ceil(end)), int(math.floor(start)) + 1)
        step = max(1, int(round(self.scrub_step_ms(result))))
        t = min(max(self.scrubber.value, lo), hi) if self._scrub_fitted else hi
        self._scrub_fitted = True
        self._scrub_batch = True  # the range moves in several steps; only the final time is drawn
        try:
            for w in (self.scrubber, self.play):
                w.max = max(w.max, hi)  # widen first: min may never pass max on the way
                w.min = lo
                w.max = hi
                w.step = step
                w.value = t
        finally:
            self._scrub_batch = False
        return t

    # -- machinery -----------------------------------------------------------
    def params(self) -> dict:
        """Current control values."""
        return {k: w.value for k, w in self.controls.items()}

    def set(self, **values: Any) -> None:
        """Set several controls at once and update once."""
        self._batch = True
        try:
            self._assign(values)
        finally:
            self._batch = False
        self.update()

    def _assign(self, values: Mapping[str, Any]) -> None:
        """Set control values; twice, so a bound that depends on another control (R <= N) cannot clip them."""
        for k in values:
            if k not in self.controls:
                raise ValueError(f"unknown control {k!r} for {type(self).__name__}; "
                                 f"allowed: {', '.join(self.controls)}")
        for _ in range(2):
            for k, v in values.items():
                if self.controls[k].value != v:
                    self.controls[k].value = v
            self.adjust_controls()

    def reset(self) -> None:
        """Put every control back to its starting value."""
        self.set(**self._defaults)

    def _on_change(self, _change) -> None:
        if self._batch:
            return
        self._batch = True  # adjusting one control must not trigger a second update
        try:
            self.adjust_controls()
        finally:
            self._batch = False
        self.update()

    def _sync_disabled(self, params: dict, notes: Optional[Mapping[str, str]] = None) -> None:
        off = self.disabled_controls(params)
        for name, w in self.controls.items():
            hint = off.get(name)
            if hasattr(w, "disabled"):
                w.disabled = hint is not None
            hint = hint or (notes or {}).get(name)
            w.tooltip = hint or getattr(w, "_explorer_label", None) or None
            self.hints[name].value = (f"<span style='color:#666;font-size:85%'>{html.escape(hint)}</span>"
                                      if hint else "")

    def figure(self) -> "Figure":
        """The explorer's figure (drawn at ``pixel_ratio`` x the display density)."""
        if type(self).setup is Explorer.setup:  # legacy explorer: clear and rebuild for each result
            if self._fig is None:
                from matplotlib.backends.backend_agg import FigureCanvasAgg
                from matplotlib.figure import Figure
                self._fig = Figure(figsize=self.figsize, dpi=self.dpi * self.pixel_ratio, facecolor="white")
                FigureCanvasAgg(self._fig)
            else:
                self._fig.clear()
            self._fig.subplots_adjust(**self.margins)
            return self._fig
        return self.live_figure().fig

    def live_figure(self) -> "LiveFigure":
        """The :class:`~consistency_lab.plots.live.LiveFigure`, built (``setup``) on first use."""
        if self.live is None:
            from ..plots.live import LiveFigure
            live = LiveFigure(self.figsize, self.dpi, self.pixel_ratio)
            live.fig.subplots_adjust(**self.margins)
            self.setup(live)
            self.live = live
        return self.live

    def draw(self, result: Any) -> bytes:
        """Draw ``result`` and return the PNG (in place when the explorer has ``setup``/``refresh``)."""
        if type(self).setup is Explorer.setup:
            fig = self.figure()
            self.render(result, fig)
            return figure_png(fig)
        live = self.live_figure()
        extra = self.refresh(result, live)
        if self.scrubber is not None:
            self.at_time(result, self._fit_scrubber(result), live)
        self._extra = extra
        return live.png(extra)

    def display_size(self) -> tuple[int, int]:
        """(width, height) in CSS pixels at which the figure is shown."""
        return round(self.figsize[0] * self.dpi), round(self.figsize[1] * self.dpi)

    def update(self) -> None:
        """Re-run and redraw; show any error inside the widget."""
        t0 = time.perf_counter()
        params = self.params()
        self._sync_disabled(params)
        # No cyclic garbage collection during the run and the drawing: a run allocates enough objects
        # to trigger a full collection every few updates, and in a kernel holding matplotlib and
        # ipywidgets that takes 50-150 ms.  The run's cycles are collected after the update instead.
        collecting = gc.isenabled()
        gc.disable()
        try:
            result = self.run(params)
            t1 = time.perf_counter()
            png = self.draw(result)
        except Exception as exc:  # noqa: BLE001 - shown to the student, not swallowed
            self.error = f"{type(exc).__name__}: {exc}"
            self.message.value = f"<span style='color:#D55E00'><b>Cannot run this:</b> {html.escape(self.error)}</span>"
            return
        finally:
            if collecting:
                gc.enable()
        t2 = time.perf_counter()
        self.result, self.error = result, None
        self._sync_disabled(params, self.result_hints(result))
        self.image.value = png
        self.image.width = str(self.display_size()[0])
        self.table.value = metrics_html(self.metrics(result), self.shown_metrics, self.metric_labels)
        if self.scrubber is not None:
            self.time_label.value = f"<span style='font-size:90%'>t = <b>{self.scrubber.value:,} ms</b></span>"
        self.last_run_ms, self.last_draw_ms = (t1 - t0) * 1000, (t2 - t1) * 1000
        self.last_update_ms = (time.perf_counter() - t0) * 1000
        self.message.value = f"<span style='color:#666'>updated in {self.last_update_ms:.0f} ms</span>"

    @property
    def widget(self) -> W.Widget:
        """The whole explorer as one widget (controls, figure, metrics, messages), built once."""
        if self._widget is None:
            boxes = []
            for name, w in self.controls.items():
                if name == "seed":
                    continue
                label = getattr(w, "_explorer_label", "")
                parts = ([W.HTML(f"<span style='font-size:90%'>{html.escape(label)}</span>")] if label else [])
                boxes.append(W.VBox([*parts, w, self.hints[name]], layout=W.Layout(margin="0 12px 4px 0")))
            header = W.HTML(f"<h4 style='margin:0'>{html.escape(self.title)}</h4>")
            controls = W.HBox(boxes, layout=W.Layout(flex_flow="row wrap", align_items="flex-start"))
            footer = W.HBox([self.controls["seed"], self.reset_button, self.message],
                            layout=W.Layout(flex_flow="row wrap", align_items="center"))
            # The figure and the metrics share a row when it is wide enough, else the metrics wrap
            # below; align_items keeps the image from being stretched to the table's height.
            output = W.HBox([self.image, self.table],
                            layout=W.Layout(flex_flow="row wrap", align_items="flex-start", width="100%"))
            rows = [header, controls, footer, output]
            if self.scrubber is not None:  # under the figure: step back, play, time slider, step forward
                label = W.HTML("<span style='font-size:90%'>virtual time (ms)</span>")
                rows.append(W.HBox([label, self.step_back, self.play, self.scrubber, self.step_forward,
                                    self.time_label],
                                   layout=W.Layout(flex_flow="row wrap", align_items="center")))
            self._widget = W.VBox(rows, layout=W.Layout(width="100%"))
        return self._widget

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)
