"""The ``ecgkit`` command line: ``python -m ecgkit --help`` lists the subcommands.

Each subcommand is a parser built here (``_add_*``) and a function that runs it (``_cmd_*``); the
library modules know nothing about the command line. The light modules the parsers need are
imported at the top; each command imports the modules that do its work (and load TensorFlow,
OpenCV or pandas) inside its function, so that ``--help`` answers at once.

Bad input is a one-line ``error: ...`` message and a non-zero exit status, never a traceback:
commands catch the errors they expect, and :func:`main` turns any error of ecgkit's own types
(``RecordError``, ``ParamError``, ``ImageFolderError``...), and any operating-system error
naming a file (or a full disk), into such a message. Other exceptions are bugs and keep their
traceback. Every numeric option is range-checked as it is parsed, by the option types below
(:func:`param_option` for an option that means a workbook parameter, :func:`positive_int`,
:func:`positive_float`, :func:`open_fraction`): ``error: --bootstrap: parameter BOOTSTRAP must
be >= 0, got -1``, exit status 2. A ``KERAS_BACKEND`` that cannot run is one line too
(:mod:`ecgkit.training.backends`).

The terminal shows ecgkit's output. What libraries write to file descriptor 2 (TensorFlow's C++
start-up lines such as ``cudart_stub.cc ... Could not find cuda drivers``, which ignore
``TF_CPP_MIN_LOG_LEVEL``, absl and CUDA messages), their Python logging and warnings go to a log
file instead (``--log-file``; default ``~/.cache/ecgkit/logs/COMMAND.log``, or
``$ECGKIT_LOG_DIR``); ``--verbose`` leaves them on the terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

from ecgkit.contract import IMAGE_SIZE, LEAD, PROJECT_ROOT
from ecgkit.data import download
from ecgkit.data.splits import MISSING_LEAD_POLICIES, PATIENT_SPLITS, SPLIT_PROTOCOLS, SplitError
from ecgkit.params import (
    PARAMS,
    ParamError,
    check,
    load_profile,
    parse_assignments,
    resolve,
    weights_arg,
)
from ecgkit.training.atomic import check_folder, describe_os_error
from ecgkit.training.backends import backend_problem
from ecgkit.workbook.runner import (
    NOTEBOOKS_DIR,
    WorkbookError,
    lint_notebook,
    list_notebooks,
    notebook_parameters,
    run_workbook,
)

LOG_MAX_BYTES = 20_000_000
"""A log file larger than this is started afresh; otherwise each run is appended."""


class _Parser(argparse.ArgumentParser):
    """Usage errors in ecgkit's own form, ``error: --option: problem`` (exit status 2); the
    subcommands' parsers are of this class too."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(2, f"error: {message.removeprefix('argument ')}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ecgkit",
        description="ECG image classification with an enhanced ResNet50, on real MIT-BIH data.",
    )
    _output_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_build_dataset(sub)
    _add_download(sub)
    _add_train(sub)
    _add_evaluate(sub)
    _add_predict(sub)
    _add_demo(sub)
    _add_workbook(sub)
    return parser


def _add_command(sub, name: str, **kwargs) -> argparse.ArgumentParser:
    """A subcommand's parser, which also accepts ``--verbose`` and ``--log-file``."""
    p = sub.add_parser(name, **kwargs)
    _output_options(p, suppress=True)  # also accepted after the command
    return p


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
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    args.argv = list(sys.argv[1:] if argv is None else argv)  # as typed, for the records
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    problem = backend_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        log_path = None
        if not args.verbose:
            title = "ecgkit " + " ".join(args.argv)
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
            print(f"error: {_message(exc)}", file=sys.stderr)
            return 1


def _message(exc: BaseException) -> str:
    """An error's one-line message; an operating-system error names its path and problem."""
    return describe_os_error(exc) if isinstance(exc, OSError) else str(exc)


def is_input_error(exc: BaseException) -> bool:
    """True for errors that describe bad input rather than a bug: ecgkit's own error types
    (each message names the file or value and what to do), and OS errors about a path."""
    if type(exc).__module__.split(".")[0] == "ecgkit":
        return True
    path_errors = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)
    full = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
    return isinstance(exc, path_errors) or (isinstance(exc, OSError) and (
        exc.filename is not None or exc.errno in full))


# --- Option types: every number a command takes is range-checked as it is parsed ----------------

