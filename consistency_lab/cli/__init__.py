"""The ``consistency-lab`` command: simulate scenarios, check histories, build and grade labs."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional, Sequence

from ..validation import argparse_type, count

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2."""

    def error(self, message: str) -> None:  # noqa: D401 - argparse's hook
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _parse_params(pairs: Sequence[str]) -> dict:
    params = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise ValueError(f"--param {pair!r} must look like KEY=VALUE")
        params[key.strip()] = value
    return params


def _cmd_simulate(args: argparse.Namespace) -> int:
    from ..scenarios import all_scenarios, get_scenario

    if args.list or not args.name:
        for name, sc in all_scenarios().items():
            print(f"{name}: {sc.summary}")
            for p in sc.params:
                setting = f"{p.name}={p.default!r}"
                print(f"    {setting:<30} {p.help} ({p.allowed()})")
            for h in sc.hooks:
                # Hooks are Python functions: listed so they are discoverable, passed only from Python.
                print(f"    hook {h.name:<25} {h.help} (Python only: hooks={{{h.name!r}: ...}})")
        return 0
    try:
        scenario = get_scenario(args.name)
        result = scenario.run(args.seed, **_parse_params(args.param))
    except ValueError as exc:
        print(f"consistency-lab simulate: {exc}", file=sys.stderr)
        return 2
    data = result.to_json()
    if args.json:
        print(json.dumps(data, sort_keys=True))
    else:
        print(f"scenario {data['scenario']}  seed {data['seed']}  trace {data['trace_digest'][:16]}")
        for key in sorted(data["metrics"]):
            value = data["metrics"][key]
            print(f"  {key:<36} {value:.4g}" if isinstance(value, float) else f"  {key:<36} {value}")
    return 0


_seed = argparse_type(count, "seed", int, low=0)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = _Parser(prog="consistency-lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    sim = sub.add_parser("simulate", help="run a scenario and print its metrics")
    sim.add_argument("name", nargs="?", help="scenario name (see --list)")
    sim.add_argument("--list", action="store_true", help="list scenarios and their parameters")
    sim.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    sim.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                     help="set a scenario parameter (repeatable)")
    sim.add_argument("--json", action="store_true", help="print one JSON object")
    sim.set_defaults(func=_cmd_simulate)
    for extra in _EXTENSIONS:
        extra(sub)
    return parser


def _add_check(sub) -> None:
    try:
        from .check import add_check_parser
    except ImportError:  # pragma: no cover - the checker ships with the package
        return
    add_check_parser(sub)


def _add_grading(sub) -> None:
    from .grading import add_grading_parsers
    add_grading_parsers(sub)


def _add_sweep(sub) -> None:
    from .sweep import add_sweep_parser
    add_sweep_parser(sub)


_EXTENSIONS = [_add_check, _add_grading, _add_sweep]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``consistency-lab`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # output piped into `head`: stop quietly, like other command-line tools
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
