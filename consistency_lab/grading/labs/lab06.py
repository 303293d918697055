"""Public checks of lab 06, ``lab06_build_a_replica``: a linearizable register without a leader (ABD).

Students run these with ``check("q1_write")`` and friends.  The world (messages, the
:class:`~._lab06_world.Replica` base with the replica role and a naive quorum helper, course
clients, named fault schedules, the linearizability check of every run) is
:mod:`._lab06_world`, shared with the hidden checks.  Each part is checked through what only
that part decides: part 1 with writes alone on the given helper, part 2 with reads of replicas
whose state the check sets, part 3 on the schedule that exposes a read without write-back,
part 4 on phases started by hand.  No reference solution ships with these checks.
"""

from __future__ import annotations

from consistency_lab.grading import check_for

from ._lab06_world import ZERO, Probe, Read, build_world, run_phases, run_replicas, schedule_named

LAB = "lab06_build_a_replica"


def finished(run, want: int) -> None:
    """Fail unless every client operation of ``run`` finished with an answer."""
    done = [op for op in run.history if op.status == "ok" and op.client_id != "w0"]
    assert not run.stopped, f"{run.where()}: {run.stopped}"
    assert len(done) == want, f"{run.where()}: {len(done)} of {want} operations got an answer; the others timed " \
                              "out (does every path end with a reply to the client?)"


def stamps_by(run, src: str) -> list:
    """The stamps of the Stores ``src`` sent, in order, without repeats."""
    out: list = []
    for _, s, _, ts, _ in run.stores:
        if s == src and ts not in out:
            out.append(ts)
    return out


# -- part 1: the write path ------------------------------------------------------------------

@check_for(lab=LAB, grade_id="q1_write", points=25,
           hint="A new stamp is one more than the highest counter the Query phase found, named after the "
                "coordinator; then Store it.")
def write_stores_a_higher_stamp(ns):
    """a write stores a stamp above the highest its Query phase found, named after its coordinator"""
    run = run_replicas(ns.WritePath, "behind", name="WritePath")
    finished(run, 1)
    got = stamps_by(run, "r0")
    assert got, f"{run.where()}: r0 never sent a Store; after the Query phase the write stores its value"
    assert got == [(5, "r0")], f"{run.where()}: r0 stored under stamp(s) {got}; the highest stamp its Query phase " \
                               "could see is (4, 'r2'), so the write's stamp is (5, 'r0'): counter one higher, " \
                               "and the coordinator's name"
    values = {v for _, s, _, _, v in run.stores if s == "r0"}
    assert values == {1}, f"{run.where()}: r0 stored the value(s) {sorted(values, key=repr)}; expected the written 1"


@check_for(lab=LAB, grade_id="q1_write", points=25,
           hint="The client may hear that its write is done only when a majority holds the new value.")
def write_answers_after_its_store_phase(ns):
    """the client hears 'ok' only after a majority stored the value"""
    run = run_replicas(ns.WritePath, "behind", name="WritePath")
    finished(run, 1)
    op = next(op for op in run.history if op.client_id == "c0")
    assert op.return_time >= 300.0, \
        f"{run.where()}: the write answered its client at {op.return_time:g} ms, but r0's Stores to r1 and r2 take " \
        "300 ms: it answered before a majority held the value. Answer in the Store phase's on_quorum"


@check_for(lab=LAB, grade_id="q1_write", points=25,
           hint="Two writes that saw the same highest stamp must still get different stamps: what tells two "
                "coordinators apart?")
def concurrent_writes_get_different_stamps(ns):
    """two writes at once through r0 and r1 get different stamps"""
    run = run_replicas(ns.WritePath, "twins", name="WritePath")
    finished(run, 2)
    twice = run.same_stamp_twice()
    assert twice is None, f"{run.where()}: the values {twice[1]!r} and {twice[2]!r} were both stored under stamp " \
                          f"{twice[0]!r}; replicas then cannot tell which write is newer, and two reads can return " \
                          "them in opposite orders. Break ties with the coordinator's name"
    a, b = stamps_by(run, "r0"), stamps_by(run, "r1")
    assert a and b and a[0] > (3, "r2") and b[0] > (3, "r2"), \
        f"{run.where()}: stamps {a} (r0) and {b} (r1) must both be above (3, 'r2')"


