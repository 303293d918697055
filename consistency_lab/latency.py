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

__all__ = [
    "Constant", "Uniform", "Exponential", "LogNormal", "Pareto", "Mixture",
    "Empirical", "Shifted", "Latency", "parse_latency", "LATENCY_SPEC_HELP",
]


def _positive(name: str, value: float, allow_zero: bool = False) -> float:
    ok = value >= 0 if allow_zero else value > 0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok or math.isinf(value):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}={value!r} must be a finite number {bound}")
    return float(value)


@dataclass(frozen=True)
class Constant:
    """Always ``ms`` milliseconds."""

    ms: float

    def __post_init__(self) -> None:
        _positive("ms", self.ms, allow_zero=True)

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
        _positive("low", self.low, allow_zero=True)
        _positive("high", self.high, allow_zero=True)
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
        _positive("rate", self.rate)

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
        _positive("median", self.median)
        _positive("sigma", self.sigma, allow_zero=True)

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
        _positive("xm", self.xm)
        _positive("alpha", self.alpha)

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
        if not self.parts:
            raise ValueError("parts must contain at least one (weight, distribution) pair")
        for w, _ in self.parts:
            _positive("weight", w)
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
        if not self.samples:
            raise ValueError("samples must contain at least one latency")
        for s in self.samples:
            _positive("sample", s, allow_zero=True)

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
        _positive("offset", self.offset, allow_zero=True)

    def sample(self, rng: random.Random) -> float:
        """Draw one latency (ms)."""
        return self.offset + self.base.sample(rng)

    def mean(self) -> float:
        """Expected latency (ms)."""
        return self.offset + self.base.mean()


Latency = Union[Constant, Uniform, Exponential, LogNormal, Pareto, Mixture, Empirical, Shifted]

LATENCY_SPEC_HELP = (
    "a number of ms (e.g. 20), or const:MS, uniform:LOW,HIGH, exp:MEAN_MS, "
    "lognormal:MEDIAN_MS,SIGMA, pareto:XM_MS,ALPHA"
)


def parse_latency(spec: "str | float | int | Latency", name: str = "latency") -> Latency:
    """Turn ``"exp:5"``-style text (or a number of ms, or a distribution) into a distribution."""
    if isinstance(spec, (Constant, Uniform, Exponential, LogNormal, Pareto, Mixture, Empirical, Shifted)):
        return spec
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return Constant(_positive(name, spec, allow_zero=True))
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
            return Exponential(1.0 / _positive("mean", values[0]))
        if kind == "lognormal" and len(values) == 2:
            return LogNormal(values[0], values[1])
        if kind == "pareto" and len(values) == 2:
            return Pareto(values[0], values[1])
    except ValueError as exc:
        raise ValueError(f"{name}={spec!r}: {exc}; allowed: {LATENCY_SPEC_HELP}") from None
    raise ValueError(f"{name}={spec!r} is not a latency; allowed: {LATENCY_SPEC_HELP}")
