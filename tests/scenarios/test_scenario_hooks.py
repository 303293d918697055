"""One way to run a scenario: simulate(name, seed, hooks=..., **params) / Scenario.run, hooks by name."""

import importlib
import re

import pytest

from consistency_lab import simulate
from consistency_lab.patterns.idempotency import VersionedHandler
from consistency_lab.scenarios import Hook, all_scenarios, get_scenario
from consistency_lab.scenarios.cart import cart_reducer

DECLARED = {"register": (), "tickets": (), "cart": ("handler_factory",),
            "timeline": ("reconciler_factory", "job_factory"), "transactions": (), "overload": (),
            "logistics": (), "logistics_lag": (), "document": (), "crdt": (), "orders": (),
            "booking": (), "outbox_crash": (), "cms": (), "messaging": (), "payments": (),
            "commit_protocols": (), "growth": (), "game_platform": ()}
SMALL = {"register": {"operations": 3}, "tickets": {"buyers": 20}, "cart": {"carts": 5},
         "timeline": {"users": 6, "posts": 20, "follows": 20, "duration_ms": 500.0},
         "transactions": {"clients": 3, "transactions": 5}, "overload": {"rps": 100, "duration_ms": 200.0},
         "logistics": {"scan_rps": 50, "duration_ms": 300.0}, "logistics_lag": {"duration_s": 60.0},
         "document": {"duration_ms": 2_000.0}, "crdt": {"updates": 5}, "orders": {"duration_ms": 200.0},
         "booking": {"patients": 5}, "outbox_crash": {"duration_ms": 200.0},
         "cms": {"editors": 2, "duration_ms": 2_000.0}, "messaging": {"messages": 5}, "payments": {"spends": 5},
         "commit_protocols": {"orders": 10, "crash_order": 5}, "growth": {"writes": 50, "sample_keys": 1},
         "game_platform": {"sessions": 3}}


def test_each_scenario_declares_its_hooks():
    assert {name: sc.hook_names() for name, sc in all_scenarios().items()} == DECLARED
    for sc in all_scenarios().values():
        assert all(isinstance(h, Hook) and h.help for h in sc.hooks)


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_an_unknown_hook_is_refused_naming_the_allowed_ones(name):
    allowed = ", ".join(DECLARED[name]) or "none (this scenario takes no hooks)"
    message = f"unknown hook 'job_factry' for scenario '{name}'; allowed: {allowed}"
    with pytest.raises(ValueError, match=re.escape(message)):
        simulate(name, 0, hooks={"job_factry": lambda *a: None}, **SMALL[name])
    with pytest.raises(ValueError, match=re.escape(message)):
        get_scenario(name).run(0, hooks={"job_factry": lambda *a: None}, **SMALL[name])


def test_hooks_must_be_a_dict_of_callables():
    with pytest.raises(ValueError, match=r"hooks=.* must be a dict of hook name to function; allowed names: "
                                         r"reconciler_factory, job_factory"):
        simulate("timeline", 0, hooks=[lambda s, f, r: None])
    with pytest.raises(ValueError, match=re.escape("hooks['handler_factory']=3 must be callable")):
        simulate("cart", 0, hooks={"handler_factory": 3})


def test_a_hook_is_not_a_parameter_and_a_parameter_is_not_a_hook():
    # The old keyword style (job_factory=...) is an unknown parameter, with the list of parameters.
    with pytest.raises(ValueError, match=r"unknown parameter 'handler_factory' for scenario 'cart'; allowed: handler,"):
        simulate("cart", 0, handler_factory=lambda sim: VersionedHandler(cart_reducer))
    with pytest.raises(ValueError, match=r"unknown hook 'carts' for scenario 'cart'; allowed: handler_factory"):
        simulate("cart", 0, hooks={"carts": lambda sim: None})


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_no_hooks_and_an_empty_dict_run_the_very_same_scenario(name):
    plain = simulate(name, 4, **SMALL[name])
    assert simulate(name, 4, hooks={}, **SMALL[name]).trace_digest == plain.trace_digest
    assert get_scenario(name).run(4, hooks=None, **SMALL[name]).trace_digest == plain.trace_digest


def test_simulate_passes_hooks_through_and_the_run_records_a_custom_handler():
    built = []

    def factory(sim):
        built.append(sim)
        return VersionedHandler(cart_reducer)

    mine = simulate("cart", 3, hooks={"handler_factory": factory}, carts=8)
    ready = simulate("cart", 3, handler="versioned", carts=8)
    assert len(built) == 1
    assert mine.params["handler"] == "custom"
    assert mine.metrics["carts_wrong_at_checkout"] == ready.metrics["carts_wrong_at_checkout"] == 0


def test_a_hooked_run_still_validates_its_parameters_before_building_anything():
    built = []

    def job(social, feed, reference):
        built.append(1)
        raise AssertionError("never built: the parameters are wrong")

    with pytest.raises(ValueError, match=r"page_size=0 must be an integer between 1 and 10000"):
        simulate("timeline", 0, hooks={"job_factory": job}, page_size=0)
    with pytest.raises(ValueError, match=r"seed"):
        simulate("timeline", -1, hooks={"job_factory": job})
    assert built == []


def test_a_cart_handler_factory_that_returns_no_handler_is_a_clear_error():
    with pytest.raises(ValueError, match=r"handler_factory returned None, which must have a handle\(event\) "
                                         r"method and a state dict"):
        simulate("cart", 0, hooks={"handler_factory": lambda sim: None}, carts=2)


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_the_run_functions_are_not_public(name):
    module = importlib.import_module(f"consistency_lab.scenarios.{name}")
    assert not hasattr(module, f"run_{name}"), f"run_{name} is public again: run scenarios with Scenario.run"
    assert not any(n.startswith("run_") for n in module.__all__)
    assert all(hasattr(module, n) for n in module.__all__)


def test_simulate_list_names_every_hook(capsys):
    from consistency_lab.cli import main
    assert main(["simulate", "--list"]) == 0
    out = capsys.readouterr().out
    for name, hooks in DECLARED.items():
        for hook in hooks:
            assert re.search(rf"^    hook {hook} .*hooks=\{{'{hook}': \.\.\.\}}", out, re.M), (name, hook)
    assert out.count("    hook ") == sum(len(h) for h in DECLARED.values())
