"""Appointment booking as a command against booking as an event; reminders as events that may lag.

Patients arrive at ``arrival_rate`` per second (exponential gaps) at one of
``frontends`` booking front-ends (``fe0``, ``fe1``...), each wanting one of ``slots``
appointment slots.  Everyone prefers an early appointment: a patient picks at random
among the ``choice_window`` earliest slots *their front-end believes* are free.  A
front-end learns that a slot is taken from its own bookings at once, and from the
others' when the news of a booking reaches it (``handler_lag_ms`` after the booking
is recorded, plus the network).  What differs is who decides:

``mode="command"``
    the front-end sends ``ScheduleAppointment`` to the slots' owner, the calendar service
    (``calendar``), which
    takes the slot's lock, checks and writes (``service_ms``), and accepts or rejects at
    once.  A rejected patient tries another slot (``attempts`` in all).  It never
    double-books; the price is a round trip, the lock wait when patients want the same
    slot, and availability while the owner is down (``faults="crash:calendar@500-1500"``).

``mode="event"``
    the front-end says yes at once from its own view and publishes
    ``AppointmentRequested``; the calendar (``calendar``) applies it asynchronously,
    ``handler_lag_ms`` later.  The patient has already been told yes, so the calendar
    can only record what it is given: two front-ends that gave away the same slot
    within the lag have **double-booked** it.  Sends are retried until acknowledged
    (``attempts`` in all) and the calendar applies each patient's event once.

In both modes each booking, once recorded, emits ``AppointmentScheduled``: the
reminder service sends reminders one at a time, each taking ``reminder_ms``, so under a
rush they queue; it runs an idempotent handler (``reminder_handler="dedupe"``) or a naive
one, and with probability ``duplicate`` an event is delivered a second time (at-least-once
delivery).  The reminder lag (recorded to sent) is measured and compared with
``reminder_tolerance_ms`` (default one hour: appointments are days away, so seconds of
lag are harmless).

Metrics: ``booked`` (patients told yes), ``double_bookings`` (bookings recorded on a
slot that already had one), ``double_booked_patients``, ``turned_away``, ``failed``
(no answer: timeouts, a crashed front-end), ``rejected_taken``, ``lost_bookings``
(told yes, never recorded), ``unconfirmed_bookings`` (recorded, but the patient
heard only timeouts), ``booking_latency_*`` (arrival to the patient's answer:
the transaction latency), ``lock_wait_*`` (command mode), ``handler_lag_*`` (event
mode: yes to recorded), ``reminder_lag_*`` (recorded to reminder sent),
``reminders_sent``, ``duplicate_reminders``, ``reminders_late``, ``reminders_missing``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..faults import Clog, Crash, Partition, parse_faults
from ..latency import parse_latency
from ..metrics import latency_summary
from ..network import Network, NetworkOptions
from ..node import Message, Node, Reply, Request
from ..patterns.idempotency import make_handler
from ..sim import Simulation
from ..streams.log import Event
from . import register_scenario
from .base import EVENT_BUDGET, Param, RunResult, Scenario, stop_note

__all__ = ["BOOKING", "BookingResult", "BookingSweep", "PatientRecord", "BOOKING_MODES", "OUTCOMES", "booking_sweep"]

BOOKING_MODES = ("command", "event")
#: Every way a patient's booking can end.
OUTCOMES = ("booked", "double-booked", "turned-away", "failed")

PARAMS = (
    Param("mode", str, "command", "who decides a slot is free: its owner, per command, or each front-end "
          "from its own view (an event handled later)", choices=BOOKING_MODES),
    Param("patients", int, 40, "patients who each want one appointment", low=1, high=5000),
    Param("slots", int, 60, "appointment slots on offer", low=1, high=5000),
    Param("frontends", int, 3, "booking front-ends patients arrive at (fe0, fe1, ...)", low=1, high=8),
    Param("arrival_rate", float, 20.0, "patients arriving per second (exponential gaps): the concurrency",
          low=0.01, high=10_000),
    Param("choice_window", int, 3, "a patient picks among this many earliest slots believed free", low=1, high=50),
    Param("latency", str, "lognormal:5,0.3", "one-way network delay (ms)"),
    Param("service_ms", str, "lognormal:2,0.3", "command: how long the owner holds a slot's lock to check "
          "and write (ms)"),
    Param("handler_lag_ms", str, "exp:200", "time from a booking to its handling elsewhere: the calendar "
          "applying an event, and the news of a booking reaching other front-ends (ms)"),
    Param("reminder_ms", str, "exp:100", "time the reminder service takes to send one reminder; it sends "
          "one at a time (ms)"),
    Param("reminder_handler", str, "dedupe", "reminder service: skip redelivered events (dedupe) or not (naive)",
          choices=("dedupe", "naive")),
    Param("duplicate", float, 0.1, "probability an AppointmentScheduled event is delivered twice", low=0.0, high=1.0),
    Param("reminder_tolerance_ms", float, 3_600_000.0, "a reminder later than this after the booking is late (ms)",
          low=1.0, high=1e9),
    Param("attempts", int, 3, "tries per patient: slots (command) or sends of the event (event)", low=1, high=20),
    Param("timeout_ms", float, 1000.0, "a front-end stops waiting for an answer after this long (ms)",
          low=1.0, high=600_000),
    Param("loss", float, 0.0, "probability a network message is dropped", low=0.0, high=1.0),
    Param("faults", str, "", "crashes, partitions and clogs, e.g. 'crash:calendar@500-1500' or 'fe0|calendar@200-900'"),
    Param("settle_ms", float, 1000.0, "quiet time after the last answer for events and reminders (ms)",
          low=0.0, high=600_000),
)


def _nodes(p: dict) -> list[str]:
    return [f"fe{i}" for i in range(p["frontends"])] + ["calendar"]


def _cross_check(p: dict) -> None:
    for name in ("latency", "service_ms", "handler_lag_ms", "reminder_ms"):
        parse_latency(p[name], name)
    nodes = _nodes(p)
    for f in parse_faults(p["faults"]).faults:
        names = [f.node] if isinstance(f, Crash) else [f.a, f.b] if isinstance(f, Clog) else \
            [n for g in f.groups for n in g] if isinstance(f, Partition) else []
        for n in names:
            if n not in nodes:
                raise ValueError(f"faults: unknown node {n!r}; allowed: {', '.join(nodes)}")


# -- messages -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScheduleAppointment(Request):
    """A command: book ``slot`` for ``patient``, accepted or rejected by the slot's owner."""

    patient: str = ""
    slot: int = 0


