"""The collaborative document: two or three editors type into one shared text while links are cut.

One session of intentions (:mod:`.document_session`: who presses which key when, and
when each editor is cut off) is drawn from the seed and replayed by one of four
strategies, so strategies are compared on identical sessions:

* ``crdt``: each editor holds the course's RGA; operations go to every peer by reliable
  causal broadcast (:mod:`.document_crdt`);
* ``pycrdt``: the same, with a real Yjs document (pycrdt) per editor and Yrs update bytes
  as the operations;
* ``lww``: last-writer-wins on the whole document; every save ships the full text with a
  timestamp (:mod:`.document_lww`);
* ``central``: a server serialises edits; an editor that knows it is cut off keeps typing
  locally, and those offline edits are refused (a conflict the person must resolve) if
  anyone else committed meanwhile (:mod:`.document_central`).

After the session every editor stops typing and the run goes on until everything is
shipped and acknowledged (bounded).  The anomalies a person would report are then
counted against each editor's own edit log (:mod:`.document_anomalies`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..faults import FaultSchedule, parse_faults
from ..latency import Exponential
from ..network import Network, NetworkOptions
from ..node import Node
from ..sim import Simulation
from . import register_scenario
from .base import EVENT_BUDGET, Param, RunResult, Scenario, finite_end, stop_note
from .document_anomalies import Anomalies, count_anomalies
from .document_central import CentralEditor, CentralServer
from .document_crdt import REPLICAS, CrdtEditor
from .document_editors import Edit, EditorNode
from .document_lww import LwwEditor
from .document_session import SERVER, Session, draw_session, editor_name

__all__ = ["DOCUMENT", "DocumentResult", "STRATEGIES", "SNAPSHOTS"]

STRATEGIES = ("crdt", "pycrdt", "lww", "central")
#: How many evenly spaced snapshots of every replica's text a run records (for the time scrubber).
SNAPSHOTS = 120

PARAMS = (
    Param("strategy", str, "crdt", "how the editors share the text", choices=STRATEGIES),
    Param("editors", int, 3, "people editing the document", low=2, high=3),
    Param("duration_ms", float, 30_000.0, "how long the editors type (ms)", low=100.0, high=300_000.0),
    Param("keys_per_s", float, 3.0, "each editor's keystrokes per second (Poisson)", low=0.0, high=20.0),
    Param("delete_share", float, 0.15, "share of keystrokes that are backspaces", low=0.0, high=1.0),
    Param("jump_share", float, 0.05, "share of keystrokes that move the cursor to a random place",
          low=0.0, high=1.0),
    Param("base_chars", int, 44, "characters of starting text every replica holds", low=0, high=2_000),
    Param("partitions_per_min", float, 2.0, "each editor is cut off from everyone this often (per minute, Poisson)",
          low=0.0, high=60.0),
    Param("partition_ms", float, 5_000.0, "mean length of a cut-off (ms, exponential)", low=0.0, high=120_000.0),
    Param("faults", str, "", "extra cuts, clogs or crashes on e0, e1, e2, server, e.g. 'e0|e1,e2,server@2000-9000'"),
    Param("latency_ms", float, 20.0, "mean one-way network delay (ms, exponential)", low=0.0, high=10_000.0),
    Param("loss", float, 0.02, "probability a message is dropped", low=0.0, high=0.5),
    Param("duplicate", float, 0.01, "probability a message is delivered twice", low=0.0, high=1.0),
    Param("reorder", float, 0.05, "probability a message is held back (reordered)", low=0.0, high=1.0),
    Param("sync_ms", float, 100.0, "how often an editor ships unacknowledged edits or saves (ms)",
          low=10.0, high=10_000.0),
    Param("offline_after_ms", float, 1_000.0, "central: silence from the server after which an editor shows "
          "'offline' (ms)", low=1.0, high=60_000.0),
)


@dataclass
class DocumentResult(RunResult):
    """A document run: the session, every replica's final text and snapshots, the anomaly counts."""

    session: Session | None = None
    texts: dict = field(default_factory=dict)  # replica name -> final text (the server's too, for central)
    final: str = ""  # the converged text the anomalies are counted against
    converged: bool = False
    anomalies: Anomalies | None = None
    edits: list = field(default_factory=list)
    snapshots: dict = field(default_factory=dict)  # replica name -> [(time ms, text)]
    faults: FaultSchedule = field(default_factory=FaultSchedule)
    end_time: float = 0.0


def _cross_check(p: dict) -> None:
    if p["delete_share"] + p["jump_share"] > 1.0:
        raise ValueError(f"delete_share + jump_share={p['delete_share'] + p['jump_share']:g} must be at most 1; "
                         "allowed: shares that leave room for typing")
    parse_faults(p["faults"])  # a clear error before anything runs


def _work(p: dict) -> tuple[int, str]:
    keys = p["editors"] * p["keys_per_s"] * p["duration_ms"] / 1000.0
    rounds = p["editors"] * p["duration_ms"] / p["sync_ms"]
    return math.ceil(keys + rounds), "keystrokes + sync rounds"


