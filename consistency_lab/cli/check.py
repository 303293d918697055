"""``check`` subcommand: is a recorded history linearizable?

Exit status: 0 linearizable, 1 not linearizable, 2 unknown (timeout) or unreadable
input (one line on stderr saying where and why).
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ..check.builtin_models import MODEL_HELP, MODELS, model_by_name
from ..check.io import HistoryFormatError, read_history
from ..check.linearizability import check_operations
from ..check.result import CheckResult, format_op
from ..validation import argparse_type, positive

EXIT_OK, EXIT_ILLEGAL, EXIT_UNKNOWN = 0, 1, 2


def models_help() -> str:
    """The models and their semantics, one line each, for ``check --help``."""
    width = max(len(name) for name in MODELS)
    lines = ["models (--model):"]
    lines += [f"  {name:<{width}}  {MODEL_HELP[name]}" for name in MODELS]
    return "\n".join(lines)


def add_check_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``check HISTORY --model ... [--timeout S] [--plot FILE.png]`` subcommand."""
    parser = subparsers.add_parser(
        "check",
        help="check whether a recorded history is linearizable",
        description="Check a history (JSON Lines or Jepsen EDN) for linearizability. "
        "Exit status: 0 linearizable, 1 not, 2 unknown or unreadable input.",
        epilog=models_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("history", metavar="HISTORY", help="history file (.jsonl or .edn)")
    parser.add_argument(
        "--model", choices=list(MODELS), default="register", help="data type (default: register)"
    )
    parser.add_argument(
        "--timeout", type=argparse_type(positive, "timeout", float, "seconds"), default=None, metavar="S",
        help="give up after S seconds (verdict unknown)",
    )
    parser.add_argument("--plot", metavar="FILE.png", default=None, help="also draw the history")
    parser.set_defaults(func=run_check)
    return parser


def run_check(args: argparse.Namespace) -> int:
    """Run the check described by parsed ``args``; print the verdict; return the exit status."""
    try:
        ops = read_history(args.history)
    except HistoryFormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNKNOWN
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: {args.history}: cannot read ({exc})", file=sys.stderr)
        return EXIT_UNKNOWN
    model = model_by_name(args.model)
    try:
        result = check_operations(model, ops, timeout=args.timeout)
    except (ValueError, TypeError, IndexError) as exc:
        # The file parsed but does not fit the model (e.g. kv ops checked as a register).
        print(f"error: {args.history}: operations do not fit model {args.model!r} ({exc})",
              file=sys.stderr)
        return EXIT_UNKNOWN
    print(render(result))
    if args.plot:
        from ..plots.history_plot import plot_history  # matplotlib is slow to import

        fig = plot_history(ops, result, title=f"{args.history} ({args.model}): {result.verdict}")
        fig.savefig(args.plot, dpi=120, bbox_inches="tight")
        print(f"plot written to {args.plot}")
    return {"ok": EXIT_OK, "illegal": EXIT_ILLEGAL}.get(result.verdict, EXIT_UNKNOWN)


def render(result: CheckResult) -> str:
    """Verdict, explanation and (for a violation) the witness, as printable text."""
    lines = [f"verdict: {result.verdict}  ({_count(result.n_ops)}, {result.elapsed_s:.3f} s)"]
    lines.append(result.explain())
    w = result.witness
    if result.verdict == "illegal" and w is not None:
        lines.append("")
        lines.append(f"longest legal order found ({_count(len(w.linearized))}):")
        for k, op in enumerate(w.linearized, start=1):
            lines.append(f"  {k:>3}. {format_op(op, result.describe(op))}")
        lines.append("cannot be placed next:")
        for op in w.unplaceable:
            lines.append(f"    ✗ {format_op(op, result.describe(op))}")
    return "\n".join(lines)


def _count(n: int) -> str:
    return f"{n} operation{'' if n == 1 else 's'}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for ``python -m consistency_lab.cli.check [check] HISTORY ...``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in ("check", "-h", "--help"):
        argv.insert(0, "check")
    parser = argparse.ArgumentParser(prog="consistency-lab")
    add_check_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return run_check(args)


if __name__ == "__main__":
    sys.exit(main())
