"""Lab notebook for the labels issue: B-DISTIL variants against the label-only baselines.

    python -m benchmarks.labels --datasets watch digits [--seeds 0 1 2] [--quick]
                                [--variants LABEL ...] [--out DIR]

Per data set and seed, on one split and one teacher (as in ``benchmarks.compare``):
the teacher; RESCHED (the reference run's students each distilled on their own,
logits averaged); the same students trained on labels only, averaged; and
B-DISTIL in each variant below, fitted with the labels (``fit(X, y)``). The
variants change one thing at a time:

- ``label_weight`` ``w`` in the target ``(1 - w) softmax(G) + w onehot(y)``;
- ``split``: the held-out part that decides acceptance: ``rows`` (random
  rows), ``blocks`` (contiguous blocks of rows, the library's default), or
  ``subjects`` (whole training subjects through ``fit(groups=...)``; only
  where the data set has subjects). ``w=0.9 subjects 25%`` holds out a
  quarter of the training subjects (``validation_fraction=0.25``: 5 of hapt's
  21, 2 of watch's 7) instead of a tenth (2 and 1), a less noisy judge of
  whether a stage carries to unseen subjects, at fewer training rows.

AUC: mean anytime accuracy over the *reference* run's budget range (the first
variant), as in ``benchmarks.compare``. Writes ``labels.json`` and ``labels.md``
to ``--out`` (default ``benchmarks/results/labels``); prints a table last.
"""

import argparse
import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from benchmarks import _common as C
from benchmarks.compare import bdistil_params, prefix_means, training_params
from sklearn_bdistil import BDistilClassifier
from sklearn_bdistil._cost import teacher_flops

ROOT = Path(__file__).resolve().parent.parent

VARIANTS = {
    "w=0 rows": {"label_weight": 0.0, "split": "rows"},
    "w=0 blocks": {"label_weight": 0.0, "split": "blocks"},
    "w=0 subjects": {"label_weight": 0.0, "split": "subjects"},
    "w=0.5 rows": {"label_weight": 0.5, "split": "rows"},
    "w=0.5 blocks": {"label_weight": 0.5, "split": "blocks"},
    "w=0.5 subjects": {"label_weight": 0.5, "split": "subjects"},
    "w=0.7 blocks": {"label_weight": 0.7, "split": "blocks"},
    "w=0.9 rows": {"label_weight": 0.9, "split": "rows"},
    "w=0.9 blocks": {"label_weight": 0.9, "split": "blocks"},
    "w=1 blocks": {"label_weight": 1.0, "split": "blocks"},
    "w=0.9 subjects": {"label_weight": 0.9, "split": "subjects"},
    "w=0.9 subjects 25%": {"label_weight": 0.9, "split": "subjects",
                           "params": {"validation_fraction": 0.25}},
}
DEFAULT_VARIANTS = ("w=0 rows", "w=0 blocks", "w=0.5 rows", "w=0.5 blocks", "w=0.9 blocks",
                    "w=0.5 subjects")


def split_groups(mode, split):
    """``groups=`` for ``fit`` that gives the held-out part of ``mode``, or ``"skip"``."""
    n = len(split.y_train)
    if mode == "rows":  # each row its own group: whole groups drawn at random = random rows
        return np.arange(n)
    if mode == "blocks":
        return None  # the library's default
    if split.groups_train is None:
        return "skip"
    return split.groups_train


def lab_seed(name, seed, quick):
    """What every lab's seed starts from: the split, its teacher, the teacher's
    logits and predictions, its test accuracy, the majority-class floor and the
    ladder (after an untimed warm-up fit), as attributes."""
    torch.manual_seed(seed)
    split = C.load_split(name, seed, quick=quick)
    teacher, teacher_name = C.fit_teacher(split, seed, quick)
    G, teacher_pred = C.teacher_outputs(teacher, split)
    students = C.students_for(split)
    C.warm_up(teacher, students[0], split.X_train, G, seed)
    return SimpleNamespace(
        split=split, teacher=teacher, teacher_name=teacher_name, G=G,
        teacher_pred=teacher_pred, students=students,
        teacher_acc=float((teacher_pred == split.y_test).mean()),
        floor=float(np.mean(split.y_test == np.bincount(split.y_train).argmax())))


