"""The world lab 04's checks run in: a ticket sale with leases, a payment desk, and order sagas.

Shared by the public checks (:mod:`.lab04`) and the hidden ones.  Everything runs on a
virtual :class:`Clock` (milliseconds) under a deterministic scheduler: the random draws
(who arrives when, who pays slowly, which payment is declined, which reply is delivered
twice) come from named streams of a :class:`~consistency_lab.sim.Simulation`, so a seed
gives the same run in any process.

* Part 1: :func:`run_sale` lets many buyers race for a few seats (reserve, then confirm,
  release or vanish; some too slowly for their lease) and records every answer, so a check
  can find an oversold seat, a confirm after expiry or a release of someone else's hold.
* Part 2: :class:`PaymentDesk` (scripted declines, timeouts before or after the money moved,
  slow payments, crashes) and :class:`ScriptedInventory`, a stand-in that answers as told
  and records its calls, so the checkout is checked on its own.
* Parts 3 and 4: :class:`Participants` (seats, card, tickets) that execute every command they
  get and record it: they are *not* idempotent, so a compensation sent twice is seen; and
  :func:`run_sagas`, which delivers an orchestrator's commands and the replies in a random
  order with redeliveries; :func:`run_recovery` replays crashed orders through a recovery
  function, crashing it too.

No checks and no reference implementation of a graded part live here: this module ships
to students.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from consistency_lab.sim import Simulation

__all__ = ["Clock", "Lease", "SimulatedCrash", "BuyerPlan", "SaleRun", "plan_buyers", "run_sale", "PaymentTimeout",
           "PaymentDesk", "ScriptedInventory", "PlaceOrder", "Reply", "Command", "FORWARD", "UNDO", "Participants",
           "SagaRun", "run_sagas", "Facts", "RecoveryRun", "run_recovery", "end_state_problems", "seat_problems"]


class Clock:
    """Virtual time in milliseconds: the inventory reads ``clock.now``; the world moves it forward."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = float(now)

    def advance(self, ms: float) -> None:
        """Move time forward by ``ms``."""
        self.now += ms


@dataclass(frozen=True)
class Lease:
    """A hold on one seat: who holds it, its token (unique per hold), and when it stops counting (ms)."""

    seat: str
    buyer: str
    token: int
    expires_at: float


class SimulatedCrash(Exception):
    """The process running the code crashed here: its volatile state is gone."""


# -- part 1: many buyers, few seats -------------------------------------------------------------

@dataclass(frozen=True)
class BuyerPlan:
    """What one buyer does: arrive, reserve, wait ``think_ms``, then ``then`` (confirm, release or vanish)."""

    buyer: str
    arrive_ms: float
    think_ms: float
    then: str
    retries: int


@dataclass
class SaleRun:
    """One sale: the inventory, the plans, and every call with its time and answer."""

    seats: int
    lease_ms: float
    inventory: Any
    clock: Clock
    plans: list[BuyerPlan]
    #: (time, buyer, what, lease or None, answer) of every call, in order.
    calls: list[tuple[float, str, str, Optional[Lease], Any]] = field(default_factory=list)

    def confirmed(self) -> list[tuple[float, Lease]]:
        """(time, lease) of every confirm that returned True."""
        return [(t, lease) for t, _, what, lease, ok in self.calls if what == "confirm" and ok is True]

    def releases(self) -> list[tuple[float, Lease, Any]]:
        """(time, lease, answer) of every release."""
        return [(t, lease, ok) for t, _, what, lease, ok in self.calls if what == "release"]

    def reserved(self) -> list[tuple[float, Lease]]:
        """(time, lease) of every reserve that returned a lease."""
        return [(t, lease) for t, _, what, lease, _ in self.calls if what == "reserve" and lease is not None]


def plan_buyers(seed: int, buyers: int, pace_ms: float = 1_000.0, *, slow: float = 0.25, vanish: float = 0.2,
                release: float = 0.15, window_ms: float = 4_000.0) -> list[BuyerPlan]:
    """Seeded buyers: most decide within ``pace_ms``, some take 1.2 to 2.2 times as long, some vanish or give up."""
    rng = Simulation(seed, trace=False).rng("lab04/buyers")
    plans = []
    for i in range(buyers):
        roll = rng.random()
        then = "vanish" if roll < vanish else "release" if roll < vanish + release else "confirm"
        late = rng.random() < slow
        think = pace_ms * (1.2 + rng.random()) if late else pace_ms * (0.1 + 0.7 * rng.random())
        plans.append(BuyerPlan(f"b{i:02d}", round(rng.uniform(0.0, window_ms), 1), round(think, 1), then,
                               rng.randint(0, 3)))
    return plans


