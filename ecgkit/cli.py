"""The ``ecgkit`` command line: ``python -m ecgkit --help`` lists the subcommands.

Each subcommand lives with the code it runs: a module in ``COMMAND_MODULES`` defines
``register_cli(subparsers)``, which adds its parser and sets ``func``. TensorFlow is imported
only inside the commands that need it, so ``--help`` answers at once.

Bad input is a one-line ``error: ...`` message and a non-zero exit status, never a traceback:
commands catch the errors they expect, and :func:`main` turns any error of ecgkit's own types
(``RecordError``, ``ParamError``, ``ImageFolderError``...), and any operating-system error
naming a file, into such a message. Other exceptions are bugs and keep their traceback.

The terminal shows ecgkit's output. What libraries write to file descriptor 2 (TensorFlow's C++
start-up lines such as ``cudart_stub.cc ... Could not find cuda drivers``, which ignore
``TF_CPP_MIN_LOG_LEVEL``, absl and CUDA messages), their Python logging and warnings go to a log
file instead (``--log-file``; default ``~/.cache/ecgkit/logs/COMMAND.log``, or
``$ECGKIT_LOG_DIR``); ``--verbose`` leaves them on the terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
import time
from pathlib import Path

LOG_MAX_BYTES = 20_000_000
"""A log file larger than this is started afresh; otherwise each run is appended."""

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
    _output_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_parser = sub.add_parser

    def add_parser_with_output_options(name, **kwargs):
        p = add_parser(name, **kwargs)
        _output_options(p, suppress=True)  # also accepted after the command
        return p

    sub.add_parser = add_parser_with_output_options
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:  # a real missing dependency: say so
                raise
            continue  # the module is not written yet
        module.register_cli(sub)
    return parser


def _output_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """``--verbose`` and ``--log-file`` (on the main parser and, without defaults, on each
    command, so that they work before and after the command name)."""
    unset = argparse.SUPPRESS
    parser.add_argument("--verbose", action="store_true", default=unset if suppress else False,
                        help="show TensorFlow's and other libraries' messages on the terminal")
    parser.add_argument("--log-file", metavar="PATH", default=unset if suppress else None,
                        help="file for those messages (default: "
                             "~/.cache/ecgkit/logs/COMMAND.log, or $ECGKIT_LOG_DIR/COMMAND.log)")


def default_log_file(command: str) -> Path:
    """``$ECGKIT_LOG_DIR/COMMAND.log``, else ``$XDG_CACHE_HOME`` (``~/.cache``)/ecgkit/logs."""
    folder = os.environ.get("ECGKIT_LOG_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "ecgkit", "logs")
    return Path(folder) / f"{command}.log"


class _TerminalHandler(logging.Handler):
    """ecgkit's own log messages (skipped records, skipped images...) as ``warning: ...``."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(f"{record.levelname.lower()}: {record.getMessage()}\n")
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def _ecgkit_messages_on_terminal():
    handler = _TerminalHandler(logging.WARNING)
    logger = logging.getLogger("ecgkit")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _open_log(path: Path, title: str) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = path.is_file() and path.stat().st_size > LOG_MAX_BYTES
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if fresh else os.O_APPEND), 0o644)
    os.write(fd, f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {title} (pid {os.getpid()}) "
                 "===\n".encode())
    return fd


@contextlib.contextmanager
def library_output_to(path: Path, title: str = "ecgkit"):
    """Sends what libraries print to ``path``; ecgkit's own output stays on the terminal.

    File descriptor 2 (where C and C++ libraries such as TensorFlow write, and which
    subprocesses inherit) points to the log file, while Python's ``sys.stderr`` (ecgkit's
    messages, errors, progress bars) keeps writing to the terminal through a copy of the
    original descriptor. The root logger (library logging; TensorFlow's Python logger then adds
    no terminal handler of its own) and Python warnings go to the log file too.
    """
    try:
        log_fd = _open_log(path, title)
    except OSError:
        import tempfile

        user = os.getuid() if hasattr(os, "getuid") else os.getpid()
        path = Path(tempfile.gettempdir()) / f"ecgkit-{user}" / path.name
        log_fd = _open_log(path, title)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        python_stderr_is_fd2 = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # replaced (pytest, notebooks): leave it
        python_stderr_is_fd2 = False
    old_stderr = sys.stderr
    if python_stderr_is_fd2:
        sys.stderr = open(saved, "w", buffering=1, encoding=old_stderr.encoding,
                          errors="backslashreplace", closefd=False)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    file_handler = logging.FileHandler(path, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(file_handler)
    logging.captureWarnings(True)
    try:
        yield path
    finally:
        logging.captureWarnings(False)
        root.removeHandler(file_handler)
        file_handler.close()
        sys.stderr.flush()
        if python_stderr_is_fd2:
            sys.stderr.close()
            sys.stderr = old_stderr
        os.dup2(saved, 2)
        os.close(saved)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    with contextlib.ExitStack() as stack:
        log_path = None
        if not args.verbose:
            title = "ecgkit " + " ".join(sys.argv[1:] if argv is None else argv)
            log_path = stack.enter_context(library_output_to(
                Path(args.log_file) if args.log_file else default_log_file(args.command), title))
        stack.enter_context(_ecgkit_messages_on_terminal())
        try:
            return int(args.func(args) or 0)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except Exception as exc:
            if not is_input_error(exc):
                if log_path is not None:
                    print(f"(messages of TensorFlow and other libraries in this run: {log_path})",
                          file=sys.stderr)
                raise
            print(f"error: {exc}", file=sys.stderr)
            return 1


def is_input_error(exc: BaseException) -> bool:
    """True for errors that describe bad input rather than a bug: ecgkit's own error types
    (each message names the file or value and what to do), and OS errors about a path."""
    if type(exc).__module__.split(".")[0] == "ecgkit":
        return True
    path_errors = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)
    return isinstance(exc, path_errors) or (isinstance(exc, OSError) and exc.filename is not None)


if __name__ == "__main__":
    sys.exit(main())
