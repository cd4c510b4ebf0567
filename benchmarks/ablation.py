"""Ablation of B-DISTIL's knobs on one data set, one change from the defaults at a time.

    python -m benchmarks.ablation --dataset {watch,digits,fashion_mnist,letter}
                                  [--seeds 0 1] [--quick] [--settings LABEL ...]

Per seed, on one split and one teacher (as in ``benchmarks.compare``): B-DISTIL
with the library defaults, then with one knob changed:

- ``barrier_strength`` 0 / 0.1 / 1;
- ``eta`` 0.3 / 1 / 3;
- ``gamma`` 0 / 0.02 / 0.1;
- ``temperature`` 1 / 2 / 4;
- ``learning_rate`` 0.25 / 0.5 / 1.0 (the shrinkage of the line-searched step;
  1.0 = no shrinkage);
- ``label_weight`` 0 / 0.9 (the teacher alone; mostly the labels);
- ``line_search=off``: every stage added with the fixed step
  ``a = learning_rate`` (the library's line search replaced inside this
  benchmark; there is no parameter for it);
- ``connection`` "dense" / "lstm": each student reads the previous one's
  hidden features;
- ``augmentation`` "mixup" / "jitter": the transfer set enlarged with 2
  mixup or jittered copies of the training rows, labelled by the teacher (an
  epoch stays one pass's worth of the rows as given, so the same number of
  steps as without).

Each setting reports test accuracy of the final stage, its cost, the area under
the anytime accuracy-vs-cost curve over the *default* run's budget range, and
that area minus RESCHED's (the default run's students each distilled on their
own). Writes ``benchmarks/results/<dataset>/ablation.{json,md}`` (and, unless
``--no-docs``, ``docs/results/<dataset>_ablation.{json,md}``); prints a table last.
"""

import argparse
import contextlib
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks import _common as C
from benchmarks.compare import bdistil_params, prefix_means, training_params
from sklearn_bdistil import BDistilClassifier, _classifier
from sklearn_bdistil._cost import teacher_flops

ROOT = Path(__file__).resolve().parent.parent

SETTINGS = [
    ("defaults", {}),
    ("barrier_strength=0", {"barrier_strength": 0.0}),
    ("barrier_strength=1", {"barrier_strength": 1.0}),
    ("eta=0.3", {"eta": 0.3}),
    ("eta=3", {"eta": 3.0}),
    ("gamma=0.02", {"gamma": 0.02}),
    ("gamma=0.1", {"gamma": 0.1}),
    ("temperature=2", {"temperature": 2.0}),
    ("temperature=4", {"temperature": 4.0}),
    ("learning_rate=0.25", {"learning_rate": 0.25}),
    ("learning_rate=1.0", {"learning_rate": 1.0}),
    ("label_weight=0", {"label_weight": 0.0}),
    ("label_weight=0.9", {"label_weight": 0.9}),
    ("augmentation=mixup", {"augmentation": "mixup"}),
    ("augmentation=jitter", {"augmentation": "jitter"}),
    ("line_search=off", {}),
    ("connection=dense", {"connection": "dense"}),
    ("connection=lstm", {"connection": "lstm"}),
]


@contextlib.contextmanager
def fixed_step(label):
    """For "line_search=off": every stage's step is ``learning_rate * 1``."""
    if label != "line_search=off":
        yield
        return
    original = _classifier.line_search
    _classifier.line_search = lambda *args, **kwargs: 1.0
    try:
        yield
    finally:
        _classifier.line_search = original


