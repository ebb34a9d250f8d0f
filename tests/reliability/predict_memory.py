"""Run ``jaxser predict`` in a fresh process and report its peak memory.

    python -m tests.reliability.predict_memory WORKDIR WARMUP_FILE [predict args...]

Predicts ``WARMUP_FILE`` first (imports, checkpoint, compilation: the fixed cost) and
records the peak resident memory, then runs ``jaxser predict --checkpoint WORKDIR`` with
the given arguments, its output going to this process' stdout and stderr. The last line
on stderr is JSON: ``{"warm_mb": peak after the warm-up, "peak_mb": peak at the end}``;
the exit status is the command's. A separate process because the peak
(``ru_maxrss``) only grows: a test process has had larger peaks of its own.
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import sys


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv: list[str]) -> int:
    import jaxser.models
    from jaxser import cli
    from tests.train.tiny_model import TinyMel

    jaxser.models.MODELS.setdefault("tiny", TinyMel)  # the test runs train the tiny model
    workdir, warmup, *args = argv
    with contextlib.redirect_stdout(io.StringIO()):
        if cli.main(["predict", "--checkpoint", workdir, warmup]) != 0:
            raise SystemExit(f"warm-up prediction of {warmup} failed")
    warm = _peak_mb()
    status = cli.main(["predict", "--checkpoint", workdir, *args])
    print(json.dumps({"warm_mb": warm, "peak_mb": _peak_mb()}), file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