def run_seed(name, seed, quick, variants, log=print):
    lab = lab_seed(name, seed, quick)
    split, teacher, teacher_name, G = lab.split, lab.teacher, lab.teacher_name, lab.G
    teacher_pred, teacher_acc, floor, students = (lab.teacher_pred, lab.teacher_acc,
                                                  lab.floor, lab.students)
    classes = np.asarray(teacher.classes_)
    teacher_cost = teacher_flops(teacher, split.X_train.shape[1])
    log(f"[{name} seed {seed}] teacher {teacher_name}: acc {teacher_acc:.4f}")
    rows, ref = {}, None
    for label in variants:
        v = VARIANTS[label]
        groups = split_groups(v["split"], split)
        if isinstance(groups, str):
            continue
        clf = BDistilClassifier(teacher, students, random_state=seed,
                                **bdistil_params(quick, {"label_weight": v["label_weight"],
                                                         **v.get("params", {})}))
        t0 = time.perf_counter()
        C.quiet_fit(clf, split.X_train, split.y_train, teacher_logits=G, groups=groups)
        seconds = time.perf_counter() - t0
        costs = np.asarray(clf.cumulative_costs_, dtype=float)
        curve = C.curve_from_preds(list(clf.staged_predict(split.X_test)), costs,
                                   split.y_test, teacher_pred)
        if ref is None:  # the reference run fixes the budget range and the baselines
            ref = {"lo": float(costs[0]), "hi": float(costs[-1])}
            params = training_params(clf)
            factories = [students[i] for i in clf.student_indices_]
            singles = [C.distil_single(teacher, f, split.X_train, G, seed * 1000 + k, params)
                       for k, f in enumerate(factories)]
            ref["RESCHED"] = C.curve_from_logits(
                prefix_means([s.decision_function(split.X_test) for s in singles]), costs,
                split.y_test, teacher_pred, classes)
            ref["label-trained"] = C.curve_from_logits(
                prefix_means(C.label_students(factories, split, seed, params)), costs,
                split.y_test, teacher_pred, classes)
            for m in ("RESCHED", "label-trained"):
                ref[m + " auc"] = C.curve_auc(ref[m], ref["lo"], ref["hi"], floor)
                log(f"  {m:<16} final {ref[m][-1]['accuracy']:.4f} "
                    f"AUC {ref[m + ' auc']:.4f}")
        auc = C.curve_auc(curve, ref["lo"], ref["hi"], floor)
        rows[label] = {"n_stages": int(clf.n_estimators_), "auc": auc,
                       "final_accuracy": curve[-1]["accuracy"],
                       "best_accuracy": max(p["accuracy"] for p in curve),
                       "final_fraction": float(costs[-1] / teacher_cost),
                       "seconds": seconds, "curve": curve}
        log(f"  {label:<16} final {curve[-1]['accuracy']:.4f} AUC {auc:.4f} "
            f"stages {clf.n_estimators_} ({seconds:.0f}s) "
            + " ".join(f"{p['accuracy']:.3f}" for p in curve))
    return {"dataset": name, "seed": seed, "split": split.description,
            "teacher": {"name": teacher_name, "accuracy": teacher_acc, "flops": teacher_cost},
            "baselines": ref, "variants": rows}


def per_dataset(runs):
    """``(name, its runs, entry)`` per data set in run order; ``entry`` starts a lab
    summary's row with the seeds and the teacher's accuracy (mean, std)."""
    for name in dict.fromkeys(r["dataset"] for r in runs):
        rs = [r for r in runs if r["dataset"] == name]
        yield name, rs, {"seeds": [r["seed"] for r in rs],
                         "teacher": _ms([r["teacher"]["accuracy"] for r in rs])}