@dataclass(frozen=True)
class ScheduleReply(Reply):
    """The owner's answer: "accepted" (with the slot the patient holds) or "taken"."""

    status: str = ""
    slot: int = 0


@dataclass(frozen=True)
class AppointmentRequested(Request):
    """An event: front-end ``frontend`` already told ``patient`` yes for ``slot``."""

    patient: str = ""
    slot: int = 0


@dataclass(frozen=True)
class Ack(Reply):
    """The calendar has recorded the event."""


@dataclass(frozen=True)
class SlotTaken(Message):
    """News for front-ends: ``slot`` has a booking."""

    slot: int = 0


# -- the patients ---------------------------------------------------------------------------

@dataclass
class PatientRecord:
    """What happened to one patient: where they arrived, when they heard, how it ended."""

    patient: str
    frontend: str
    arrival_ms: float
    picks: tuple[float, ...]
    outcome: str = "pending"
    slot: int = -1
    decided_ms: float = math.nan
    attempts: int = 0
    recorded_ms: float = math.nan  # when the owner or calendar recorded the booking

    @property
    def latency_ms(self) -> float:
        """Arrival to the patient's answer (ms); NaN while pending."""
        return self.decided_ms - self.arrival_ms


def _plan(sim: Simulation, p: dict) -> list[PatientRecord]:
    """Arrivals and slot picks from their own streams, so both modes face the same patients."""
    arrivals, picks = sim.rng("patients/arrivals"), sim.rng("patients/picks")
    out, t = [], 0.0
    for i in range(p["patients"]):
        draws = tuple(picks.random() for _ in range(p["attempts"]))
        out.append(PatientRecord(f"p{i}", f"fe{i % p['frontends']}", t, draws))
        t += arrivals.expovariate(p["arrival_rate"] / 1000.0)
    return out


