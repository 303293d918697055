"""Property: any parameter set of any scenario either runs to an end quickly or is refused clearly.

Hypothesis draws every parameter of every registered scenario, favouring the edges of
each range (loss and duplication up to 1.0, the largest sizes), and fault schedules
that crash every kind of node (replicas, clients, web servers, the reservation
service), cut regions and single nodes both ways and one way, and clog links.
"""

import time

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from consistency_lab.scenarios import Param, RunResult, all_scenarios

WALL_CLOCK_BOUND_S = 30.0  # generous: two shared CI cores; typical accepted runs take well under 5 s

#: Node and region names each scenario's fault schedule may use (some valid, some not).
NAMES = {
    "register": ["A", "B", "r0", "r1", "r2", "c0", "c1", "c3"],
    "tickets": ["A", "B", "web0", "web1", "r0", "r1", "rs"],
    "document": ["e0", "e1", "e2", "server"],
    "crdt": ["r0", "r1", "r2", "r3"],
    "booking": ["fe0", "fe1", "calendar"],
}
WRONG_NAMES = ["c9", "r7", "nobody"]  # refused: the error must list the valid targets


def _number(param: Param, integer: bool):
    """Mostly the default or small values (so most runs are accepted), often the edges of the range."""
    lo = param.low if param.low is not None else -1e6
    hi = param.high if param.high is not None else 1e6
    if integer:
        lo, hi = int(lo), int(hi)
        edges = st.sampled_from(sorted({lo, hi, min(lo + 1, hi)}))
        small = st.integers(lo, min(hi, max(lo + 50, 2 * param.default)))
        return st.one_of(st.just(param.default), small, small, edges, st.integers(lo, hi))
    edges = st.sampled_from(sorted({lo, hi, (lo + hi) / 2}))
    near = st.floats(lo, min(hi, max(lo + 1.0, 3 * param.default)), allow_nan=False)
    return st.one_of(st.just(param.default), near, edges, st.floats(lo, hi, allow_nan=False))


def _faults(names):
    window = st.tuples(st.integers(0, 3000), st.one_of(st.integers(1, 3000), st.none()))

    def spec(kind, a, b, w):
        start, length = w
        times = f"{start}-{start + length}" if length is not None else f"{start}"
        return {"crash": f"crash:{a}@{times}", "cut": f"{a}|{b}@{times}", "one-way": f"{a}>{b}@{times}",
                "clog": f"{a}~{b}@{times}"}[kind]

    name = st.sampled_from(names * 8 + WRONG_NAMES)
    one = st.builds(spec, st.sampled_from(["crash", "cut", "one-way", "clog"]), name, name, window)
    return st.lists(one, max_size=3).map(";".join)


LATENCIES = st.sampled_from(
    ["0", "5", "lognormal:40,0.2", "exp:3", "uniform:0,500", "pareto:1,1.1", "lognormal:1,2"] * 5
    + ["lognormal:0,1", "nonsense", "-3"])  # the last three are refused, naming what is allowed


def _param(scenario_name: str, param: Param):
    if param.choices is not None:
        return st.sampled_from(list(param.choices))
    if param.kind is bool:
        return st.booleans()
    if param.kind is int:
        return _number(param, integer=True)
    if param.kind is float:
        return _number(param, integer=False)
    if param.name == "faults":
        return _faults(NAMES[scenario_name])
    if param.name.endswith("_leader"):  # register's crash_leader / isolate_leader: mostly never, else a window
        window = st.builds("{}-{}".format, st.integers(0, 3000), st.integers(3000, 6000))
        return st.one_of(st.just(""), st.just(""), window, st.integers(0, 3000).map(str))
    if "latency" in param.name or param.name.endswith("_ms"):
        return LATENCIES
    return st.just(param.default)


def _params(scenario):
    return st.fixed_dictionaries({p.name: _param(scenario.name, p) for p in scenario.params if p.name != "trace"})


OUTCOMES: dict[str, list[str]] = {}


def _check_ends(scenario, params, seed):
    start = time.perf_counter()
    outcomes = OUTCOMES.setdefault(scenario.name, [])
    try:
        result = scenario.run(seed, trace=False, **params) if "trace" in scenario.defaults() \
            else scenario.run(seed, **params)
    except ValueError as exc:
        message = str(exc)
        assert "must be" in message or "allowed" in message or "more than" in message, message
        assert "\n" not in message, message  # one line, not a traceback
        outcomes.append("refused")
        return
    outcomes.append("ran")
    elapsed = time.perf_counter() - start
    assert isinstance(result, RunResult)
    assert elapsed < WALL_CLOCK_BOUND_S, f"{scenario.name} took {elapsed:.1f} s with {params}"
    assert isinstance(result.stopped, str)


def _property(name):
    scenario = all_scenarios()[name]

    # No shrinking: a failure is reported at once with its parameters, so CI stays bounded.
    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck),
              phases=[Phase.explicit, Phase.generate])  # no reuse: stored examples would change the draw
    @given(params=_params(scenario), seed=st.integers(0, 2**32))
    def check(params, seed):
        _check_ends(scenario, params, seed)

    def test():
        check()
        # The property means little if nearly every draw is refused, so a good share must really run.
        # Over 60 draws about half of each scenario's draws run (the rest break a cross-parameter
        # rule or name a node that does not exist); with 15 draws a quarter leaves room for chance.
        ran = OUTCOMES[name].count("ran")
        assert 4 * ran >= len(OUTCOMES[name]), f"{name}: only {ran} of {len(OUTCOMES[name])} draws ran"
        print(f"{name}: {ran} of {len(OUTCOMES[name])} draws ran, the rest were refused with a clear error")

    return test


test_every_register_run_ends = _property("register")
test_every_tickets_run_ends = _property("tickets")
test_every_timeline_run_ends = _property("timeline")
test_every_cart_run_ends = _property("cart")
test_every_overload_run_ends = _property("overload")
test_every_transactions_run_ends = _property("transactions")
test_every_document_run_ends = _property("document")
test_every_logistics_run_ends = _property("logistics")
test_every_logistics_lag_run_ends = _property("logistics_lag")
test_every_crdt_run_ends = _property("crdt")
test_every_orders_run_ends = _property("orders")
test_every_commit_protocols_run_ends = _property("commit_protocols")
test_every_growth_run_ends = _property("growth")
test_every_game_platform_run_ends = _property("game_platform")
test_every_booking_run_ends = _property("booking")
test_every_outbox_crash_run_ends = _property("outbox_crash")
test_every_cms_run_ends = _property("cms")
test_every_messaging_run_ends = _property("messaging")
test_every_payments_run_ends = _property("payments")


def test_every_scenario_is_covered():
    assert set(all_scenarios()) == {"register", "tickets", "timeline", "cart", "overload", "transactions",
                                  "logistics", "logistics_lag", "document", "crdt", "orders",
                                  "commit_protocols",
                                  "growth", "game_platform",
                                  "booking", "outbox_crash",
                                  "cms", "messaging", "payments"}, \
        "a new scenario needs its own property above"