def run_seed(name, seed, quick, settings=SETTINGS, log=print):
    torch.manual_seed(seed)
    split = C.load_split(name, seed, quick=quick)
    n_features = split.X_train.shape[1]
    start = time.perf_counter()
    teacher, teacher_name = C.fit_teacher(split, seed, quick)
    G, teacher_pred = C.teacher_outputs(teacher, split)
    t_teacher = time.perf_counter() - start
    teacher_acc = float((teacher_pred == split.y_test).mean())
    teacher_cost = teacher_flops(teacher, n_features)
    floor = float(np.mean(split.y_test == np.bincount(split.y_train).argmax()))
    log(f"[{name} seed {seed}] teacher {teacher_name}: acc {teacher_acc:.4f} "
        f"({t_teacher:.0f}s)")
    students = C.students_for(split)
    classes = np.asarray(teacher.classes_)
    rows, lo, hi, resched = [], None, None, None
    for label, change in settings:
        clf = BDistilClassifier(teacher, students, random_state=seed,
                                **bdistil_params(quick, change))
        t0 = time.perf_counter()
        with fixed_step(label):
            C.quiet_fit(clf, split.X_train, split.y_train, teacher_logits=G)
        seconds = time.perf_counter() - t0
        costs = np.asarray(clf.cumulative_costs_, dtype=float)
        curve = C.curve_from_preds(list(clf.staged_predict(split.X_test)), costs,
                                   split.y_test, teacher_pred)
        if lo is None:  # the defaults: fix the budget range and build RESCHED once
            lo, hi = float(costs[0]), float(costs[-1])
            params = training_params(clf)
            singles = [C.distil_single(teacher, students[i], split.X_train, G,
                                       seed * 1000 + k, params)
                       for k, i in enumerate(clf.student_indices_)]
            resched = C.curve_from_logits(
                prefix_means([s.decision_function(split.X_test) for s in singles]), costs,
                split.y_test, teacher_pred, classes)
            resched_auc = C.curve_auc(resched, lo, hi, floor)
        auc = C.curve_auc(curve, lo, hi, floor)
        # stage-wise comparison with RESCHED where the costs line up
        diffs = [b["accuracy"] - r["accuracy"] for b, r in zip(curve, resched, strict=False)
                 if abs(b["cost"] - r["cost"]) < 1e-6 * max(1.0, r["cost"])]
        row = {"setting": label, "change": change,
               "n_rows": int(len(split.X_train)), "n_stages": int(clf.n_estimators_),
               "final_accuracy": curve[-1]["accuracy"],
               "final_agreement": curve[-1]["agreement"],
               "final_fraction": float(costs[-1] / teacher_cost),
               "auc": auc, "auc_minus_resched": auc - resched_auc,
               "stages_below_resched": int(sum(d < 0 for d in diffs)),
               "stages_compared": len(diffs),
               "min_edge": float(clf.edges_.min()) if clf.n_estimators_ else None,
               "negative_edges": int((clf.edges_ < 0).sum()),
               "steps": clf.estimator_weights_.tolist(),
               "escalations": int(clf.student_indices_.max()) if clf.n_estimators_ else 0,
               "fit_seconds": seconds, "curve": curve}
        rows.append(row)
        log(f"  {label:<20} stages {row['n_stages']:>2} final {row['final_accuracy']:.4f} "
            f"AUC {auc:.4f} (vs RESCHED {row['auc_minus_resched']:+.4f}) "
            f"min edge {row['min_edge']:.3f} {seconds:.0f}s")
    return {"dataset": name, "seed": seed, "split": split.description,
            "teacher": {"name": teacher_name, "accuracy": teacher_acc, "flops": teacher_cost,
                        "seconds": t_teacher},
            "auc_range_flops": [lo, hi], "resched": resched, "resched_auc": resched_auc,
            "rows": rows}


def aggregate(runs, settings=SETTINGS):
    out = []
    for i, (label, _) in enumerate(settings):
        rows = [r["rows"][i] for r in runs]

        def ms(key, rows=rows):
            v = np.asarray([r[key] for r in rows], dtype=float)
            return [float(v.mean()), float(v.std())]

        out.append({"setting": label, **{k: ms(k) for k in (
            "final_accuracy", "final_agreement", "final_fraction", "auc",
            "auc_minus_resched", "n_stages", "stages_below_resched", "min_edge",
            "negative_edges", "fit_seconds")}})
    return out


