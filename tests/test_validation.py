"""The one validation module: types are checked before values, messages name what is allowed."""

import math

import pytest

from consistency_lab import validation as v
from consistency_lab.latency import (
    Constant, Empirical, Exponential, LogNormal, Mixture, Pareto, Shifted, Uniform, parse_latency,
)
from consistency_lab.network import NetworkOptions


@pytest.mark.parametrize("build, message", [
    (lambda: Constant("5"), r"ms='5' must be a finite number >= 0 ms"),
    (lambda: Uniform("1", 2), r"low='1' must be"),
    (lambda: Uniform(1, None), r"high=None must be"),
    (lambda: Exponential("x"), r"rate='x' must be a finite number > 0 per ms"),
    (lambda: LogNormal([1], 0.2), r"median=\[1\] must be"),
    (lambda: LogNormal(1, "a"), r"sigma='a' must be"),
    (lambda: Pareto(None, 1), r"xm=None must be"),
    (lambda: Pareto(1, "2"), r"alpha='2' must be"),
    (lambda: Mixture("ab"), r"parts='ab' must be at least one \(weight, distribution\) pair"),
    (lambda: Mixture(((1, 2),)), r"distribution=2 must be a latency distribution"),
    (lambda: Mixture((("a", Constant(1)),)), r"weight='a' must be"),
    (lambda: Empirical(("1",)), r"sample='1' must be"),
    (lambda: Empirical(5), r"samples=5 must be a non-empty sequence"),
    (lambda: Shifted(Constant(1), "2"), r"offset='2' must be"),
    (lambda: Shifted(3, 1), r"base=3 must be a latency distribution"),
    (lambda: NetworkOptions(loss="0.5"), r"loss='0.5' must be a probability between 0 and 1"),
    (lambda: NetworkOptions(duplicate=True), r"duplicate=True must be a probability"),
    (lambda: NetworkOptions(reorder=[0.1]), r"reorder=\[0.1\] must be a probability"),
    (lambda: parse_latency(None), r"latency=None must be a number of ms"),
])
def test_every_validator_raises_the_intended_value_error(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("bad", ["3", 2.5, True, None, 0, 11])
def test_count(bad):
    with pytest.raises(ValueError, match=rf"n={bad!r} must be an integer between 1 and 10"):
        v.count("n", bad, 1, 10)


def test_count_without_an_upper_bound_and_with_a_unit():
    assert v.count("n", 10**9) == 10**9
    with pytest.raises(ValueError, match=r"n=0 must be an integer >= 1 keys"):
        v.count("n", 0, unit="keys")


@pytest.mark.parametrize("bad", [math.nan, math.inf, "1", None, True, -1])
def test_non_negative_and_positive_refuse_nan_inf_text_and_bool(bad):
    with pytest.raises(ValueError, match=r"must be a finite number >= 0 ms"):
        v.non_negative("t", bad, "ms")
    with pytest.raises(ValueError, match=r"must be a finite number > 0 ms"):
        v.positive("t", bad, "ms")


def test_infinity_only_where_allowed():
    assert v.positive("ttl", math.inf, "ms", allow_inf=True) == math.inf
    assert v.number("x", 5, 0, 10) == 5.0
    with pytest.raises(ValueError, match=r"x=11 must be a finite number between 0 and 10"):
        v.number("x", 11, 0, 10)
    with pytest.raises(ValueError, match=r"x=-1 must be a finite number >= 0"):
        v.number("x", -1, low=0)


def test_choice_text_and_boolean():
    assert v.choice("mode", "a", ("a", "b")) == "a"
    with pytest.raises(ValueError, match=r"mode='c' must be one of a, b"):
        v.choice("mode", "c", ("a", "b"))
    with pytest.raises(ValueError, match=r"mode=\[\] must be one of a, b"):
        v.choice("mode", [], ("a", "b"))  # unhashable input: still the intended message
    with pytest.raises(ValueError, match=r"name='' must be a non-empty string"):
        v.text("name", "")
    with pytest.raises(ValueError, match=r"atomic=1 must be True or False"):
        v.boolean("atomic", 1)
