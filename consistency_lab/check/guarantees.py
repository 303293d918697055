"""One table of which consistency guarantees a history satisfies, strongest first."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Hashable, Iterable, Mapping

from consistency_lab.history import History, Operation

from ._common import checkable_ops, validate_model, validate_timeout
from .convergence import check_convergence
from .linearizability import check_operations
from .model_type import Model
from .builtin_models import register_model
from .sequential import check_sequential, sequential_search_size
from .session import SESSION_CHECKS

#: The sequential search may visit up to prod over clients of (ops + 1) program
#: positions (times model states); above this it is skipped as too large.  10**7
#: is e.g. 4 clients x 55 ops, 5 clients x 24 ops or 8 clients x 6 ops.  Memo and
#: greedy reads usually finish far below that (a 100-op, 4-client simulator run
#: takes well under a second); the timeout guards the rest.
SEQUENTIAL_LIMIT = 10_000_000

#: Names of the levels reported by ``GuaranteeTable.strongest``, strongest first.
LEVELS = ("linearizable", "sequential", "session guarantees", "eventual", "none")

_MARK = {True: "✓", False: "✗", None: "?"}


@dataclass
class GuaranteeTable:
    """Rows of (guarantee, holds: True/False/None for unknown, note) and the strongest level."""

    rows: list[tuple[str, bool | None, str]] = field(default_factory=list)
    strongest: str = "none"
    details: dict[str, Any] = field(default_factory=dict, repr=False)

    def holds(self, name: str) -> bool | None:
        """The holds value of the row called ``name``."""
        for row_name, ok, _ in self.rows:
            if row_name == name:
                return ok
        raise KeyError(f"name={name!r} is not a row; rows: {[r[0] for r in self.rows]}")

    def to_markdown(self) -> str:
        """A Markdown table plus a line naming the strongest level."""
        lines = ["| guarantee | holds | note |", "| --- | :---: | --- |"]
        for name, ok, note in self.rows:
            lines.append(f"| {name} | {_MARK[ok]} | {note.replace('|', '/')} |")
        lines.append("")
        lines.append(f"Strongest level satisfied: **{self.strongest}**")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><td>{html.escape(name)}</td><td style='text-align:center'>{_MARK[ok]}"
            f"</td><td>{html.escape(note)}</td></tr>"
            for name, ok, note in self.rows
        )
        return (
            "<table><thead><tr><th>guarantee</th><th>holds</th><th>note</th></tr>"
            f"</thead><tbody>{cells}</tbody></table>"
            f"<p>Strongest level satisfied: <b>{html.escape(self.strongest)}</b></p>"
        )

    def __str__(self) -> str:
        return self.to_markdown()


def strongest_guarantees(
    ops: Iterable[Operation] | History,
    model: Model | None = None,
    replica_states: Mapping[Hashable, Any] | None = None,
    timeout: float | None = 10.0,
    sequential_limit: int = SEQUENTIAL_LIMIT,
) -> GuaranteeTable:
    """Check linearizability, sequential consistency, the session guarantees and convergence.

    ``model`` defaults to ``register_model()``.  ``timeout`` applies to each search
    separately.  Sequential consistency is searched only if the history is not
    linearizable (linearizable implies it) and the search is at most
    ``sequential_limit`` program positions.  Session guarantees need register/kv
    operations with unique written values; otherwise their rows are "?" with a
    note.  Convergence is checked only when ``replica_states`` is given.
    ``strongest`` is one of :data:`LEVELS`: "eventual" needs converged replica
    states, so without them a history that fails the stronger levels is "none".
    """
    model = register_model() if model is None else validate_model(model)
    timeout = validate_timeout(timeout)
    if isinstance(sequential_limit, bool) or not isinstance(sequential_limit, int) or (
        sequential_limit < 1
    ):
        raise ValueError(f"sequential_limit={sequential_limit!r} must be a positive int")
    ops = checkable_ops(ops)
    table = GuaranteeTable()

    lin = check_operations(model, ops, timeout=timeout)
    table.details["linearizable"] = lin
    table.rows.append(("linearizable", _tri(lin.verdict), _note(lin, "real-time order")))

    if lin.ok:
        seq_ok: bool | None = True
        table.rows.append(("sequential", True, "implied by linearizability"))
    else:
        size = sequential_search_size(ops)
        if size > sequential_limit:
            seq_ok = None
            table.rows.append(
                (
                    "sequential",
                    None,
                    f"not checked: search space {size} > limit {sequential_limit} "
                    "(product over clients of ops + 1)",
                )
            )
        else:
            seq = check_sequential(model, ops, timeout=timeout)
            table.details["sequential"] = seq
            seq_ok = _tri(seq.verdict)
            table.rows.append(("sequential", seq_ok, _note(seq, "program order")))

    session_ok: list[bool | None] = []
    for name, check in SESSION_CHECKS.items():
        try:
            res = check(ops)
        except ValueError as exc:
            session_ok.append(None)
            table.rows.append((name, None, f"not applicable: {exc}"))
            continue
        table.details[name] = res
        session_ok.append(res.holds)
        table.rows.append((name, res.holds, "" if res.holds else res.reason))

    converged: bool | None = None
    if replica_states is not None:
        conv = check_convergence(replica_states)
        table.details["convergence"] = conv
        converged = conv.converged
        table.rows.append(("convergence", converged, conv.explain()))

    if lin.ok:
        table.strongest = "linearizable"
    elif seq_ok:
        table.strongest = "sequential"
    elif session_ok and all(ok is True for ok in session_ok):
        table.strongest = "session guarantees"
    elif converged:
        table.strongest = "eventual"
    else:
        table.strongest = "none"
    return table


def _tri(verdict: str) -> bool | None:
    return {"ok": True, "illegal": False}.get(verdict)


def _note(result: Any, order: str) -> str:
    if result.verdict == "ok":
        return f"one legal order respects {order} (found in {result.elapsed_s * 1000:.1f} ms)"
    if result.verdict == "unknown":
        return result.reason
    bad = [p.label for p in result.partition_results or [] if p.verdict == "illegal"]
    where = f"{bad[0]}: " if bad else ""
    w = result.witness
    if w is not None and w.unplaceable:
        op = w.unplaceable[0]
        return (
            f"{where}stuck after {len(w.linearized)} ops at client "
            f"{op.client_id}'s {result.describe(op)}"
        )
    return f"{where}violated"
