"""Client messages and the closed-loop client that drives every replicated register.

A client issues one operation at a time: it picks read or write from its own random
stream, sends the request, and waits for a reply, a redirect or its timeout.  What
it saw goes into the shared :class:`~consistency_lab.history.History`; a timed-out
write is recorded as *pending* (its effect is unknown), exactly what a checker needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from ..history import INF, History, Operation
from ..latency import Latency
from ..network import Network
from ..node import Node, Reply, Request
from ..sim import Simulation

__all__ = ["ClientWrite", "ClientRead", "WriteOk", "ReadOk", "Refused", "Redirect", "RegisterClient"]


@dataclass(frozen=True)
class ClientWrite(Request):
    """Ask a replica to write ``value`` under ``key``."""

    key: str
    value: Any


@dataclass(frozen=True)
class ClientRead(Request):
    """Ask a replica for the value of ``key``."""

    key: str


@dataclass(frozen=True)
class WriteOk(Reply):
    """The write is acknowledged (what that promises depends on the mode)."""


@dataclass(frozen=True)
class ReadOk(Reply):
    """The value read (a tuple of values when siblings are kept)."""

    value: Any


@dataclass(frozen=True)
class Refused(Reply):
    """The replica refused before doing anything (the operation certainly failed)."""

    reason: str


@dataclass(frozen=True)
class Redirect(Reply):
    """"Not me, ask ``primary``": the replica is not the primary."""

    primary: str


class RegisterClient(Node):
    """Issues ``operations`` reads/writes one after another and records what it saw.

    ``route(kind)`` names the replica to send a "read" or "write" to; ``next_value()``
    hands out unique values to write, so any value read names exactly one write.  With
    ``keys``, each operation works on one of them, drawn uniformly from the client's own
    stream (``keys/<name>``, so the other draws stay as they are); otherwise always on ``key``.
    """

    def __init__(self, name: str, sim: Simulation, network: Network, *, region: Optional[str],
                 route: Callable[["RegisterClient", str], str], history: History,
                 next_value: Callable[[], int], operations: int, read_ratio: float,
                 think: Latency, timeout_ms: float, key: str = "x", keys: Sequence[str] = (),
                 on_done: Optional[Callable[["RegisterClient"], None]] = None) -> None:
        self.route = route
        self.history = history
        self.next_value = next_value
        self.remaining = operations
        self.read_ratio = read_ratio
        self.think = think
        self.timeout_ms = timeout_ms
        self.key = key
        self.keys = tuple(keys)
        self.on_done = on_done
        self.primary_hint: Optional[str] = None
        self.done = False
        self._current: Optional[tuple[tuple, float]] = None  # (input, call time) of the op in flight
        super().__init__(name, sim, network, region=region)
        self._rng = sim.rng(f"client/{name}")
        self._key_rng = sim.rng(f"keys/{name}") if self.keys else None

    def start(self, at: float = 0.0) -> None:
        """Begin issuing operations at virtual time ``at``."""
        self.set_timer(at, self._next_op)

    def on_crash(self) -> None:
        """The operation in flight, if any, is now indeterminate: the client never learns its outcome."""
        if self._current is not None:
            op_input, called = self._current
            self._current = None
            self.history.add(Operation(self.name, op_input, called, None, INF, "info"))

    def on_restart(self) -> None:
        """Carry on with the operations that are left, after a pause."""
        if not self.done:
            self.set_timer(self.think.sample(self._rng), self._next_op)

    def _next_op(self) -> None:
        if self.remaining <= 0:
            if not self.done:
                self.done = True
                if self.on_done is not None:
                    self.on_done(self)
            return
        self.remaining -= 1
        if self._key_rng is not None:
            self.key = self.keys[self._key_rng.randrange(len(self.keys))]
        if self._rng.random() < self.read_ratio:
            op_input, kind = ("read", None), "read"
        else:
            op_input, kind = ("write", self.next_value()), "write"
        self._current = (op_input, self.sim.now)
        self._attempt(op_input, kind, self.sim.now, redirects=0)

    def _attempt(self, op_input: tuple, kind: str, called: float, redirects: int) -> None:
        target = self.route(self, kind)
        req_id = self.sim.next_id()
        msg = (ClientWrite(req_id, self.key, op_input[1]) if kind == "write"
               else ClientRead(req_id, self.key))
        remaining = self.timeout_ms - (self.sim.now - called)
        if remaining <= 0:
            self._finish(Operation(self.name, op_input, called, None, INF, "info"))
            return

        def on_reply(reply: Any, src: str) -> None:
            if isinstance(reply, Redirect) and redirects < 3:
                self.primary_hint = reply.primary
                self._attempt(op_input, kind, called, redirects + 1)
            elif isinstance(reply, Redirect):
                self._finish(Operation(self.name, op_input, called, None, self.sim.now, "fail"))
            elif isinstance(reply, Refused):
                self._finish(Operation(self.name, op_input, called, reply.reason, self.sim.now, "fail"))
            elif isinstance(reply, ReadOk):
                self._finish(Operation(self.name, op_input, called, reply.value, self.sim.now))
            else:
                self._finish(Operation(self.name, op_input, called, None, self.sim.now))

        def on_timeout() -> None:
            # A read that timed out had no effect, so it certainly failed; a write may
            # have landed somewhere, so its outcome is unknown.
            status = "fail" if kind == "read" else "info"
            self.primary_hint = None  # the primary may be gone: ask the local replica next time
            self._finish(Operation(self.name, op_input, called, None,
                                   self.sim.now if status == "fail" else INF, status))

        self.request(target, msg, remaining, on_reply, on_timeout)

    def _finish(self, op: Operation) -> None:
        self._current = None
        self.history.add(op)
        self.set_timer(self.think.sample(self._rng), self._next_op)