def param_option(name: str):
    """The type of an option that means the workbook parameter ``name`` (``--image-size`` is
    ``IMAGE_SIZE``): its type and range are the parameter's (``ecgkit.params.PARAMS``)."""
    want = PARAMS[name].type

    def convert(text: str):
        try:
            value = want(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"parameter {name} must be {want.__name__}, got {text!r}") from None
        try:
            return check(name, value, source="")
        except ParamError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(": ")) from None

    convert.__name__ = name.lower()
    return convert


def _bounded(kind: type, low: float, strict: bool):
    """An option type: a finite ``kind`` above ``low`` (``strict``) or at least ``low``."""
    words = f"{'>' if strict else '>='} {low:g}"

    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be {'an integer' if kind is int else 'a number'} {words}, "
                f"got {text!r}") from None
        if not (math.isfinite(value) and (value > low if strict else value >= low)):
            raise argparse.ArgumentTypeError(f"must be {words}, got {value!r}")
        return value

    convert.__name__ = f"{kind.__name__} {words}"
    return convert


positive_int = _bounded(int, 1, strict=False)
"""Option type: an integer >= 1 (``--workers``, ``--cell-timeout``)."""
non_negative_int = _bounded(int, 0, strict=False)
"""Option type: an integer >= 0."""
positive_float = _bounded(float, 0, strict=True)
"""Option type: a finite number > 0 (``--timeout``)."""


def open_fraction(text: str) -> float:
    """Option type: a share strictly between 0 and 1 (``train --images --test-fraction``)."""
    value = positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be > 0 and < 1, got {value!r}")
    return value


# --- Options shared by several commands ----------------------------------------------------------

def _add_lead_fallback_options(p: argparse.ArgumentParser, parameters: bool = False) -> None:
    """``--fallback-lead`` and ``--unknown-symbols``; with ``parameters`` they set the parameters
    FALLBACK_LEADS and UNKNOWN_SYMBOLS (no default here: the profile's value stands)."""
    if parameters:
        fallback_help = ("lead to use when a record lacks LEAD (repeatable; parameter "
                         "FALLBACK_LEADS)")
        unknown_help = ("annotation symbols that are neither beats nor known non-beats "
                        "(parameter UNKNOWN_SYMBOLS; default error)")
    else:
        fallback_help = "lead to use when a record lacks --lead (repeatable)"
        unknown_help = "annotation symbols that are neither beats nor known non-beats"
    p.add_argument("--fallback-lead", action="append", metavar="LEAD", help=fallback_help)
    p.add_argument("--unknown-symbols", choices=("error", "skip"),
                   default=None if parameters else "error", help=unknown_help)


def _load_checked_model(path: str):
    """The model saved at ``path``, checked against the class contract; None after printing
    why it cannot be used (the command then exits with status 2)."""
    from ecgkit.evaluation.predict import ModelLoadError, load_classifier

    try:
        model = load_classifier(path)
    except ModelLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    return model


def _add_params_options(p: argparse.ArgumentParser, what: str) -> None:
    """``--params`` and ``--set``, as ``train`` takes them; ``what`` says what they set."""
    p.add_argument("--params", help="YAML profile file, or a profile name (smoke, cpu, gpu, "
                                    f"demo): {what}")
    p.add_argument("--set", nargs="*", metavar="NAME=VALUE", help="override single parameters")


def _profile_overrides(args) -> dict:
    """The parameters given by ``--params`` and ``--set`` (validated; ``--set`` wins)."""
    overrides = load_profile(args.params) if args.params else {}
    overrides.update(parse_assignments(args.set or []))
    return overrides


def _fill_options(args, overrides: dict, options: dict[str, tuple[str, object]]) -> None:
    """Options not given on the command line take their parameter's value from ``--params`` /
    ``--set`` when it is stated there, else the command's default.

    Args:
        args: the parsed arguments; each option in ``options`` parsed with default None.
        overrides: :func:`_profile_overrides`.
        options: ``{option dest: (PARAMETER, command default)}``.
    """
    from ecgkit.params import lead_list, record_list

    convert = {"RECORDS": record_list, "FALLBACK_LEADS": lambda v: list(lead_list(v)) or None,
               "DATA_DIR": lambda v: v or None}
    for dest, (name, default) in options.items():
        if getattr(args, dest) is not None:
            continue
        value = convert.get(name, lambda v: v)(overrides[name]) if name in overrides else default
        setattr(args, dest, value)


# --- ecgkit build-dataset ------------------------------------------------------------------------

