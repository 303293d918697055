"""Optimistic UI: show the user's action at once, then confirm it or roll it back when the server answers.

A chat client sends each message to a server that accepts it or refuses it (the
recipient blocked the sender, a spam filter, a quota).  Two ways to show it:

* **pessimistic**: the bubble appears only when the server has said yes (or an
  error appears when it said no, or when the client gave up waiting);
* **optimistic**: the bubble appears after one frame of local rendering
  (``render_ms``); the server's later answer either *confirms* it (a tick) or
  *rolls it back* (the bubble turns into an error and is taken away).

Times, per message, all measured from the moment the user pressed "send":

* **time to feedback**: until the screen first shows anything about the message
  (the optimistic bubble, or the server's answer in pessimistic mode);
* **time to confirmation**: until the server's answer (or the client's timeout);
* **perceived latency**: until the first feedback *that turns out to be true*.
  For a message the server confirms, that is the time to feedback.  For a message
  the server refuses (or never answers) the optimistic bubble was wrong: the user
  learns the truth only when the error is drawn (the answer plus one frame), and
  when a bubble had been shown and has to be taken back we add
  ``rollback_penalty_ms`` (the user must notice the vanished message and send it
  again; one human reaction time, about 300 ms, by default).  A refusal shown
  without a bubble first (pessimistic mode) costs no penalty.

So optimistic UI never shortens the wait for the truth; it only moves the first
feedback forward for the messages that will be confirmed, and charges every
rollback.  :func:`feedback_metrics` turns a list of :class:`Delivery` records into
the numbers, and :func:`perceived_latency_ms` is the definition above in code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

from ..latency import Latency, parse_latency
from ..metrics import percentile, rate
from ..network import Network
from ..node import Node, Reply, Request
from ..sim import Simulation
from ..validation import boolean, non_negative, positive, probability

__all__ = ["OUTCOMES", "SendMessage", "SendReply", "Delivery", "MessagingServer", "ChatClient",
           "perceived_latency_ms", "feedback_metrics", "THRESHOLDS_MS"]

#: How a message ended: the server said yes, said no, or the client stopped waiting.
OUTCOMES = ("confirmed", "refused", "timed-out")
#: The perception thresholds (ms) the metrics count against: below ~100 ms feels instant, ~200 ms is the edge.
THRESHOLDS_MS = (100.0, 200.0)


@dataclass(frozen=True)
class SendMessage(Request):
    """Deliver chat message ``msg_id``."""

    msg_id: int = 0


@dataclass(frozen=True)
class SendReply(Reply):
    """The server's answer: ``accepted`` or refused."""

    accepted: bool = False


@dataclass
class Delivery:
    """One message's life on the client: when it was sent, first shown, answered, and how it ended."""

    msg_id: int
    sent_at: float
    optimistic: bool
    shown_at: float = math.nan  # first feedback on screen (bubble or error)
    answered_at: float = math.nan  # the server's answer or the client's timeout
    truth_at: float = math.nan  # the screen first shows what really happened (a kept bubble, an error)
    outcome: str = "pending"  # "pending" or one of OUTCOMES
    rolled_back: bool = False  # an optimistic bubble was shown and then taken away

    @property
    def feedback_ms(self) -> float:
        """Time to the first feedback (ms); inf while nothing was shown."""
        return self.shown_at - self.sent_at if not math.isnan(self.shown_at) else math.inf

    @property
    def confirmation_ms(self) -> float:
        """Time to the server's answer or the timeout (ms); inf while pending."""
        return self.answered_at - self.sent_at if not math.isnan(self.answered_at) else math.inf


def perceived_latency_ms(d: Delivery, rollback_penalty_ms: float) -> float:
    """Time to the first *true* feedback (ms): see the module docstring; a rollback adds the penalty."""
    non_negative("rollback_penalty_ms", rollback_penalty_ms, "ms")
    if d.outcome == "pending" or math.isnan(d.truth_at):
        return math.inf
    return d.truth_at - d.sent_at + (rollback_penalty_ms if d.rolled_back else 0.0)


