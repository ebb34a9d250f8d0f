"""Rows of BUILD_NOTES.md's results table from finished `jaxser cv` runs.

    python tools/results_table.py runs/zhao2019_cnn2d_emodb_loso [more run dirs...]

For each run directory, reads ``results.json`` (written by ``jaxser cv``) and prints one
Markdown row: the paper's figure (from PAPER below, keyed by config name), ours pooled
and as mean ± std over folds, the command, the protocol and how many folds ran. The
"why they differ" column is left for a person to write.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

# Config name -> (paper, experiment, the paper's figure as printed, what it measures).
PAPER = {
    "zhao2019_cnn2d_emodb": ("Zhao 2019", "2D CNN-LSTM, EmoDB", "95.89 % (Table 7, speaker-indep.)", "accuracy"),
    "zhao2019_cnn1d_emodb": ("Zhao 2019", "1D CNN-LSTM, EmoDB", "86.73 % (Table 7, speaker-indep.)", "accuracy"),
    "zhao2019_cnn2d_iemocap": ("Zhao 2019", "2D CNN-LSTM, IEMOCAP", "85.58 % (Table 7, speaker-indep.)", "accuracy"),
    "zhong2020_emodb_holdout": ("Zhong 2020", "independent ACLN + FCN, HE, SVM, EmoDB", "WA 85.76 / UA 86.12 (Table 5, random 80/20)", "WA/UA"),
    "zhong2020_casia_holdout": ("Zhong 2020", "independent ACLN + FCN, HE, SVM, CASIA", "98.15 (Table 5, random 80/20)", "WA/UA"),
    "zhong2020_emodb_loso": ("Zhong 2020", "independent ACLN + FCN, HE, SVM, EmoDB", "— (paper: random 80/20 only)", "WA/UA"),
    "zhong2020_casia_loso": ("Zhong 2020", "independent ACLN + FCN, HE, SVM, CASIA", "— (paper: random 80/20 only)", "WA/UA"),
    "zhong2020_iemocap": ("Zhong 2020", "independent ACLN + FCN, HE, SVM, IEMOCAP", "WA 74.98 / UA 68.83 (Table 5)", "WA/UA"),
    "zhao2019_cnn2d_emodb_robust": ("Zhao 2019", "2D CNN-LSTM, EmoDB, robust selection", "95.89 % (Table 7, speaker-indep.)", "accuracy"),
    # The method is an override (--config.augmenter.method): the figure here is WADAN + DNN's.
    "yi2020_emodb": ("Yi 2020", "augmented IS11 vectors + DNN, EmoDB", "WADAN + DNN WA 84.49 / UAR 83.31 (Table I)", "WA/UAR"),
    "yi2020_iemocap": ("Yi 2020", "augmented IS11 vectors + DNN, IEMOCAP improvised", "WADAN + DNN WA 66.92 / UAR 64.51 (Table II)", "WA/UAR"),
    "yi2020_casia": ("Yi 2020", "augmented IS11 vectors + DNN, CASIA", "— (not in the paper)", "WA/UAR"),
}


def row(run: pathlib.Path) -> str:
    results = json.loads((run / "results.json").read_text())
    meta, agg = results["meta"], results["aggregate"]
    paper, experiment, figure, _ = PAPER.get(meta.get("config"), ("?", meta.get("config"), "?", "?"))
    pooled, mean = agg["pooled"], agg["fold_mean"]
    ours = (
        f"WA {100 * pooled['wa']:.2f} / UA {100 * pooled['ua']:.2f} pooled; "
        f"WA {100 * mean['wa']:.2f} ± {100 * mean['wa_std']:.2f} / UA {100 * mean['ua']:.2f} ± {100 * mean['ua_std']:.2f} "
        f"fold mean ({meta.get('folds_run')}/{meta.get('folds_total')} folds)"
    )
    for name, other in agg.get("other_outputs", {}).items():  # e.g. each network without the SVM
        ours += f"; {name}: WA {100 * other['pooled']['wa']:.2f} / UA {100 * other['pooled']['ua']:.2f}"
    command = meta.get("command") or "?"
    return f"| {paper} | {experiment} | {meta.get('protocol')} | {figure} | {ours} | `{command}` | |"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=pathlib.Path)
    args = parser.parse_args(argv)
    for run in args.runs:
        if not (run / "results.json").is_file():
            print(f"{run}: no results.json (run `jaxser cv` to the end first)", file=sys.stderr)
            return 1
        print(row(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