def _add_build_dataset(sub) -> None:
    p = _add_command(
        sub, "build-dataset", help="export beats as ECG images (OUT_DIR/<split>/<class>/*.png)",
        description="Render every reference beat of a WFDB folder as an ECG-strip PNG, "
                    "split by patient, with OUT_DIR/manifest.csv. Re-running resumes.")
    p.add_argument("source_dir", metavar="SOURCE_DIR", help="WFDB folder, e.g. data/mitdb")
    p.add_argument("out_dir", metavar="OUT_DIR", help="output folder")
    p.add_argument("--task", choices=("beat", "rhythm"), default="beat",
                   help="beat: one image per beat (default); rhythm: 10-s rhythm strips "
                        "(NSR, AF, OTHER) as OUT_DIR/images/<class>/*.png with labels.csv")
    p.add_argument("--max-strips-per-record", type=non_negative_int, default=None, metavar="N",
                   help="--task rhythm: cap per record and class (default 30; 0 = no cap)")
    p.add_argument("--records", nargs="+", metavar="REC",
                   help="records to export (space or comma separated; default: all)")
    _add_params_options(p, "SPLIT, RECORDS, IMAGE_SIZE, GRID, IMAGE_CHANNELS, CONTEXT_MODE, "
                           "MAX_BEATS_PER_RECORD, LEAD, FALLBACK_LEADS, UNKNOWN_SYMBOLS, "
                           "VAL_FRACTION and SEED fill the options not given")
    p.add_argument("--split", choices=SPLIT_PROTOCOLS, default=None,
                   help="split protocol (default: inter-patient; "
                        "beat-random-LEAKS-PATIENTS leaks patients, for comparison only)")
    p.add_argument("--image-size", type=param_option("IMAGE_SIZE"), default=None,
                   help=f"image side in pixels (default: {IMAGE_SIZE}; --task rhythm: the strip "
                        "height, 10/3 as wide)")
    p.add_argument("--grid", action=argparse.BooleanOptionalAction, default=None,
                   help="draw the ECG-paper grid (default: on)")
    p.add_argument("--max-beats-per-record", type=param_option("MAX_BEATS_PER_RECORD"),
                   default=None, metavar="N", help="cap per record and class (default 0 = no cap)")
    p.add_argument("--image-channels", choices=PARAMS["IMAGE_CHANNELS"].choices, default=None,
                   help="paper: the ECG strip (default); context: the beat's context in the "
                        "colour channels, the images of a model trained with "
                        "IMAGE_CHANNELS=context (ecgkit.data.context_image; no grid)")
    p.add_argument("--context-mode", choices=PARAMS["CONTEXT_MODE"].choices, default=None,
                   help="--image-channels context: the whole record (offline, default) or the "
                        "past only (causal)")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="processes (default: all cores)")
    p.add_argument("--lead", default=None, help="lead name (default: MLII)")
    p.add_argument("--missing-lead", choices=MISSING_LEAD_POLICIES, default="skip",
                   help="records without the lead: skip with a message (default) or fail")
    _add_lead_fallback_options(p, parameters=True)
    p.add_argument("--val-fraction", type=param_option("VAL_FRACTION"), default=None,
                   help="validation share of training beats, carved by patient (default 0.2)")
    p.add_argument("--seed", type=param_option("SEED"), default=None, help="default 42")
    p.add_argument("--prune", action="store_true",
                   help="delete the images of records built into OUT_DIR before but not in this "
                        "run (default: refuse such a run)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=_cmd_build_dataset)


BUILD_DATASET_OPTIONS = {
    "split": ("SPLIT", "inter-patient"), "records": ("RECORDS", None),
    "image_size": ("IMAGE_SIZE", IMAGE_SIZE), "grid": ("GRID", True),
    "max_beats_per_record": ("MAX_BEATS_PER_RECORD", 0), "lead": ("LEAD", LEAD),
    "fallback_lead": ("FALLBACK_LEADS", None), "unknown_symbols": ("UNKNOWN_SYMBOLS", "error"),
    "val_fraction": ("VAL_FRACTION", 0.2), "seed": ("SEED", 42),
    "image_channels": ("IMAGE_CHANNELS", "paper"), "context_mode": ("CONTEXT_MODE", "offline")}
"""build-dataset's options that ``--params`` / ``--set`` fill: ``{dest: (PARAMETER, default)}``."""

_BEAT_ONLY = {"split": "--split", "max_beats_per_record": "--max-beats-per-record",
              "val_fraction": "--val-fraction", "seed": "--seed", "workers": "--workers",
              "prune": "--prune", "image_channels": "--image-channels",
              "context_mode": "--context-mode"}
"""build-dataset options of the beat task: refused with --task rhythm."""


def _cmd_build_dataset(args) -> int:
    from ecgkit.data.export import build_dataset, check_options
    from ecgkit.data.records import RecordError
    from ecgkit.data.rhythm import MAX_STRIPS_PER_RECORD, build_rhythm_dataset

    given = [flag for key, flag in _BEAT_ONLY.items()
             if getattr(args, key) is not None and getattr(args, key) is not False]
    if args.task == "rhythm" and given:
        print(f"error: {', '.join(given)}: not an option of --task rhythm", file=sys.stderr)
        return 1
    if args.task == "beat" and args.max_strips_per_record is not None:
        print("error: --max-strips-per-record is an option of --task rhythm", file=sys.stderr)
        return 1
    try:
        _fill_options(args, _profile_overrides(args), BUILD_DATASET_OPTIONS)
    except ParamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    records = None
    if args.records:
        records = [r for item in args.records for r in item.split(",") if r]
    try:
        check_folder(args.out_dir)
        if args.task == "rhythm":
            cap = args.max_strips_per_record
            build_rhythm_dataset(args.source_dir, args.out_dir, records=records,
                                 max_strips_per_record=MAX_STRIPS_PER_RECORD if cap is None
                                 else cap, image_size=args.image_size, grid=args.grid,
                                 lead=args.lead, fallback_leads=tuple(args.fallback_lead or ()),
                                 missing_lead=args.missing_lead,
                                 unknown_symbols=args.unknown_symbols, progress=not args.quiet)
            return 0
        check_options(args.image_size, args.max_beats_per_record, args.val_fraction, args.seed,
                      args.workers, names={"image_size": "--image-size", "max_beats_per_record":
                                           "--max-beats-per-record", "val_fraction":
                                           "--val-fraction", "seed": "--seed",
                                           "workers": "--workers"})
        build_dataset(args.source_dir, args.out_dir, records=records, split=args.split,
                      image_size=args.image_size, grid=args.grid,
                      max_beats_per_record=args.max_beats_per_record, workers=args.workers,
                      progress=not args.quiet, lead=args.lead,
                      fallback_leads=tuple(args.fallback_lead or ()),
                      val_fraction=args.val_fraction, seed=args.seed,
                      missing_lead=args.missing_lead, unknown_symbols=args.unknown_symbols,
                      prune=args.prune, image_channels=args.image_channels,
                      context_mode=args.context_mode)
    except (RecordError, ValueError, OSError) as exc:
        print(f"error: {_message(exc)}", file=sys.stderr)
        return 1
    return 0


# --- ecgkit download -----------------------------------------------------------------------------

def _add_download(sub) -> None:
    p = _add_command(sub, "download", help="download PhysioNet's original MIT-BIH files "
                                           "(online; data/mitdb already has all 48 records)",
                     description="Download a PhysioNet database with wfdb (format 212 "
                                 "as PhysioNet ships it). Not needed to run anything: "
                                 "data/mitdb holds all 48 MIT-BIH records, losslessly "
                                 "compressed.")
    p.add_argument("database", choices=sorted(download.DATABASES), help="database to fetch")
    p.add_argument("dest", metavar="DIR", help="destination folder")
    p.add_argument("--timeout", type=positive_float, default=download.PROBE_TIMEOUT_S,
                   help="seconds to wait for PhysioNet before giving up")
    p.set_defaults(func=_cmd_download)


def _cmd_download(args) -> int:
    try:
        out = download.download_mitdb(args.dest, host=download.PHYSIONET_HOST,
                                      port=download.PHYSIONET_PORT, timeout=args.timeout)
    except download.DownloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.database} downloaded to {out}")
    return 0