def markdown(name, runs, agg, wall):
    t = runs[0]["teacher"]
    acc = np.mean([r["teacher"]["accuracy"] for r in runs])
    lines = [f"### Ablation: {name}", "",
             f"{runs[0]['split']}; seeds {[r['seed'] for r in runs]}; teacher {t['name']} "
             f"(accuracy {acc:.4f}). One change from the defaults per row. AUC over the "
             f"default run's budget range; 'vs RESCHED' is the AUC minus that of the default "
             f"run's students distilled on their own (RESCHED AUC "
             f"{np.mean([r['resched_auc'] for r in runs]):.4f}). Mean over seeds.", "",
             "| setting | stages | final acc | cost / teacher | AUC | vs RESCHED | "
             "stages < RESCHED | min edge | fit s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for a in agg:
        lines.append(
            f"| {a['setting']} | {a['n_stages'][0]:.1f} | {a['final_accuracy'][0]:.4f} | "
            f"{100 * a['final_fraction'][0]:.1f}% | {a['auc'][0]:.4f} | "
            f"{a['auc_minus_resched'][0]:+.4f} | {a['stages_below_resched'][0]:.1f} | "
            f"{a['min_edge'][0]:.3f} | {a['fit_seconds'][0]:.0f} |")
    lines += ["", f"Whole command: {wall:.0f} s.", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, choices=C.DATASETS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--quick", action="store_true",
                        help="the compare --quick settings: 6 stages of 10 epochs, "
                             "smaller data, shorter teacher training")
    parser.add_argument("--settings", nargs="+", default=None, metavar="LABEL",
                        help="run only these settings (labels as in the table, e.g. "
                             "augmentation=mixup); the defaults always run first")
    parser.add_argument("--out", default=None)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    missing = C.check_available(args.dataset)
    if missing:
        print(f"SKIPPED {args.dataset}: {missing}")
        return 0
    settings = SETTINGS
    if args.settings:
        unknown = set(args.settings) - {label for label, _ in SETTINGS}
        if unknown:
            parser.error(f"unknown settings {sorted(unknown)}; choose from "
                         f"{[label for label, _ in SETTINGS]}")
        settings = [s for s in SETTINGS if s[0] == "defaults" or s[0] in args.settings]
    start = time.perf_counter()
    runs = [run_seed(args.dataset, s, args.quick, settings) for s in args.seeds]
    wall = time.perf_counter() - start
    agg = aggregate(runs, settings)
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / args.dataset
    out.mkdir(parents=True, exist_ok=True)
    meta = {"command": "python -m benchmarks.ablation " + " ".join(argv or []),
            "quick": args.quick, "wall_seconds": wall, "torch": torch.__version__}
    (out / "ablation.json").write_text(json.dumps(
        {"meta": meta, "aggregate": agg, "runs": runs}, indent=1, default=str))
    (out / "ablation.md").write_text(markdown(args.dataset, runs, agg, wall))
    if not args.no_docs:
        docs = ROOT / "docs" / "results"
        docs.mkdir(parents=True, exist_ok=True)
        for ext in ("json", "md"):
            shutil.copy(out / f"ablation.{ext}", docs / f"{args.dataset}_ablation.{ext}")
    print(f"wrote {out}/ablation.{{json,md}} in {wall:.0f} s\n")
    print(f"{'setting':<20} {'stages':>6} {'final acc':>9} {'cost':>7} {'AUC':>7} "
          f"{'vs RESCHED':>10} {'min edge':>8}")
    for a in agg:
        print(f"{a['setting']:<20} {a['n_stages'][0]:>6.1f} {a['final_accuracy'][0]:>9.4f} "
              f"{100 * a['final_fraction'][0]:>6.1f}% {a['auc'][0]:>7.4f} "
              f"{a['auc_minus_resched'][0]:>+10.4f} {a['min_edge'][0]:>8.3f}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
