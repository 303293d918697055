"""Shared and exclusive locks, strict two-phase locking, FIFO waits, timeouts and deadlock detection.

:class:`LockManager` is the lock table of one database, driven by the virtual time
of a :class:`~consistency_lab.sim.Simulation`:

* **modes**: shared (``"S"``, readers) and exclusive (``"X"``, writers); S is
  compatible with S only (:func:`compatible`);
* **FIFO queues**: a request waits if it conflicts with a holder *or* if anyone is
  already waiting (no barging: a stream of readers cannot starve a waiting writer);
  when locks are released the queue is granted from the front until the first
  request that still conflicts;
* **upgrade** S -> X by a holder: granted at once when it is the only holder,
  otherwise queued ahead of ordinary waiters (they would wait for it anyway: it
  holds S);
* **lock-wait timeout**: a request still waiting after ``timeout_ms`` aborts its
  transaction (reason ``"timeout"``);
* **deadlock detection on every block** (``detection="on-block"``): each time a
  request has to wait, the wait-for graph is searched from the new waiter.  A new
  cycle can only be closed by a new wait, so this finds every deadlock the moment it
  forms and costs one graph walk per block; a periodic detector would save those
  walks when most waits end quickly (PostgreSQL waits ``deadlock_timeout`` first) but
  leaves the deadlocked transactions stuck for up to one period.  The victim is
  picked by a stated rule (:data:`~consistency_lab.patterns.deadlock.VICTIM_RULES`),
  its waiting request is withdrawn and its owner is told (reason ``"deadlock"``).
  With ``detection="off"`` only timeouts break deadlocks.

The lock manager never undoes anything itself: the owner of an aborted transaction
rolls its writes back and then calls :meth:`LockManager.release_all`.
:class:`TwoPhaseStore` does exactly that for integer rows: reads need S, writes need
X and go to an undo log, and locks are released only at commit or after rollback
(**strict** two-phase locking: no one ever reads a value that may still be undone).

Callbacks (grants, aborts) run through ``sim.call_soon``, never inside the call that
caused them, so an owner is never re-entered halfway through its own request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Hashable, Optional

from ..metrics import latency_summary
from ..sim import Simulation, Timer
from ..validation import choice, count, optional, positive
from .deadlock import VICTIM_RULES, choose_victim, find_cycle

__all__ = ["SHARED", "EXCLUSIVE", "LOCK_MODES", "DETECTION_MODES", "ABORT_REASONS", "compatible",
           "LockManager", "LockWait", "DeadlockRecord", "TwoPhaseStore"]

SHARED = "S"
EXCLUSIVE = "X"
LOCK_MODES = (SHARED, EXCLUSIVE)
DETECTION_MODES = ("on-block", "off")
ABORT_REASONS = ("deadlock", "timeout")


def compatible(held: str, requested: str) -> bool:
    """True if a lock held in mode ``held`` lets another transaction take ``requested`` too."""
    choice("held", held, LOCK_MODES)
    choice("requested", requested, LOCK_MODES)
    return _compatible(held, requested)


def _compatible(held: str, requested: str) -> bool:
    return held == SHARED and requested == SHARED


@dataclass(frozen=True)
class LockWait:
    """How one lock request ended: waited ``wait_ms`` and was ``granted``, or its transaction aborted."""

    txn: int
    key: Hashable
    mode: str
    requested_at: float
    wait_ms: float
    outcome: str  # "granted", "deadlock", "timeout" or "released" (withdrawn by release_all)


@dataclass(frozen=True)
class DeadlockRecord:
    """One deadlock found: when, the cycle (requester first) and the victim."""

    time: float
    cycle: tuple[int, ...]
    victim: int


@dataclass
class _Request:
    txn: int
    key: Hashable
    mode: str
    since: float
    on_grant: Callable[[], None]
    upgrade: bool
    timer: Optional[Timer] = None


class _Lock:
    __slots__ = ("holders", "queue", "_positions")

    def __init__(self) -> None:
        self.holders: dict[int, str] = {}
        self.queue: list[_Request] = []
        self._positions: Optional[dict[int, int]] = None

    def changed(self) -> None:
        """The queue was modified: forget the cached positions."""
        self._positions = None

    def ahead_of(self, req: _Request) -> Optional[_Request]:
        """The request just ahead of ``req`` in the queue (None at the front)."""
        # Cached per queue state: a search walks a queue of n waiters one by one, and
        # list.index for each would make every search cost n^2.
        if self._positions is None:
            self._positions = {r.txn: i for i, r in enumerate(self.queue)}
        at = self._positions[req.txn]
        return self.queue[at - 1] if at else None


class LockManager:
    """A lock table with S/X modes, FIFO queues, upgrades, timeouts and wait-for-graph deadlock detection."""

    def __init__(self, sim: Simulation, *, timeout_ms: Optional[float] = None, detection: str = "on-block",
                 victim: str = "youngest", on_abort: Optional[Callable[[int, str], None]] = None) -> None:
        self.sim = sim
        self.timeout_ms = optional(positive, "timeout_ms", timeout_ms, "ms", none_means="wait forever")
        self.detection = choice("detection", detection, DETECTION_MODES)
        self.victim_rule = choice("victim", victim, VICTIM_RULES)
        if on_abort is not None and not callable(on_abort):
            raise ValueError(f"on_abort={on_abort!r} must be None or a function (txn, reason)")
        self.on_abort = on_abort
        self._locks: dict[Hashable, _Lock] = {}
        self._held: dict[int, dict[Hashable, str]] = {}  # txn -> key -> mode, in the order taken
        self._waiting: dict[int, _Request] = {}
        self._birth: dict[int, float] = {}
        self._doomed: dict[int, str] = {}  # aborted, not yet released by their owner
        #: Every finished lock request (granted at once counts, with wait 0).
        self.waits: list[LockWait] = []
        self.deadlocks: list[DeadlockRecord] = []
        self.aborts = {reason: 0 for reason in ABORT_REASONS}
        #: Timeouts whose transaction was on a wait-for cycle when it gave up (deadlocks
        #: that detection, had it been on, would have broken at once).
        self.timeouts_in_deadlock = 0

    # -- transactions ------------------------------------------------------------------------
    def begin(self, txn: int, birth: Optional[float] = None) -> None:
        """Start transaction ``txn``; ``birth`` (default now) orders it for the ``youngest`` victim rule."""
        count("txn", txn, low=0)
        if txn in self._birth:
            raise ValueError(f"txn={txn} is already active; release_all it before beginning it again")
        self._birth[txn] = self.sim.now if birth is None else birth
        self._held[txn] = {}

    def acquire(self, txn: int, key: Hashable, mode: str, on_grant: Callable[[], None]) -> bool:
        """Ask for ``key`` in ``mode``: True if granted now; else False, and ``on_grant()`` runs when it is.

        If the transaction is aborted while waiting (deadlock victim, timeout),
        ``on_grant`` never runs and ``on_abort(txn, reason)`` does instead.
        """
        self._active(txn)
        choice("mode", mode, LOCK_MODES)
        if txn in self._doomed:
            raise ValueError(f"txn={txn} was aborted ({self._doomed[txn]}); roll it back and release_all it")
        if txn in self._waiting:
            raise ValueError(f"txn={txn} is already waiting for {self._waiting[txn].key!r}; one request at a time")
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = _Lock()
        held = lock.holders.get(txn)
        now = self.sim.now
        if held == EXCLUSIVE or held == mode:
            return True  # already strong enough: nothing to wait for, nothing to record
        upgrade = held == SHARED
        others = [m for t, m in lock.holders.items() if t != txn]
        if upgrade:
            grant_now = not others
        else:
            grant_now = not lock.queue and all(_compatible(m, mode) for m in others)
        if grant_now:
            self._grant(lock, txn, key, mode)
            self.waits.append(LockWait(txn, key, mode, now, 0.0, "granted"))
            return True
        req = _Request(txn, key, mode, now, on_grant, upgrade)
        if upgrade:
            # Ahead of ordinary waiters, behind earlier upgrades: the waiters need this
            # holder gone anyway, and putting it behind them would deadlock it with each.
            at = next((i for i, r in enumerate(lock.queue) if not r.upgrade), len(lock.queue))
            lock.queue.insert(at, req)
            lock.changed()
        else:
            lock.queue.append(req)
            lock.changed()
        self._waiting[txn] = req
        if self.timeout_ms is not None:
            req.timer = self.sim.schedule(self.timeout_ms, self._timeout, req)
        self.sim.record("note", f"t{txn}", "", "lock-wait", detail=f"{key} {mode}")
        if self.detection == "on-block":
            self._detect(req)
        return False

    def release_all(self, txn: int) -> int:
        """End ``txn``: withdraw its waiting request, release every lock it holds; returns locks released.

        Waiters the release unblocks are granted in FIFO order.
        """
        self._active(txn)
        touched: list[_Lock] = []
        req = self._waiting.pop(txn, None)
        if req is not None:
            lock = self._locks[req.key]
            self._withdraw(lock, req, "released")
            touched.append(lock)
        held = self._held.pop(txn)
        for key in held:
            lock = self._locks[key]
            del lock.holders[txn]
            touched.append(lock)
        del self._birth[txn]
        self._doomed.pop(txn, None)
        for lock in touched:
            self._grant_waiters(lock)
        for key in held:  # forget idle keys, so a long run's table stays as small as its live locks
            lock = self._locks[key]
            if not lock.holders and not lock.queue:
                del self._locks[key]
        return len(held)

    # -- what the table looks like ----------------------------------------------------------------
    def holders(self, key: Hashable) -> dict[int, str]:
        """Who holds ``key``, and in which mode."""
        lock = self._locks.get(key)
        return dict(lock.holders) if lock else {}

    def queue(self, key: Hashable) -> list[tuple[int, str]]:
        """Who waits for ``key``, in grant order, as (txn, mode)."""
        lock = self._locks.get(key)
        return [(r.txn, r.mode) for r in lock.queue] if lock else []

    def held_by(self, txn: int) -> dict[Hashable, str]:
        """The locks ``txn`` holds, key -> mode, in the order it took them."""
        return dict(self._held.get(txn, {}))

    def mode_held(self, txn: int, key: Hashable) -> Optional[str]:
        """The mode in which ``txn`` holds ``key``, or None."""
        return self._held.get(txn, {}).get(key)

    def is_waiting(self, txn: int) -> bool:
        """True while ``txn`` has a request in some queue."""
        return txn in self._waiting

    def waits_for(self, txn: int) -> list[int]:
        """The transactions ``txn`` waits for: conflicting holders, then conflicting requests ahead of it."""
        req = self._waiting.get(txn)
        if req is None:
            return []
        lock = self._locks[req.key]
        out = [t for t, m in lock.holders.items() if t != txn and not _compatible(m, req.mode)]
        for r in lock.queue:
            if r is req:
                break
            if not _compatible(r.mode, req.mode) and r.txn not in out:
                out.append(r.txn)
        return out

    def _search_edges(self, txn: int) -> list[int]:
        """A thinner wait-for graph with the same reachability, for the cycle search.

        Listing every conflicting request ahead makes a queue of n waiters cost n^2
        edges per search.  Here a waiter points at the request just ahead of it, plus
        the conflicting holders only when that request may not conflict with all of
        them (an X waiter behind an S waiter).  Every full edge is a path here, and an
        S-behind-S hop leads only where the waiter's own full edges lead, so a cycle
        exists here exactly when one exists in :meth:`waits_for`.
        """
        req = self._waiting.get(txn)
        if req is None:
            return []
        lock = self._locks[req.key]
        ahead = lock.ahead_of(req)
        if ahead is not None and (ahead.mode == EXCLUSIVE or req.mode == SHARED):
            return [ahead.txn]
        out = [t for t, m in lock.holders.items() if t != txn and not _compatible(m, req.mode)]
        if ahead is not None and ahead.txn not in out:
            out.append(ahead.txn)
        return out

    def _thin_cycle(self, txn: int) -> Optional[list[int]]:
        """A cycle of :meth:`_search_edges` through ``txn``, or None."""
        # Only a transaction someone waits for can be on a cycle, and only waiters on
        # the keys it holds, or behind it in its own queue, can wait for it: a look at
        # those queues skips most searches (a new waiter is at the back of its queue).
        req = self._waiting.get(txn)
        behind = req is not None and self._locks[req.key].queue[-1] is not req
        if not behind and not any(self._locks[key].queue for key in self._held[txn]):
            return None
        return find_cycle(txn, self._search_edges)

    def _find_deadlock(self, txn: int) -> Optional[list[int]]:
        """A true wait-for cycle through ``txn`` (every member really waits for the next), or None."""
        thin = self._thin_cycle(txn)
        if thin is None:
            return None
        # The thin cycle may pass through a bystander (an S waiter queued behind an S
        # waiter); the true cycle uses only its members, so search the full edges among them.
        members = set(thin)
        return find_cycle(txn, lambda t: [u for u in self.waits_for(t) if u in members])

    def stats(self) -> dict[str, float]:
        """Counters and lock-wait percentiles (ms) over every finished request."""
        blocked = [w for w in self.waits if w.wait_ms > 0 or w.outcome != "granted"]
        out: dict[str, float] = {
            "lock_requests": len(self.waits),
            "lock_waits": len(blocked),
            "deadlocks": len(self.deadlocks),
            "aborts_deadlock": self.aborts["deadlock"],
            "aborts_timeout": self.aborts["timeout"],
            "timeouts_in_deadlock": self.timeouts_in_deadlock,
        }
        out.update(latency_summary([w.wait_ms for w in self.waits], "lock_wait"))
        out.update(latency_summary([w.wait_ms for w in blocked], "blocked_wait"))
        return out

    # -- inside ------------------------------------------------------------------------------------
    def _active(self, txn: int) -> None:
        if txn not in self._birth:
            raise ValueError(f"txn={txn!r} must be an active transaction (call begin first)")

    def _grant(self, lock: _Lock, txn: int, key: Hashable, mode: str) -> None:
        lock.holders[txn] = mode
        self._held[txn][key] = mode

    def _grant_waiters(self, lock: _Lock) -> None:
        while lock.queue:
            req = lock.queue[0]
            if any(t != req.txn and not _compatible(m, req.mode) for t, m in lock.holders.items()):
                break  # FIFO: nobody behind the first conflicting request may pass it
            lock.queue.pop(0)
            lock.changed()
            del self._waiting[req.txn]
            if req.timer is not None:
                req.timer.cancel()
            self._grant(lock, req.txn, req.key, req.mode)
            self.waits.append(LockWait(req.txn, req.key, req.mode, req.since, self.sim.now - req.since, "granted"))
            self.sim.record("note", f"t{req.txn}", "", "lock-grant", detail=f"{req.key} {req.mode}")
            self.sim.call_soon(req.on_grant)

    def _withdraw(self, lock: _Lock, req: _Request, outcome: str) -> None:
        lock.queue.remove(req)
        lock.changed()
        if req.timer is not None:
            req.timer.cancel()
        self.waits.append(LockWait(req.txn, req.key, req.mode, req.since, self.sim.now - req.since, outcome))

    def _abort_waiting(self, txn: int, reason: str) -> None:
        req = self._waiting.pop(txn)
        lock = self._locks[req.key]
        self._withdraw(lock, req, reason)
        self._doomed[txn] = reason
        self.aborts[reason] += 1
        self.sim.record("note", f"t{txn}", "", "abort", detail=reason)
        if self.on_abort is not None:
            self.sim.call_soon(self.on_abort, txn, reason)
        # The withdrawn request may have been what held up the requests behind it.
        self._grant_waiters(lock)

    def _timeout(self, req: _Request) -> None:
        if self._waiting.get(req.txn) is not req:
            return
        if self._thin_cycle(req.txn) is not None:
            self.timeouts_in_deadlock += 1
        self._abort_waiting(req.txn, "timeout")

    def _detect(self, req: _Request) -> None:
        # Aborting one victim may leave the requester on a second cycle: look again until none is left.
        while self._waiting.get(req.txn) is req:
            cycle = self._find_deadlock(req.txn)
            if cycle is None:
                return
            locks_held = {t: len(self._held[t]) for t in cycle}
            victim = choose_victim(cycle, self.victim_rule, birth=self._birth, locks_held=locks_held)
            self.deadlocks.append(DeadlockRecord(self.sim.now, tuple(cycle), victim))
            self.sim.record("note", f"t{victim}", "", "deadlock", detail=" ".join(f"t{t}" for t in cycle))
            self._abort_waiting(victim, "deadlock")


class TwoPhaseStore:
    """Integer rows under strict two-phase locking: S to read, X to write, an undo log, release at the end."""

    def __init__(self, locks: LockManager, rows: int) -> None:
        if not isinstance(locks, LockManager):
            raise ValueError(f"locks={locks!r} must be a LockManager")
        self.locks = locks
        self.values = [0] * count("rows", rows)
        self._undo: dict[int, list[tuple[int, int]]] = {}
        self.commits = 0
        self.rollbacks = 0
        #: Writes undone by rollbacks: the work an abort throws away.
        self.undone_writes = 0

    def begin(self, txn: int, birth: Optional[float] = None) -> None:
        """Start ``txn`` (see :meth:`LockManager.begin`)."""
        self.locks.begin(txn, birth)
        self._undo[txn] = []

    def read(self, txn: int, row: int) -> int:
        """The value of ``row``; ``txn`` must hold a lock on it (S or X)."""
        if self.locks.mode_held(txn, self._row(row)) is None:
            raise ValueError(f"txn={txn} must hold a lock on row={row} to read it")
        return self.values[row]

    def write(self, txn: int, row: int, value: int) -> None:
        """Set ``row`` to ``value``; ``txn`` must hold X on it.  The old value goes to the undo log."""
        if self.locks.mode_held(txn, self._row(row)) != EXCLUSIVE:
            raise ValueError(f"txn={txn} must hold an exclusive lock on row={row} to write it")
        self._undo[txn].append((row, self.values[row]))
        self.values[row] = value

    def commit(self, txn: int) -> int:
        """Make ``txn``'s writes final and release its locks; returns how many writes it made."""
        writes = len(self._undo.pop(txn))
        self.locks.release_all(txn)
        self.commits += 1
        return writes

    def rollback(self, txn: int) -> int:
        """Undo ``txn``'s writes (newest first), then release its locks; returns the writes undone."""
        undo = self._undo.pop(txn)
        for row, old in reversed(undo):
            self.values[row] = old
        self.locks.release_all(txn)
        self.rollbacks += 1
        self.undone_writes += len(undo)
        return len(undo)

    def active(self) -> list[int]:
        """Transactions begun and not yet committed or rolled back, in the order they began."""
        return list(self._undo)

    def pending_writes(self, txn: int) -> int:
        """Writes ``txn`` has made so far (what a rollback now would undo)."""
        return len(self._undo.get(txn, ()))

    def _row(self, row: int) -> int:
        if isinstance(row, bool) or not isinstance(row, int) or not 0 <= row < len(self.values):
            raise ValueError(f"row={row!r} must be an integer between 0 and {len(self.values) - 1}")
        return row