@check_for(lab=LAB, grade_id="q1_write", points=25,
           hint="Each write's stamp is above every stamp a majority holds, so writes one after the other get "
                "growing stamps wherever they run.")
def writes_one_after_the_other_grow(ns):
    """four writes one after the other, through different replicas, get growing stamps; all replicas end on the last"""
    run = run_replicas(ns.WritePath, "round", name="WritePath")
    finished(run, 4)
    order = []
    for _, _, _, ts, value in run.stores:
        if (ts, value) not in order:
            order.append((ts, value))
    stamps = [ts for ts, _ in order]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4, \
        f"{run.where()}: the writes 1, 2, 3, 4 were stored under {order}; each must be higher than the one before"
    held = {r: (node.ts, node.value) for r, node in run.replicas.items()}
    assert all(v == order[-1] for v in held.values()), f"{run.where()}: at the end the replicas hold {held}; " \
                                                       f"every replica should hold the last write {order[-1]}"


# -- part 2: the read path -------------------------------------------------------------------

def reads_of(run) -> dict:
    """coordinator -> value read, for the scripted one-client read schedules (in script order)."""
    script = run.schedule.scripts[0]
    ops = [op for op in run.history if op.client_id == "c0"]
    return {step[3]: (op.output if op.status == "ok" else "no answer") for step, op in zip(script, ops)}


@check_for(lab=LAB, grade_id="q2_read", points=20,
           hint="The stamp says which value is newest, not the value itself, and not the coordinator's own copy.")
def read_takes_the_highest_stamp(ns):
    """a read returns the value with the highest stamp among the replies"""
    run = run_replicas(ns.ReadPath, "mixed-stamps", name="ReadPath")
    finished(run, 3)
    got = reads_of(run)
    assert got == {"r0": 5, "r1": 5, "r2": 5}, \
        f"{run.where()}: reads through r0, r1, r2 returned {got}; every majority includes r1 or r2, which hold 5 " \
        "under the highest stamp (3, 'r0'), so every read returns 5"


@check_for(lab=LAB, grade_id="q2_read", points=20,
           hint="Compare whole stamps: when the counters tie, the node name decides.")
def read_breaks_ties_by_node_name(ns):
    """when counters tie, the stamp with the higher node name wins"""
    run = run_replicas(ns.ReadPath, "tied-counters", name="ReadPath")
    finished(run, 3)
    got = reads_of(run)
    assert got == {"r0": 2, "r1": 2, "r2": 2}, \
        f"{run.where()}: reads returned {got}; (3, 'r2') is higher than (3, 'r0'), and every majority includes " \
        "a replica holding 2 under (3, 'r2'), so every read returns 2"


@check_for(lab=LAB, grade_id="q2_read", points=20,
           hint="A read changes nothing by itself: it hands what it found to answer_read.")
def a_fresh_register_reads_none(ns):
    """reads of a register nobody wrote return None, and the replicas still hold the initial stamp"""
    run = run_replicas(ns.ReadPath, "empty", name="ReadPath")
    finished(run, 3)
    got = reads_of(run)
    assert got == {"r0": None, "r1": None, "r2": None}, f"reads of a register nobody wrote returned {got}"
    changed = {r: n.ts for r, n in run.replicas.items() if n.ts != ZERO}
    assert not changed, f"after three reads of an empty register the replicas hold stamps {changed}; a read must " \
                        "not invent a new stamp"


# -- part 3: the write-back ------------------------------------------------------------------

@check_for(lab=LAB, grade_id="q3_writeback", points=25,
           hint="Before a read answers, a majority must hold what it found, so every later read finds it too.")
def no_new_old_inversion(ns):
    """a write that reached one replica: a read sees it, so a later read must see it too"""
    run = run_replicas(ns.WriteBack, "inversion", name="WriteBack")
    finished(run, 2)
    problem = run.problem()
    assert problem is None, problem