# --- ecgkit train --------------------------------------------------------------------------------

def _add_train(sub) -> None:
    p = _add_command(
        sub, "train",
        help="train a model with a parameter profile (resumes after an interruption)",
        description="Trains the enhanced ResNet50 with the workbook parameters from a YAML "
                    "profile (names from ecgkit.params; unknown names are errors). Running the "
                    "same command again after an interruption resumes from the last finished "
                    "epoch; other settings in that folder are refused (--restart discards the "
                    "interrupted run). One training at a time writes into a folder.")
    _add_params_options(p, "the training parameters (names from ecgkit.params)")
    p.add_argument("--run-dir", default=None, help="output folder (default RUN_DIR/train)")
    p.add_argument("--restart", action="store_true",
                   help="discard an interrupted run in the output folder and start afresh "
                        "(without it, only the same settings may continue that run)")
    _add_lead_fallback_options(p, parameters=True)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_image_folder_options(p, training=True)
    p.set_defaults(func=_cmd_train)


def _add_image_folder_options(p: argparse.ArgumentParser, training: bool) -> None:
    """``--images DIR``, ``--labels CSV``, ``--group-column NAME`` (train and evaluate on your
    own labelled images, ecgkit.data.folders) and, for training, how images are fitted and split."""
    g = p.add_argument_group("your own labelled images")
    g.add_argument("--images", metavar="DIR", default=None,
                   help="a folder of labelled ECG images: one sub-folder per class, or a "
                        "labels CSV (DIR/labels.csv or --labels) with columns file, label and a "
                        "patient column")
    g.add_argument("--labels", metavar="CSV", default=None,
                   help="with --images: the labels CSV (file relative to DIR, label, optional "
                        "group column)")
    g.add_argument("--group-column", metavar="NAME", default=None,
                   help="with --images: the CSV column naming each image's patient (default "
                        "'patient' when present); no patient is then on two sides")
    if training:
        g.add_argument("--fit", choices=("pad", "tile"), default="pad",
                       help="with --images: keep each image's aspect by padding it to a square "
                            "(default), or cut it into square tiles along its longer side")
        g.add_argument("--test-fraction", type=open_fraction, default=None,
                       help="with --images: share of the images (whole patients) kept for test "
                            "(parameter TEST_FRACTION, default 0.2)")
        g.add_argument("--bad-images", choices=("error", "skip"), default="error",
                       help="with --images: unreadable or too-small images: stop, naming every "
                            "one (default), or leave them out with a warning")


