"""The jaxser command: a thin layer over the library.

    jaxser demo                                          # train + evaluate on the built-in corpus
    jaxser train --config configs/zhao2019_cnn2d_emodb.py --workdir runs/x [--config.train.epochs=3]
    jaxser evaluate --workdir runs/x
    jaxser predict --checkpoint runs/x a.wav folder/ [--format json|csv]
    jaxser cv --config configs/zhao2019_cnn2d_emodb.py --workdir runs/loso
    jaxser bench --config configs/zhao2019_cnn2d_emodb.py
    jaxser summary --dataset emodb --manual-dir ../shared/data/emodb
"""

from __future__ import annotations

# Only the standard library at module level: `jaxser` re-executes itself (host_memory)
# and sets up quiet logging before TensorFlow or JAX is imported.
import argparse
import contextlib
import functools
import json
import os
import pathlib
import shlex
import sys

# Persistent XLA compilation cache; JAXSER_COMPILE_CACHE moves it, or turns it off when empty.
COMPILE_CACHE = os.environ.get("JAXSER_COMPILE_CACHE", str(pathlib.Path("~/.cache/jaxser/jax_compilation_cache").expanduser()))
VERBOSE_ENV = "JAXSER_VERBOSE"  # 1: let third-party start-up and log lines through (as --verbose)
# Errors we raise carry the file and the fix: reported in one line, no traceback.
# (module, class): a class is looked up only if its module was imported, since an error
# of a module never imported cannot have been raised, and importing them all would
# import TensorFlow into every command.
EXPECTED_ERRORS = (
    ("jaxser.audio", "AudioError"),
    ("jaxser.config", "ConfigError"),
    ("jaxser.data.builders.common", "ManualDirError"),
    ("jaxser.data.corpora", "NotPreparedError"),
    ("jaxser.data.corpora", "UnknownCorpusError"),
    ("jaxser.data.pipeline_config", "PipelineError"),
    ("jaxser.data.splits", "SplitError"),
    ("jaxser.train.checkpoint", "CheckpointError"),
    ("jaxser.train.parallel", "BatchSizeError"),
    ("jaxser.train.supervised", "NonFiniteError"),
    ("jaxser.train.supervised", "WorkdirError"),
    ("jaxser.train.workdir", "WorkdirLockedError"),
    ("jaxser.train.workdir", "WorkdirWriteError"),
)


class UsageError(ValueError):
    pass


def _summary(dataset: str, manual_dir, data_dir, config, as_json: bool, batch_size: int) -> int:
    from jaxser import corpus_summary
    from jaxser import data

    with contextlib.redirect_stdout(sys.stderr):  # TFDS reports builds on stdout
        corpus = data.builder(dataset, data_dir, config=config, manual_dir=manual_dir, download_and_prepare=True)
    ds = corpus.as_dataset(split="train")
    result = corpus_summary.summarize(ds, corpus.info.features["label"].names, batch_size=batch_size)
    label = dataset + (f"/{config}" if config else "")
    print(json.dumps(result, indent=2) if as_json else corpus_summary.format_summary(label, result))
    return 0


def _load_config(args, overrides):
    from jaxser import config as config_lib

    return config_lib.load(args.config, overrides)


def _format_eval(result: dict) -> str:
    lines = [
        f"{result['config']} on {result['corpus']}, fold {result['fold']} ({result['part']} speakers: "
        f"{', '.join(result['speakers'])}; "
        + (f"checkpoint {result['checkpoint']} at step {result['checkpoint_step']})" if result["checkpoint_step"] is not None
           else f"{result['checkpoint']} model)"),
        f"WA {100 * result['wa']:.2f}%   UA {100 * result['ua']:.2f}%   ({result['total']} utterances)",
        "",
        f"{'class':<12} {'n':>5} {'recall':>8}",
    ]
    for name, n in result["counts"].items():
        recall = result["per_class_recall"].get(name)
        lines.append(f"{name:<12} {n:>5} {'-' if recall is None else f'{100 * recall:.1f}%':>8}")
    return "\n".join(lines)


