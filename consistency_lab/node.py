"""Nodes: named processes that react to messages, set timers, crash and restart.

A protocol is written as a subclass of :class:`Node` with one ``on_<MessageType>``
method per message it understands, in the style of Maelstrom and of "Clustering by
Consensus": send and reply are the whole I/O.  State is split in two:

* durable state survives a crash (set it up in ``__init__``);
* volatile state is rebuilt by :meth:`Node.init_volatile` at start and after every
  restart, so a crash really forgets it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

from .network import Network
from .sim import Simulation, Timer

__all__ = ["Message", "Request", "Reply", "Node"]


@dataclass(frozen=True)
class Message:
    """Base class for messages: small, immutable records."""


@dataclass(frozen=True)
class Request(Message):
    """A message that expects a :class:`Reply` carrying the same ``req_id``."""

    req_id: int


@dataclass(frozen=True)
class Reply(Message):
    """An answer to the request whose id is ``reply_to``."""

    reply_to: int


class Node:
    """A simulated process with message handlers, timers and crash semantics."""

    def __init__(self, name: str, sim: Simulation, network: Network, *,
                 region: Optional[str] = None, clock_skew_ms: float = 0.0) -> None:
        if not isinstance(name, str) or not name or any(c in name for c in "|,>~@;: "):
            raise ValueError(f"node name {name!r} must be a non-empty string without | , > ~ @ ; : or spaces")
        self.name = name
        self.sim = sim
        self.network = network
        self.region = region
        self.clock_skew_ms = float(clock_skew_ms)
        self.alive = True
        self._incarnation = 0
        self._pending: dict[int, tuple[Callable, Optional[Timer]]] = {}
        network.add(self)
        self.init_volatile()

    # -- lifecycle -----------------------------------------------------------
    def init_volatile(self) -> None:
        """(Re)create volatile state; called at start and on restart. Override as needed."""

    def on_crash(self) -> None:
        """Hook called right after a crash."""

    def on_restart(self) -> None:
        """Hook called right after a restart (volatile state already reset)."""

    def crash(self) -> None:
        """Stop: drop volatile state, cancel timers and outstanding requests."""
        if not self.alive:
            return
        self.alive = False
        self._incarnation += 1  # timers of the old life check this and stay silent
        self._pending.clear()
        self.sim.record("crash", self.name)
        self.on_crash()

    def restart(self) -> None:
        """Come back with durable state only."""
        if self.alive:
            return
        self.alive = True
        # A new life: timers set while down (or before the crash) belong to the old one.
        self._incarnation += 1
        self.sim.record("restart", self.name)
        self.init_volatile()
        self.on_restart()

    # -- time ----------------------------------------------------------------
    def clock(self) -> float:
        """This node's wall-clock reading in ms: true time plus its skew."""
        return self.sim.now + self.clock_skew_ms

    def set_timer(self, delay: float, fn: Callable[..., Any], *args: Any) -> Timer:
        """Call ``fn(*args)`` after ``delay`` ms unless cancelled or this node crashes first."""
        return self.sim.schedule(delay, self._fire, self._incarnation, fn, args)

    def _fire(self, incarnation: int, fn: Callable[..., Any], args: tuple) -> None:
        if self.alive and incarnation == self._incarnation:
            fn(*args)

    # -- messaging -----------------------------------------------------------
    def send(self, dst: str, msg: Message) -> None:
        """Send one message (silently nothing if this node is down)."""
        if self.alive:
            self.network.send(self.name, dst, msg)

    def broadcast(self, dsts: Iterable[str], msg: Message) -> None:
        """Send the same message to every node in ``dsts`` (in the given order)."""
        for dst in dsts:
            self.send(dst, msg)

    def reply(self, dst: str, request: Request, reply_type: type, **fields: Any) -> None:
        """Answer ``request`` (received from ``dst``) with ``reply_type(request.req_id, **fields)``."""
        self.send(dst, reply_type(request.req_id, **fields))

    def request(self, dst: str, msg: Request, timeout: Optional[float],
                on_reply: Callable[[Any, str], None],
                on_timeout: Optional[Callable[[], None]] = None) -> None:
        """Send ``msg`` and call ``on_reply(reply, src)`` once, or ``on_timeout()`` after ``timeout`` ms.

        ``timeout=None`` waits forever (cheaper: no timer is queued).
        """
        if timeout is None:
            timer = None
        elif not timeout > 0:
            raise ValueError(f"timeout={timeout!r} must be a positive number of ms or None")
        else:
            timer = self.set_timer(timeout, self._request_timed_out, msg.req_id, on_timeout)
        self._pending[msg.req_id] = (on_reply, timer)
        self.send(dst, msg)

    def _request_timed_out(self, req_id: int, on_timeout: Optional[Callable[[], None]]) -> None:
        if self._pending.pop(req_id, None) is not None and on_timeout is not None:
            on_timeout()

    def receive(self, msg: Message, src: str) -> None:
        """Dispatch an incoming message: pending-request callback first, else ``on_<Type>``."""
        reply_to = getattr(msg, "reply_to", None)
        if reply_to is not None:
            waiting = self._pending.pop(reply_to, None)
            if waiting is not None:
                if waiting[1] is not None:
                    waiting[1].cancel()
                waiting[0](msg, src)
                return
        handler = getattr(self, "on_" + type(msg).__name__, None)
        if handler is not None:
            handler(msg, src)
        # Messages nobody handles (e.g. a late reply after a timeout) are ignored, as on a real network.