# -- the reminder service ---------------------------------------------------------------------

class Reminders:
    """Handles AppointmentScheduled deliveries one at a time, each taking ``send`` ms; deliveries may repeat."""

    def __init__(self, sim: Simulation, send: Any, duplicate: float, handler: str) -> None:
        self.sim, self.send, self.duplicate = sim, send, duplicate
        self.rng = sim.rng("reminders")
        # A reminder is one more "sent" for the patient: a naive handler counts redeliveries too.
        self.handler = make_handler(handler, lambda n, _e: (n or 0) + 1)
        self.sent: dict[str, list[float]] = {}
        self._queue: deque = deque()
        self._busy = False

    @property
    def pending(self) -> int:
        """Deliveries queued or being handled."""
        return len(self._queue) + self._busy

    def emit(self, patient: str, booked_at: float) -> None:
        """Publish AppointmentScheduled for ``patient``: delivered once, or twice with probability ``duplicate``."""
        event = Event(f"appt-{patient}", patient, "AppointmentScheduled", {"booked_at": booked_at})
        copies = 2 if self.rng.random() < self.duplicate else 1
        self._queue.extend([event] * copies)
        if not self._busy:
            self._next()

    def _next(self) -> None:
        if self._queue:
            self._busy = True
            self.sim.schedule(self.send.sample(self.rng), self._deliver, self._queue.popleft())
        else:
            self._busy = False

    def _deliver(self, event: Event) -> None:
        before = self.handler.state.get(event.key, 0)
        self.handler.handle(event)
        if self.handler.state.get(event.key, 0) > before:
            self.sent.setdefault(event.key, []).append(self.sim.now)
            self.sim.record("note", "reminders", event.key, "reminder sent")  # in the digest: it identifies a run
        self._next()


# -- the deciders ---------------------------------------------------------------------------

class SlotOwner(Node):
    """The one authority for the calendar: a lock per slot, commands accepted or rejected at once.

    The calendar is durable; the lock queues are volatile (a crash drops the commands
    waiting, whose senders time out and retry).  Commands are idempotent by patient.
    """

    def __init__(self, name: str, sim: Simulation, network: Network, *, service: Any, frontends: list[str],
                 news_lag: Any, on_record: Callable[[str, int], None]) -> None:
        self.service, self.frontends, self.news_lag, self.on_record = service, frontends, news_lag, on_record
        self.calendar: dict[int, list[str]] = {}
        self.holds: dict[str, int] = {}
        self.lock_waits: list[float] = []
        self.rejected = 0
        self._rng = sim.rng("owner")
        super().__init__(name, sim, network)

    def init_volatile(self) -> None:
        """Slot locks and their queues live in memory."""
        self._locked: set[int] = set()
        self._queues: dict[int, deque] = {}

    def on_ScheduleAppointment(self, msg: ScheduleAppointment, src: str) -> None:
        """Queue for the slot's lock; work at once if it is free."""
        if msg.slot in self._locked:
            self._queues.setdefault(msg.slot, deque()).append((msg, src, self.sim.now))
        else:
            self._start(msg, src, self.sim.now)

    def _start(self, msg: ScheduleAppointment, src: str, queued_at: float) -> None:
        self._locked.add(msg.slot)
        self.lock_waits.append(self.sim.now - queued_at)
        self.set_timer(self.service.sample(self._rng), self._finish, msg, src)

    def _finish(self, msg: ScheduleAppointment, src: str) -> None:
        held = self.holds.get(msg.patient)
        if held is not None:  # a retry of a command that already succeeded
            self.reply(src, msg, ScheduleReply, status="accepted", slot=held)
        elif self.calendar.get(msg.slot):
            self.rejected += 1
            self.reply(src, msg, ScheduleReply, status="taken", slot=msg.slot)
        else:
            self.calendar[msg.slot] = [msg.patient]
            self.holds[msg.patient] = msg.slot
            self.on_record(msg.patient, msg.slot)
            self.set_timer(self.news_lag.sample(self._rng), self.broadcast, self.frontends, SlotTaken(msg.slot))
            self.reply(src, msg, ScheduleReply, status="accepted", slot=msg.slot)
        self._locked.discard(msg.slot)
        queue = self._queues.get(msg.slot)
        if queue:
            nxt, nsrc, queued_at = queue.popleft()
            self._start(nxt, nsrc, queued_at)


