"""Command line: ``python -m skills {data,train,backtest,attention,compare,tune,predict}``.

``train_attention_lstm.py`` is ``python -m skills train``. Every step is a library call; ``--help`` on a
command lists its flags with their defaults. A user error (bad file, bad CSV, impossible flag value) prints
one line and exits 2, with no traceback and nothing written.
"""

from __future__ import annotations

import logging
import sys
import traceback
import warnings

from skills._lock import LockedError
from skills.cli import commands, train
from skills.cli import tune as tune_command
from skills.cli.parser import UsageError, build_parser, parse_args
from skills.data import DataError
from skills.models import ModelFileError
from skills.tracking import TrackingError
from skills.training import TrainingError

__all__ = ["UsageError", "build_parser", "main"]

COMMANDS = {"data": train.data, "train": train.train, "backtest": commands.backtest, "attention": commands.attention,
            "compare": commands.compare, "predict": commands.predict}
COMMANDS["tune"] = tune_command.run


def main(argv=None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 unexpected error, 2 user error, 130 interrupted).

    ``--debug`` (before or after the command) prints the traceback of an unexpected error.
    """
    _, args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING if getattr(args, "quiet", False) else logging.INFO,
                        format="%(message)s", stream=sys.stderr, force=True)
    try:
        with warnings.catch_warnings():  # a warning is one line too, and the handler is restored after
            warnings.showwarning = lambda message, *rest, **kw: print(f"warning: {message}", file=sys.stderr)
            return COMMANDS[args.command](args)
    except (DataError, ModelFileError, UsageError, TrainingError, LockedError, TrackingError) as exc:
        print(f"skills {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"skills {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an environment failure: one line, the traceback only under --debug
        if args.debug:
            traceback.print_exc()
        else:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            print(f"skills {args.command}: unexpected error: {type(exc).__name__}: {detail} "
                  f"(rerun with --debug for the traceback)", file=sys.stderr)
        return 1
