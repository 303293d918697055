"""The explorer pattern every chapter reuses: controls -> pure run -> redraw.

An explorer is three small pieces:

* ``controls``: a dict of parameter name -> ipywidget (sliders never update while
  dragging, so one release is one simulation);
* ``run(params)``: a pure function of the parameters, returning a result object;
* ``render(result, fig)``: draws the result into a figure the explorer owns.

Changing any control calls :meth:`Explorer.update`, which runs, renders to PNG and
shows it in an ``Image`` widget next to a metrics table.  Errors (a bad combination
of parameters, a simulator bug) appear in the widget in red instead of vanishing
into a log.  Because everything is an ordinary widget, a test or a benchmark can set
``explorer.controls["mode"].value = "sync"`` and read ``explorer.result`` without a
browser.
"""

from __future__ import annotations

import io
import math
import time
from typing import Any, Mapping, Optional

import ipywidgets as W

from ..report import format_value

__all__ = ["Explorer", "figure_png", "slider", "float_slider", "dropdown", "toggle", "metrics_html"]


def slider(value: int, lo: int, hi: int, description: str, step: int = 1) -> W.IntSlider:
    """An integer slider that only reports when released."""
    return W.IntSlider(value=value, min=lo, max=hi, step=step, description=description,
                       continuous_update=False, style={"description_width": "initial"})


def float_slider(value: float, lo: float, hi: float, description: str, step: float = 0.01,
                 readout_format: str = ".2f") -> W.FloatSlider:
    """A float slider that only reports when released."""
    return W.FloatSlider(value=value, min=lo, max=hi, step=step, description=description,
                         continuous_update=False, readout_format=readout_format,
                         style={"description_width": "initial"})


def dropdown(value: str, options, description: str) -> W.Dropdown:
    """A dropdown of choices."""
    return W.Dropdown(value=value, options=options, description=description,
                      style={"description_width": "initial"})


def toggle(value: bool, description: str) -> W.Checkbox:
    """An on/off switch."""
    return W.Checkbox(value=value, description=description, indent=False)


def metrics_html(metrics: Mapping[str, Any], keys: Optional[list[str]] = None) -> str:
    """A small two-column HTML table of selected metrics."""
    cell = "<tr><td style='padding-right:1em'>{}</td><td><b>{}</b></td></tr>"
    shown = [k for k in (keys or list(metrics)) if k in metrics]
    rows = "".join(cell.format(k.replace("_", " "), format_value(metrics[k])) for k in shown)
    return f"<table style='font-size:90%'>{rows}</table>"


def figure_png(fig) -> bytes:
    """Draw ``fig`` once and encode it as PNG (light compression: encoding time matters more than bytes)."""
    from PIL import Image

    canvas = fig.canvas
    canvas.draw()
    buf = io.BytesIO()
    Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).save(buf, format="png", compress_level=1)
    return buf.getvalue()


class Explorer:
    """Base class: subclasses define ``title``, ``make_controls``, ``run`` and ``render``."""

    title = "Explorer"
    #: Metrics shown next to the figure (None: all).
    shown_metrics: Optional[list[str]] = None
    figsize = (9.0, 4.0)
    dpi = 80
    #: Fixed margins: an automatic layout engine would double the redraw time.
    margins = dict(left=0.08, right=0.98, bottom=0.14, top=0.9, wspace=0.25)

    def __init__(self, seed: int = 0, **initial: Any) -> None:
        self.controls: dict[str, W.ValueWidget] = self.make_controls()
        self.controls["seed"] = W.BoundedIntText(value=seed, min=0, max=2**31 - 1, description="seed",
                                                 layout=W.Layout(width="150px"))
        for name, value in initial.items():
            if name not in self.controls:
                raise ValueError(f"unknown control {name!r} for {type(self).__name__}; "
                                 f"allowed: {', '.join(self.controls)}")
            self.controls[name].value = value
        self._defaults = {k: w.value for k, w in self.controls.items()}
        self.reset_button = W.Button(description="reset", icon="undo", layout=W.Layout(width="90px"))
        self.reset_button.on_click(lambda _b: self.reset())
        self.image = W.Image(format="png")
        self.table = W.HTML()
        self.message = W.HTML()
        self.result: Any = None
        self.error: Optional[str] = None
        self.last_update_ms: float = math.nan
        self._fig = None
        self._batch = False
        for w in self.controls.values():
            w.observe(self._on_change, names="value")
        self.update()

    # -- to override ---------------------------------------------------------
    def make_controls(self) -> dict[str, W.ValueWidget]:
        """Build the controls (parameter name -> widget)."""
        raise NotImplementedError

    def run(self, params: dict) -> Any:
        """Pure: compute a result from parameter values."""
        raise NotImplementedError

    def render(self, result: Any, fig) -> None:
        """Draw ``result`` into ``fig`` (already cleared)."""
        raise NotImplementedError

    def metrics(self, result: Any) -> Mapping[str, Any]:
        """Numbers to show beside the figure."""
        return getattr(result, "metrics", {})

    # -- machinery -----------------------------------------------------------
    def params(self) -> dict:
        """Current control values."""
        return {k: w.value for k, w in self.controls.items()}

    def set(self, **values: Any) -> None:
        """Set several controls at once and update once."""
        self._batch = True
        try:
            for k, v in values.items():
                if k not in self.controls:
                    raise ValueError(f"unknown control {k!r}; allowed: {', '.join(self.controls)}")
                self.controls[k].value = v
        finally:
            self._batch = False
        self.update()

    def reset(self) -> None:
        """Put every control back to its starting value."""
        self.set(**self._defaults)

    def _on_change(self, _change) -> None:
        if not self._batch:
            self.update()

    def figure(self):
        """The explorer's own figure, created once and cleared for each redraw."""
        if self._fig is None:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
            self._fig = Figure(figsize=self.figsize, dpi=self.dpi)
            FigureCanvasAgg(self._fig)
        else:
            self._fig.clear()
        self._fig.subplots_adjust(**self.margins)
        return self._fig

    def update(self) -> None:
        """Re-run and redraw; show any error inside the widget."""
        t0 = time.perf_counter()
        try:
            result = self.run(self.params())
            fig = self.figure()
            self.render(result, fig)
            png = figure_png(fig)
        except Exception as exc:  # noqa: BLE001 - shown to the student, not swallowed
            self.error = f"{type(exc).__name__}: {exc}"
            self.message.value = f"<span style='color:#D55E00'><b>Cannot run this:</b> {self.error}</span>"
            return
        self.result, self.error = result, None
        self.image.value = png
        self.table.value = metrics_html(self.metrics(result), self.shown_metrics)
        self.last_update_ms = (time.perf_counter() - t0) * 1000
        self.message.value = f"<span style='color:#666'>updated in {self.last_update_ms:.0f} ms</span>"

    @property
    def widget(self) -> W.Widget:
        """The whole explorer as one widget (controls, figure, metrics, messages)."""
        controls = [w for k, w in self.controls.items() if k != "seed"]
        rows = [W.HBox(controls[i:i + 3]) for i in range(0, len(controls), 3)]
        header = W.HTML(f"<h4 style='margin:0'>{self.title}</h4>")
        footer = W.HBox([self.controls["seed"], self.reset_button, self.message])
        return W.VBox([header, *rows, footer, W.HBox([self.image, self.table])])

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)
