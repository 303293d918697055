"""Linearizability checking: Wing & Gong's search with Lowe's cache, laid out as
Porcupine's checker.go.

The history becomes a doubly linked list of call and return entries sorted by time.
The search walks that list: a call entry is a candidate to take effect next; it is
tried against the model and, if legal and the node it leads to is not in the cache,
it is lifted out of the list (with its return) and the walk restarts from the head.
Reaching the return entry of an operation not yet linearised means nothing legal can
come next: pop the last choice, unlift its entries, and try the following candidate.
The set of linearised operations is a bitset (a Python int).  The cache holds
(bitset, model state) pairs (Lowe, "Testing for linearizability", 2017): two
prefixes with the same operations and the same resulting state have the same
future, so only one needs exploring.  With ``model.partition`` each part (e.g. each
key) is checked on its own, which is sound because linearizability is local
(P-compositionality, Herlihy & Wing 1990).

Tie-breaking at equal times (see :func:`~consistency_lab.check._common.precedes`):
an operation returning at t precedes one called at t, so returns sort before
calls; zero-length operations at t sort between, calls then returns, so they
follow returns and precede calls at t but are concurrent with each other.

Pending operations (return = inf) get no return entry: they may be linearised any
time after their call or never, and the search succeeds once every completed
operation is linearised.  They are where the search space explodes, so they get
rules of their own, each of which keeps the search exact:

* their calls sit on a side list, tried only after the completed candidates;
* a pending operation the model calls pure (a read) is dropped, and so is any the
  model's ``prune`` says cannot matter (a write whose value nothing ever shows);
* the bitset is two: completed and pending operations placed.  The cache maps
  (completed bitset, state) to the pending sets seen with it, and a node is skipped
  when an earlier one had a subset of its pending operations placed: having more
  optional operations left never hurts, so if that one failed this one fails too;
* of pending operations with equal inputs only the earliest unplaced one is tried
  (the others are interchangeable with it, and available for less long);
* right after a pending operation only an operation that depends on it may come:
  one whose legality or resulting state would differ without it.  If the next
  operation does not depend on it, the pending one could be left out of the order
  altogether, so some shortest legal order never needs that branch.

When the exact search needs more than 20,000 steps on a history with pending
operations, a relaxed search runs first, in which a pending operation may take
effect any number of times.  It forgets which pending operations were used, so it
stays small; every legal order is also a relaxed one, so if it finds none the
history is illegal.  Otherwise the exact search runs to the end.

One more pruning pays on every model with reads: when a candidate is pure (see
``Model.pure``: a read, a failed CAS) and legal now, it is placed at once with no
alternatives, because moving a read earlier never breaks a valid order.
benchmarks/bench_checker.py measures all of this against the previous version.
"""

from __future__ import annotations

import time
from typing import Iterable

from consistency_lab.history import History, Operation

from ._common import (
    checkable_ops,
    deadline_for,
    step_output,
    validate_model,
    validate_timeout,
)
from .model_type import Model
from .result import CheckResult, Witness

# The search looks at the wall clock every 1024 steps; the first step checks too,
# so even a tiny timeout is honoured.
_CLOCK_MASK = 1023

# Sort ranks for events at the same time (see module docstring).
_RETURN, _ZERO_CALL, _ZERO_RETURN, _CALL = 0, 1, 2, 3


class _Timeout(Exception):
    pass


class _OutOfSteps(Exception):
    def __init__(self, best: list[int]) -> None:
        super().__init__("step budget used up")
        self.best = best


# Steps the exact search gets before the relaxed one is asked (see _check_part).
_BUDGET = 20_000