def run_sale(make_inventory: Callable[[int, float, Clock], Any], seed: int, *, seats: int = 4, buyers: int = 30,
             lease_ms: float = 1_000.0, pace_ms: float = 1_000.0, retry_ms: float = 700.0, **plan: float) -> SaleRun:
    """Race ``buyers`` for ``seats`` on ``make_inventory(seats, lease_ms, clock)``; one call at a time, by time.

    Buyers decide at their own pace (``pace_ms``), whatever the lease; a buyer who finds no
    free seat tries again ``retry_ms`` later, up to its retries.  After
    the last buyer the clock moves past every lease, so every hold that was not confirmed
    has expired.
    """
    clock = Clock()
    inventory = make_inventory(seats, lease_ms, clock)
    plans = plan_buyers(seed, buyers, pace_ms, **plan)
    run = SaleRun(seats, lease_ms, inventory, clock, plans)
    # (time, sequence, buyer index, step, lease, tries left): sequence breaks ties deterministically.
    queue = [(p.arrive_ms, i, i, "reserve", None, p.retries) for i, p in enumerate(plans)]
    seq = len(queue)
    while queue:
        queue.sort(key=lambda item: (item[0], item[1]))
        at, _, who, step, lease, tries = queue.pop(0)
        clock.now = max(clock.now, at)
        plan_of = plans[who]
        if step == "reserve":
            got = inventory.reserve(plan_of.buyer)
            run.calls.append((clock.now, plan_of.buyer, "reserve", got, got))
            if got is not None and plan_of.then != "vanish":
                queue.append((clock.now + plan_of.think_ms, seq, who, plan_of.then, got, tries))
            elif got is None and tries > 0:
                queue.append((clock.now + retry_ms, seq, who, "reserve", None, tries - 1))
        else:
            answer = getattr(inventory, step)(lease)
            run.calls.append((clock.now, plan_of.buyer, step, lease, answer))
        seq += 1
    clock.advance(2 * lease_ms + 1.0)
    return run


def seat_problems(run: SaleRun) -> list[str]:
    """What went wrong in a sale, judged only from the calls and the world's clock (empty when nothing)."""
    problems: list[str] = []
    by_seat: dict[str, list[str]] = {}
    for t, lease in run.confirmed():
        by_seat.setdefault(lease.seat, []).append(lease.buyer)
        if t >= lease.expires_at:
            problems.append(f"{lease.buyer}'s confirm at {t:g} ms succeeded, but its lease on {lease.seat} had "
                            f"expired at {lease.expires_at:g} ms")
    for seat, owners in sorted(by_seat.items()):
        if len(owners) > 1:
            problems.append(f"seat {seat} was sold {len(owners)} times (to {', '.join(owners)}): oversold")
    if len(run.confirmed()) > run.seats:
        problems.append(f"{len(run.confirmed())} confirmed tickets for {run.seats} seats: oversold")
    for t, lease in run.reserved():
        if abs(lease.expires_at - (t + run.lease_ms)) > 1e-6:
            problems.append(f"a lease reserved at {t:g} ms expires at {lease.expires_at:g} ms; expected "
                            f"{t + run.lease_ms:g} (reserve time plus the lease)")
            break
    tokens = [lease.token for _, lease in run.reserved()]
    if len(set(tokens)) != len(tokens):
        problems.append("two holds got the same token: a token must name one hold, never reused")
    for t, lease, ok in run.releases():
        if ok is True and t >= lease.expires_at:
            problems.append(f"{lease.buyer}'s release at {t:g} ms returned True, but its lease on {lease.seat} had "
                            f"expired at {lease.expires_at:g} ms: the seat may belong to someone else by then")
    return problems


# -- part 2: paying for a held seat -------------------------------------------------------------

class PaymentTimeout(TimeoutError):
    """The payment service did not answer in time: the money may or may not have moved.

    A ``TimeoutError``, so code catches it as ``except TimeoutError`` (the grader imports this
    module afresh, so a notebook's own import of this class is not the one the checks raise).
    """


