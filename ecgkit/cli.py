"""The ``ecgkit`` command line: ``python -m ecgkit --help`` lists the subcommands.

Each subcommand lives with the code it runs: a module in ``COMMAND_MODULES`` defines
``register_cli(subparsers)``, which adds its parser and sets ``func``. TensorFlow is imported
only inside the commands that need it, so ``--help`` answers at once.

Bad input is a one-line ``error: ...`` message and a non-zero exit status, never a traceback:
commands catch the errors they expect, and :func:`main` turns any error of ecgkit's own types
(``RecordError``, ``ParamError``, ``ImageFolderError``...), and any operating-system error
naming a file, into such a message. Other exceptions are bugs and keep their traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = (
    "ecgkit.export",      # build-dataset
    "ecgkit.download",    # download
    "ecgkit.train",       # train
    "ecgkit.evaluate",    # evaluate
    "ecgkit.predict",     # predict
    "ecgkit.demo",        # demo
    "ecgkit.workbook",    # workbook run
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecgkit",
        description="ECG image classification with an enhanced ResNet50, on real MIT-BIH data.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:  # a real missing dependency: say so
                raise
            continue  # the module is not written yet
        module.register_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if not is_input_error(exc):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1


def is_input_error(exc: BaseException) -> bool:
    """True for errors that describe bad input rather than a bug: ecgkit's own error types
    (each message names the file or value and what to do) and OS errors naming a file."""
    if type(exc).__module__.split(".")[0] == "ecgkit":
        return True
    return isinstance(exc, OSError) and exc.filename is not None


if __name__ == "__main__":
    sys.exit(main())
