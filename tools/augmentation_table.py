"""Yi & Mak 2020's Table I and Fig. 6 from finished (or partly finished) `jaxser cv` runs of kind adan.

    python tools/augmentation_table.py results/yi2020_emodb_wadan results/yi2020_emodb_smote \
        --png results/yi2020_emodb_curves.png

Each run folder holds one augmentation method (``--config.augmenter.method``). For every
method and classifier (DNN, linear SVM) it prints, pooled over the folds:

* the test WA / UA at the amount m chosen on each fold's validation speaker (ours: the
  honest figure; the fold's ``classify/stage.json`` records the choice);
* the test WA / UA at the best m of the pooled test curve (the paper's Table I, "the
  peaks in Fig. 6": chosen on the test results, so optimistic);
* the MMD between the training vectors and one generated set, mean over folds
  (``augment/stage.json``);
* the test WA / UA at the m the paper's figure was read at, where its text names one
  (GAN, cGAN and AAE at one set, EmoDB's ADAN + DNN at ten and SMOTE at nine);
* the paper's figure for that row (EmoDB: Table I; IEMOCAP: Table II; the paper has no
  other corpus, so other corpora get none).

"none" (no augmentation) is m = 0 of any run: every method trains the same classifiers on
the same real vectors there, so it needs no run of its own. The runs must be of one
corpus. Only folds finished in every run given are used (``--all-folds`` to pool each
run's own folds), so rows compare like with like. ``--png`` draws the pooled test curves
over m (Fig. 6); ``--json`` prints everything as JSON instead of Markdown.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from jaxser import metrics
from jaxser.systems.adan import CLASSIFIERS, best_amount

# Table I of the paper (EmoDB, ten-fold LOSO, "highest" WA / UAR, i.e. at the test curve's
# peak); None where the paper gives no figure. "none" is Mak's IS11 baselines it cites.
PAPER_EMODB = {
    ("none", "svm"): (80.56, None), ("none", "dnn"): (80.19, None),
    ("duplicate", "dnn"): (82.06, 80.96), ("noise", "dnn"): (82.06, 80.85),
    ("smote", "dnn"): (82.43, 81.58), ("gan", "dnn"): (80.37, 78.60),
    ("cgan", "dnn"): (81.50, 79.93), ("aae", "dnn"): (81.12, 79.73),
    ("adan", "svm"): (81.50, 80.39), ("adan", "dnn"): (83.55, 82.80),
    ("wadan", "svm"): (81.87, 81.04), ("wadan", "dnn"): (84.49, 83.31),
}
# Table II (IEMOCAP, five-fold leave-one-session-out; GAN, cGAN, AAE at one augmented set).
PAPER_IEMOCAP = {
    ("none", "svm"): (63.20, 58.81), ("none", "dnn"): (64.47, 62.86),
    ("duplicate", "dnn"): (65.79, 62.90), ("noise", "dnn"): (64.43, 63.49),
    ("smote", "dnn"): (65.83, 62.50), ("gan", "dnn"): (55.09, 60.23),
    ("cgan", "dnn"): (55.79, 61.78), ("aae", "dnn"): (63.86, 62.01),
    ("adan", "svm"): (64.78, 60.07), ("adan", "dnn"): (63.55, 63.96),
    ("wadan", "svm"): (63.82, 59.79), ("wadan", "dnn"): (66.92, 64.51),
}
PAPER = {"emodb": PAPER_EMODB, "iemocap": PAPER_IEMOCAP}  # the paper has no other corpus
# The amounts of augmented sets the paper's text names for its figures (Sec. V-C, V-D); the
# other rows are "the peaks in Fig. 6/7" without the m being given.
_ONE_SET = {(method, "dnn"): 1 for method in ("gan", "cgan", "aae")}
PAPER_M = {"emodb": {**_ONE_SET, ("adan", "dnn"): 10, ("smote", "dnn"): 9}, "iemocap": dict(_ONE_SET)}
PAPER_MMD = {"aae": 0.0244, "adan": 0.0057, "wadan": 0.0054}  # Sec. V-B, with the EmoDB figures


def _json(path: pathlib.Path):
    return json.loads(path.read_text()) if path.is_file() else None


def read_run(run: pathlib.Path) -> dict:
    """One run's finished folds: method, class names, per fold the confusion of every
    (classifier, m), the m chosen on validation, and the MMD."""
    folds = {}
    method, class_names, corpus = None, None, None
    for fold in sorted(run.glob("fold-*")):
        evaluation = _json(fold / "eval.json")
        if evaluation is None:
            continue
        config = _json(fold / "config.json") or {}
        method = method or config.get("augmenter", {}).get("method")
        corpus = corpus or config.get("data", {}).get("name")
        class_names = class_names or evaluation["class_names"]
        confusions = {}
        for key, other in evaluation.get("other_outputs", {}).items():
            name, _, amount = key.partition("/sets=")
            if name in CLASSIFIERS and amount.isdigit():
                confusions[(name, int(amount))] = np.asarray(other["confusion"], dtype=np.int64)
        classify = (_json(fold / "classify" / "stage.json") or {}).get("summary", {})
        augment = (_json(fold / "augment" / "stage.json") or {}).get("summary", {})
        folds[fold.name] = {"confusions": confusions, "chosen": classify.get("chosen", {}),
                            "mmd": augment.get("mmd_set0")}
    if not folds:
        raise FileNotFoundError(f"{run}: no finished fold (no fold-*/eval.json); run `jaxser cv` first")
    if method is None:
        raise ValueError(f"{run}: the folds' config.json name no augmenter.method; is this a run of kind adan?")
    return {"run": str(run), "method": method, "corpus": corpus, "class_names": class_names, "folds": folds}


def _score(confusion, class_names) -> dict:
    got = metrics.summarize(confusion, class_names)
    return {"wa": got["wa"], "ua": got["ua"]}


def summarize(run: dict, fold_names) -> dict:
    """Pooled test curve, the figure at the validation-chosen m and at the test peak, MMD."""
    names = run["class_names"]
    folds = [run["folds"][f] for f in fold_names]
    out = {"method": run["method"], "corpus": run["corpus"], "run": run["run"], "folds": list(fold_names),
           "classifiers": {}}
    for clf in CLASSIFIERS:
        amounts = sorted({m for f in folds for (c, m) in f["confusions"] if c == clf})
        amounts = [m for m in amounts if all((clf, m) in f["confusions"] for f in folds)]
        if not amounts:
            continue
        curve = {m: _score(sum(f["confusions"][(clf, m)] for f in folds), names) for m in amounts}
        chosen_ms = [f["chosen"].get(clf) for f in folds]
        entry = {"curve": curve}
        if all(m in amounts for m in chosen_ms):
            entry["validation_chosen"] = _score(sum(f["confusions"][(clf, m)] for f, m in zip(folds, chosen_ms)), names)
            entry["chosen_m"] = chosen_ms
        peak = best_amount(curve)
        entry["test_peak"] = dict(curve[peak], m=peak)
        out["classifiers"][clf] = entry
    mmds = [f["mmd"] for f in folds if f["mmd"] is not None]
    out["mmd"] = {"mean": float(np.mean(mmds)), "std": float(np.std(mmds)), "folds": len(mmds)} if mmds else None
    return out


def none_row(summary: dict) -> dict:
    """No augmentation: m = 0 of a run's curves."""
    row = {"method": "none", "corpus": summary["corpus"], "run": summary["run"], "folds": summary["folds"],
           "classifiers": {}, "mmd": None}
    for clf, entry in summary["classifiers"].items():
        if 0 in entry["curve"]:
            score = entry["curve"][0]
            row["classifiers"][clf] = {"curve": {0: score}, "validation_chosen": score, "test_peak": dict(score, m=0)}
    return row


