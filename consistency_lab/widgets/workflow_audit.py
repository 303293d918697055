"""A form for the workflow audit: one row of dropdowns per step, a table of recommendations below.

Each row holds the step's name, the cost of a temporarily wrong answer, how its actors
behave and whether a wrong answer can be repaired.  Any change re-runs
:func:`~consistency_lab.scenarios.workflow_audit.audit` and redraws the table; a
problem (an empty or repeated name) is shown in red instead of the table.  Everything
is an ordinary widget, so a test can set ``form.rows[1]["cost"].value = "harm"`` and
read ``form.recommendations`` without a browser.
"""

from __future__ import annotations

import html
from typing import Any, Iterable, Optional, Union

import ipywidgets as W

from ..scenarios.workflow_audit import ACTORS, COSTS, HEALTHCARE_JOURNEY, Recommendation, Step, audit

__all__ = ["AuditForm"]

#: The model's colour in the table: strong blue, eventual orange (as in every chapter's figures).
_MODEL_COLOURS = {"strong": "#0072B2", "eventual + guardrail": "#B35E00", "eventual": "#E69F00"}


class AuditForm:
    """Rows of dropdowns (one per journey step) and the audit's recommendation for each."""

    def __init__(self, steps: Iterable[Union[Step, dict]] = HEALTHCARE_JOURNEY) -> None:
        self.rows: list[dict[str, W.ValueWidget]] = []
        self.recommendations: list[Recommendation] = []
        self.error: Optional[str] = None
        self.table = W.HTML()
        self.message = W.HTML()
        self._rows_box = W.VBox()
        self._widget: Optional[W.Widget] = None
        self.add_button = W.Button(description="add a step", icon="plus", layout=W.Layout(width="130px"))
        self.add_button.on_click(lambda _b: self.add_step(f"step {len(self.rows) + 1}"))
        self._batch = True
        for s in audit(steps):  # refuses a bad starting journey with the audit's own message
            self.add_step(s.step.name, s.step.cost, s.step.actors, s.step.repairable)
        self._batch = False
        self.update()

    def add_step(self, name: str, cost: str = "annoying", actors: str = "independent", repairable: bool = True) -> None:
        """Add a row for one more step (checked by the audit like the others)."""
        row = {
            "name": W.Text(value=name, layout=W.Layout(width="300px")),
            "cost": W.Dropdown(options=list(COSTS), value=cost, layout=W.Layout(width="120px")),
            "actors": W.Dropdown(options=list(ACTORS), value=actors, layout=W.Layout(width="130px")),
            "repairable": W.Checkbox(value=repairable, description="repairable later", indent=False,
                                     layout=W.Layout(width="150px")),
        }
        for w in row.values():
            w.observe(lambda _c: self.update(), names="value")
        self.rows.append(row)
        self._rows_box.children = [self._header(), *[W.HBox(list(r.values())) for r in self.rows]]
        if not self._batch:
            self.update()

    @staticmethod
    def _header() -> W.HTML:
        cells = [("step", 300), ("cost of a wrong answer", 120), ("actors", 130), ("", 150)]
        return W.HTML("".join(f"<span style='display:inline-block;width:{w}px;font-size:90%'><b>{t}</b></span>"
                              for t, w in cells))

    def steps(self) -> list[dict[str, Any]]:
        """The journey as the rows say it, one dict per step."""
        return [{k: w.value for k, w in row.items()} for row in self.rows]

    def update(self) -> None:
        """Audit the rows again and redraw the table (or say what is wrong)."""
        try:
            self.recommendations = audit(self.steps())
        except ValueError as exc:
            self.error = str(exc)
            self.message.value = (f"<span style='color:#D55E00'><b>Cannot audit this:</b> "
                                  f"{html.escape(self.error)}</span>")
            return
        self.error = None
        self.message.value = ""
        self.table.value = self.table_html()

    def table_html(self) -> str:
        """The recommendations as an HTML table: step, model, deciding factor, why, guardrails, dashboard."""
        head = "".join(f"<th style='text-align:left;padding:2px 8px'>{h}</th>" for h in
                       ("step", "model", "deciding factor", "guardrails from day one", "dashboard"))
        rows = []
        for r in self.recommendations:
            colour = _MODEL_COLOURS[r.model]
            model = html.escape(r.model) + (" (legal and compliance sign-off)" if r.sign_off else "")
            cells = [html.escape(r.step.name), f"<b style='color:{colour}'>{model}</b>", html.escape(r.factor),
                     html.escape(", ".join(r.guardrails)), html.escape(", ".join(r.metrics))]
            rows.append("<tr title='" + html.escape(r.why) + "'>" +
                        "".join(f"<td style='padding:2px 8px;vertical-align:top'>{c}</td>" for c in cells) + "</tr>")
        why = "".join(f"<li>{html.escape(r.why)}</li>" for r in self.recommendations)
        return (f"<table style='font-size:90%;border-collapse:collapse'><tr>{head}</tr>{''.join(rows)}</table>"
                f"<ul style='font-size:90%;margin-top:6px'>{why}</ul>")

    @property
    def widget(self) -> W.Widget:
        """The whole form: the rows, the add button, a message line and the table."""
        if self._widget is None:
            self._widget = W.VBox([self._rows_box, self.add_button, self.message, self.table])
        return self._widget

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)
