"""Command line: ``python -m mfcore {generate,train,evaluate,recommend,sweep,runs}``.

One module per subcommand (``add_parser(subparsers)`` and ``run(args) -> dict``); the shared
arguments and number parsers are :mod:`.args`. The data goes through the same
:func:`mfcore.prepare.prepare` as in the dashboard, and a training run is scored and recorded as
there (:func:`mfcore.runs.score_run`).

Progress goes to stderr; with ``--json`` the last line of stdout is one JSON object, so scripts
can rely on it. Exit status: 0 success; 2 a bad argument or file (a one-line message, no
traceback; set ``MFCORE_DEBUG=1`` to see one); 3 ``train`` diverged (its JSON is still printed);
1 an internal error; 130 interrupted.

Nothing in the library imports this package.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from ..errors import MFError
from ..values import jsonable
from . import evaluate, generate, recommend, runs, sweep, train
from .args import EXIT_INTERNAL, EXIT_USAGE, Parser
from .train import EXIT_DIVERGED

__all__ = ["EXIT_DIVERGED", "EXIT_INTERNAL", "EXIT_USAGE", "build_parser", "main"]

_COMMANDS = (generate, train, evaluate, recommend, sweep, runs)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m mfcore`` parser with every subcommand."""
    parser = Parser(prog="python -m mfcore",
                    description="Matrix-factorization recommenders: generate, train, evaluate, "
                                "recommend, sweep, and the run history (runs).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in _COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (see the module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except (MFError, OSError) as exc:
        if os.environ.get("MFCORE_DEBUG"):
            raise
        print(f"{parser.prog} {args.command}: error: {exc}".replace("\n", " "), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: still one line, but say it is ours
        if os.environ.get("MFCORE_DEBUG"):
            raise
        print(f"{parser.prog} {args.command}: internal error: {type(exc).__name__}: {exc} "
              "(set MFCORE_DEBUG=1 for a traceback)".replace("\n", " "), file=sys.stderr)
        return EXIT_INTERNAL
    if getattr(args, "json", False):
        print(json.dumps(jsonable(result), allow_nan=False))
    return getattr(args, "exit_status", lambda _: 0)(result)