def feedback_metrics(deliveries: Sequence[Delivery], rollback_penalty_ms: float,
                     thresholds: Iterable[float] = THRESHOLDS_MS) -> dict[str, float]:
    """Counts, feedback / confirmation / perceived latency (mean, p50, p99) and shares under each threshold."""
    perceived = [perceived_latency_ms(d, rollback_penalty_ms) for d in deliveries]
    finite = [v for v in perceived if not math.isinf(v)]
    feedback = [d.feedback_ms for d in deliveries]
    confirmation = [d.confirmation_ms for d in deliveries]
    out: dict[str, float] = {
        "messages": len(deliveries),
        "confirmed": sum(d.outcome == "confirmed" for d in deliveries),
        "refused": sum(d.outcome == "refused" for d in deliveries),
        "timed_out": sum(d.outcome == "timed-out" for d in deliveries),
        "pending": sum(d.outcome == "pending" for d in deliveries),
        "rollbacks": sum(d.rolled_back for d in deliveries),
        "rollback_rate": rate(sum(d.rolled_back for d in deliveries), len(deliveries)),
        "feedback_p50_ms": percentile(feedback, 50),
        "feedback_p99_ms": percentile(feedback, 99),
        "confirmation_p50_ms": percentile(confirmation, 50),
        "confirmation_p99_ms": percentile(confirmation, 99),
        "perceived_mean_ms": sum(finite) / len(finite) if finite else math.nan,
        "perceived_p50_ms": percentile(finite, 50),
        "perceived_p99_ms": percentile(finite, 99),
    }
    for t in thresholds:
        out[f"perceived_under_{t:g}ms"] = rate(sum(v <= t for v in perceived), len(perceived))
    return out


class MessagingServer(Node):
    """Accepts or refuses each message after a processing delay (stream ``"server/<name>"``)."""

    def __init__(self, name: str, sim: Simulation, network: Network, *, processing: Latency | str | float,
                 refusal: float) -> None:
        self.processing = parse_latency(processing, "processing")
        self.refusal = probability("refusal", refusal)
        self.accepted = 0
        self.refused = 0
        super().__init__(name, sim, network)
        self._rng = sim.rng(f"server/{name}")

    def on_SendMessage(self, msg: SendMessage, src: str) -> None:
        """Decide now (one draw per message, so the decisions do not depend on timing), answer later."""
        accepted = self._rng.random() >= self.refusal
        delay = self.processing.sample(self._rng)
        self.set_timer(delay, self._answer, msg, src, accepted)

    def _answer(self, msg: SendMessage, src: str, accepted: bool) -> None:
        if accepted:
            self.accepted += 1
        else:
            self.refused += 1
        self.reply(src, msg, SendReply, accepted=accepted)


class ChatClient(Node):
    """Sends messages to ``server`` and shows them optimistically or only once confirmed."""

    def __init__(self, name: str, sim: Simulation, network: Network, *, server: str, optimistic: bool,
                 render_ms: float, timeout_ms: float) -> None:
        self.server = server
        self.optimistic = boolean("optimistic", optimistic)
        self.render_ms = non_negative("render_ms", render_ms, "ms")
        self.timeout_ms = positive("timeout_ms", timeout_ms, "ms")
        #: Every message sent, by id, in sending order (durable: the tests read it after the run).
        self.deliveries: dict[int, Delivery] = {}
        super().__init__(name, sim, network)

    def send_message(self, msg_id: int) -> None:
        """The user pressed send: record it, maybe draw the bubble, and ask the server."""
        d = self.deliveries[msg_id] = Delivery(msg_id, self.sim.now, self.optimistic)
        if self.optimistic:
            self.set_timer(self.render_ms, self._show_bubble, d)
        self.request(self.server, SendMessage(self.sim.next_id(), msg_id=msg_id), self.timeout_ms,
                     lambda reply, _src: self._answered(d, "confirmed" if reply.accepted else "refused"),
                     lambda: self._answered(d, "timed-out"))

    def _show_bubble(self, d: Delivery) -> None:
        if d.outcome == "pending":  # an answer faster than one frame is shown as the answer instead
            d.shown_at = self.sim.now

    def _answered(self, d: Delivery, outcome: str) -> None:
        d.answered_at = self.sim.now
        d.outcome = outcome
        drawn = self.sim.now + self.render_ms  # the tick or the error takes one frame to draw
        if math.isnan(d.shown_at):
            # Nothing on screen yet: the answer itself is the first feedback.
            d.shown_at = d.truth_at = drawn
        elif outcome == "confirmed":
            d.truth_at = d.shown_at  # the bubble was right from the moment it appeared
        else:
            d.rolled_back = True
            d.truth_at = drawn
