"""Latency distributions, in milliseconds, each sampled from a caller's random stream.

Every distribution is a small frozen record with ``sample(rng) -> float`` and
``mean()``.  :func:`parse_latency` turns a short text spec (``"exp:5"``,
``"lognormal:20,0.5"``) into one, so the command line and widgets share one syntax.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Sequence, Union

from .validation import non_negative, positive

__all__ = [
    "Constant", "Uniform", "Exponential", "LogNormal", "Pareto", "Mixture",
    "Empirical", "Shifted", "Latency", "parse_latency", "LATENCY_SPEC_HELP",
]


def _latency(name: str, value: object) -> "Latency":
    if not isinstance(value, _KINDS):
        raise ValueError(f"{name}={value!r} must be a latency distribution (Constant, Uniform, Exponential, ...)")
    return value  # type: ignore[return-value]


@dataclass(frozen=True)
class Constant:
    """Always ``ms`` milliseconds."""

    ms: float

    def __post_init__(self) -> None:
        non_negative("ms", self.ms, "ms")

    def sample(self, rng: random.Random) -> float:
        """Draw one latency (ms)."""
        return self.ms

    def mean(self) -> float:
        """Expected latency (ms)."""
        return self.ms


@dataclass(frozen=True)
class Uniform:
    """Uniform between ``low`` and ``high`` milliseconds."""

    low: float
    high: float

    def __post_init__(self) -> None:
        non_negative("low", self.low, "ms")
        non_negative("high", self.high, "ms")
        if self.high < self.low:
            raise ValueError(f"high={self.high} must be >= low={self.low}")

    def sample(self, rng: random.Random) -> float:
        """Draw one latency (ms)."""
        return rng.uniform(self.low, self.high)

    def mean(self) -> float:
        """Expected latency (ms)."""
        return (self.low + self.high) / 2


@dataclass(frozen=True)
class Exponential:
    """Exponential with ``rate`` events per ms (mean ``1/rate`` ms)."""

    rate: float

    def __post_init__(self) -> None:
        positive("rate", self.rate, "per ms")

    def sample(self, rng: random.Random) -> float:
        """Draw one latency (ms)."""
        return rng.expovariate(self.rate)

    def mean(self) -> float:
        """Expected latency (ms)."""
        return 1.0 / self.rate


@dataclass(frozen=True)
class LogNormal:
    """Log-normal with the given ``median`` (ms) and shape ``sigma`` (of the underlying normal)."""

    median: float
    sigma: float

    def __post_init__(self) -> None:
        positive("median", self.median, "ms")
        non_negative("sigma", self.sigma)

    def sample(self, rng: random.Random) -> float:
        """Draw one latency (ms)."""
        return rng.lognormvariate(math.log(self.median), self.sigma)

    def mean(self) -> float:
        """Expected latency (ms)."""
        return self.median * math.exp(self.sigma ** 2 / 2)


@dataclass(frozen=True)
class Pareto:
    """Pareto with scale ``xm`` (ms) and shape ``alpha``, sampled as ``xm / U**(1/alpha)``."""

    xm: float
    alpha: float

    def __post_init__(self) -> None:
        positive("xm", self.xm, "ms")
        positive("alpha", self.alpha)

    def sample(self, rng: random.Random) -> float:
        """Draw one latency (ms)."""
        u = 1.0 - rng.random()  # in (0, 1], never 0
        return self.xm / u ** (1.0 / self.alpha)

    def mean(self) -> float:
        """Expected latency (ms); infinite when alpha <= 1."""
        return math.inf if self.alpha <= 1 else self.alpha * self.xm / (self.alpha - 1)


@dataclass(frozen=True)
class Mixture:
    """Pick a component with probability proportional to its weight, then sample it."""

    parts: tuple[tuple[float, "Latency"], ...]

    def __post_init__(self) -> None:
        if not isinstance(self.parts, (tuple, list)) or not self.parts or not all(
                isinstance(p, (tuple, list)) and len(p) == 2 for p in self.parts):
            raise ValueError(f"parts={self.parts!r} must be at least one (weight, distribution) pair")
        for w, d in self.parts:
            positive("weight", w)
            _latency("distribution", d)
        total = sum(w for w, _ in self.parts)
        cumulative, acc = [], 0.0
        for w, _ in self.parts:
            acc += w / total
            cumulative.append(acc)
        object.__setattr__(self, "_cumulative", tuple(cumulative))

    def sample(self, rng: random.Random) -> float:
        """Draw one latency (ms)."""
        u = rng.random()
        for edge, (_, dist) in zip(self._cumulative, self.parts):  # type: ignore[attr-defined]
            if u < edge:
                return dist.sample(rng)
        return self.parts[-1][1].sample(rng)

    def mean(self) -> float:
        """Expected latency (ms)."""
        total = sum(w for w, _ in self.parts)
        return sum(w / total * d.mean() for w, d in self.parts)


@dataclass(frozen=True)
class Empirical:
    """Resample uniformly from measured latencies (ms)."""

    samples: tuple[float, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.samples, (tuple, list)) or not self.samples:
            raise ValueError(f"samples={self.samples!r} must be a non-empty sequence of latencies (ms)")
        for s in self.samples:
            non_negative("sample", s, "ms")

    def sample(self, rng: random.Random) -> float:
        """Draw one latency (ms)."""
        return self.samples[rng.randrange(len(self.samples))]

    def mean(self) -> float:
        """Expected latency (ms)."""
        return sum(self.samples) / len(self.samples)


@dataclass(frozen=True)
class Shifted:
    """Another distribution plus a fixed ``offset`` (ms), e.g. a WAN round trip."""

    base: "Latency"
    offset: float

    def __post_init__(self) -> None:
        _latency("base", self.base)
        non_negative("offset", self.offset, "ms")

    def sample(self, rng: random.Random) -> float:
        """Draw one latency (ms)."""
        return self.offset + self.base.sample(rng)

    def mean(self) -> float:
        """Expected latency (ms)."""
        return self.offset + self.base.mean()


Latency = Union[Constant, Uniform, Exponential, LogNormal, Pareto, Mixture, Empirical, Shifted]
_KINDS = (Constant, Uniform, Exponential, LogNormal, Pareto, Mixture, Empirical, Shifted)

LATENCY_SPEC_HELP = (
    "a number of ms (e.g. 20), or const:MS, uniform:LOW,HIGH, exp:MEAN_MS, "
    "lognormal:MEDIAN_MS,SIGMA, pareto:XM_MS,ALPHA"
)


def parse_latency(spec: "str | float | int | Latency", name: str = "latency") -> Latency:
    """Turn ``"exp:5"``-style text (or a number of ms, or a distribution) into a distribution."""
    if isinstance(spec, _KINDS):
        return spec
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return Constant(non_negative(name, spec, "ms"))
    if not isinstance(spec, str):
        raise ValueError(f"{name}={spec!r} must be {LATENCY_SPEC_HELP}")
    text = spec.strip().lower()
    kind, _, args = text.partition(":")
    try:
        if not args:
            return Constant(float(kind))
        values: Sequence[float] = [float(a) for a in args.split(",")]
        if kind == "const" and len(values) == 1:
            return Constant(values[0])
        if kind == "uniform" and len(values) == 2:
            return Uniform(values[0], values[1])
        if kind == "exp" and len(values) == 1:
            return Exponential(1.0 / positive("mean", values[0], "ms"))
        if kind == "lognormal" and len(values) == 2:
            return LogNormal(values[0], values[1])
        if kind == "pareto" and len(values) == 2:
            return Pareto(values[0], values[1])
    except ValueError as exc:
        raise ValueError(f"{name}={spec!r}: {exc}; allowed: {LATENCY_SPEC_HELP}") from None
    raise ValueError(f"{name}={spec!r} is not a latency; allowed: {LATENCY_SPEC_HELP}")
