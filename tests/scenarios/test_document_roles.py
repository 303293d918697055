"""Each role of the document scenario on its own: the central server, the LWW editor, causal delivery."""

from consistency_lab.network import Network
from consistency_lab.node import Node
from consistency_lab.scenarios.document_central import CentralOp, CentralServer, Submit, TombText
from consistency_lab.scenarios.document_crdt import CrdtEditor, OpBatch, pycrdt_replicas, rga_replicas
from consistency_lab.scenarios.document_lww import LwwEditor, LwwSave
from consistency_lab.sim import Simulation


def _net():
    sim = Simulation(0)
    return sim, Network(sim)


def _server(base="pq"):
    sim, net = _net()
    for name in ("e0", "e1"):
        Node(name, sim, net)
    return CentralServer("server", sim, net, base, editors=2, sync_ms=100.0)


def test_a_tombstoned_text_keeps_anchors_of_deleted_characters():
    t = TombText("abc")
    assert t.apply(CentralOp("del", "b")) and t.text() == "ac"
    assert t.apply(CentralOp("ins", "x", anchor="b")) and t.text() == "axc"  # placed after the tombstone
    assert t.apply(CentralOp("ins", "y")) and t.text() == "yaxc"
    assert not t.apply(CentralOp("ins", "z", anchor="?")) and not t.apply(CentralOp("del", "?"))
    copy = t.copy()
    copy.apply(CentralOp("del", "a"))
    assert t.text() == "yaxc" and copy.text() == "yxc"


def test_offline_edits_apply_cleanly_when_nobody_else_edited():
    server = _server()
    server.on_Submit(Submit(0, 1, (CentralOp("ins", "x", "p", offline=True, base=0),
                                   CentralOp("ins", "y", "x", offline=True, base=0))), "e0")
    assert server.text() == "pxyq" and server.version == 2 and not server.rejections


def test_offline_edits_that_raced_another_editor_are_one_refusal_across_resends():
    server = _server()
    server.on_Submit(Submit(1, 1, (CentralOp("ins", "b", "q"),)), "e1")  # e1 commits version 1
    first = (CentralOp("ins", "x", "p", offline=True, base=0), CentralOp("ins", "y", "x", offline=True, base=0))
    server.on_Submit(Submit(0, 1, first), "e0")
    server.on_Submit(Submit(0, 1, first), "e0")  # a resend changes nothing
    later = first + (CentralOp("ins", "z", "y", offline=True, base=0),)
    server.on_Submit(Submit(0, 1, later), "e0")  # typed later, same offline run
    assert server.text() == "pqb"
    assert [(r.editor, r.first, r.last) for r in server.rejections] == [(0, 1, 3)]
    assert server.refused == {(0, 1), (0, 2), (0, 3)} and server.settled == [3, 1]
    # Back online: an edit after a refused character cannot be placed, so it joins the refusal ...
    server.on_Submit(Submit(0, 4, (CentralOp("ins", "w", "z"),)), "e0")
    assert [(r.first, r.last) for r in server.rejections] == [(1, 4)]
    # ... and one anchored on a committed character is accepted.
    server.on_Submit(Submit(0, 5, (CentralOp("ins", "v", "b"),)), "e0")
    assert server.text() == "pqbv" and len(server.rejections) == 1


def test_an_lww_editor_adopts_only_newer_saves_and_loses_its_unsaved_keys():
    sim, net = _net()
    a = LwwEditor("e0", sim, net, 0, "ab", (), 100.0, editors=2)
    LwwEditor("e1", sim, net, 1, "ab", (), 100.0, editors=2)
    a.local_insert(2, "c")  # unsaved
    a.on_LwwSave(LwwSave((5.0, 1), "abX"), "e1")
    assert a.text() == "abX" and a.overwritten_by_remote == 1 and not a.dirty
    a.on_LwwSave(LwwSave((4.0, 1), "old"), "e1")
    assert a.text() == "abX"  # an older save is ignored (and still acknowledged)


def _three_editors(replicas):
    sim, net = _net()
    return [CrdtEditor(f"e{i}", sim, net, i, "ab", (), 100.0, replicas[i], 3) for i in range(3)]


def test_an_operation_waits_for_the_operations_it_depends_on():
    for build in (rga_replicas, pycrdt_replicas):
        e0, e1, e2 = _three_editors(build(3, "ab"))
        e0.local_insert(2, "x")
        e1.on_OpBatch(OpBatch(0, 1, tuple(e0.log)), "e0")
        e1.local_insert(3, "y")  # typed after seeing x: depends on it
        e2.on_OpBatch(OpBatch(1, 1, tuple(e1.log)), "e1")  # y arrives first
        assert e2.text() == "ab" and e2.delivered == [0, 0, 0]  # held back
        e2.on_OpBatch(OpBatch(0, 1, tuple(e0.log)), "e0")
        assert e2.text() == e1.text() == "abxy" and e2.delivered == [1, 1, 0]
        e2.on_OpBatch(OpBatch(0, 1, tuple(e0.log)), "e0")  # a duplicate is ignored
        assert e2.text() == "abxy" and e2.first_seen["y"] == e2.first_seen["x"]