class PaymentDesk:
    """A card service with scripted trouble; it records what it charged and refunded.

    ``script`` maps a buyer to what happens to their charge: ``"ok"``, ``"declined"``,
    ``"timeout-before"`` (no money moved), ``"timeout-after"`` (the money moved, the answer was
    lost), ``"slow"`` (ok, but it takes ``slow_ms``), or ``"crash"`` (the checkout process dies
    before the money moves).
    """

    def __init__(self, clock: Clock, script: Optional[dict[str, str]] = None, *, slow_ms: float = 0.0) -> None:
        self.clock, self.script, self.slow_ms = clock, dict(script or {}), slow_ms
        #: (buyer, token) -> number of times money was taken, minus refunds.
        self.balance: dict[tuple[str, int], int] = {}
        self.calls: list[tuple[str, str, int]] = []

    def charge(self, buyer: str, token: int) -> str:
        """Take the price for the hold ``token``: "paid" or "declined"; may raise PaymentTimeout."""
        what = self.script.get(buyer, "ok")
        self.calls.append(("charge", buyer, token))
        if what == "crash":
            raise SimulatedCrash(f"the checkout of {buyer} crashed while paying")
        if what == "declined":
            return "declined"
        if what == "timeout-before":
            self.clock.advance(self.slow_ms)
            raise PaymentTimeout(f"no answer for {buyer}'s payment")
        self.balance[(buyer, token)] = self.balance.get((buyer, token), 0) + 1
        if what == "timeout-after":
            self.clock.advance(self.slow_ms)
            raise PaymentTimeout(f"no answer for {buyer}'s payment")
        if what == "slow":
            self.clock.advance(self.slow_ms)
        return "paid"

    def refund(self, buyer: str, token: int) -> None:
        """Give back the charge for ``token`` if there is one (a refund of nothing changes nothing)."""
        self.calls.append(("refund", buyer, token))
        if self.balance.get((buyer, token), 0) > 0:
            self.balance[(buyer, token)] -= 1

    def charged(self, buyer: str) -> int:
        """How many charges of ``buyer`` stand (not refunded)."""
        return sum(n for (b, _), n in self.balance.items() if b == buyer)


class ScriptedInventory:
    """A stand-in inventory for checking a checkout alone: it answers as scripted and records its calls.

    ``reserve`` hands out one lease per buyer (or None when ``sold_out``); ``confirm`` returns
    ``confirm_ok`` (False models a lease that ran out while the buyer was paying).
    """

    def __init__(self, clock: Clock, *, lease_ms: float = 1_000.0, confirm_ok: bool = True,
                 sold_out: bool = False) -> None:
        self.clock, self.lease_ms, self.confirm_ok, self.sold_out = clock, lease_ms, confirm_ok, sold_out
        self.calls: list[tuple[str, str]] = []
        self.tokens = 0

    def reserve(self, buyer: str) -> Optional[Lease]:
        """A lease for ``buyer``, or None when scripted as sold out."""
        self.calls.append(("reserve", buyer))
        if self.sold_out:
            return None
        self.tokens += 1
        return Lease(f"s{self.tokens}", buyer, self.tokens, self.clock.now + self.lease_ms)

    def confirm(self, lease: Lease) -> bool:
        """The scripted answer."""
        self.calls.append(("confirm", lease.buyer))
        return self.confirm_ok

    def release(self, lease: Lease) -> bool:
        """Record the release."""
        self.calls.append(("release", lease.buyer))
        return True

    def did(self, what: str) -> int:
        """How many calls of kind ``what`` were made."""
        return sum(1 for w, _ in self.calls if w == what)


# -- parts 3 and 4: order sagas -------------------------------------------------------------------

#: The saga's steps in order, and the compensation that undoes each (issuing is the last step: nothing undoes it).
FORWARD = ("reserve", "charge", "issue")
UNDO = {"reserve": "release", "charge": "refund"}


@dataclass(frozen=True)
class PlaceOrder:
    """A customer placed order ``order`` (may be delivered more than once)."""

    order: str


@dataclass(frozen=True)
class Command:
    """The orchestrator asks a participant to do ``action`` for ``order``."""

    order: str
    action: str


@dataclass(frozen=True)
class Reply:
    """A participant's answer to a command: did ``action`` for ``order`` succeed (may be redelivered)."""

    order: str
    action: str
    ok: bool


