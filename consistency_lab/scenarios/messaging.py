"""Messaging with and without optimistic UI: time to feedback, time to confirmation, rollbacks.

One chat client sends ``messages`` messages spread uniformly over ``duration_ms``.
Each crosses the network (``network_ms`` one way, with ``loss``) to a server that
takes a log-normal processing time (median ``server_ms``, shape ``spread``) and
then accepts it or refuses it (probability ``refusal``).  The client waits
``timeout_ms`` for an answer, then gives up.  With ``optimistic=true`` the bubble
is drawn after ``render_ms`` and later confirmed or rolled back; otherwise it is
drawn only after the answer (see :mod:`consistency_lab.patterns.optimistic_ui`
for the three times measured and the exact definition of **perceived latency**:
time to the first feedback that turns out true, a rollback charged
``rollback_penalty_ms`` on top of the time to the error).

:func:`compare_optimistic` runs the same seed both ways and returns the relative
cut in mean perceived latency, the number the article reports (50 %).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..latency import Constant, LogNormal
from ..network import Network, NetworkOptions
from ..patterns.optimistic_ui import ChatClient, Delivery, MessagingServer, feedback_metrics
from ..sim import Simulation
from . import register_scenario
from .base import EVENT_BUDGET, Param, RunResult, Scenario, stop_note

__all__ = ["MessagingResult", "MESSAGING", "compare_optimistic"]

PARAMS = (
    Param("messages", int, 300, "messages the user sends", low=1, high=20_000),
    Param("duration_ms", float, 30_000.0, "how long the user keeps sending (ms)", low=1.0, high=3_600_000.0),
    Param("server_ms", float, 250.0, "median time the server takes to accept or refuse a message (ms)",
          low=0.1, high=60_000.0),
    Param("spread", float, 0.5, "shape of the server's log-normal time (0 = always the median)", low=0.0, high=2.0),
    Param("network_ms", float, 10.0, "one-way network delay between client and server (ms)", low=0.0, high=10_000.0),
    Param("refusal", float, 0.05, "probability that the server refuses a message", low=0.0, high=1.0),
    Param("loss", float, 0.0, "probability that a message or an answer is lost", low=0.0, high=1.0),
    Param("optimistic", bool, True, "draw the bubble at once and confirm or roll it back later"),
    Param("render_ms", float, 16.0, "time the client needs to draw anything (ms; one frame)", low=0.0, high=1_000.0),
    Param("rollback_penalty_ms", float, 300.0, "extra perceived time charged for each rolled-back bubble (ms)",
          low=0.0, high=60_000.0),
    Param("timeout_ms", float, 5_000.0, "the client stops waiting for an answer after this long (ms)",
          low=1.0, high=600_000.0),
)


@dataclass
class MessagingResult(RunResult):
    """A messaging run: metrics plus every message's :class:`Delivery` record, in sending order."""

    deliveries: list[Delivery] = field(default_factory=list)


def _run_messaging(seed: int, p: dict, hooks: dict) -> MessagingResult:
    """Send the messages, let the server decide, and measure feedback, confirmation and rollbacks.

    Called by ``MESSAGING.run(seed, **params)`` with validated parameters.
    """
    sim = Simulation(seed, max_events=EVENT_BUDGET)
    net = Network(sim, NetworkOptions(latency=Constant(p["network_ms"]), loss=p["loss"]))
    processing = LogNormal(p["server_ms"], p["spread"])
    MessagingServer("server", sim, net, processing=processing, refusal=p["refusal"])
    client = ChatClient("client", sim, net, server="server", optimistic=p["optimistic"],
                        render_ms=p["render_ms"], timeout_ms=p["timeout_ms"])
    rng = sim.rng("user")
    times = sorted(rng.uniform(0.0, p["duration_ms"]) for _ in range(p["messages"]))
    for i, t in enumerate(times):
        sim.schedule(t, client.send_message, i)
    # Every message is answered or timed out by timeout_ms after it is sent; one frame draws the last.
    bound = p["duration_ms"] + p["timeout_ms"] + p["render_ms"] + 1.0
    reason = sim.run_bounded(bound)
    deliveries = [client.deliveries[i] for i in sorted(client.deliveries)]
    metrics: dict[str, Any] = feedback_metrics(deliveries, p["rollback_penalty_ms"])
    metrics["messages_dropped"] = net.dropped
    unfinished = metrics["pending"] + (p["messages"] - len(deliveries))
    return MessagingResult(
        scenario="messaging", seed=seed, params=dict(p), metrics=metrics, trace_digest=sim.trace_digest(),
        deliveries=deliveries, stopped=stop_note(reason, bound, f"{unfinished} messages") if unfinished else "")


def compare_optimistic(seed: int = 0, **params: Any) -> tuple[MessagingResult, MessagingResult, float]:
    """Run the same messages optimistic and pessimistic: (optimistic, pessimistic, cut in mean perceived latency).

    The cut is ``1 - optimistic mean / pessimistic mean`` (0.5 is the article's "50 %"); NaN when undefined.
    """
    if "optimistic" in params:
        raise ValueError("optimistic must not be given to compare_optimistic; allowed: every other messaging "
                         "parameter (both modes are run)")
    opt = MESSAGING.run(seed, optimistic=True, **params)
    pess = MESSAGING.run(seed, optimistic=False, **params)
    a, b = opt.metrics["perceived_mean_ms"], pess.metrics["perceived_mean_ms"]
    cut = 1.0 - a / b if b and not (math.isnan(a) or math.isnan(b)) else math.nan
    return opt, pess, cut


MESSAGING = register_scenario(Scenario(
    name="messaging",
    summary="a chat client with and without optimistic UI: time to feedback, confirmation and rollbacks",
    params=PARAMS,
    runner=_run_messaging,
    work=lambda p: (p["messages"], "messages"),
    max_work=20_000,
))
