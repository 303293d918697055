"""The buyers of the ticket sale: what each one plans to do, and what happened to them.

A :class:`BuyerPlan` is drawn before the run from the simulation's seeded streams,
so both inventory modes face the very same crowd; a :class:`BuyerRecord` is filled
in by the web server that serves the buyer.  :data:`OUTCOMES` lists every way a
buyer's checkout can end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from ..latency import parse_latency
from ..sim import Simulation

__all__ = ["OUTCOMES", "BuyerPlan", "BuyerRecord", "plan_buyers"]

#: Every outcome a buyer can end with.
OUTCOMES = ("sold", "oversold", "sold-out", "failed-fast", "payment-failed", "abandoned", "expired", "failed")


@dataclass(frozen=True)
class BuyerPlan:
    """What a buyer will do, drawn before the run so both modes face the same crowd."""

    buyer: str
    region: str
    arrival_ms: float
    payment_ms: float
    abandons: bool
    payment_fails: bool


@dataclass
class BuyerRecord:
    """What happened to one buyer: when they arrived, when they heard, and how it ended."""

    buyer: str
    region: str
    web: str
    arrival_ms: float
    decision_ms: float = math.nan
    outcome: str = "pending"
    detail: str = ""
    hold_id: str = ""
    attempts: int = 0
    pay_start_ms: float = math.nan
    pay_end_ms: float = math.nan  # planned end of the payment step

    @property
    def checkout_ms(self) -> float:
        """Arrival to decision, payment included (ms); NaN while pending."""
        return self.decision_ms - self.arrival_ms

    @property
    def latency_ms(self) -> float:
        """Time spent waiting on the inventory: arrival to decision minus time spent paying (ms)."""
        paying = 0.0
        if not math.isnan(self.pay_start_ms):
            paying = max(0.0, min(self.decision_ms, self.pay_end_ms) - self.pay_start_ms)
        return self.checkout_ms - paying


def plan_buyers(sim: Simulation, p: dict, regions: Sequence[str]) -> list[BuyerPlan]:
    """Arrivals, then choices, then payment times, each from its own stream (changing one knob shifts no other).

    ``p`` holds the validated ``tickets`` parameters; buyers are dealt over ``regions``
    in turn (buyer ``b0`` to the first region, ``b1`` to the second...).
    """
    n, window = p["buyers"], p["arrival_window_ms"]
    arrivals_rng = sim.rng("buyers/arrivals")
    if p["arrival"] == "uniform":
        arrivals = sorted(arrivals_rng.uniform(0.0, window) for _ in range(n))
    else:
        arrivals, t = [], 0.0
        for _ in range(n):
            arrivals.append(t)
            if window > 0:
                t += arrivals_rng.expovariate(n / window)
    choices, pay_rng = sim.rng("buyers/choices"), sim.rng("buyers/payment")
    payment = parse_latency(p["payment_ms"], "payment_ms")
    plans = []
    for i, at in enumerate(arrivals):
        abandons = choices.random() < p["abandon"]
        fails = choices.random() < p["payment_failure"]
        plans.append(BuyerPlan(f"b{i}", regions[i % len(regions)], at, payment.sample(pay_rng), abandons, fails))
    return plans
