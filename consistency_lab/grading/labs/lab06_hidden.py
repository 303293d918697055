"""Hidden checks of lab 06, ``lab06_build_a_replica`` (only the grader imports this module).

Whole runs on three and five replicas over seeds and fault schedules (loss, duplication,
reordering, partitions, crashes), every history checked for linearizability, and a check per
part that the course's own replication code is not used.  Function names carry the ``l06h_``
prefix so the release's leak scan can find them.

The reference implementations of the four parts live here, not in the shipped world module
(they are the answers), as mixins: each hidden check runs the student's part with the
references of the other parts substituted (part isolation), then the student's own
combination, and says so when only the latter fails.
"""

from __future__ import annotations

from consistency_lab.grading import check_for
from consistency_lab.grading.labs import _isolation, _off_limits
from consistency_lab.grading.labs._lab06_world import RESEND_MS, Query, ReadOk, Replica, Store, WriteOk, run_replicas
from consistency_lab.grading.labs.lab06 import LAB

OFF_LIMITS = ("consistency_lab.replication",)


# -- references (hidden: they are the answers) --------------------------------------------------

class _RefPhase:
    """Part 4's answer: a majority of distinct replicas, resends until then, one ending per phase."""

    def init_volatile(self) -> None:
        """Phases in flight: req_id -> [request, on_quorum, {replica: reply}]."""
        super().init_volatile()  # type: ignore[misc]
        self._ref_phases: dict = {}

    def phase(self, request, on_quorum) -> None:
        """Send to every replica; end at a majority of distinct replies; resend meanwhile."""
        self._ref_phases[request.req_id] = [request, on_quorum, {}]
        self.broadcast(self.peers, request)
        self.set_timer(RESEND_MS, self._ref_resend, request.req_id)

    def on_QueryReply(self, msg, src) -> None:
        """One replica's answer."""
        self._ref_answered(msg, src)

    def on_StoreAck(self, msg, src) -> None:
        """One replica's answer."""
        self._ref_answered(msg, src)

    def _ref_answered(self, msg, src) -> None:
        entry = self._ref_phases.get(msg.reply_to)
        if entry is None:
            return
        entry[2][src] = msg
        if len(entry[2]) >= self.majority:
            del self._ref_phases[msg.reply_to]
            entry[1](dict(entry[2]))

    def _ref_resend(self, req_id) -> None:
        entry = self._ref_phases.get(req_id)
        if entry is not None:
            self.broadcast([p for p in self.peers if p not in entry[2]], entry[0])
            self.set_timer(RESEND_MS, self._ref_resend, req_id)


class _RefWrite:
    """Part 1's answer."""

    def on_Write(self, msg, src) -> None:
        """Query, then store a higher stamp."""
        self.phase(Query(self.sim.next_id()), lambda replies: self.write_chosen(src, msg, replies))

    def write_chosen(self, client, request, replies) -> None:
        """Counter one higher than the highest seen, tie broken by this node's name."""
        top = max(r.ts for r in replies.values())
        self.phase(Store(self.sim.next_id(), (top[0] + 1, self.name), request.value),
                   lambda acks: self.reply(client, request, WriteOk))


class _RefRead:
    """Part 2's answer."""

    def on_Read(self, msg, src) -> None:
        """Query a majority."""
        self.phase(Query(self.sim.next_id()), lambda replies: self.read_chosen(src, msg, replies))

    def read_chosen(self, client, request, replies) -> None:
        """The highest stamp wins."""
        best = max(replies.values(), key=lambda r: r.ts)
        self.answer_read(client, request, best.ts, best.value)


class _RefWriteBack:
    """Part 3's answer."""

    def answer_read(self, client, request, ts, value) -> None:
        """Store what was found on a majority, then answer."""
        self.phase(Store(self.sim.next_id(), ts, value),
                   lambda acks: self.reply(client, request, ReadOk, value=value))


_WRITE_BASE = type("WritePath", (_RefWrite, Replica), {})
_READ_BASE = type("ReadPath", (_RefRead, _RefWrite, Replica), {})
_WRITEBACK_BASE = type("WriteBack", (_RefWriteBack, _RefRead, _RefWrite, Replica), {})
_PHASED_BASE = type("Replica", (_RefPhase, Replica), {})


def _alone(ns, part: str) -> type:
    """The student's class of ``part`` with the references for every other part."""
    if part == "q1_write":
        own = _isolation.rebased(ns.WritePath, "Replica", _PHASED_BASE)
        return type("WritePath", (_RefWriteBack, _RefRead, own), {})
    if part == "q2_read":
        own = _isolation.rebased(ns.ReadPath, "WritePath", _WRITE_BASE)
        return type("ReadPath", (_RefWriteBack, _RefPhase, own), {})
    if part == "q3_writeback":
        own = _isolation.rebased(ns.WriteBack, "ReadPath", _READ_BASE)
        return type("WriteBack", (_RefPhase, own), {})
    return _isolation.rebased(ns.ABDReplica, "WriteBack", _WRITEBACK_BASE)


_OWN = {"q1_write": ("WritePath", "ABDReplica"), "q2_read": ("ReadPath", "ABDReplica"),
        "q3_writeback": ("WriteBack", "ABDReplica"), "q4_survive": ("ABDReplica", "ABDReplica")}


