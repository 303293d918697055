"""Explorer.update runs and draws without cyclic garbage collection, and always switches it back on."""

import gc

from consistency_lab.widgets.base import Explorer, slider


class _Probe(Explorer):
    """Records whether the collector was on while it ran and drew; k=0 fails."""

    def make_controls(self):
        return {"k": slider(1, 0, 5, "k")}

    def run(self, params):
        self.collecting_in_run = gc.isenabled()
        if params["k"] == 0:
            raise ValueError("k=0 must be at least 1")
        return params["k"]

    def render(self, result, fig):
        self.collecting_in_draw = gc.isenabled()
        fig.add_subplot().plot([0, 1], [0, result])


def test_no_collection_during_an_update_and_back_on_after_it():
    assert gc.isenabled()
    e = _Probe()
    e.controls["k"].value = 3
    assert e.error is None and e.result == 3
    assert not e.collecting_in_run and not e.collecting_in_draw and gc.isenabled()
    e.controls["k"].value = 0  # a failed run switches it back on too
    assert e.error == "ValueError: k=0 must be at least 1" and gc.isenabled()


def test_a_collector_switched_off_by_the_caller_stays_off():
    gc.disable()
    try:
        e = _Probe()
        e.controls["k"].value = 2
        assert e.result == 2 and not gc.isenabled()
    finally:
        gc.enable()
