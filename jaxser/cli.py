"""The ``jaxser`` command: a thin layer over the library.

    jaxser demo                                          # train + evaluate on the built-in corpus
    jaxser train --config configs/zhao2019_cnn2d_emodb.py --workdir runs/x [--config.train.epochs=3]
    jaxser evaluate --workdir runs/x
    jaxser predict --checkpoint runs/x a.wav folder/ [--format json|csv]
    jaxser cv --config configs/zhao2019_cnn2d_emodb.py --workdir runs/loso
    jaxser bench --config configs/zhao2019_cnn2d_emodb.py
    jaxser summary --dataset emodb --manual-dir ../shared/data/emodb
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import shlex
import sys

DEFAULT_DATA_DIR = pathlib.Path(os.environ.get("JAXSER_TFDS_DIR", "~/.cache/jaxser/tensorflow_datasets")).expanduser()
# Persistent XLA compilation cache; JAXSER_COMPILE_CACHE moves it, or turns it off when empty.
COMPILE_CACHE = os.environ.get("JAXSER_COMPILE_CACHE", str(pathlib.Path("~/.cache/jaxser/jax_compilation_cache").expanduser()))


class UsageError(ValueError):
    pass


def _summary(dataset: str, manual_dir, data_dir, config, as_json: bool, batch_size: int) -> int:
    from jaxser import corpus_summary
    from jaxser import data

    with contextlib.redirect_stdout(sys.stderr):
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

    predictor = Predictor.from_checkpoint(args.checkpoint, which=args.which)
    paths, empty = [], []
    for item in args.paths:
        p = pathlib.Path(item)
        found = audio.list_files(p) if p.is_dir() else [p]
        paths.extend(found)
        if not found:  # a folder without audio: say so rather than print nothing for it
            empty.append((p, f"folder holds no {'/'.join(audio.DEFAULT_EXTENSIONS)} files"))
    # Files are read in blocks and predicted one batch of windows at a time: memory stays
    # flat however many or long the files are.
    predictions, failures = predictor.predict_files(paths)
    for path, reason in empty + failures:
        print(f"jaxser predict: skipped {_printable(path, sys.stderr)}: {reason}", file=sys.stderr)
    if not predictions:
        print("jaxser predict: error: no input could be read", file=sys.stderr)
        return 1
    names = predictor.class_names
    if args.format == "json":
        # ensure_ascii escapes a non-UTF-8 name's surrogates; json.loads + os.fsencode give the name back.
        print(json.dumps([{"file": p.source, "label": p.label, "probabilities": p.probabilities,
                           "seconds": p.seconds} for p in predictions], indent=1))
    elif args.format == "csv":
        import csv

        out = csv.writer(sys.stdout)
        out.writerow(["file", "label", *names, "seconds"])
        for p in predictions:
            row = [p.label, *[f"{p.probabilities[n]:.4f}" for n in names], f"{p.seconds:.2f}"]
            out.writerow([_printable(p.source, sys.stdout), *row])
    else:
        sources = [_printable(p.source, sys.stdout) for p in predictions]
        width = max(len(s) for s in sources)
        print(f"{'file':<{width}}  {'label':<10} " + " ".join(f"{n[:8]:>8}" for n in names))
        for source, p in zip(sources, predictions):
            print(f"{source:<{width}}  {p.label:<10} " + " ".join(f"{p.probabilities[n]:>8.3f}" for n in names))
    return 0


def _printable(path, stream) -> str:
    """``path`` as text ``stream`` can encode: a byte no encoding can show becomes ``\\xNN``.

    Linux file names are bytes; Python hands a non-UTF-8 one over with surrogate
    escapes, which ``print`` refuses to encode (a crash after all the work is done).
    """
    text = os.fsencode(str(path)).decode("utf-8", "backslashreplace")
    encoding = getattr(stream, "encoding", None) or "utf-8"
    return text.encode(encoding, "backslashreplace").decode(encoding)  # e.g. Chinese names on an ASCII terminal


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxser", description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Config fields are overridden with --config.SECTION.FIELD=VALUE after the command.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="train and evaluate a small model on the built-in synthetic corpus")
    demo.add_argument("--size", default="default", choices=["default", "tiny"], help="synthetic corpus size")
    demo.add_argument("--workdir", type=pathlib.Path, default=pathlib.Path("runs/demo"))
    demo.add_argument("--json", action="store_true")

    train = sub.add_parser("train", help="train one fold of a config (and evaluate it on the test speakers)")
    train.add_argument("--config", required=True, help="config file, optionally file.py:arg")
    train.add_argument("--workdir", type=pathlib.Path, required=True)
    train.add_argument("--json", action="store_true")

    evaluate = sub.add_parser("evaluate", help="evaluate a run's checkpoint on its test speakers")
    evaluate.add_argument("--workdir", type=pathlib.Path, required=True)
    evaluate.add_argument("--which", choices=["best", "latest"], default="best")
    evaluate.add_argument("--part", choices=["test", "val", "train"], default="test")
    evaluate.add_argument("--json", action="store_true")

    predict = sub.add_parser("predict", help="predict the emotion of audio files with a trained run")
    predict.add_argument("--checkpoint", type=pathlib.Path, required=True, help="a `jaxser train` workdir")
    predict.add_argument("--which", choices=["best", "latest"], default="best")
    predict.add_argument("--format", choices=["table", "json", "csv"], default="table")
    predict.add_argument("paths", nargs="+", help="audio files or folders")

    cv = sub.add_parser("cv", help="train and evaluate every fold of a config's split (resumable)")
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

    bench = sub.add_parser("bench", help="train-step throughput: synthetic batches and the real input pipeline")
    bench.add_argument("--config", required=True)
    bench.add_argument("--steps", type=int, default=20)
    bench.add_argument("--batch-size", type=int, help="override train.global_batch_size")

    summary = sub.add_parser("summary", help="summarise a corpus and its on-device features")
    summary.add_argument("--dataset", required=True)
    summary.add_argument("--manual-dir", type=pathlib.Path, help="folder holding the corpus (licensed corpora)")
    summary.add_argument("--config", help="builder config, e.g. IEMOCAP's 4class")
    summary.add_argument("--data-dir", type=pathlib.Path, default=DEFAULT_DATA_DIR)
    summary.add_argument("--batch-size", type=int, default=32)
    summary.add_argument("--json", action="store_true")
    return parser


def _quiet_libraries() -> None:
    """TF/TFDS/absl log chatter (GCS probes, deprecations) is noise at the command line."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import logging

    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    # orbax logs each failed background save with a traceback before the error reaches
    # us; we report it (see main), so keep its one-line messages only.
    for name in ("absl", "asyncio"):
        logging.getLogger(name).addFilter(_drop_traceback)
    if not getattr(sys.unraisablehook, "_jaxser", False):
        sys.unraisablehook = _quiet_closed_loops(sys.unraisablehook)


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