def summarise(runs):
    """Mean and std over seeds, per data set and variant."""
    out = {}
    for name, rs, entry in per_dataset(runs):
        for m in ("RESCHED", "label-trained"):
            entry[m] = {"auc": _ms([r["baselines"][m + " auc"] for r in rs]),
                        "final_accuracy": _ms([r["baselines"][m][-1]["accuracy"]
                                               for r in rs])}
        for label in rs[0]["variants"]:
            vs = [r["variants"][label] for r in rs]
            entry[label] = {k: _ms([v[k] for v in vs])
                            for k in ("auc", "final_accuracy", "n_stages", "seconds")}
        out[name] = entry
    return out


def _ms(values):
    v = np.asarray(values, dtype=float)
    return [float(v.mean()), float(v.std())]


def markdown(summary, command):
    lines = [f"Command: `{command}`. Mean ± std over seeds; AUC over the first variant's "
             "budget range.", ""]
    for name, entry in summary.items():
        t = entry["teacher"]
        lines += [f"### {name} (seeds {entry['seeds']}, teacher {t[0]:.4f} ± {t[1]:.4f})", "",
                  "| method | AUC | final accuracy | stages |", "|---|---|---|---|"]
        for label, e in entry.items():
            if not isinstance(e, dict):
                continue
            stages = f"{e['n_stages'][0]:.1f}" if "n_stages" in e else ""
            lines.append(f"| {label} | {e['auc'][0]:.4f} ± {e['auc'][1]:.4f} | "
                         f"{e['final_accuracy'][0]:.4f} ± {e['final_accuracy'][1]:.4f} | "
                         f"{stages} |")
        lines.append("")
    return "\n".join(lines)


def lab_parser(description, variants, default_variants, default_datasets, default_out,
               threads=False):
    """The command line of a lab script: data sets, seeds, quick, variants, output folder
    (and ``--threads``, torch's thread count, default 1, with ``threads=True``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--datasets", nargs="+", default=list(default_datasets),
                        choices=C.DATASETS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--variants", nargs="+", default=list(default_variants),
                        choices=list(variants))
    parser.add_argument("--out", default=str(default_out))
    if threads:
        parser.add_argument("--threads", type=int, default=1)
    return parser


def lab_runs(args, run_seed, after_seed=None):
    """``run_seed(name, seed, quick, variants)`` for every available data set and seed.

    ``after_seed(runs)`` is called after each seed (e.g. to save what is done).
    """
    runs = []
    for name in args.datasets:
        missing = C.check_available(name)
        if missing:
            print(f"SKIPPED {name}: {missing}")
            continue
        for s in args.seeds:
            runs.append(run_seed(name, s, args.quick, args.variants))
            if after_seed is not None:
                after_seed(runs)
    return runs


def lab_main(args, argv, module, run_seed, summarise, markdown, stem=None):
    """Run a lab command: ``args`` from :func:`lab_parser` (torch's thread count set
    where it has ``--threads``); writes ``<out>/<stem>.json`` after every seed and the
    ``.md`` at the end, ``stem`` by default ``<datasets>[_quick]``."""
    if getattr(args, "threads", None) is not None:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if stem is None:
        stem = "_".join(args.datasets) + ("_quick" if args.quick else "")
    command = f"python -m benchmarks.{module} " + " ".join(argv if argv is not None else [])

    def save(runs):
        (out / f"{stem}.json").write_text(json.dumps(
            {"command": command, "summary": summarise(runs), "runs": runs},
            indent=1, default=str))

    runs = lab_runs(args, run_seed, after_seed=save)
    text = markdown(summarise(runs), command)
    (out / f"{stem}.md").write_text(text)
    print(text)
    return 0


def main(argv=None):
    parser = lab_parser(__doc__.splitlines()[0], VARIANTS, DEFAULT_VARIANTS,
                        ["watch", "digits"], ROOT / "benchmarks" / "results" / "labels")
    args = parser.parse_args(argv)
    return lab_main(args, argv, "labels", run_seed, summarise, markdown, stem="labels")


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