class Calendar(Node):
    """Applies AppointmentRequested events ``handler_lag_ms`` after they arrive, once per patient.

    It cannot refuse: the patient was told yes already.  Bookings are durable; events
    waiting for the handler are volatile (their senders retry until acknowledged).
    """

    def __init__(self, name: str, sim: Simulation, network: Network, *, lag: Any, frontends: list[str],
                 on_record: Callable[[str, int], None]) -> None:
        self.lag, self.frontends, self.on_record = lag, frontends, on_record
        self.calendar: dict[int, list[str]] = {}
        self.applied: set[str] = set()
        self._rng = sim.rng("calendar")
        super().__init__(name, sim, network)

    def on_AppointmentRequested(self, msg: AppointmentRequested, src: str) -> None:
        """Handle the event after the handler's lag, then acknowledge it."""
        self.set_timer(self.lag.sample(self._rng), self._apply, msg, src)

    def _apply(self, msg: AppointmentRequested, src: str) -> None:
        if msg.patient not in self.applied:  # idempotent: a resent event is recorded once
            self.applied.add(msg.patient)
            self.calendar.setdefault(msg.slot, []).append(msg.patient)
            self.on_record(msg.patient, msg.slot)
            self.broadcast([f for f in self.frontends if f != src], SlotTaken(msg.slot))
        self.reply(src, msg, Ack)


