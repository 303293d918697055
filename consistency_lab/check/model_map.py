"""Place one history on the map of consistency models: which it satisfies, each with its witness.

The map, strongest first (an arrow A → B joins adjacent models; B is the weaker):

* linearizable → sequential: drop real time between clients;
* sequential → causal: drop the single order, keep only what causality forces;
* sequential → consistent prefix: keep one order of writes, let readers lag;
* causal → read-your-writes, monotonic reads, monotonic writes, writes-follow-reads;
* each session guarantee and consistent prefix → eventual.

Not every arrow is an implication for the checks here.  Those that are, and that
``tests/check/test_model_map.py`` tests on random histories, are in
:data:`IMPLIES`: linearizable implies everything but eventual, sequential implies
causal and consistent prefix.  Causal does not imply the session rows, because the
session checks order writes by real time (their docstring says so) and causality
does not; with the textbook, arbitration-based session definitions it would.  And
eventual is a promise about where a run ends, the others about every read, so
either can hold without the other: it sits at the bottom as the least a replicated
store can promise.  ``ModelMap.strongest`` reports the satisfied models that no
other satisfied model implies.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Hashable, Iterable, Mapping

from consistency_lab.history import History, Operation

from ._common import checkable_ops, validate_model, validate_timeout
from .builtin_models import cas_kv_model, cas_register_model, register_model, tuple_kv_model
from .causal import check_causal
from .eventual import check_eventual
from .guarantees import SEQUENTIAL_LIMIT
from .linearizability import check_operations
from .model_type import Model
from .pattern_result import PatternResult
from .prefix import check_consistent_prefix
from .sequential import check_sequential, sequential_search_size
from .session import SESSION_CHECKS

#: Every model on the map, strongest first.
MAP_LEVELS = ("linearizable", "sequential", "causal", "read-your-writes", "monotonic reads",
              "monotonic writes", "writes-follow-reads", "consistent prefix", "eventual")

#: (stronger, weaker): adjacent models on the map, each with a separating history in ``separating.py``.
MAP_EDGES: tuple[tuple[str, str], ...] = (
    ("linearizable", "sequential"),
    ("sequential", "causal"),
    ("sequential", "consistent prefix"),
    ("causal", "read-your-writes"),
    ("causal", "monotonic reads"),
    ("causal", "monotonic writes"),
    ("causal", "writes-follow-reads"),
    ("read-your-writes", "eventual"),
    ("monotonic reads", "eventual"),
    ("monotonic writes", "eventual"),
    ("writes-follow-reads", "eventual"),
    ("consistent prefix", "eventual"),
)

#: (stronger, weaker) pairs where the stronger check passing means the weaker passes (module docstring).
IMPLIES: frozenset[tuple[str, str]] = frozenset(
    {("linearizable", m) for m in MAP_LEVELS[1:-1]} | {("sequential", "causal"), ("sequential", "consistent prefix")}
)

_MARK = {True: "✓", False: "✗", None: "?"}


def model_for(ops: Iterable[Operation] | History) -> Model:
    """The sequential specification for these operations: register, CAS register, or kv with logs."""
    inputs = [op.input for op in checkable_ops(ops) if isinstance(op.input, (tuple, list)) and op.input]
    fs = {inp[0] for inp in inputs}
    if fs & {"put", "get", "append"}:
        return tuple_kv_model()
    if any(len(inp) == 3 for inp in inputs):  # ("write", key, v): a register per key, as etcd runs record
        return cas_kv_model()
    return cas_register_model() if "cas" in fs else register_model()


@dataclass
class ModelMap:
    """Rows of (model, holds: True/False/None for not judged, note), the results, the strongest satisfied."""

    rows: list[tuple[str, bool | None, str]] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict, repr=False)
    ops: list[Operation] = field(default_factory=list, repr=False)

    def holds(self, name: str) -> bool | None:
        """The verdict of the row called ``name``."""
        for row, ok, _ in self.rows:
            if row == name:
                return ok
        raise ValueError(f"name={name!r} must be a model on the map; allowed: {', '.join(MAP_LEVELS)}")

    @property
    def satisfied(self) -> list[str]:
        """The models that hold, strongest first."""
        return [name for name, ok, _ in self.rows if ok is True]

    @property
    def strongest(self) -> list[str]:
        """Satisfied models not covered by a satisfied model above them along implication arrows."""
        ok = set(self.satisfied)
        covered = {weak for strong, weak in IMPLIES if strong in ok}
        return [name for name in self.satisfied if name not in covered]

    def witness(self, name: str) -> tuple[Operation, ...]:
        """The operations that show ``name`` fails (empty when it holds or was not judged)."""
        self.holds(name)  # validates the name
        res = self.results.get(name)
        if res is None:
            return ()
        if isinstance(res, PatternResult):
            return res.witness
        if hasattr(res, "violation"):  # a session guarantee
            return tuple(res.violation or ())
        if res.verdict != "illegal":
            return ()
        bad = res
        if res.partition_results:
            bad = next(p for p in res.partition_results if p.verdict == "illegal")
        w = bad.witness
        return tuple(w.unplaceable[:1]) if w is not None else ()

    def to_markdown(self) -> str:
        """A Markdown table plus a line naming the strongest models satisfied."""
        lines = ["| model | holds | note |", "| --- | :---: | --- |"]
        lines += [f"| {name} | {_MARK[ok]} | {note.replace('|', '/')} |" for name, ok, note in self.rows]
        return "\n".join(lines + ["", f"Strongest satisfied: **{', '.join(self.strongest) or 'none'}**"])

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><td>{html.escape(name)}</td><td style='text-align:center'>{_MARK[ok]}</td>"
            f"<td style='text-align:left'>{html.escape(note)}</td></tr>" for name, ok, note in self.rows)
        return ("<table><thead><tr><th>model</th><th>holds</th><th>note</th></tr></thead>"
                f"<tbody>{cells}</tbody></table><p>Strongest satisfied: "
                f"<b>{html.escape(', '.join(self.strongest) or 'none')}</b></p>")

    def __str__(self) -> str:
        return self.to_markdown()


def place_on_map(
    ops: Iterable[Operation] | History,
    model: Model | None = None,
    replica_states: Mapping[Hashable, Any] | None = None,
    timeout: float | None = 10.0,
    sequential_limit: int = SEQUENTIAL_LIMIT,
) -> ModelMap:
    """Check every model of :data:`MAP_LEVELS` on one history; each row keeps its result and witness.

    ``model`` defaults to :func:`model_for` the operations; ``timeout`` applies to each
    search.  Sequential consistency is searched only when the history is not
    linearizable and its search space is at most ``sequential_limit``.  A check that
    does not apply (duplicate written values, unsupported operations) gives a "?" row
    saying why.  ``replica_states`` (replica -> final state) feeds the eventual row.
    """
    ops = checkable_ops(ops)
    model = model_for(ops) if model is None else validate_model(model)
    timeout = validate_timeout(timeout)
    if isinstance(sequential_limit, bool) or not isinstance(sequential_limit, int) or sequential_limit < 1:
        raise ValueError(f"sequential_limit={sequential_limit!r} must be a positive int")
    out = ModelMap(ops=ops)

    lin = check_operations(model, ops, timeout=timeout)
    out.results["linearizable"] = lin
    out.rows.append(("linearizable", _tri(lin.verdict), _search_note(lin, "real time")))
    if lin.ok:
        out.rows.append(("sequential", True, "implied by linearizability"))
    elif (size := sequential_search_size(ops)) > sequential_limit:
        out.rows.append(("sequential", None, f"not checked: search space {size:,} > limit {sequential_limit:,}"))
    else:
        seq = check_sequential(model, ops, timeout=timeout)
        out.results["sequential"] = seq
        out.rows.append(("sequential", _tri(seq.verdict), _search_note(seq, "each client's order")))

    _pattern_row(out, "causal", lambda: check_causal(ops))
    session_ops, original = _session_view(ops)
    for name, check in SESSION_CHECKS.items():
        _pattern_row(out, name, lambda check=check: _back(check(session_ops), original))
    _pattern_row(out, "consistent prefix", lambda: check_consistent_prefix(ops))
    _pattern_row(out, "eventual", lambda: check_eventual(ops, replica_states))
    return out


def _session_view(ops: list[Operation]) -> tuple[list[Operation], dict[int, Operation]]:
    """The session checks read key-value operations: per-key registers ("write", k, v) become puts and
    gets, and a successful compare-and-set a put of its new value (its compare is not judged there)."""
    view, original = [], {}
    for op in ops:
        inp = op.input
        if isinstance(inp, (tuple, list)) and len(inp) == 3 and inp[0] in ("write", "read", "cas"):
            if inp[0] == "cas" and op.status == "ok" and op.output is not True:
                continue  # a refused compare changed nothing and saw little
            new = {"write": ("put", inp[1], inp[2]), "read": ("get", inp[1], None)}.get(inp[0]) or \
                ("put", inp[1], inp[2][1])
            output = op.output if inp[0] == "read" else None
            op2 = Operation(op.client_id, new, op.call, output, op.return_time, op.status)
            original[id(op2)] = op
            op = op2
        view.append(op)
    return view, original


def _back(res: Any, original: dict[int, Operation]) -> Any:
    """``res`` with its violating operations mapped back to the ones the caller passed."""
    if getattr(res, "violation", None):
        res.violation = tuple(original.get(id(op), op) for op in res.violation)
    return res


def _pattern_row(out: ModelMap, name: str, run: Any) -> None:
    try:
        res = run()
    except ValueError as exc:
        out.rows.append((name, None, f"not applicable: {exc}"))
        return
    out.results[name] = res
    holds = res.holds
    note = res.reason if isinstance(res, PatternResult) or not holds else ""
    if isinstance(res, PatternResult) and holds is False:
        note = f"{res.pattern}: {res.reason}"
    out.rows.append((name, holds, note))


def _tri(verdict: str) -> bool | None:
    return {"ok": True, "illegal": False}.get(verdict)


def _search_note(res: Any, order: str) -> str:
    if res.verdict == "ok":
        return f"one legal order respects {order} ({res.elapsed_s * 1000:.1f} ms)"
    if res.verdict == "unknown":
        return res.reason
    return " ".join(res.explain(width=10_000).split())  # one line: a table cell