def _train_and_evaluate(config, workdir: pathlib.Path, as_json: bool) -> int:
    from jaxser import evaluate, experiments

    with contextlib.redirect_stdout(sys.stderr):  # TFDS reports builds on stdout
        summary = experiments.train_fold(config, workdir)
        result = evaluate.evaluate_workdir(workdir)
    result["train"] = summary
    print(json.dumps(result, indent=1) if as_json else _format_eval(result) + f"\n\nrun: {workdir}")
    return 0


def _predict(args) -> int:
    from jaxser import audio
    from jaxser.predict import Predictor

    predictor = Predictor.from_checkpoint(args.checkpoint, which=args.which, min_seconds=args.min_seconds)
    paths, empty = [], []
    for item in args.paths:
        p = pathlib.Path(item)
        found = audio.list_files(p) if p.is_dir() else [p]
        paths.extend(found)
        if not found:  # a folder without audio: say so rather than print nothing for it
            empty.append((p, f"folder holds no audio files ({', '.join(audio.READABLE_EXTENSIONS)})"))
    # Files are read in blocks and predicted one batch of windows at a time: memory stays
    # flat however many or long the files are.
    with _progress_bar(len(paths)) as progress:
        outcomes = predictor.outcomes(paths, progress=progress)
    for path, reason in empty:
        print(f"jaxser predict: skipped {_printable(path, sys.stderr)}: {reason}", file=sys.stderr)
    for path, outcome in zip(paths, outcomes):
        if isinstance(outcome, audio.AudioError):
            print(f"jaxser predict: skipped {_printable(path, sys.stderr)}: {outcome.reason}", file=sys.stderr)
    if all(isinstance(o, audio.AudioError) for o in outcomes):
        print("jaxser predict: error: no input could be read", file=sys.stderr)
        return 1
    _print_predictions(args.format, paths, outcomes, predictor.class_names)
    return 0


def _print_predictions(fmt: str, paths, outcomes, names) -> None:
    """Every file with its status: "ok" (labelled), "too_short" (not labelled) or, in
    JSON and CSV, "unreadable" (its reason went to stderr; the table leaves it out)."""
    from jaxser import predict

    rows = []  # (file as given, status, prediction or None, reason)
    for path, o in zip(paths, outcomes):
        if isinstance(o, predict.Prediction):
            rows.append((path, o.status, o, None))
        else:
            rows.append((path, predict.UNREADABLE, None, o.reason))
    if fmt == "json":
        # ensure_ascii escapes a non-UTF-8 name's surrogates; json.loads + os.fsencode give the name back.
        items = []
        for path, status, p, reason in rows:
            ok = status == predict.OK
            item = {"file": str(path), "status": status, "label": p.label if p else None,
                    "probabilities": p.probabilities if ok else None, "seconds": p.seconds if p else None}
            items.append({**item, "reason": reason} if reason else item)
        print(json.dumps(items, indent=1))
    elif fmt == "csv":
        import csv

        out = csv.writer(sys.stdout)
        out.writerow(["file", "label", *names, "seconds", "status"])  # status last: older readers keep their columns
        for path, status, p, _ in rows:
            ok = status == predict.OK
            probabilities = [f"{p.probabilities[n]:.4f}" if ok else "" for n in names]
            seconds = f"{p.seconds:.2f}" if p else ""
            out.writerow([_printable(path, sys.stdout), p.label if ok else "", *probabilities, seconds, status])
    else:
        shown = [(_printable(path, sys.stdout), p) for path, _, p, _ in rows if p is not None]
        width = max(len(s) for s, _ in shown)
        print(f"{'file':<{width}}  {'label':<10} " + " ".join(f"{n[:8]:>8}" for n in names))
        for source, p in shown:
            if p.status == predict.OK:
                cells = " ".join(f"{p.probabilities[n]:>8.3f}" for n in names)
                print(f"{source:<{width}}  {p.label:<10} {cells}")
            else:
                print(f"{source:<{width}}  {'(' + p.status.replace('_', ' ') + f', {p.seconds:.2g} s)'}")