class FrontEnd(Node):
    """Where patients book: picks a slot from its view, then asks the owner or says yes and publishes."""

    def __init__(self, name: str, sim: Simulation, network: Network, *, mode: str, target: str, slots: int,
                 window: int, timeout_ms: float, attempts: int, on_decision: Callable[[PatientRecord], None]) -> None:
        self.mode, self.target, self.slots, self.window = mode, target, slots, window
        self.timeout_ms, self.attempts, self.on_decision = timeout_ms, attempts, on_decision
        self.lost: list[PatientRecord] = []
        super().__init__(name, sim, network)

    def init_volatile(self) -> None:
        """The view of taken slots is a cache; sessions live in memory."""
        self.taken: set[int] = set()
        self._sessions: dict[str, PatientRecord] = {}

    def on_crash(self) -> None:
        """Patients being served get no answer; a yes whose event was not yet acknowledged is lost."""
        sessions, self._sessions = self._sessions, {}
        for rec in sessions.values():
            if rec.outcome == "pending":
                self._decide(rec, "failed")
            else:  # event mode: the send buffer died with the process (a dual write without an outbox)
                self.lost.append(rec)

    def on_SlotTaken(self, msg: SlotTaken, _src: str) -> None:
        """News of a booking elsewhere."""
        self.taken.add(msg.slot)

    def arrive(self, rec: PatientRecord) -> None:
        """A patient starts booking now."""
        if not self.alive:
            self._decide(rec, "failed")
            return
        self._sessions[rec.patient] = rec
        self._try(rec)

    def _pick(self, rec: PatientRecord) -> Optional[int]:
        free = []
        for s in range(self.slots):  # earliest first
            if s not in self.taken:
                free.append(s)
                if len(free) == self.window:
                    break
        if not free:
            return None
        return free[int(rec.picks[min(rec.attempts, len(rec.picks) - 1)] * len(free))]

    def _decide(self, rec: PatientRecord, outcome: str) -> None:
        if self.mode == "command":
            self._sessions.pop(rec.patient, None)
        rec.outcome, rec.decided_ms = outcome, self.sim.now
        self.on_decision(rec)

    def _try(self, rec: PatientRecord) -> None:
        slot = self._pick(rec)
        if slot is None:
            self._decide(rec, "turned-away")
            return
        rec.attempts += 1
        if self.mode == "command":
            msg = ScheduleAppointment(self.sim.next_id(), rec.patient, slot)
            self.request(self.target, msg, self.timeout_ms, lambda reply, _s: self._answered(rec, reply),
                         lambda: self._timed_out(rec, slot))
        else:
            # The eventual front-end decides alone: yes now, the calendar hears of it later.
            self.taken.add(slot)
            rec.slot = slot
            self._decide(rec, "booked")
            self._publish(rec, 1)

    # -- command mode ------------------------------------------------------------------
    def _answered(self, rec: PatientRecord, reply: ScheduleReply) -> None:
        if reply.status == "accepted":
            self.taken.add(reply.slot)
            rec.slot = reply.slot
            self._decide(rec, "booked")
        else:
            self.taken.add(reply.slot)
            self._again(rec)

    def _timed_out(self, rec: PatientRecord, slot: int) -> None:
        # Retry the same slot: the owner is idempotent by patient, so a late success is not booked twice.
        if rec.attempts < self.attempts:
            rec.attempts += 1
            msg = ScheduleAppointment(self.sim.next_id(), rec.patient, slot)
            self.request(self.target, msg, self.timeout_ms, lambda reply, _s: self._answered(rec, reply),
                         lambda: self._timed_out(rec, slot))
        else:
            self._decide(rec, "failed")

    def _again(self, rec: PatientRecord) -> None:
        if rec.attempts < self.attempts:
            self._try(rec)
        else:
            self._decide(rec, "turned-away")

    # -- event mode --------------------------------------------------------------------
    def _publish(self, rec: PatientRecord, send: int) -> None:
        msg = AppointmentRequested(self.sim.next_id(), rec.patient, rec.slot)
        self.request(self.target, msg, self.timeout_ms, lambda _reply, _s: self._sessions.pop(rec.patient, None),
                     lambda: self._resend(rec, send))

    def _resend(self, rec: PatientRecord, send: int) -> None:
        if send < self.attempts:
            self._publish(rec, send + 1)
        else:
            self._sessions.pop(rec.patient, None)
            self.lost.append(rec)


# -- the run --------------------------------------------------------------------------------

@dataclass
class BookingResult(RunResult):
    """A booking run: every patient's record, the recorded calendar, and every reminder sent.

    ``calendar[slot]``: the patients recorded on it, in order (more than one: double-booked);
    ``reminders[patient]``: the times reminders were sent; ``lock_waits``: ms each command
    waited for its slot's lock (command mode).
    """

    patients: list[PatientRecord] = field(default_factory=list)
    calendar: dict[int, list[str]] = field(default_factory=dict)
    reminders: dict[str, list[float]] = field(default_factory=dict)
    lock_waits: list[float] = field(default_factory=list)
    end_time: float = 0.0

    def outcome_counts(self) -> dict[str, int]:
        """How many patients ended each way, in :data:`OUTCOMES` order."""
        counts = {o: 0 for o in OUTCOMES}
        for rec in self.patients:
            counts[rec.outcome] = counts.get(rec.outcome, 0) + 1
        return counts