def _build(sim: Simulation, net: Network, p: dict, session: Session) -> tuple[list[EditorNode], Any]:
    """The editors (and the central server) for ``p["strategy"]``."""
    n, strategy = session.editors, p["strategy"]
    keys = [tuple(k for k in session.keystrokes if k.editor == e) for e in range(n)]
    server = None
    if strategy in REPLICAS:
        replicas = REPLICAS[strategy](n, session.base)
        editors: list[EditorNode] = [CrdtEditor(editor_name(e), sim, net, e, session.base, keys[e], p["sync_ms"],
                                                replicas[e], n) for e in range(n)]
    elif strategy == "lww":
        editors = [LwwEditor(editor_name(e), sim, net, e, session.base, keys[e], p["sync_ms"], n) for e in range(n)]
    else:
        editors = [CentralEditor(editor_name(e), sim, net, e, session.base, keys[e], p["sync_ms"],
                                 p["offline_after_ms"]) for e in range(n)]
    if strategy == "central":
        server = CentralServer(SERVER, sim, net, session.base, n, p["sync_ms"])
    else:
        # The server node exists in every strategy (it does nothing outside central), so the same
        # cut-off windows and fault texts name the same nodes whatever the strategy.
        server = _Idle(SERVER, sim, net)
    return editors, server


class _Idle(Node):
    """A node that receives nothing: the server's place when the strategy has no server."""

    def start(self) -> None:
        """Nothing to start."""


def _run_document(seed: int, p: dict, hooks: dict) -> DocumentResult:
    """Draw the session, replay it with ``p["strategy"]``, settle, and count the anomalies."""
    sim = Simulation(seed, max_events=EVENT_BUDGET)
    session = draw_session(sim.rng("session"), editors=p["editors"], duration_ms=p["duration_ms"],
                           keys_per_s=p["keys_per_s"], delete_share=p["delete_share"],
                           jump_share=p["jump_share"], base_chars=p["base_chars"],
                           partitions_per_min=p["partitions_per_min"], partition_ms=p["partition_ms"])
    latency = Exponential(1.0 / p["latency_ms"]) if p["latency_ms"] > 0 else 0.0
    net = Network(sim, NetworkOptions(latency=latency, loss=p["loss"], duplicate=p["duplicate"],
                                      reorder=p["reorder"],
                                      reorder_delay=Exponential(1.0 / max(3 * p["latency_ms"], 1.0))))
    editors, server = _build(sim, net, p, session)
    faults = FaultSchedule(session.cuts) + parse_faults(p["faults"])
    net.apply(faults)
    for node in [*editors, server]:
        node.start()

    replicas: list[Any] = [*editors, server] if p["strategy"] == "central" else list(editors)
    snapshots: dict[str, list] = {r.name: [] for r in replicas}
    every = p["duration_ms"] / SNAPSHOTS

    def snap() -> None:
        for r in replicas:
            snapshots[r.name].append((sim.now, r.text()))
        if sim.now < p["duration_ms"]:
            sim.schedule(every, snap)
    sim.schedule(0.0, snap)

    # Bound: the session, the last finite fault, then time for every backlog to drain over a lossy link.
    settle = max(20_000.0, 200 * p["sync_ms"], 50 * p["latency_ms"])
    deadline = max(p["duration_ms"], finite_end(faults.last_heal())) + settle
    step = max(p["sync_ms"] * 5, 500.0)
    reason = "time"

    def all_settled() -> bool:
        if not all(e.settled() for e in editors):
            return False
        if p["strategy"] == "central":
            return all(e.version == server.version and e.settled_upto == server.settled[e.index] for e in editors)
        return len({e.text() for e in editors}) == 1

    while reason != "events" and sim.now < deadline and not (sim.now >= p["duration_ms"] and all_settled()):
        reason = sim.run_bounded(min(deadline, sim.now + step))
    done = sim.now >= p["duration_ms"] and all_settled()
    for r in replicas:
        snapshots[r.name].append((sim.now, r.text()))

    texts = {e.name: e.text() for e in editors}
    if p["strategy"] == "central":
        for e in editors:
            e.note_first_seen(server.committed_at)
        texts[SERVER] = server.text()
        final = server.text()
        refused, conflicts = server.refused, len(server.rejections)
    else:
        final = editors[0].text()
        refused, conflicts = set(), 0
    converged = len({e.text() for e in editors}) == 1 and final == editors[0].text()
    edits: list[Edit] = [ed for e in editors for ed in e.edits]
    anomalies = count_anomalies(edits, final, session.authors(), [e.first_seen for e in editors],
                                refused, conflicts)
    typed = sum(1 for ed in edits if ed.kind == "ins")
    metrics: dict[str, Any] = {
        **anomalies.as_dict(),
        "converged": converged,
        "typed_chars": typed,
        "deletes": sum(1 for ed in edits if ed.kind == "del"),
        "lost_char_share": anomalies.lost_chars / typed if typed else 0.0,
        "final_length": len(final),
        "cutoffs": len(session.cuts),
        "cut_ms": sum(c.end - c.start for c in session.cuts),
        "messages": net.sent,
        "messages_dropped": net.dropped,
        "settle_ms": max(sim.now - p["duration_ms"], 0.0),
    }
    unsettled = [e.name for e in editors if not e.settled()]
    return DocumentResult(
        scenario="document", seed=seed, params=dict(p), metrics=metrics, trace_digest=sim.trace_digest(),
        session=session, texts=texts, final=final, converged=converged, anomalies=anomalies, edits=edits,
        snapshots=snapshots, faults=faults, end_time=sim.now,
        stopped="" if done else stop_note(reason if reason == "events" else "time", deadline,
                                          ", ".join(unsettled) or "replicas still differ"))


DOCUMENT = register_scenario(Scenario(
    name="document",
    summary="editors type into one shared text across cut-offs: RGA, pycrdt (Yjs), last-writer-wins, a central server",
    params=PARAMS,
    runner=_run_document,
    cross_check=_cross_check,
    work=_work,
    max_work=20_000,
))