def _runs_problem(cls: type, name: str, schedules, seeds, finish: tuple = ()) -> str | None:
    """None when every run is linearizable (and, on ``finish`` schedules, every operation got an answer)."""
    for schedule in schedules:
        for seed in seeds:
            run = run_replicas(cls, schedule, seed, name=name)
            if run.stopped:
                return f"{run.where()}: {run.stopped}"
            problem = run.problem()
            if problem is not None:
                return problem
            if schedule in finish and run.unfinished():
                op = run.unfinished()[0]
                return (f"{run.where()}: {len(run.unfinished())} operation(s) never got an answer (first: "
                        f"{op.client_id}'s {op.input[0]} called at {op.call:g} ms); replay it: {run.replay_line()}")
    return None


def _part_runs(ns, part: str, schedules, seeds, finish: tuple = ()) -> str | None:
    """Run the part alone (references for the rest); if it passes, run the student's own combination too."""
    own_name, full = _OWN[part]
    problem = _runs_problem(_alone(ns, part), own_name, schedules, seeds, finish)
    assert problem is None, problem

    def own() -> None:
        again = _runs_problem(ns[full], full, schedules, seeds, finish)
        assert again is None, again

    if part == "q4_survive":
        return None
    return _isolation.earlier_part_note(own, "ABDReplica", "all your parts together")


FAULTY = ("calm", "reorder", "duplicates", "loss", "partition", "crash-restart", "mixed")
FIVE = ("calm-5", "five-two-down", "five-storm")


def _own_work(ns, part: str) -> None:
    names = {"q1_write": ["WritePath"], "q2_read": ["ReadPath"], "q3_writeback": ["WriteBack"],
             "q4_survive": ["ABDReplica"]}[part]
    _off_limits.assert_own_work(ns, names, OFF_LIMITS, "replication and quorum code")


# -- part 1 -----------------------------------------------------------------------------------

@check_for(lab=LAB, grade_id="q1_write", points=25, public=False,
           hint="Over many seeds and faults, each write's stamp must be above every stamp a majority holds, and "
                "unique.")
def l06h_writes_over_faulty_runs(ns):
    """your write path, with correct reads and quorums: linearizable on 10 schedules (3 and 5 replicas), 3 seeds each"""
    return _part_runs(ns, "q1_write", FAULTY + FIVE, range(3))


@check_for(lab=LAB, grade_id="q1_write", points=25, public=False,
           hint="Two writes that saw the same highest stamp need different stamps: break ties by coordinator.")
def l06h_twin_writes_then_reads(ns):
    """two concurrent writes through r0 and r1, then reads: different stamps, linearizable"""
    run = run_replicas(_alone(ns, "q1_write"), "twin-writes", name="WritePath")
    twice = run.same_stamp_twice()
    assert twice is None, f"{run.where()}: the values {twice[1]!r} and {twice[2]!r} were stored under one stamp " \
                          f"{twice[0]!r}"
    problem = run.problem()
    assert problem is None, problem


@check_for(lab=LAB, grade_id="q1_write", points=25, public=False,
           hint="Write the part yourself, on the messages and the Replica base the lab gives you.")
def l06h_write_path_is_own_work(ns):
    """the write path does not use the course's replication code"""
    _own_work(ns, "q1_write")


# -- part 2 -----------------------------------------------------------------------------------

@check_for(lab=LAB, grade_id="q2_read", points=20, public=False,
           hint="Over many seeds and faults, a read returns the value of the highest stamp its majority holds.")
def l06h_reads_over_faulty_runs(ns):
    """your read path, with correct writes, write-back and quorums: linearizable on 10 schedules, 3 seeds each"""
    return _part_runs(ns, "q2_read", FAULTY + FIVE, range(3))


@check_for(lab=LAB, grade_id="q2_read", points=20, public=False,
           hint="Write the part yourself, on the messages and the Replica base the lab gives you.")
def l06h_read_path_is_own_work(ns):
    """the read path does not use the course's replication code"""
    _own_work(ns, "q2_read")


# -- part 3 -----------------------------------------------------------------------------------

@check_for(lab=LAB, grade_id="q3_writeback", points=25, public=False,
           hint="A read answers only once a majority holds what it found, whatever the network does meanwhile.")
def l06h_write_back_over_faulty_runs(ns):
    """your write-back, with correct writes, reads and quorums: the inversion and 10 more schedules, 3 seeds each"""
    return _part_runs(ns, "q3_writeback", ("inversion",) + FAULTY + FIVE, range(3))


@check_for(lab=LAB, grade_id="q3_writeback", points=25, public=False,
           hint="Write the part yourself, on the messages and the Replica base the lab gives you.")
def l06h_write_back_is_own_work(ns):
    """the write-back does not use the course's replication code"""
    _own_work(ns, "q3_writeback")


# -- part 4 -----------------------------------------------------------------------------------

@check_for(lab=LAB, grade_id="q4_survive", points=30, public=False,
           hint="A minority down or cut off, duplicates, losses: a majority of distinct replicas, asked again "
                "until they answer.")
def l06h_whole_runs_survive_a_minority(ns):
    """with correct writes and reads: a replica down or cut off, two of five down, duplicates and losses"""
    finish = ("one-down", "one-cut-off", "five-two-down", "heavy-loss", "echo")
    return _part_runs(ns, "q4_survive", finish + ("duplicates", "five-storm", "mixed"), range(3), finish)


@check_for(lab=LAB, grade_id="q4_survive", points=30, public=False,
           hint="Write the part yourself, on the messages and the Replica base the lab gives you.")
def l06h_quorums_are_own_work(ns):
    """the quorum phases do not use the course's replication code"""
    _own_work(ns, "q4_survive")