def _run_booking(seed: int, p: dict, _hooks: dict) -> BookingResult:
    """Build the front-ends and the decider, let the patients book, and measure (``BOOKING.run``)."""
    sim = Simulation(seed, trace=True, max_events=EVENT_BUDGET)
    net = Network(sim, NetworkOptions(latency=p["latency"], loss=p["loss"]))
    command = p["mode"] == "command"
    reminders = Reminders(sim, parse_latency(p["reminder_ms"], "reminder_ms"), p["duplicate"],
                          p["reminder_handler"])
    records = _plan(sim, p)
    by_name = {r.patient: r for r in records}

    def on_record(patient: str, _slot: int) -> None:
        by_name[patient].recorded_ms = sim.now
        reminders.emit(patient, sim.now)

    fronts = [f"fe{i}" for i in range(p["frontends"])]
    lag = parse_latency(p["handler_lag_ms"], "handler_lag_ms")
    decider: Any
    if command:
        decider = SlotOwner("calendar", sim, net, service=parse_latency(p["service_ms"], "service_ms"),
                            frontends=fronts, news_lag=lag, on_record=on_record)
    else:
        decider = Calendar("calendar", sim, net, lag=lag, frontends=fronts, on_record=on_record)
    left = {"undecided": len(records)}
    finished = sim.env.event()

    def on_decision(_rec: PatientRecord) -> None:
        left["undecided"] -= 1
        if left["undecided"] == 0 and not finished.triggered:
            finished.succeed()

    webs = [FrontEnd(name, sim, net, mode=p["mode"], target=decider.name, slots=p["slots"],
                     window=p["choice_window"], timeout_ms=p["timeout_ms"], attempts=p["attempts"],
                     on_decision=on_decision) for name in fronts]
    for rec in records:
        sim.schedule(rec.arrival_ms, webs[int(rec.frontend[2:])].arrive, rec)
    faults = net.apply(p["faults"])

    # Each attempt ends by its timeout (or an answer), so every patient is decided by then.
    heal = faults.last_heal() if faults.last_heal() != math.inf else 0.0
    cap = records[-1].arrival_ms + heal + (p["attempts"] + 1) * (p["timeout_ms"] + 10_000.0)
    reason = sim.run_bounded(cap, stop_when=finished)
    decided_at = sim.now
    stopped = stop_note(reason, cap, f"{left['undecided']} patients undecided") if left["undecided"] else ""
    # Then the eventual side catches up: events resent, the handler's lag, reminders.  Bounded
    # by many mean times rather than "until idle", so a heavy tail cannot keep the run going.
    send = parse_latency(p["reminder_ms"], "reminder_ms").mean()
    # Reminders go out one at a time: every booking and its duplicate may queue behind the others.
    tail = 50 * max(lag.mean(), send, 1.0) + 2 * len(records) * send
    stop = max(sim.now, heal) + min(tail, 3_600_000.0) + p["attempts"] * p["timeout_ms"] + p["settle_ms"]
    if reason != "events":
        why = sim.run_bounded(stop)
        if why == "events" or (why == "time" and reminders.pending):
            stopped = stop_note(why, stop, f"the settle period ({reminders.pending} reminders in flight)")
    for rec in records:
        if rec.outcome == "pending":
            rec.outcome, rec.decided_ms = "failed", math.nan
    calendar = {s: list(ps) for s, ps in sorted(decider.calendar.items())}
    for ps in calendar.values():
        for extra in ps[1:]:
            by_name[extra].outcome = "double-booked"
        if len(ps) > 1 and by_name[ps[0]].outcome == "booked":
            by_name[ps[0]].outcome = "double-booked"
    lost = [r for w in webs for r in w.lost]
    metrics = _metrics(p, records, calendar, reminders, decider, lost, decided_at)
    return BookingResult(scenario="booking", seed=seed, params=dict(p), metrics=metrics,
                         trace_digest=sim.trace_digest(), patients=records, calendar=calendar,
                         reminders={k: list(v) for k, v in sorted(reminders.sent.items())},
                         lock_waits=list(decider.lock_waits) if command else [], end_time=sim.now, stopped=stopped)