class _Free:
    """Marks a search node not reached through a pending operation (no restriction)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "FREE"


_FREE = _Free()


def check_operations(
    model: Model,
    ops: Iterable[Operation] | History,
    timeout: float | None = None,
    *,
    _memoise: bool = True,
    _greedy: bool = True,
    _budget: int | None = None,
) -> CheckResult:
    """Is the history linearizable with respect to ``model``?

    Operations with status "fail" are ignored.  With ``model.partition`` each part
    is checked on its own.  ``timeout`` (seconds of wall-clock, shared by all parts)
    turns an unfinished search into verdict "unknown", never a guess.
    ``_memoise`` and ``_greedy`` switch off the memo set and the greedy placement
    of pure operations, and ``_budget`` sets the steps before the relaxed search is
    asked (see ``_check_part``); they exist only for benchmarks and tests.
    """
    validate_model(model)
    timeout = validate_timeout(timeout)
    deadline = deadline_for(timeout)
    started = time.perf_counter()
    checked = checkable_ops(ops)

    if model.partition is None:
        result = _check_part(model, checked, deadline, timeout, _memoise, _greedy, _budget)
        result.elapsed_s = time.perf_counter() - started
        return result

    parts = [checkable_ops(part) for part in model.partition(checked)]
    results = []
    for i, part in enumerate(parts):
        part_started = time.perf_counter()
        sub = _check_part(model, part, deadline, timeout, _memoise, _greedy, _budget)
        sub.elapsed_s = time.perf_counter() - part_started
        sub.label = model.part_name(part) if model.part_name else f"part {i + 1}"
        results.append(sub)
    verdicts = {r.verdict for r in results}
    verdict = "illegal" if "illegal" in verdicts else "unknown" if "unknown" in verdicts else "ok"
    first_bad = next((r for r in results if r.verdict == verdict), None)
    return CheckResult(
        verdict,
        witness=first_bad.witness if verdict == "illegal" and first_bad is not None else None,
        partition_results=results,
        elapsed_s=time.perf_counter() - started,
        model=model,
        n_ops=len(checked),
        ops=checked,
        reason=first_bad.reason if verdict == "unknown" and first_bad is not None else "",
    )


def _check_part(
    model: Model,
    ops: list[Operation],
    deadline: float | None,
    timeout: float | None,
    memoise: bool,
    greedy: bool,
    budget: int | None = None,
) -> CheckResult:
    common = dict(model=model, n_ops=len(ops), ops=ops)
    # A pending read constrains nothing (it may be placed anywhere or nowhere).
    search_ops = [op for op in ops if not (op.pending and _is_pure(model, op))]
    if model.prune is not None:
        search_ops = _pruned(model, search_ops)
    has_pending = any(op.pending for op in search_ops)
    try:
        if has_pending and memoise:
            # Most histories are decided in a few thousand steps.  If not, ask a
            # relaxed question first: what if each pending operation could take
            # effect any number of times?  That search forgets which pending
            # operations were used, so it stays small, and if even it finds no
            # order, none exists.
            try:
                steps = _BUDGET if budget is None else budget
                found, order = _search(model, search_ops, deadline, memoise, greedy, steps)
            except _OutOfSteps as stop:
                found, relaxed_best = _search(
                    model, search_ops, deadline, memoise, greedy, relaxed=True
                )
                if not found:
                    # Illegal for certain.  The witness is the longest prefix either
                    # search reached, if it uses no pending operation twice.
                    prefix = stop.best
                    if len(relaxed_best) > len(prefix) and len(set(relaxed_best)) == len(relaxed_best):
                        prefix = relaxed_best
                    return CheckResult(
                        "illegal", witness=_witness(model, search_ops, prefix), **common
                    )
                found, order = _search(model, search_ops, deadline, memoise, greedy)
        else:
            found, order = _search(model, search_ops, deadline, memoise, greedy)
    except _Timeout:
        return CheckResult(
            "unknown", reason=f"the search ran out of time (timeout={timeout:g} s)", **common
        )
    if found:
        return CheckResult("ok", order=[search_ops[i] for i in order], **common)
    return CheckResult("illegal", witness=_witness(model, search_ops, order), **common)


def _events(ops: list[Operation]) -> list[tuple[int, bool]]:
    """(operation index, is_call) pairs in time order with the documented tie-breaks."""
    keyed = []
    for i, op in enumerate(ops):
        zero = op.call == op.return_time
        keyed.append((op.call, _ZERO_CALL if zero else _CALL, i, True))
        if not op.pending:
            keyed.append((op.return_time, _ZERO_RETURN if zero else _RETURN, i, False))
    keyed.sort(key=lambda e: (e[0], e[1], e[2]))
    return [(i, is_call) for _, _, i, is_call in keyed]


def _search(
    model: Model,
    ops: list[Operation],
    deadline: float | None,
    memoise: bool,
    greedy: bool = True,
    max_steps: int | None = None,
    relaxed: bool = False,
) -> tuple[bool, list[int]]:
    """Run the search; returns (True, order) or (False, longest dead-end prefix).

    ``max_steps`` raises :class:`_OutOfSteps` after that many steps.  ``relaxed``
    lets a pending operation take effect any number of times (it is never lifted),
    with at most as many pending operations in a row as there are pending
    operations, which keeps the search finite; ``pend`` then counts that run, in
    unary, so a shorter run dominates a longer one in the cache.  Every exact order
    is a relaxed one, so the relaxed search answers "ok" whenever the exact one does.
    """
    events = _events(ops)
    n = len(events)
    main, side = n, n + 1  # sentinel heads of the two lists
    # Doubly linked lists over event indices, -1 ending each.  Removing and
    # restoring in LIFO order ("dancing links") makes backtracking O(1).  Calls of
    # pending operations live on a side list: they are tried only after every
    # completed candidate failed, because they are optional and would otherwise be
    # first in line at every node for the rest of the history.
    nxt = [-1] * (n + 2)
    prv = [-1] * (n + 2)
    tail = {main: main, side: side}
    for e, (i, is_call) in enumerate(events):
        lst = side if is_call and ops[i].pending else main
        nxt[tail[lst]] = e
        prv[e] = tail[lst]
        tail[lst] = e
    ev_op = [i for i, _ in events]
    ev_call = [c for _, c in events]
    return_of = [-1] * len(ops)
    for e, (i, is_call) in enumerate(events):
        if not is_call:
            return_of[i] = e
    match = [return_of[ev_op[e]] if ev_call[e] else -1 for e in range(n)]
    inputs = [op.input for op in ops]
    outputs = [step_output(op) for op in ops]
    pure = [greedy and _is_pure(model, op) for op in ops]
    # Pending operations with equal inputs are interchangeable, except that the one
    # called earlier is a candidate for longer.  So a pending operation is tried only
    # when every earlier twin is already placed: any order using it while an earlier
    # twin is unplaced stays legal with the two swapped.
    twin = [-1] * len(ops)
    last_with: dict[object, int] = {}
    for i, is_call in events:
        if is_call and ops[i].pending:
            try:
                twin[i] = last_with.get(inputs[i], -1)
                last_with[inputs[i]] = i
            except TypeError:  # an unhashable input has no twins
                pass
    # Two bitsets (Python ints): completed operations placed, pending ones placed.
    done_bit = [0] * len(ops)
    pend_bit = [0] * len(ops)
    n_done = n_pend = 0
    for i, op in enumerate(ops):
        if op.pending:
            pend_bit[i] = 1 << n_pend
            n_pend += 1
        else:
            done_bit[i] = 1 << n_done
            n_done += 1

    # The cache maps (completed ops placed, state) to the sets of pending ops placed
    # with it.  A node is skipped when a node already visited had the same completed
    # ops and state and a subset of its pending ops: that node had at least the same
    # futures (pending ops are optional and never hold anything back), so if it
    # failed this one fails too.  With no pending ops this is exactly Lowe's and
    # Porcupine's cache of (bitset, state).
    seen: dict[tuple[int, object], list[int]] = {}

    def visited(key: tuple, pend: int) -> bool:
        """Record the node; True if it (or a node that dominates it) was seen before."""
        masks = seen.get(key)
        if masks is None:
            seen[key] = [pend]
            return False
        missing = ~pend
        for m in masks:
            if not m & missing:
                return True
        masks.append(pend)
        return False

    chain_cap = n_pend
    step = model.step
    state = model.init()
    done = pend = 0
    # Frames: (call event, state, done, pend before it, forced, bound).  A forced
    # frame placed a pure operation greedily: it had no alternatives, so undoing it
    # fails its parent too.  bound is -1 for a completed operation, else the return
    # event that limits which pending calls are candidates at that node.
    stack: list[tuple[int, object, int, int, bool, int]] = []
    best: list[int] = []
    steps = 0
    fresh = True  # at a node not yet scanned for pure operations
    entry, bound = nxt[main], -1
    while True:
        steps += 1
        if steps & _CLOCK_MASK == 1:
            if deadline is not None and time.monotonic() >= deadline:
                raise _Timeout
            if max_steps is not None and steps > max_steps:
                deepest = best if len(best) >= len(stack) else [f[0] for f in stack]
                raise _OutOfSteps([ev_op[e] for e in deepest])
        if fresh:
            fresh = False
            if nxt[main] == -1:
                # Every completed operation is placed; pending ones may never have happened.
                return True, [ev_op[f[0]] for f in stack]
            # A pure operation (a read) that is a candidate and legal now can be
            # placed now without loss: moving it earlier in any valid completion
            # keeps that completion valid.  So it is the only branch worth taking.
            dead = False
            # After a pending operation, only an operation that depends on it may come
            # next (see module docstring); pre is the state before that pending one.
            top = stack[-1] if stack else None
            pre = top[1] if top is not None and top[5] != -1 else _FREE
            if greedy:
                e = nxt[main]
                while ev_call[e]:
                    i = ev_op[e]
                    if pure[i]:
                        legal, new_state = step(state, inputs[i], outputs[i])
                        if legal:
                            new_done = done | done_bit[i]
                            new_pend = 0 if relaxed else pend
                            if memoise and visited((new_done, new_state, _FREE), new_pend):
                                dead = True
                            else:
                                stack.append((e, state, done, pend, True, -1))
                                state, done, pend = new_state, new_done, new_pend
                                _lift(nxt, prv, e, match[e])
                                fresh = True
                            break
                    e = nxt[e]
                if fresh:
                    continue
            entry, bound = nxt[main], -1
        else:
            dead = False
        if not dead:
            if bound == -1:
                if not ev_call[entry]:
                    # First return among remaining completed ops: now try pending
                    # calls made before it.
                    entry, bound = nxt[side], entry
                    continue
            elif entry == -1 or entry > bound:
                dead = True
            if not dead:
                i = ev_op[entry]
                if bound != -1:
                    t = twin[i]
                    if (t != -1 and (relaxed or not pend & pend_bit[t])) or (relaxed and pend >> chain_cap):
                        # An earlier identical pending op is still unplaced (relaxed: it
                        # always is), or (relaxed) the chain of pending ops since the
                        # last completed one is as long as there are pending ops.
                        entry = nxt[entry]
                        continue
                if not pure[i]:  # a pure candidate here was found illegal when fresh
                    legal, new_state = step(state, inputs[i], outputs[i])
                    if legal and pre is not _FREE and step(pre, inputs[i], outputs[i]) == (True, new_state):
                        legal = False  # would do the same without the pending op just placed
                    if legal:
                        if bound == -1:
                            new_done, new_pend = done | done_bit[i], 0 if relaxed else pend
                        elif relaxed:
                            new_done, new_pend = done, pend << 1 | 1  # one more in the chain
                        else:
                            new_done, new_pend = done, pend | pend_bit[i]
                        # A pending operation makes a restricted node: its key says so.
                        ctx = _FREE if bound == -1 else state
                        if not memoise or not visited((new_done, new_state, ctx), new_pend):
                            stack.append((entry, state, done, pend, False, bound))
                            state, done, pend = new_state, new_done, new_pend
                            if not (relaxed and bound != -1):
                                _lift(nxt, prv, entry, match[entry])
                            fresh = True
                            continue
                entry = nxt[entry]
                continue
        # Dead end: no candidate extends this prefix (or its forced branch was
        # explored before).  Undo the last free choice and try the next one.
        if len(stack) > len(best):
            best = [f[0] for f in stack]
        while True:
            if not stack:
                return False, [ev_op[e] for e in best]
            entry, state, done, pend, forced, bound = stack.pop()
            if not (relaxed and bound != -1):
                _unlift(nxt, prv, entry, match[entry])
            if not forced:
                break
        top = stack[-1] if stack else None
        pre = top[1] if top is not None and top[5] != -1 else _FREE
        entry = nxt[entry]


def _lift(nxt: list[int], prv: list[int], entry: int, m: int) -> None:
    """Unlink a call event and its return event (m = -1 when pending)."""
    p, q = prv[entry], nxt[entry]
    nxt[p] = q
    if q != -1:
        prv[q] = p
    if m != -1:
        p, q = prv[m], nxt[m]
        nxt[p] = q
        if q != -1:
            prv[q] = p


def _unlift(nxt: list[int], prv: list[int], entry: int, m: int) -> None:
    """Relink what _lift removed, in reverse order."""
    if m != -1:
        nxt[prv[m]] = m
        if nxt[m] != -1:
            prv[nxt[m]] = m
    nxt[prv[entry]] = entry
    if nxt[entry] != -1:
        prv[nxt[entry]] = entry


def _pruned(model: Model, ops: list[Operation]) -> list[Operation]:
    """``model.prune(ops)``, checked to keep every completed operation in order."""
    kept = list(model.prune(list(ops)))
    if [id(op) for op in kept if not op.pending] != [id(op) for op in ops if not op.pending]:
        raise ValueError(
            f"model={model.name!r}: prune must keep every completed operation in order; "
            "allowed: dropping pending operations only"
        )
    return kept


def _is_pure(model: Model, op: Operation) -> bool:
    return model.pure is not None and bool(model.pure(op.input, step_output(op)))


def _witness(model: Model, ops: list[Operation], prefix: list[int]) -> Witness:
    """Replay the longest prefix and list the candidates that cannot come next."""
    state = model.init()
    for i in prefix:
        _, state = model.step(state, ops[i].input, step_output(ops[i]))
    done = set(prefix)
    candidates: list[int] = []
    blocker = None
    for i, is_call in _events(ops):
        if i in done:
            continue
        if is_call:
            candidates.append(i)
        else:
            blocker = i
            break
    stuck = [
        i
        for i in candidates
        if not ops[i].pending
        and not model.step(state, ops[i].input, step_output(ops[i]))[0]
    ]
    if blocker is not None:
        # The op whose return forced the dead end goes first: it is the one that
        # had to be placed and could not be.
        stuck = [blocker] + [i for i in stuck if i != blocker]
    return Witness(
        linearized=[ops[i] for i in prefix],
        unplaceable=[ops[i] for i in stuck],
        state=state,
    )