def _compile_cache() -> None:
    """Persistent XLA compilation cache: folds, resumed runs and evaluations reuse compiled steps."""
    if not COMPILE_CACHE:
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", COMPILE_CACHE)


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
    _compile_cache()
    if args.command == "demo":
        from jaxser.demo import demo_config

        return _train_and_evaluate(demo_config(None if args.size == "default" else "tiny"), args.workdir, args.json)
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

        host_memory.reexec_with_hugepages()  # glibc reads its tunables at start-up; see host_memory.py
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    overrides = [a for a in rest if a.startswith("--config.")]
    unknown = [a for a in rest if not a.startswith("--config.")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    _quiet_libraries()
    from jaxser.audio import AudioError
    from jaxser.config import ConfigError
    from jaxser.data.builders.common import ManualDirError
    from jaxser.data.corpora import NotPreparedError, UnknownCorpusError
    from jaxser.data.pipeline import PipelineError
    from jaxser.data.splits import SplitError
    from jaxser.train.checkpoint import CheckpointError
    from jaxser.train.parallel import BatchSizeError
    from jaxser.train.supervised import NonFiniteError, WorkdirError
    from jaxser.train.workdir import WorkdirLockedError, WorkdirWriteError, reporting_write_errors

    expected = (
        AudioError, ConfigError, ManualDirError, NotPreparedError, UnknownCorpusError, PipelineError, SplitError,
        CheckpointError, BatchSizeError, WorkdirError, WorkdirLockedError, WorkdirWriteError, NonFiniteError,
        UsageError,
    )
    # A full or read-only disk anywhere (eval.json, results.md...) becomes a WorkdirWriteError.
    target = getattr(args, "workdir", None) or getattr(args, "checkpoint", None) or "."
    try:
        with reporting_write_errors(target):
            return _run(args, overrides)
    except expected as err:
        # Errors we raise carry the file and the fix; a traceback would only bury them.
        print(f"jaxser {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