def _image_options_alone(args) -> str | None:
    """The image-folder option given without ``--images``, if any."""
    if args.images:
        return None
    for name in ("labels", "group_column"):
        if getattr(args, name, None):
            return "--" + name.replace("_", "-")
    return None


def _cmd_train(args) -> int:
    from ecgkit.training.callbacks import MONITOR
    from ecgkit.training.train import train

    if _image_options_alone(args):
        print(f"error: {_image_options_alone(args)} goes with --images DIR", file=sys.stderr)
        return 2
    if args.run_dir:
        check_folder(args.run_dir)  # a file in the way: an error naming it (main), exit 1
    try:
        overrides = _profile_overrides(args)
        if args.fallback_lead:
            overrides["FALLBACK_LEADS"] = ",".join(args.fallback_lead)
        if args.unknown_symbols:
            overrides["UNKNOWN_SYMBOLS"] = args.unknown_symbols
        weights = resolve(overrides)["WEIGHTS"]
        if weights_arg(weights) not in (None, "imagenet") and not Path(weights).is_file():
            raise ParamError(f"parameter WEIGHTS: no such weights file {weights!r} (use "
                             "'imagenet', 'none' or the path of a .weights.h5 file)")
    except ParamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.images:
            result = _train_images(args, overrides)
        else:
            result = train(overrides, run_dir=args.run_dir, progress=not args.quiet,
                           restart=args.restart)
    except KeyboardInterrupt:
        print("interrupted: the same command resumes from the last finished epoch, if any "
              "(--restart starts afresh)", file=sys.stderr)
        return 130
    best = result.info.get("best") or {}
    print(f"run folder: {result.run_dir}")
    classes = result.info["data"].get("classes") if args.images else None
    print(f"model: {result.paths['model']}" + (f" (classes: {', '.join(classes)})"
                                               if classes else ""))
    if best:
        print(f"best {best.get('monitor', MONITOR)} {best['best']:.4f} at epoch {best['epoch']}")
    return 0


def _train_images(args, overrides: dict):
    """``ecgkit train --images DIR``: ecgkit.training.image_training on a labelled folder."""
    from ecgkit.training.image_training import train_images

    # The data report (printed first) says so when the split cannot keep patients apart.
    return train_images(args.images, args.labels, args.group_column, overrides,
                        run_dir=args.run_dir, fit=args.fit, test_fraction=args.test_fraction,
                        on_bad=args.bad_images, progress=not args.quiet, echo=print,
                        restart=args.restart)


# --- ecgkit evaluate -----------------------------------------------------------------------------