class Participants:
    """Seat desk, card and ticket office in one: each command is executed as it comes, and recorded.

    They are deliberately *not* idempotent: a refund sent twice gives the money back twice,
    so a check sees it.  ``fail`` names the forward steps that fail, as (order, action).
    """

    def __init__(self, fail: frozenset = frozenset()) -> None:
        self.fail = frozenset(fail)
        #: order -> every executed (action, ok) in order.
        self.done: dict[str, list[tuple[str, bool]]] = {}
        self.held: dict[str, int] = {}
        self.charged: dict[str, int] = {}
        self.issued: dict[str, int] = {}
        self.refused: set[str] = set()

    def execute(self, cmd: Command) -> Reply:
        """Do ``cmd`` and answer."""
        if not isinstance(cmd, Command) and not (hasattr(cmd, "order") and hasattr(cmd, "action")):
            raise AssertionError(f"the orchestrator sent {cmd!r}; send Command(order, action) records")
        order, action = cmd.order, cmd.action
        ok = (order, action) not in self.fail
        if action == "issue" and not ok:
            self.refused.add(order)
        if action == "reserve" and ok:
            self.held[order] = self.held.get(order, 0) + 1
        elif action == "charge" and ok:
            self.charged[order] = self.charged.get(order, 0) + 1
        elif action == "issue" and ok:
            self.issued[order] = self.issued.get(order, 0) + 1
        elif action == "release":
            self.held[order] = self.held.get(order, 0) - 1
        elif action == "refund":
            self.charged[order] = self.charged.get(order, 0) - 1
        elif action not in FORWARD:
            raise AssertionError(f"the orchestrator sent an unknown action {action!r}; allowed: "
                                 f"{', '.join(FORWARD + tuple(UNDO.values()))}")
        self.done.setdefault(order, []).append((action, ok))
        return Reply(order, action, ok)

    def facts(self, order: str) -> "Facts":
        """What the participants' durable records say about ``order`` now."""
        return Facts(order, self.held.get(order, 0) > 0, self.charged.get(order, 0) > 0,
                     self.issued.get(order, 0) > 0, order in self.refused)


@dataclass(frozen=True)
class Facts:
    """The durable truth about one order: seat held? card charged? ticket issued? did the ticket office refuse it?"""

    order: str
    held: bool
    charged: bool
    issued: bool
    refused: bool = False


def end_state_problems(participants: Participants, orders: list[str]) -> list[str]:
    """Every order that ended badly: anything done twice, undone in the wrong order, or left half done."""
    problems = []
    for order in orders:
        done = participants.done.get(order, [])
        actions = [a for a, _ in done]
        for action in FORWARD + tuple(UNDO.values()):
            if actions.count(action) > 1:
                problems.append(f"order {order}: {action} was executed {actions.count(action)} times "
                                f"({' -> '.join(actions)})")
        held, charged, issued = (participants.held.get(order, 0), participants.charged.get(order, 0),
                                 participants.issued.get(order, 0))
        if min(held, charged) < 0:
            problems.append(f"order {order}: a compensation undid a step that never happened ({' -> '.join(actions)})")
        if charged > 0 and not issued:
            problems.append(f"order {order}: the card is charged but no ticket was issued ({' -> '.join(actions)})")
        if held > 0 and not issued:
            problems.append(f"order {order}: a seat is held for an order that has no ticket "
                            f"({' -> '.join(actions)})")
        if issued and not (held > 0 and charged > 0):
            problems.append(f"order {order}: a ticket was issued without a held seat and a charge "
                            f"({' -> '.join(actions)})")
        if "refund" in actions and "release" in actions and actions.index("release") < actions.index("refund"):
            problems.append(f"order {order}: the seat was released before the card was refunded "
                            f"({' -> '.join(actions)}); compensate in reverse order")
    return problems


@dataclass
class SagaRun:
    """One run of many sagas: the participants' records, what was delivered, and the outcome per order."""

    orchestrator: Any
    participants: Participants
    orders: list[str]
    delivered: int = 0
    redelivered: int = 0
    stopped: str = ""

    def problems(self) -> list[str]:
        """Every order that ended badly, plus a stopped run."""
        return ([self.stopped] if self.stopped else []) + end_state_problems(self.participants, self.orders)


def _commands(out: Any, where: str) -> list:
    if out is None:
        return []
    if not isinstance(out, (list, tuple)):
        raise AssertionError(f"the answer to {where} was {out!r}; return a list of Command records (or [])")
    return list(out)


