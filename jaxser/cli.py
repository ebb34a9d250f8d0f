"""The ``jaxser`` command: a thin layer over the library.

    jaxser demo                                   # synthetic corpus, no download
    jaxser summary --dataset emodb --manual-dir ../shared/data/emodb
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import sys

DEFAULT_DATA_DIR = pathlib.Path(os.environ.get("JAXSER_TFDS_DIR", "~/.cache/jaxser/tensorflow_datasets")).expanduser()


def _summary(dataset: str, manual_dir, data_dir, config, as_json: bool, batch_size: int) -> int:
    from jaxser import corpus_summary
    from jaxser import data

    # TFDS reports its build on stdout; keep stdout for our result (``--json`` pipes).
    with contextlib.redirect_stdout(sys.stderr):
        corpus = data.builder(dataset, data_dir, config=config, manual_dir=manual_dir, download_and_prepare=True)
    ds = corpus.as_dataset(split="train")
    result = corpus_summary.summarize(ds, corpus.info.features["label"].names, batch_size=batch_size)
    label = dataset + (f"/{config}" if config else "")
    print(json.dumps(result, indent=2) if as_json else corpus_summary.format_summary(label, result))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jaxser", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--data-dir", type=pathlib.Path, default=DEFAULT_DATA_DIR, help="where TFDS builds corpora")
        p.add_argument("--batch-size", type=int, default=32)
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    demo = sub.add_parser("demo", help="build the built-in synthetic corpus and summarise it and its features")
    demo.add_argument("--config", default="default", help="synthetic corpus size: default or tiny")
    common(demo)

    summary = sub.add_parser("summary", help="summarise any corpus and its on-device features")
    summary.add_argument("--dataset", required=True)
    summary.add_argument("--manual-dir", type=pathlib.Path, help="folder holding the corpus (licensed corpora)")
    summary.add_argument("--config", help="builder config, e.g. IEMOCAP's 4class")
    common(summary)
    return parser


def _quiet_libraries() -> None:
    """TF/TFDS/absl log chatter (GCS probes, deprecations) is noise at the command line."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import logging

    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_libraries()
    from jaxser.audio import AudioError
    from jaxser.data.builders.common import ManualDirError
    from jaxser.data.corpora import NotPreparedError, UnknownCorpusError
    from jaxser.data.pipeline import PipelineError

    try:
        if args.command == "demo":
            return _summary("synthetic", None, args.data_dir, args.config, args.json, args.batch_size)
        return _summary(args.dataset, args.manual_dir, args.data_dir, args.config, args.json, args.batch_size)
    except (AudioError, ManualDirError, NotPreparedError, UnknownCorpusError, PipelineError, ValueError) as err:
        # Errors we raise carry the file and the fix; a traceback would only bury them.
        print(f"jaxser {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