def _add_evaluate(sub) -> None:
    p = _add_command(
        sub, "evaluate",
        help="evaluate a trained model (per-class metrics, literature table, figures)",
        description="Evaluates a .keras model on the beats of a WFDB folder, or on the images "
                    "of an `ecgkit build-dataset` folder (one with manifest.csv); default split: "
                    "the test patients. Writes metrics.json, per_class.csv, literature.csv and "
                    "figures.")
    p.add_argument("--model", required=True, help="trained .keras model")
    _add_params_options(p, "DATA_DIR, SPLIT, RECORDS, LEAD, FALLBACK_LEADS, UNKNOWN_SYMBOLS, "
                           "TEST_MAX_BEATS_PER_RECORD and BOOTSTRAP fill the options not given; "
                           "IMAGE_SIZE, GRID, CONTEXT, CONTEXT_MODE and IMAGE_CHANNELS must agree "
                           "with the model")
    p.add_argument("--data", default=None, help="WFDB folder or build-dataset image folder "
                   "(default: the embedded database, data/mitdb)")
    p.add_argument("--split", default="test", choices=("train", "val", "test", "all"))
    p.add_argument("--protocol", default=None, choices=PATIENT_SPLITS,
                   help="split protocol (default: the one the model was trained with, recorded "
                        "in the model; another one is used with a warning)")
    p.add_argument("--records", nargs="*", help="only these records")
    p.add_argument("--lead", default=None, help="lead name (default: MLII)")
    _add_lead_fallback_options(p, parameters=True)
    p.add_argument("--max-beats-per-record", type=param_option("TEST_MAX_BEATS_PER_RECORD"),
                   default=None,
                   help="cap per record and class, the beats weighted (default 0 = every beat)")
    p.add_argument("--bootstrap", type=param_option("BOOTSTRAP"), default=None,
                   help="bootstrap resamples by patient (default 200)")
    p.add_argument("--no-grid", action="store_true",
                   help="images without the ECG-paper grid (default: as the model was trained, "
                        "when it records it; else with the grid)")
    p.add_argument("--bad-images", choices=("error", "skip"), default="error",
                   help="unreadable or missing images of a build-dataset folder: stop, naming "
                        "every one (default), or leave them out with a warning")
    p.add_argument("--out", default=None, help="report folder (default: next to the model)")
    p.add_argument("--quiet", action="store_true")
    _add_image_folder_options(p, training=False)
    p.set_defaults(func=_cmd_evaluate)


EVALUATE_OPTIONS = {
    "data": ("DATA_DIR", None), "protocol": ("SPLIT", None), "records": ("RECORDS", None),
    "lead": ("LEAD", LEAD), "fallback_lead": ("FALLBACK_LEADS", None),
    "unknown_symbols": ("UNKNOWN_SYMBOLS", "error"),
    "max_beats_per_record": ("TEST_MAX_BEATS_PER_RECORD", 0), "bootstrap": ("BOOTSTRAP", 200)}
"""evaluate's options that ``--params`` / ``--set`` fill: ``{dest: (PARAMETER, default)}``."""

MODEL_SETTINGS = ("IMAGE_SIZE", "GRID", "CONTEXT", "CONTEXT_MODE", "IMAGE_CHANNELS")
"""Parameters that must agree with the model evaluated (``provenance.check_settings``)."""


