"""Cold-start time of `jaxser predict` on one file, beside the floor of importing JAX;
optionally the throughput of prediction over a folder, start-up excluded.

    .venv/bin/python tools/bench_predict_start.py --checkpoint runs/demo [--file a.wav] [--runs 5]
        [--folder ../shared/data/emodb [--passes 3]]

Every figure is the wall time of a fresh process, the median of ``--runs``; the kinds
take turns, so a machine whose load changes during the benchmark weighs on all alike:

* ``floor``: ``python -c "import jax"``, what any JAX program pays;
* ``import``: ``python -c "import jaxser.predict"``;
* ``predict_cold``: ``python -m jaxser predict --checkpoint RUN FILE`` with an empty
  compilation cache (the model compiles);
* ``predict_warm``: the same with the cache a previous run filled (nothing compiles).

``predict_cold - predict_warm`` is about the model's compile time.

With ``--folder``: a fresh process loads the run (:class:`jaxser.predict.Predictor`),
predicts one file (the compile, and start-up, not counted), then predicts every audio
file of the folder ``--passes`` times as ``jaxser predict`` does (files read in blocks,
windows batched); ``throughput`` gives the median pass: files per second and seconds of
audio per second of wall time (``x_real_time``); the first pass also brings the files
into the OS cache.

Prints JSON, with the CPU (XLA compiles for the CPU it finds) and the load average: on
a busy machine the wall times grow, and the CPU times (user + system of the process)
say what the work was.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of ``command`` in a fresh process."""
    cpu, start = _cpu_seconds(), time.perf_counter()
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, _cpu_seconds() - cpu


# Run in a fresh process: argv = checkpoint, folder, passes; prints one JSON object.
_THROUGHPUT = r"""
import json, pathlib, resource, statistics, sys, time
from jaxser import audio
from jaxser.predict import Prediction, Predictor

checkpoint, folder, passes = sys.argv[1], pathlib.Path(sys.argv[2]), int(sys.argv[3])
paths = audio.list_files(folder)
if not paths:
    sys.exit(f"no audio files in {folder}")
predictor = Predictor.from_checkpoint(checkpoint)
predictor.outcomes(paths[:1])  # the compile: start-up, not throughput

def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

walls, cpus = [], []
for _ in range(passes):
    used, start = cpu(), time.perf_counter()
    outcomes = predictor.outcomes(paths)
    walls.append(time.perf_counter() - start)
    cpus.append(cpu() - used)
done = [o for o in outcomes if isinstance(o, Prediction)]
audio_s = sum(o.seconds for o in done)
wall = statistics.median(walls)
print(json.dumps({
    "folder": str(folder), "files": len(paths), "predicted": len(done), "audio_s": round(audio_s, 1),
    "windows": sum(o.windows for o in done), "batch_size": predictor.batch_size,
    "passes": passes, "passes_s": [round(w, 2) for w in walls], "median_pass_s": round(wall, 2),
    "median_pass_cpu_s": round(statistics.median(cpus), 2),
    "files_per_s": round(len(paths) / wall, 1), "x_real_time": round(audio_s / wall, 1),
}))
"""


def _throughput(py: str, checkpoint: pathlib.Path, folder: pathlib.Path, passes: int, env: dict) -> dict:
    done = subprocess.run(
        [py, "-c", _THROUGHPUT, str(checkpoint.resolve()), str(folder.resolve()), str(passes)],
        env=env, cwd=REPO, capture_output=True, text=True,
    )
    if done.returncode:
        raise SystemExit(f"the throughput run failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _default_file() -> pathlib.Path | None:
    root = pathlib.Path(os.environ.get("JAXSER_DATA", REPO.parent / "shared" / "data")) / "emodb"
    files = sorted(root.glob("*.wav"))
    return files[0] if files else None


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=pathlib.Path, default=REPO / "runs" / "demo", help="a jaxser train workdir")
    parser.add_argument("--file", type=pathlib.Path, help="audio to predict (default: the first EmoDB file)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--folder", type=pathlib.Path, help="also measure throughput over this folder's audio files")
    parser.add_argument("--passes", type=int, default=3, help="passes over --folder (the median is reported)")
    args = parser.parse_args(argv)
    audio_file = args.file or _default_file()
    if audio_file is None:
        parser.error("no EmoDB file under $JAXSER_DATA/emodb or ../shared/data/emodb: give --file")
    if not (args.checkpoint / "config.json").is_file():
        parser.error(f"{args.checkpoint} is not a jaxser run; make one with `jaxser demo --workdir {args.checkpoint}`")
    if args.folder is not None and not args.folder.is_dir():
        parser.error(f"--folder {args.folder} is not a folder")

    py = sys.executable
    predict = [py, "-m", "jaxser", "predict", "--checkpoint", str(args.checkpoint.resolve()), str(audio_file.resolve())]
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="jaxser-bench-start-"))
    warm_cache = scratch / "warm"
    env = {**os.environ, "JAXSER_COMPILE_CACHE": str(warm_cache)}
    try:
        _timed(predict, env)  # fills the warm cache (and the OS file cache for everyone)
        kinds = {
            "floor": ([py, "-c", "import jax"], env),
            "import": ([py, "-c", "import jaxser.predict"], env),
            "predict_cold": (predict, None),
            "predict_warm": (predict, env),
        }
        times: dict[str, list[float]] = {kind: [] for kind in kinds}
        cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
        for run in range(args.runs):
            for kind, (command, kind_env) in kinds.items():
                if kind_env is None:  # a fresh, empty cache each time
                    kind_env = {**os.environ, "JAXSER_COMPILE_CACHE": str(scratch / f"cold{run}")}
                wall, used = _timed(command, kind_env)
                times[kind].append(wall)
                cpu[kind].append(used)
        throughput = _throughput(py, args.checkpoint, args.folder, args.passes, env) if args.folder else None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    from jaxser import machine  # here: the parent's imports must not warm anything for the runs

    median = {kind: round(statistics.median(values), 2) for kind, values in times.items()}
    report = {
        "median_s": median,
        "over_floor_s": {kind: round(median[kind] - median["floor"], 2) for kind in median if kind != "floor"},
        "compile_s_about": round(median["predict_cold"] - median["predict_warm"], 2),
        "median_cpu_s": {kind: round(statistics.median(values), 2) for kind, values in cpu.items()},
        "runs_s": {kind: [round(v, 2) for v in values] for kind, values in times.items()},
        "runs": args.runs,
        "file": str(audio_file),
        "checkpoint": str(args.checkpoint),
        **({"throughput": throughput} if throughput else {}),
        "load_average_1_5_15": _load_average(),
        **machine.cpu(),
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