def run_sagas(orchestrator: Any, seed: int, *, orders: int = 12, fail: float = 0.3, duplicate: float = 0.3,
              max_deliveries: int = 5_000) -> SagaRun:
    """Place ``orders`` orders (``orchestrator.place``), deliver every command and reply in a seeded random order.

    Each forward step fails with probability ``fail``; every message (placed orders and
    replies) is delivered again later with probability ``duplicate``.  Commands and replies
    in flight are picked at random, so the world reorders them across orders and within a list.
    """
    sim = Simulation(seed, trace=False)
    faults, net = sim.rng("lab04/failures"), sim.rng("lab04/network")
    names = [f"o{i:02d}" for i in range(orders)]
    failing = frozenset((o, a) for o in names for a in FORWARD if faults.random() < fail)
    participants = Participants(failing)
    run = SagaRun(orchestrator, participants, names)
    # In flight: ("to-orchestrator", message) or ("to-participant", command).
    flight: list[tuple[str, Any]] = [("to-orchestrator", PlaceOrder(o)) for o in names]
    while flight:
        if run.delivered >= max_deliveries:
            run.stopped = f"stopped after {max_deliveries} deliveries: the orchestrator keeps sending commands"
            break
        kind, msg = flight.pop(net.randrange(len(flight)))
        run.delivered += 1
        if kind == "to-orchestrator":
            out = orchestrator.place(msg.order) if isinstance(msg, PlaceOrder) else orchestrator.on_reply(msg)
            flight += [("to-participant", c) for c in _commands(out, repr(msg))]
            if net.random() < duplicate:  # at-least-once delivery: the same message again, some time later
                run.redelivered += 1
                flight.append(("to-orchestrator", msg))
        else:
            flight.append(("to-orchestrator", participants.execute(msg)))
    return run


@dataclass
class RecoveryRun:
    """Orders left half done by a crashed orchestrator, and what recovery made of them."""

    participants: Participants
    orders: list[str]
    crashes: int = 0
    calls: int = 0
    stopped: str = ""

    def problems(self) -> list[str]:
        """Every order that ended badly, plus a recovery that never finished."""
        return ([self.stopped] if self.stopped else []) + end_state_problems(self.participants, self.orders)


def half_done(seed: int, orders: int, fail: float = 0.25) -> tuple[Participants, list[str]]:
    """Orders a crashed orchestrator left behind: each got a random prefix of its steps (and maybe of its undo)."""
    sim = Simulation(seed, trace=False)
    rng = sim.rng("lab04/crash-points")
    names = [f"r{i:02d}" for i in range(orders)]
    failing = frozenset((o, "issue") for o in names if rng.random() < fail)
    participants = Participants(failing)
    for order in names:
        steps = rng.randint(0, 3)
        for action in FORWARD[:steps]:
            participants.execute(Command(order, action))
        # The crashed orchestrator sometimes got as far as part of the undo (in the right order).
        if steps >= 2 and not participants.facts(order).issued and rng.random() < 0.4:
            participants.execute(Command(order, "refund"))
    return participants, names


def run_recovery(recover: Callable[[Facts], Any], seed: int, *, orders: int = 16, crash: float = 0.3,
                 max_rounds: int = 20) -> RecoveryRun:
    """After an orchestrator crash, call ``recover(facts)`` per order until it asks for nothing more.

    The world executes the returned commands in order; with probability ``crash`` the
    recovery process itself crashes after the first of them, and the next round starts from
    the participants' records again.
    """
    participants, names = half_done(seed, orders)
    rng = Simulation(seed, trace=False).rng("lab04/recovery-crashes")
    run = RecoveryRun(participants, names)
    for order in names:
        for _ in range(max_rounds):
            run.calls += 1
            cmds = _commands(recover(participants.facts(order)), f"recover({participants.facts(order)})")
            if not cmds:
                break
            if any(getattr(c, "order", None) != order for c in cmds):
                raise AssertionError(f"recover({participants.facts(order)}) returned {cmds}: commands for another "
                                     "order")
            for i, cmd in enumerate(cmds):
                participants.execute(cmd)
                if i == 0 and len(cmds) > 1 and rng.random() < crash:
                    run.crashes += 1
                    break
        else:
            run.stopped = f"recovery of {order} still asked for commands after {max_rounds} rounds"
            break
    return run
