"""Copy the small records of a `jaxser cv` run into results/ (tracked), without checkpoints.

    python tools/keep_results.py runs/zhao2019_cnn1d_emodb_loso      # -> results/zhao2019_cnn1d_emodb_loso/

Copies the run's ``results.*`` and pooled confusion PNG when present and, for every
finished fold (one with ``eval.json``), the JSON records and the training curve. An
unfinished fold is left out, so the copy can be put back into ``runs/`` and the same
``jaxser cv`` command trains only what is missing (see results/README.md).
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from jaxser import results  # noqa: E402

RUN_FILES = (results.JSON_NAME, results.MD_NAME, results.PNG_NAME)
STAGE_MARKER = "stage.json"  # jaxser.systems.stages.MARKER (not imported: that pulls in the kinds)
# A stage's training curve and the hard-example counts and index (Zhong 2020), a few KB;
# the augmenter's loss curves and t-SNE picture and the validation curve (Yi 2020), ~100 KB.
STAGE_FILES = ("metrics.jsonl", "hard_examples.npz", "validation.json", "losses.png", "tsne.png")
# A stage that trains several networks of its own (Yi's GAN baseline: one per class, in
# ``augment/class-<k>/``) keeps each one's loss picture, 40 KB, not its 200 KB curve.
SUBNETWORK_FILES = ("losses.png",)
FOLD_FILES = ("eval.json", "fold_summary.json", "train_summary.json", "metrics.jsonl", "config.json", "classes.json")


def keep(run: pathlib.Path, dest_root: pathlib.Path) -> list[pathlib.Path]:
    """Copy ``run``'s records into ``dest_root / run.name``; returns the files written."""
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: no such run folder")
    dest = dest_root / run.name
    written = _copy_present(run, RUN_FILES, dest)
    for fold in sorted(run.glob("fold-*")):
        if not (fold / "eval.json").is_file():
            continue  # unfinished: its checkpoints are not kept, so it must retrain anyway
        written += _copy_present(fold, FOLD_FILES, dest / fold.name)
        for marker in sorted(fold.glob(f"*/{STAGE_MARKER}")):  # a staged system's per-stage records
            stage = marker.parent
            written += _copy_present(stage, (STAGE_MARKER, *STAGE_FILES), dest / fold.name / stage.name)
            for sub in sorted(p for p in stage.iterdir() if p.is_dir()):
                written += _copy_present(sub, SUBNETWORK_FILES, dest / fold.name / stage.name / sub.name)
    if not written:
        raise FileNotFoundError(f"{run}: no finished fold and no results.json to keep")
    return written


def _copy_present(src_dir: pathlib.Path, names, dst_dir: pathlib.Path) -> list[pathlib.Path]:
    """Copy those of ``names`` that exist in ``src_dir`` into ``dst_dir``."""
    return [_copy(src_dir / name, dst_dir / name) for name in names if (src_dir / name).is_file()]


def _copy(src: pathlib.Path, dst: pathlib.Path) -> pathlib.Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)
    return dst


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=pathlib.Path)
    parser.add_argument("--dest", type=pathlib.Path, default=pathlib.Path(__file__).resolve().parent.parent / "results")
    args = parser.parse_args(argv)
    for run in args.runs:
        try:
            files = keep(run, args.dest)
        except FileNotFoundError as err:
            print(err, file=sys.stderr)
            return 1
        folds = sorted({f.parent.name for f in files if f.parent.name.startswith("fold-")})
        print(f"{run} -> {args.dest / run.name}: {len(files)} files, finished folds {', '.join(folds) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