def _cmd_evaluate(args) -> int:
    from ecgkit.data.datasets import load_beats
    from ecgkit.data.images import ImageFolderError
    from ecgkit.data.records import RecordError
    from ecgkit.evaluation.evaluate import evaluate_image_folder, evaluate_model
    from ecgkit.evaluation.provenance import ProvenanceError, check_settings, protocol
    from ecgkit.evaluation.scoring import format_summary, headline

    if _image_options_alone(args):
        print(f"error: {_image_options_alone(args)} goes with --images DIR", file=sys.stderr)
        return 2
    try:
        overrides = _profile_overrides(args)
        _fill_options(args, overrides, EVALUATE_OPTIONS)
    except ParamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path(args.model).parent / "evaluation"
    check_folder(out)
    model = _load_checked_model(args.model)
    if model is None:
        return 2
    if not args.images and recorded_source(model) == "image-folder":
        print(f"error: {args.model} was trained on an image folder; evaluate it on such a "
              "folder: --images DIR", file=sys.stderr)
        return 2
    try:
        if args.no_grid:
            check_settings(model, {"GRID": False}, source="--no-grid")
        check_settings(model, {k: v for k, v in overrides.items() if k in MODEL_SETTINGS},
                       source="--params/--set")
        split = None if args.images else protocol(model, args.protocol)
    except ProvenanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.images:
        return _evaluate_images(args, model, out)
    print(f"protocol: {split} ({'as asked' if args.protocol else 'as the model was trained'})")
    try:
        if args.data and (Path(args.data) / "manifest.csv").is_file():  # a build-dataset folder
            report = evaluate_image_folder(model, args.data, args.split, out,
                                           n_boot=args.bootstrap, on_bad=args.bad_images)
        else:
            beats = load_beats(args.data, records=args.records or None,
                               split="none" if args.split == "all" else split,
                               max_beats_per_record=args.max_beats_per_record,
                               progress=not args.quiet, lead=args.lead,
                               fallback_leads=tuple(args.fallback_lead or ()),
                               unknown_symbols=args.unknown_symbols)
            if args.split != "all":
                if args.split not in beats.splits:
                    print(f"error: {args.data or 'embedded data'}: no beats in split "
                          f"{args.split!r} (splits: {beats.splits})", file=sys.stderr)
                    return 1
                beats = beats.subset(args.split)
            report = evaluate_model(model, beats, out, n_boot=args.bootstrap,
                                    grid=False if args.no_grid else None)
    except (RecordError, SplitError, ImageFolderError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    top = headline(report)
    if top is not None:  # the literature's class set first; Q (few beats, never learned) apart
        print(format_summary(top))
        print("\nWith Q (scored apart: unclassifiable beats, too few to learn):")
    print(format_summary(report))
    print(f"report written to {out}" + ("" if top is None else
                                          " (metrics.json: 'headline' holds N/S/V/F)"))
    return 0


def recorded_source(model) -> str | None:
    """What the model was trained on, as it records it (``"image-folder"``), or None."""
    from ecgkit.model.backbone import recorded_provenance

    return recorded_provenance(model).get("source")


def _evaluate_images(args, model, out: Path) -> int:
    """``ecgkit evaluate --images DIR``: ecgkit.evaluation.folder_evaluation on a labelled folder
    (``--bootstrap``, or BOOTSTRAP from ``--params``/``--set``, sets the resamples)."""
    from ecgkit.evaluation.folder_evaluation import evaluate_images, format_comparison
    from ecgkit.evaluation.scoring import format_summary

    report, extra = evaluate_images(model, args.images, args.labels, args.group_column,
                                    split=args.split, out_dir=out, n_boot=args.bootstrap,
                                    on_bad=args.bad_images)
    seen = extra["split"]["groups_seen_in_training"]
    if seen:
        print(f"warning: {seen} of these patients were seen in training (their figures are "
              "optimistic)", file=sys.stderr)
    print(format_summary(report))
    print(format_comparison(report, extra))
    print(f"report written to {out}")
    return 0


# --- ecgkit predict ------------------------------------------------------------------------------

def _add_predict(sub) -> None:
    p = _add_command(
        sub, "predict", help="classify ECG beat images with a trained model",
        description="Prints the class (AAMI, or the classes of the image folder a model was "
                    "trained on) and the class probabilities of each image. Bad files get an "
                    "error line; the exit status is 1 if any file failed.")
    p.add_argument("--model", required=True, help="trained .keras model")
    p.add_argument("images", nargs="*", help="image files (PNG, JPEG, ...)")
    p.add_argument("--record", default=None, metavar="DIR/NAME",
                   help="classify every beat of this WFDB record instead (with its context)")
    p.add_argument("--out", default=None, metavar="F.csv",
                   help="with --record: the CSV to write (sample, class, probabilities; default: "
                        "print it)")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(func=_cmd_predict)


def _predict_record(args, model) -> int:
    from ecgkit.data.records import RecordError
    from ecgkit.evaluation.predict import predict_record

    try:
        table = predict_record(model, args.record)
    except RecordError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False, float_format="%.5f")
        counts = table["class"].value_counts().to_dict()
        per_class = ", ".join(f"{c} {counts[c]}" for c in sorted(counts))
        print(f"{len(table)} beats of {args.record} classified: {per_class}; written to {out}")
    elif args.json:
        print(table.to_json(orient="records", indent=2))
    else:
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


def _cmd_predict(args) -> int:
    from ecgkit.evaluation.predict import ModelLoadError, predict_files

    if bool(args.record) == bool(args.images):
        print("error: give image files or --record DIR/NAME (one of the two)", file=sys.stderr)
        return 2
    if args.out and not args.record:
        print("error: --out goes with --record", file=sys.stderr)
        return 2
    model = _load_checked_model(args.model)
    if model is None:
        return 2
    if args.record:
        return _predict_record(args, model)
    try:
        results = predict_files(model, args.images)
    except ModelLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        for r in results:
            if r.ok:
                probs = " ".join(f"{c}={v:.3f}" for c, v in r.probabilities.items())
                print(f"{r.path}: {r.label} ({r.confidence:.3f})  {probs}")
            else:
                print(f"{r.path}: ERROR {r.error}")
    failed = [r for r in results if not r.ok]
    if failed:
        print(f"{len(failed)} of {len(results)} files failed", file=sys.stderr)
    return 1 if failed else 0