def table(runs: list[pathlib.Path], *, all_folds: bool = False) -> list[dict]:
    read = [read_run(r) for r in runs]
    methods = [r["method"] for r in read]
    if len(set(methods)) != len(methods):
        raise ValueError(f"two runs of the same method among {methods}: give one run per method")
    corpora = sorted({str(r["corpus"]) for r in read})
    if len(corpora) > 1:
        raise ValueError(f"runs of different corpora ({', '.join(corpora)}): give the runs of one corpus")
    common = sorted(set.intersection(*(set(r["folds"]) for r in read)))
    if not all_folds and not common:
        raise ValueError("the runs share no finished fold; pass --all-folds to pool each run's own folds")
    rows = [summarize(r, sorted(r["folds"]) if all_folds else common) for r in read]
    if rows and "none" not in methods:
        rows.insert(0, none_row(max(rows, key=lambda r: len(r["folds"]))))
    return rows


def _pct(score: dict | None, key: str) -> str:
    return "—" if score is None else f"{100 * score[key]:.2f}"


def markdown(rows: list[dict]) -> str:
    lines = [
        ("| method | classifier | folds | ours, m chosen on validation: WA / UA | ours, best m on test (m): WA / UA "
         "| ours at the paper's m (m): WA / UA | paper: WA / UA | MMD, ours (paper) |"),
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        for clf, entry in row["classifiers"].items():
            val, peak = entry.get("validation_chosen"), entry["test_peak"]
            paper = PAPER.get(row["corpus"], {}).get((row["method"], clf))
            paper_text = "—" if paper is None else " / ".join("—" if x is None else f"{x:.2f}" for x in paper)
            paper_m = PAPER_M.get(row["corpus"], {}).get((row["method"], clf))
            at_m = entry["curve"].get(paper_m)
            at_m_text = "—" if at_m is None else f"{_pct(at_m, 'wa')} / {_pct(at_m, 'ua')} ({paper_m})"
            mmd = row["mmd"]
            mmd_text = "—" if mmd is None else f"{mmd['mean']:.4f} ± {mmd['std']:.4f}"
            if row["method"] in PAPER_MMD and row["corpus"] == "emodb":
                mmd_text += f" ({PAPER_MMD[row['method']]})"
            lines.append(
                f"| {row['method']} | {clf.upper()} | {len(row['folds'])} | {_pct(val, 'wa')} / {_pct(val, 'ua')} "
                f"| {_pct(peak, 'wa')} / {_pct(peak, 'ua')} ({peak['m']}) | {at_m_text} | {paper_text} | {mmd_text} |")
    amounts = sorted({m for row in rows for e in row["classifiers"].values() for m in e["curve"]})
    curve_rows = [row for row in rows if row["method"] != "none"]
    if curve_rows and len(amounts) > 1:
        lines += ["", "Pooled test UA (%) over the amount of augmented sets m (Fig. 6):", "",
                  "| method | classifier | " + " | ".join(f"m={m}" for m in amounts) + " |",
                  "|---|---|" + "---|" * len(amounts)]
        for row in curve_rows:
            for clf, entry in row["classifiers"].items():
                cells = [_pct(entry["curve"].get(m), "ua") for m in amounts]
                lines.append(f"| {row['method']} | {clf.upper()} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=pathlib.Path, help="run folders (runs/... or results/...), one per method")
    parser.add_argument("--all-folds", action="store_true", help="pool each run's own finished folds, not only the shared ones")
    parser.add_argument("--png", type=pathlib.Path, help="write the pooled test UA curves over m here")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args(argv)
    try:
        rows = table(args.runs, all_folds=args.all_folds)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(rows, indent=1) if args.json else markdown(rows))
    if args.png:
        from jaxser import plots

        curves, chosen = {}, {}
        for row in rows:
            if row["method"] == "none":
                continue
            for clf, entry in row["classifiers"].items():
                curves.setdefault(clf, {})[row["method"]] = {m: s["ua"] for m, s in entry["curve"].items()}
                if "validation_chosen" in entry:
                    chosen.setdefault(clf, {})[row["method"]] = entry["validation_chosen"]["ua"]
        folds = sorted({len(row["folds"]) for row in rows})
        plots.augmentation_curves_png(curves, args.png, metric="UA", chosen=chosen,
                                      title=f"pooled over {'/'.join(map(str, folds))} folds; dashed: m chosen on validation")
        print(f"wrote {args.png}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