@contextlib.contextmanager
def _progress_bar(files: int, *, refresh_s: float = 0.1):
    """A bar on stderr (files, audio seconds, times real time) when stderr is a terminal;
    yields the callback :meth:`jaxser.predict.Predictor.outcomes` calls per file."""
    if not sys.stderr.isatty():
        yield None
        return
    from tqdm.auto import tqdm

    audio_seconds = 0.0
    with tqdm(total=files, unit="file", file=sys.stderr, dynamic_ncols=True, leave=False, mininterval=refresh_s) as bar:

        def done(seconds: float) -> None:
            nonlocal audio_seconds
            audio_seconds += seconds
            elapsed = bar.format_dict["elapsed"] or 1e-9
            bar.set_postfix_str(f"{audio_seconds:.0f} s audio, {audio_seconds / elapsed:.0f}x real time", refresh=False)
            bar.update(1)

        yield done


def _printable(path, stream) -> str:
    """``path`` as text ``stream`` can encode: a byte no encoding can show becomes ``\\xNN``.

    Linux file names are bytes; Python hands a non-UTF-8 one over with surrogate
    escapes, which ``print`` refuses to encode (a crash after all the work is done).
    """
    text = os.fsencode(str(path)).decode("utf-8", "backslashreplace")
    encoding = getattr(stream, "encoding", None) or "utf-8"
    return text.encode(encoding, "backslashreplace").decode(encoding)  # e.g. Chinese names on an ASCII terminal