# --- ecgkit demo ---------------------------------------------------------------------------------

def _add_demo(sub) -> None:
    p = _add_command(
        sub, "demo",
        help="train and evaluate the enhanced ResNet50 on the embedded data (minutes)",
        description="Creates the enhanced ResNet50, trains it on the embedded MIT-BIH data, "
                    "evaluates it on the test patients and saves figures, metrics and the model.")
    p.add_argument("--out", default=str(PROJECT_ROOT / "runs" / "demo"), help="output folder")
    p.add_argument("--data", default=None,
                   help="WFDB folder (default: the embedded database, data/mitdb)")
    p.add_argument("--ci", action="store_true", help="tiny settings (seconds; for tests)")
    for name in ("IMAGE_SIZE", "EPOCHS", "STEPS_PER_EPOCH", "BATCH_SIZE",
                 "MAX_BEATS_PER_RECORD"):
        p.add_argument("--" + name.lower().replace("_", "-"), type=param_option(name),
                       help=f"parameter {name}")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args) -> int:
    from ecgkit.workbook.demo import CI, run_demo

    overrides = dict(CI) if args.ci else {}
    options = {"IMAGE_SIZE": args.image_size, "EPOCHS": args.epochs,
               "STEPS_PER_EPOCH": args.steps_per_epoch, "BATCH_SIZE": args.batch_size,
               "MAX_BEATS_PER_RECORD": args.max_beats_per_record}
    overrides.update({name: value for name, value in options.items() if value is not None})
    run_demo(args.out, overrides, data_dir=args.data, progress=not args.quiet,
             command=" ".join(["ecgkit", *args.argv]))
    return 0


# --- ecgkit workbook -----------------------------------------------------------------------------

def _add_workbook(sub) -> None:
    wb = _add_command(sub, "workbook", help="run or check the notebook workbook",
                      description="Run or check the notebooks in notebooks/.")
    actions = wb.add_subparsers(dest="workbook_command", metavar="ACTION")
    wb.set_defaults(func=lambda _a: (wb.print_help(), 2)[1])

    run = actions.add_parser("run", help="execute the notebooks in order with papermill")
    run.add_argument("--profile", default="cpu",
                     help="smoke, cpu, gpu, or a YAML file of parameters (default: cpu)")
    run.add_argument("--out", default=None, help="run folder (default: runs/workbook-PROFILE)")
    run.add_argument("--only", default=None, help="comma-separated notebook numbers, e.g. 01,02")
    run.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help="override one parameter (repeatable)")
    run.add_argument("--cell-timeout", type=positive_int, default=None,
                     help="seconds per cell")
    run.add_argument("--notebooks", default=str(NOTEBOOKS_DIR), help=argparse.SUPPRESS)
    run.set_defaults(func=_cmd_workbook_run)

    ls = actions.add_parser("list", help="list the notebooks and the parameters each declares")
    ls.add_argument("--notebooks", default=str(NOTEBOOKS_DIR), help=argparse.SUPPRESS)
    ls.set_defaults(func=_cmd_workbook_list)

    check = actions.add_parser("check", help="check the notebooks against the workbook rules")
    check.add_argument("--notebooks", default=str(NOTEBOOKS_DIR), help=argparse.SUPPRESS)
    check.set_defaults(func=_cmd_workbook_check)


def _workbook_overrides(items: list[str]) -> dict:
    """``workbook run --set NAME=VALUE`` items as a dict (values read as YAML; the workbook
    checks the names and values)."""
    values = {}
    for item in items or []:
        if "=" not in item:
            raise WorkbookError(f"--set {item}: expected NAME=VALUE")
        key, raw = item.split("=", 1)
        values[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
    return values


def _cmd_workbook_run(args) -> int:
    try:
        result = run_workbook(args.profile, out=args.out, only=args.only,
                              notebooks_dir=args.notebooks,
                              overrides=_workbook_overrides(args.set),
                              cell_timeout=args.cell_timeout)
    except (WorkbookError, ParamError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0 if result.ok else 1


def _cmd_workbook_list(args) -> int:
    for nb in list_notebooks(args.notebooks):
        names = ", ".join(p.name for p in notebook_parameters(nb))
        print(f"{nb.stem}: {names}")
    return 0


def _cmd_workbook_check(args) -> int:
    problems = [p for nb in list_notebooks(args.notebooks) for p in lint_notebook(nb)]
    for p in problems:
        print(p)
    print(f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