def _metrics(p: dict, records: list[PatientRecord], calendar: dict[int, list[str]], reminders: Reminders,
             decider: Any, lost: list[PatientRecord], decided_at: float) -> dict[str, Any]:
    told_yes = [r for r in records if r.outcome in ("booked", "double-booked")]
    recorded = [r for r in records if not math.isnan(r.recorded_ms)]
    lags = [reminders.sent[r.patient][0] - r.recorded_ms for r in recorded if r.patient in reminders.sent]
    m: dict[str, Any] = {
        "patients": len(records),
        "booked": len(told_yes),
        "double_bookings": sum(len(ps) - 1 for ps in calendar.values()),
        "double_booked_patients": sum(1 for r in records if r.outcome == "double-booked"),
        "slots_double_booked": sum(1 for ps in calendar.values() if len(ps) > 1),
        "turned_away": sum(1 for r in records if r.outcome == "turned-away"),
        "failed": sum(1 for r in records if r.outcome == "failed"),
        "rejected_taken": decider.rejected if isinstance(decider, SlotOwner) else 0,
        "lost_bookings": len(lost),
        # Recorded, but every answer to the patient was lost: a slot held for someone told "failed".
        "unconfirmed_bookings": sum(1 for r in recorded if r.outcome == "failed"),
        "all_decided_ms": decided_at,
        "reminders_sent": sum(len(v) for v in reminders.sent.values()),
        "duplicate_reminders": sum(len(v) - 1 for v in reminders.sent.values()),
        "reminders_late": sum(1 for x in lags if x > p["reminder_tolerance_ms"]),
        "reminders_missing": sum(1 for r in recorded if r.patient not in reminders.sent),
    }
    m.update(latency_summary([r.latency_ms for r in records if r.outcome != "failed"], "booking_latency"))
    waits = decider.lock_waits if isinstance(decider, SlotOwner) else []
    m.update(latency_summary(waits, "lock_wait") if waits else
             {f"lock_wait_{k}_ms": math.nan for k in ("p50", "p95", "p99", "max")})
    handled = [r.recorded_ms - r.decided_ms for r in told_yes if not math.isnan(r.recorded_ms)] \
        if p["mode"] == "event" else []
    m.update(latency_summary(handled, "handler_lag"))
    m.update(latency_summary(lags, "reminder_lag"))
    return m


BOOKING = register_scenario(Scenario(
    name="booking",
    summary="appointment booking as a command to the slot's owner (never double-books) against an event "
            "handled later (double-books under concurrency); reminders as events that lag harmlessly",
    params=PARAMS,
    runner=_run_booking,
    cross_check=_cross_check,
    work=lambda p: (p["patients"] * p["attempts"], "patients x attempts"),
    max_work=20_000,
))


@dataclass
class BookingSweep:
    """Both modes at each arrival rate: ``runs[mode][i]`` is the run at ``rates[i]`` (same seed, same patients)."""

    rates: list[float]
    runs: dict[str, list[BookingResult]]

    def series(self, mode: str, metric: str) -> list[float]:
        """``metric`` of ``mode``'s runs, one value per rate."""
        return [r.metrics[metric] for r in self.runs[mode]]


def booking_sweep(seed: int, rates: "list[float] | tuple[float, ...]", modes: tuple[str, ...] = BOOKING_MODES,
                  **params: Any) -> BookingSweep:
    """Run ``booking`` for each mode at each arrival rate (patients per second), other parameters fixed."""
    if not rates:
        raise ValueError("rates=[] must hold at least one arrival rate; allowed: numbers between 0.01 and 10000")
    if "arrival_rate" in params or "mode" in params:
        raise ValueError("arrival_rate and mode are what booking_sweep varies; allowed: the other booking parameters")
    runs = {m: [BOOKING.run(seed, mode=m, arrival_rate=rate, **params) for rate in rates] for m in modes}
    return BookingSweep([float(r) for r in rates], runs)