def build_parser() -> argparse.ArgumentParser:
    # --verbose is accepted before or after the command: a parent parser gives it to each
    # subcommand without a default, so one given before the command is not reset.
    verbosity = argparse.ArgumentParser(add_help=False)
    verbosity.add_argument(
        "--verbose", action="store_true", default=argparse.SUPPRESS,
        help=f"show the start-up and log lines of TensorFlow, JAX and other libraries (or set {VERBOSE_ENV}=1)",
    )
    parser = argparse.ArgumentParser(
        prog="jaxser", description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Config fields are overridden with --config.SECTION.FIELD=VALUE after the command.",
        parents=[verbosity],
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser = functools.partial(sub.add_parser, parents=[verbosity])

    demo = add_parser("demo", help="train and evaluate a small model on the built-in synthetic corpus")
    demo.add_argument("--size", default="default", choices=["default", "tiny"], help="synthetic corpus size")
    demo.add_argument("--workdir", type=pathlib.Path, default=pathlib.Path("runs/demo"))
    demo.add_argument("--json", action="store_true")

    train = add_parser("train", help="train one fold of a config (and evaluate it on the test speakers)")
    train.add_argument("--config", required=True, help="config file, optionally file.py:arg")
    train.add_argument("--workdir", type=pathlib.Path, required=True)
    train.add_argument("--json", action="store_true")

    evaluate = add_parser("evaluate", help="evaluate a run's checkpoint on its test speakers")
    evaluate.add_argument("--workdir", type=pathlib.Path, required=True)
    evaluate.add_argument("--which", choices=["best", "latest"], default="best")
    evaluate.add_argument("--part", choices=["test", "val", "train"], default="test")
    evaluate.add_argument("--json", action="store_true")

    predict = add_parser("predict", help="predict the emotion of audio files with a trained run")
    predict.add_argument("--checkpoint", type=pathlib.Path, required=True, help="the workdir of a jaxser train run")
    predict.add_argument("--which", choices=["best", "latest"], default="best")
    predict.add_argument(
        "--format", choices=["table", "json", "csv"], default="table",
        help="json and csv list every file with its status: ok, too_short or unreadable",
    )
    predict.add_argument(
        "--min-seconds", type=_seconds, metavar="S",
        help="report files shorter than S seconds as too_short instead of labelling them (default: an "
        "eighth of the model's input window, e.g. 1 s for 8-second windows)",
    )
    predict.add_argument("paths", nargs="+", help="audio files or folders")

    cv = add_parser("cv", help="train and evaluate every fold of a config's split (resumable)")
    cv.add_argument("--config", required=True)
    cv.add_argument("--workdir", type=pathlib.Path, required=True)
    cv.add_argument("--folds", type=lambda s: [int(x) for x in s.split(",")], help="only these fold indices, e.g. 0,1")

    for command in (train, cv):
        command.add_argument(
            "--distributed", action="store_true",
            help="multi-host: call jax.distributed.initialize() first (auto-detected on TPU pods and SLURM; "
            "elsewhere give --coordinator, --num-processes and --process-id)",
        )
        command.add_argument("--coordinator", metavar="HOST:PORT", help="process 0's address (implies --distributed)")
        command.add_argument("--num-processes", type=int, help="processes in the run (implies --distributed)")
        command.add_argument("--process-id", type=int, help="this process's index, 0..N-1 (implies --distributed)")

    bench = add_parser("bench", help="train-step throughput: synthetic batches and the real input pipeline")
    bench.add_argument("--config", required=True)
    bench.add_argument("--steps", type=int, default=20)
    bench.add_argument("--batch-size", type=int, help="override train.global_batch_size")

    summary = add_parser("summary", help="summarise a corpus and its on-device features")
    summary.add_argument("--dataset", required=True)
    summary.add_argument("--manual-dir", type=pathlib.Path, help="folder holding the corpus (licensed corpora)")
    summary.add_argument("--config", help="builder config, e.g. IEMOCAP's 4class")
    summary.add_argument(
        "--data-dir", type=pathlib.Path,
        help="where corpora are built (default: $JAXSER_TFDS_DIR, else ~/.cache/jaxser/tensorflow_datasets)",
    )
    summary.add_argument("--batch-size", type=int, default=32)
    summary.add_argument("--json", action="store_true")
    return parser


def _verbose(args) -> bool:
    return getattr(args, "verbose", False) or os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def _quiet_libraries(verbose: bool = False) -> None:
    """Our own messages and results only: TensorFlow's start-up lines (absl's
    "All log messages before absl::InitializeLog()", the oneDNN notice, CUDA probes),
    orbax's notes on read-only checkpoint folders and TFDS/JAX log chatter are noise at
    the command line. ``verbose`` lets them through. Call before TensorFlow or JAX is
    imported: TF's C++ logging reads its level from the environment once, at import.
    A level the user set is kept."""
    # "0": TF's own default, which jaxser.data.tf_setup would otherwise raise to "2".
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "3")
    import logging

    if not getattr(sys.unraisablehook, "_jaxser", False):
        sys.unraisablehook = _quiet_closed_loops(sys.unraisablehook)
    if verbose:
        return
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)
    for name in ("absl", "jax", "orbax", "tensorflow"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # orbax logs each failed background save with a traceback before the error reaches
    # us; we report it (see main), so keep its one-line messages only.
    for name in ("absl", "asyncio"):
        logging.getLogger(name).addFilter(_drop_traceback)


def _drop_traceback(record) -> bool:
    record.exc_info, record.exc_text, record.stack_info = None, None, None
    return True


def _quiet_closed_loops(previous):
    """After a damaged checkpoint fails to restore (and the run falls back or reports it),
    tensorstore still completes the other reads of that attempt and calls back into its
    closed event loop: harmless, but each prints a traceback. Drop those only."""

    def hook(unraisable):
        err = unraisable.exc_value
        if isinstance(err, RuntimeError) and str(err) == "Event loop is closed":
            return
        previous(unraisable)

    hook._jaxser = True
    return hook


def _compile_cache(every_compilation: bool = False) -> None:
    """Persistent XLA compilation cache: folds, resumed runs and evaluations reuse compiled steps.

    ``every_compilation``: also keep the quick ones (JAX keeps only those over 1 s by
    default), so that a second ``jaxser predict`` compiles nothing; a value the user set
    in JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS is kept.
    """
    if not COMPILE_CACHE:
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", COMPILE_CACHE)
    if every_compilation and "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


@contextlib.contextmanager
def _native_stdout_to_stderr():
    """Point file descriptor 1 at stderr (what native code prints goes there) while
    Python's ``sys.stdout`` keeps writing to the real stdout."""
    sys.stdout.flush()
    real = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(real):
            yield
    finally:
        real.flush()
        os.dup2(real.fileno(), 1)
        real.close()


def _distributed_args(args) -> dict | None:
    """Arguments of jax.distributed.initialize() for train and cv; None: single process."""
    explicit = {
        "coordinator_address": getattr(args, "coordinator", None),
        "num_processes": getattr(args, "num_processes", None),
        "process_id": getattr(args, "process_id", None),
    }
    explicit = {k: v for k, v in explicit.items() if v is not None}
    if not (getattr(args, "distributed", False) or explicit):
        return None
    if explicit and len(explicit) < 3 and "coordinator_address" in explicit:
        missing = [f"--{k.replace('_', '-')}" for k in ("num_processes", "process_id") if k not in explicit]
        raise UsageError(f"--coordinator needs {' and '.join(missing)} too (outside auto-detected clusters)")
    if "num_processes" in explicit and "process_id" in explicit and not (
        0 <= explicit["process_id"] < explicit["num_processes"]
    ):
        raise UsageError(f"--process-id {explicit['process_id']} must be in 0..{explicit['num_processes'] - 1}")
    return explicit


def _run(args, overrides) -> int:
    if overrides and args.command not in ("train", "cv", "bench"):
        raise UsageError(f"unexpected arguments {overrides}; --config.* overrides go with train, cv and bench")
    if args.command == "summary":
        return _summary(args.dataset, args.manual_dir, args.data_dir, args.config, args.json, args.batch_size)
    distributed = _distributed_args(args)
    if distributed is not None:
        # gloo prints connection notices to fd 1 from C++: keep --json output parseable.
        with _native_stdout_to_stderr():
            import jax

            jax.distributed.initialize(**distributed)  # before anything touches a device
            return _run_command(args, overrides)
    return _run_command(args, overrides)


def _run_command(args, overrides) -> int:
    _compile_cache(every_compilation=args.command == "predict")
    if args.command == "demo":
        from jaxser.demo import demo_config

        return _train_and_evaluate(demo_config(smoke=args.size == "tiny"), args.workdir, args.json)
    if args.command == "train":
        return _train_and_evaluate(_load_config(args, overrides), args.workdir, args.json)
    if args.command == "evaluate":
        from jaxser import evaluate

        with contextlib.redirect_stdout(sys.stderr):
            result = evaluate.evaluate_workdir(args.workdir, which=args.which, part=args.part)
        print(json.dumps(result, indent=1) if args.json else _format_eval(result))
        return 0
    if args.command == "predict":
        return _predict(args)
    if args.command == "cv":
        from jaxser import experiments

        command = "jaxser " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else ""
        with contextlib.redirect_stdout(sys.stderr):
            experiments.run_cv(_load_config(args, overrides), args.workdir, folds=args.folds, command=command)
        print((args.workdir / "results.md").read_text())
        return 0
    from jaxser import bench

    config = _load_config(args, overrides)
    if args.batch_size:
        config.train.global_batch_size = args.batch_size
    with contextlib.redirect_stdout(sys.stderr):
        report = bench.run(config, steps=args.steps)
    print(json.dumps(report, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the command line, not a test calling main([...])
        from jaxser import host_memory

        # First, before anything heavy is imported: the imports would otherwise run twice.
        host_memory.reexec_with_hugepages()  # glibc reads its tunables at start-up; see host_memory.py
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    overrides = [a for a in rest if a.startswith("--config.")]
    unknown = [a for a in rest if not a.startswith("--config.")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    _quiet_libraries(_verbose(args))
    from jaxser.train.workdir import reporting_write_errors

    # A full or read-only disk anywhere (eval.json, results.md...) becomes a WorkdirWriteError.
    target = getattr(args, "workdir", None) or getattr(args, "checkpoint", None) or "."
    try:
        with reporting_write_errors(target):
            return _run(args, overrides)
    except Exception as err:
        if not isinstance(err, _expected_errors()):
            raise
        # Errors we raise carry the file and the fix; a traceback would only bury them.
        print(f"jaxser {args.command}: error: {err}", file=sys.stderr)
        return 2


def _expected_errors() -> tuple[type[Exception], ...]:
    """The classes of :data:`EXPECTED_ERRORS` whose modules are imported (the others
    cannot have been raised), and :class:`UsageError`."""
    found = [getattr(sys.modules[module], name) for module, name in EXPECTED_ERRORS if module in sys.modules]
    return (UsageError, *found)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also NaN
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text!r}")
    return value


if __name__ == "__main__":
    sys.exit(main())