@check_for(lab=LAB, grade_id="q3_writeback", points=25,
           hint="Write back the stamp you found with its value, then answer once the Store phase has its majority.")
def write_back_keeps_the_stamp_and_waits(ns):
    """the write-back stores the stamp it found (no new one), and the read answers after a majority acknowledged"""
    sim, net, replicas = build_world(ns.WriteBack, schedule_named("behind"), 0)
    client = Probe("p0", sim, net)
    request = Read(sim.next_id())
    replicas["r0"].answer_read(client.name, request, (4, "r2"), 8)
    sim.run_bounded(2_000.0)
    sent = [(ts, v) for _, src, _, ts, v in net.stores if src == "r0"]
    assert sent, "answer_read sent no Store: the value found must be written back to a majority first"
    assert set(sent) == {((4, "r2"), 8)}, f"the write-back stored {sorted(set(sent), key=repr)}; it must store " \
                                          "exactly what the read found, stamp (4, 'r2') and value 8"
    answers = [(t, m) for t, _, m in client.got if type(m).__name__ == "ReadOk"]  # by name: see _lab06_world
    assert answers, "the read never answered its client after the write-back"
    t, msg = answers[0]
    assert msg.value == 8 and msg.reply_to == request.req_id, f"the client got {msg}; expected ReadOk with value 8"
    assert t >= 300.0, f"the read answered at {t:g} ms, but r0's Stores to r1 and r2 take 300 ms: answer only " \
                       "when a majority acknowledged the write-back"


# -- part 4: surviving faults ----------------------------------------------------------------

def phases_problem(runs, where: str) -> str | None:
    """None when every hand-started phase ended exactly once with a majority of distinct replicas."""
    for i, p in enumerate(runs):
        if p.ended is None:
            return f"{where}: phase {i + 1} (started at {p.started:g} ms) never reached its quorum"
        if p.endings != 1:
            return f"{where}: phase {i + 1} called on_quorum {p.endings} times; a phase ends once"
    return None


@check_for(lab=LAB, grade_id="q4_survive", points=30,
           hint="A quorum is a majority, not everyone: a crashed or cut-off minority must not stop a phase.")
def phases_end_with_a_replica_down_or_cut_off(ns):
    """with one replica of three crashed, or cut off, every phase still ends"""
    for name in ("one-down", "one-cut-off"):
        runs = run_phases(ns.ABDReplica, name)
        problem = phases_problem(runs, f"schedule {name!r} ({schedule_named(name).describe(about=False)})")
        assert problem is None, problem + ": wait for a majority of replicas, not for all of them"


@check_for(lab=LAB, grade_id="q4_survive", points=30,
           hint="Count replicas, not messages: the same replica's reply delivered twice is one answer.")
def a_duplicated_reply_counts_once(ns):
    """with every message delivered twice, a phase ends only when a majority of different replicas answered"""
    runs = run_phases(ns.ABDReplica, "echo")
    where = f"schedule 'echo' ({schedule_named('echo').describe(about=False)})"
    problem = phases_problem(runs, where)
    assert problem is None, problem
    early = [p for p in runs if p.ended - p.started < 100.0]
    assert not early, f"{where}: a phase ended after {early[0].ended - early[0].started:g} ms, before any other " \
                      "replica could answer (their replies take 100 ms): r0's own reply, delivered twice, was " \
                      "counted as two replicas"
    small = [p for p in runs if len(p.repliers) < 2]
    assert not small, f"{where}: a phase ended with replies from {small[0].repliers} only; a majority of three is two"


@check_for(lab=LAB, grade_id="q4_survive", points=30,
           hint="A lost message never arrives: until the phase has its majority, ask again the replicas that have "
                "not answered.")
def lost_messages_are_sent_again(ns):
    """with most messages between replicas lost, every phase still ends"""
    runs = run_phases(ns.ABDReplica, "heavy-loss", count=6)
    problem = phases_problem(runs, f"schedule 'heavy-loss' ({schedule_named('heavy-loss').describe(about=False)})")
    assert problem is None, problem + ": a request or reply was lost and never sent again"
