"""The reconciliation success rate is honest: with no repair there is no rate, never 100 %."""

import math

from consistency_lab.patterns import ReconciliationDaemon
from consistency_lab.scenarios.timeline import TIMELINE
from consistency_lab.sim import Simulation
from consistency_lab.streams.monitors import success_rate

SMALL = dict(users=12, posts=60, follows=60, duration_ms=2000.0, loss=0.05, scan_interval_ms=200.0, page_size=6)


class Store:
    """Truth and copy as dicts; ``wrong`` keys are repaired with a value that is not the truth."""

    def __init__(self, drift=(), wrong=()):
        self.truth = {f"k{i}": i for i in range(6)}
        self.copy = dict(self.truth)
        for k in drift:
            self.copy[k] = -1
        self.wrong = set(wrong)

    def keys(self):
        return list(self.truth)

    def expected(self, key):
        return self.truth[key]

    def actual(self, key):
        return self.copy[key]

    def repair(self, key, value):
        self.copy[key] = value + 100 if key in self.wrong else value


def _report(store):
    daemon = ReconciliationDaemon(Simulation(0), store, interval_ms=10, page_size=6)
    daemon.run_pass()
    return daemon.report()


def test_no_repair_means_no_success_rate():
    report = _report(Store())
    assert report["passes"] == 1 and report["repairs"] == 0
    assert math.isnan(report["reconciliation_success_rate"])
    assert math.isnan(success_rate(0, 0))


def test_the_rate_counts_verified_repairs_only():
    assert _report(Store(drift=("k1", "k2")))["reconciliation_success_rate"] == 1.0
    assert _report(Store(drift=("k1", "k2", "k3", "k4"), wrong=("k4",)))["reconciliation_success_rate"] == 0.75


def test_a_timeline_run_without_the_daemon_has_no_success_rate():
    off = TIMELINE.run(0, reconciliation="off", **SMALL).metrics
    assert off["repairs"] == 0 and math.isnan(off["reconciliation_success_rate"])
    on = TIMELINE.run(0, **SMALL).metrics
    assert on["repairs"] > 0 and on["reconciliation_success_rate"] == 1.0
