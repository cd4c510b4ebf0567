"""B-DISTIL against the paper's baselines on one real data set, same split and seeds.

    python -m benchmarks.compare --dataset {watch,digits,fashion_mnist,letter}
                                 [--seeds 0 1 2] [--quick] [--gbnn {own,torchensemble}]

Per seed, on one split: the teacher; B-DISTIL (``BDistilClassifier`` with the
library defaults and the data set's student ladder); RESCHED (the ensemble's
students each distilled on its own, prefixes average logits); NO-RESCHED (for
each cumulative budget of the ensemble, one single student of the widest size
that fits it, distilled on its own); the same students trained on labels only
(prefixes average logits); for each budget, one single student of the widest
size that fits it trained on labels only (label single); gradient-boosted nets
without distillation over the same students; ``HistGradientBoostingClassifier``
with ``staged_predict``. B-DISTIL is fitted with the labels, as a user who has
them would (``label_weight`` mixes them into the target).

Writes ``benchmarks/results/<dataset>/compare.{json,md,png}`` and (unless
``--quick`` or ``--no-docs``) copies them to ``docs/results/<dataset>.*``.
Prints a table last.
"""

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks import _common as C
from sklearn_bdistil import BDistilClassifier
from sklearn_bdistil._cost import teacher_flops

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("B-DISTIL", "RESCHED", "NO-RESCHED", "label-trained", "label single", "GB nets",
           "HGB")
STAGED = ("B-DISTIL", "RESCHED", "NO-RESCHED", "label-trained", "label single", "GB nets")


def bdistil_params(quick, overrides=None):
    """B-DISTIL's settings in this benchmark: the library defaults, fewer epochs in quick mode."""
    params = {"n_estimators": 6 if quick else 10}
    if quick:
        params["max_epochs"] = 10
    params.update(overrides or {})
    return params


def training_params(clf):
    """Per-student training settings shared by every baseline (taken from B-DISTIL's)."""
    p = clf.get_params()
    return {k: p[k] for k in ("max_epochs", "batch_size", "lr", "lr_schedule",
                              "validation_fraction",
                              "optimizer", "weight_decay", "augmentation",
                              "augmentation_copies")}


def prefix_means(logits):
    """Logits of each prefix when students are averaged (RESCHED, label-trained)."""
    total, out = 0.0, []
    for k, f in enumerate(logits, start=1):
        total = total + f
        out.append(total / k)
    return out


def run_seed(name, seed, quick, gbnn="own", overrides=None, log=print, groups=False):
    """Every method on one split; returns a JSON-able dict."""
    torch.manual_seed(seed)
    timer = C.Timer()
    split = C.load_split(name, seed, quick=quick)
    n_features = split.X_train.shape[1]
    with timer("teacher"):
        teacher, teacher_name = C.fit_teacher(split, seed, quick)
    G, teacher_pred = C.teacher_outputs(teacher, split)
    classes = np.asarray(teacher.classes_)
    teacher_acc = float((teacher_pred == split.y_test).mean())
    teacher_cost = teacher_flops(teacher, n_features)
    floor = float(np.mean(split.y_test == np.bincount(split.y_train).argmax()))
    log(f"[{name} seed {seed}] {split.description}; teacher {teacher_name}: "
        f"acc {teacher_acc:.4f}, {teacher_cost:,.0f} FLOPs/row "
        f"({timer.seconds['teacher']:.0f}s)")

    students = C.students_for(split)
    clf = BDistilClassifier(teacher, students, random_state=seed,
                            **bdistil_params(quick, overrides))
    C.warm_up(teacher, students[0], split.X_train, G, seed)
    # --groups: B-DISTIL's held-out acceptance part is whole training subjects
    by_group = {"groups": split.groups_train} if groups else {}
    with timer("B-DISTIL"):
        # with the labels, as a user who has them fits (label_weight mixes them in)
        C.quiet_fit(clf, split.X_train, split.y_train, teacher_logits=G, **by_group)
    params = training_params(clf)
    stage_factories = [students[i] for i in clf.student_indices_]
    costs = np.asarray(clf.cumulative_costs_, dtype=float)
    curves = {"B-DISTIL": C.curve_from_preds(list(clf.staged_predict(split.X_test)), costs,
                                             split.y_test, teacher_pred)}
    log(f"  B-DISTIL: {clf.n_estimators_} stages, final acc "
        f"{curves['B-DISTIL'][-1]['accuracy']:.4f} at "
        f"{costs[-1] / teacher_cost:.3f} of the teacher ({timer.seconds['B-DISTIL']:.0f}s)")

    with timer("RESCHED"):
        singles = [C.distil_single(teacher, f, split.X_train, G, seed * 1000 + k, params)
                   for k, f in enumerate(stage_factories)]
        logits = [s.decision_function(split.X_test) for s in singles]
    curves["RESCHED"] = C.curve_from_logits(prefix_means(logits), costs, split.y_test,
                                            teacher_pred, classes)

    family = C.width_family(split)

    def per_budget(fit_single):
        """One single student per budget, the widest of ``family`` that fits it:
        ``fit_single(width, k)`` gives its cost and test predictions (once per width)."""
        points, cache = [], {}
        for k, budget in enumerate(costs):
            w = C.widest_within(family, budget, n_features, split.n_classes)
            if w not in cache:
                cost, pred = fit_single(w, k)
                cache[w] = {"cost": cost, "width": int(w),
                            "accuracy": float((pred == split.y_test).mean()),
                            "agreement": float((pred == teacher_pred).mean())}
            points.append(dict(cache[w], budget=float(budget)))
        return points

    def distilled_single(w, k):
        single = C.distil_single(teacher, family(w), split.X_train, G, seed * 1000 + 500 + k,
                                 params)
        return float(single.cumulative_costs_[0]), single.predict(split.X_test)

    def label_single(w, k):
        logits = C.label_students([family(w)], split, seed * 1000 + 700 + k, params)[0]
        return (C.factory_flops(family(w), n_features, split.n_classes),
                classes[np.argmax(logits, axis=1)])

    with timer("NO-RESCHED"):
        curves["NO-RESCHED"] = per_budget(distilled_single)
    with timer("label single"):
        curves["label single"] = per_budget(label_single)

    with timer("label-trained"):
        logits = C.label_students(stage_factories, split, seed, params)
    curves["label-trained"] = C.curve_from_logits(prefix_means(logits), costs, split.y_test,
                                                  teacher_pred, classes)

    with timer("GB nets"):
        if gbnn == "torchensemble":
            prefixes, gb_factories = C.torchensemble_boosted(stage_factories, split, seed,
                                                             params)
            gb_costs = np.cumsum([C.factory_flops(f, n_features, split.n_classes)
                                  for f in gb_factories])
        else:
            prefixes, gb_costs = C.boosted_nets(stage_factories, split, seed, params), costs
    curves["GB nets"] = C.curve_from_logits(prefixes, gb_costs, split.y_test, teacher_pred,
                                            classes)

    with timer("HGB"):
        _, hgb_costs, hgb_preds = C.hgb_staged(split, seed, 30 if quick else 100)
    curves["HGB"] = C.curve_from_preds(hgb_preds, hgb_costs, split.y_test, teacher_pred)

    for points in curves.values():
        for p in points:
            p["fraction"] = p["cost"] / teacher_cost
    lo, hi = float(costs[0]), float(costs[-1])
    auc = {m: C.curve_auc(curves[m], lo, hi, floor) for m in METHODS}
    result = {
        "dataset": name, "seed": seed, "split": split.description, "extra": split.extra,
        "n_train": int(len(split.y_train)), "n_test": int(len(split.y_test)),
        "teacher": {"name": teacher_name, "accuracy": teacher_acc, "flops": teacher_cost},
        "majority_accuracy": floor,
        "bdistil": {"params": {k: (v if isinstance(v, (int, float, str, type(None)))
                                   else repr(v))
                               for k, v in clf.get_params().items() if k != "teacher"},
                    "n_estimators_": int(clf.n_estimators_),
                    "student_indices_": clf.student_indices_.tolist(),
                    "estimator_weights_": clf.estimator_weights_.tolist(),
                    "edges_": clf.edges_.tolist(),
                    "validation_loss_": clf.validation_loss_.tolist()},
        "curves": curves, "auc_range_flops": [lo, hi], "auc": auc,
        "seconds": timer.seconds,
    }
    log("  " + ", ".join(f"{m} {s:.0f}s" for m, s in timer.seconds.items()))
    log("  AUC " + ", ".join(f"{m} {auc[m]:.4f}" for m in METHODS))
    return result


# ----------------------------------------------------------- aggregation

def _ms(values):
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std())


def aggregate(runs):
    """Mean and spread over seeds, per stage and per method; target checks."""
    n_stages = min(len(r["curves"]["B-DISTIL"]) for r in runs)
    agg = {"n_seeds": len(runs), "seeds": [r["seed"] for r in runs],
           "n_stages_common": n_stages,
           "n_stages_per_seed": [len(r["curves"]["B-DISTIL"]) for r in runs]}
    agg["teacher_accuracy"] = _ms([r["teacher"]["accuracy"] for r in runs])
    agg["teacher_flops"] = _ms([r["teacher"]["flops"] for r in runs])
    stages = {}
    for m in METHODS:
        n = n_stages if m in STAGED else min(len(r["curves"][m]) for r in runs)
        rows = []
        for k in range(n):
            pts = [r["curves"][m][k] for r in runs]
            rows.append({key: _ms([p[key] for p in pts])
                         for key in ("accuracy", "agreement", "cost", "fraction")})
        stages[m] = rows
    agg["stages"] = stages
    agg["auc"] = {m: _ms([r["auc"][m] for r in runs]) for m in METHODS}
    agg["final"] = {m: {key: _ms([r["curves"][m][-1][key] for r in runs])
                        for key in ("accuracy", "agreement", "fraction")} for m in METHODS}

    # targets, per seed (paired) and on the mean curves
    def seed_checks(r):
        bd, rs = r["curves"]["B-DISTIL"], r["curves"]["RESCHED"]
        diffs = [b["accuracy"] - s["accuracy"] for b, s in zip(bd, rs, strict=True)]
        t_acc = r["teacher"]["accuracy"]
        within = [p["fraction"] for p in bd if p["accuracy"] >= t_acc - 0.01]
        return {"min_diff_vs_resched": min(diffs),
                "stages_below_resched": int(sum(d < 0 for d in diffs)),
                "auc_diff_vs_noresched": r["auc"]["B-DISTIL"] - r["auc"]["NO-RESCHED"],
                "final_gap_to_teacher": t_acc - bd[-1]["accuracy"],
                "final_fraction": bd[-1]["fraction"],
                "cheapest_within_1pt": min(within) if within else None}

    per_seed = [seed_checks(r) for r in runs]
    mean_diff = [stages["B-DISTIL"][k]["accuracy"][0] - stages["RESCHED"][k]["accuracy"][0]
                 for k in range(n_stages)]
    final_gap = agg["teacher_accuracy"][0] - agg["final"]["B-DISTIL"]["accuracy"][0]
    final_frac = agg["final"]["B-DISTIL"]["fraction"][0]
    agg["targets"] = {
        "per_seed": per_seed,
        "mean_diff_vs_resched_per_stage": mean_diff,
        "geq_resched_every_stage_on_mean": bool(min(mean_diff) >= 0),
        "geq_resched_every_stage_every_seed": bool(all(c["min_diff_vs_resched"] >= 0
                                                       for c in per_seed)),
        "auc_diff_vs_noresched": _ms([c["auc_diff_vs_noresched"] for c in per_seed]),
        "auc_geq_noresched_on_mean": bool(agg["auc"]["B-DISTIL"][0]
                                          >= agg["auc"]["NO-RESCHED"][0]),
        "final_gap_to_teacher": final_gap, "final_fraction": final_frac,
        "final_within_1pt_at_25pct": bool(final_gap <= 0.01 and final_frac <= 0.25),
    }
    # the labels issue's targets, on the means over seeds
    auc = {m: agg["auc"][m][0] for m in METHODS}
    final = {m: agg["final"][m]["accuracy"][0] for m in METHODS}
    label_best = max(final["label-trained"], final["label single"])
    agg["targets"].update({
        "auc_geq_resched": bool(auc["B-DISTIL"] >= auc["RESCHED"]),
        "auc_geq_label_trained": bool(auc["B-DISTIL"] >= auc["label-trained"]),
        "auc_geq_noresched_minus_0.3pt": bool(auc["B-DISTIL"] >= auc["NO-RESCHED"] - 0.003),
        "final_geq_teacher_minus_0.5pt": bool(final_gap <= 0.005),
        "final_geq_labels_where_they_beat_teacher": bool(
            label_best <= agg["teacher_accuracy"][0] or final["B-DISTIL"] >= label_best),
    })
    agg["seconds"] = {k: _ms([r["seconds"].get(k, 0.0) for r in runs])
                      for k in runs[0]["seconds"]}
    return agg


# -------------------------------------------------------------- reports

def _f(ms, digits=4, pct=False):
    m, s = ms
    if pct:
        return f"{100 * m:.1f}% ± {100 * s:.1f}"
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def markdown(name, runs, agg, wall):
    r0 = runs[0]
    t = agg["targets"]
    lines = [f"### {name}", "",
             f"{r0['split']}; {r0['n_train']} training / {r0['n_test']} test rows; "
             f"seeds {agg['seeds']}; mean ± std over seeds. Teacher "
             f"{r0['teacher']['name']}: accuracy {_f(agg['teacher_accuracy'])}, "
             f"{agg['teacher_flops'][0]:,.0f} FLOPs/row. "
             f"B-DISTIL kept {agg['n_stages_per_seed']} stages per seed. "
             f"AUC = mean anytime accuracy over the ensemble's budget range "
             f"(linear FLOPs axis).", "",
             "| method | final accuracy | final agreement | final cost / teacher | AUC |",
             "|---|---|---|---|---|"]
    for m in METHODS:
        fin = agg["final"][m]
        lines.append(f"| {m} | {_f(fin['accuracy'])} | {_f(fin['agreement'])} | "
                     f"{_f(fin['fraction'], pct=True)} | {_f(agg['auc'][m])} |")
    lines.append(f"| teacher | {_f(agg['teacher_accuracy'])} | 1 | 100% | |")
    lines += ["", "Accuracy per stage (cost = cumulative FLOPs / teacher's; NO-RESCHED's "
              "single student costs at most the budget):", "",
              "| stage | cost | B-DISTIL | RESCHED | NO-RESCHED | label-trained | label single "
              "| GB nets |",
              "|---|---|---|---|---|---|---|---|"]
    st = agg["stages"]
    for k in range(agg["n_stages_common"]):
        cells = [_f(st[m][k]["accuracy"], 3) for m in STAGED]
        lines.append(f"| {k + 1} | {_f(st['B-DISTIL'][k]['fraction'], pct=True)} | "
                     + " | ".join(cells) + " |")
    below = [c["stages_below_resched"] for c in t["per_seed"]]
    lines += ["", "Targets:", "",
              f"- B-DISTIL >= RESCHED at every stage: mean curve "
              f"{'met' if t['geq_resched_every_stage_on_mean'] else 'MISSED'} (smallest mean "
              f"difference {min(t['mean_diff_vs_resched_per_stage']):+.4f}); stages below "
              f"RESCHED per seed {below}.",
              f"- AUC >= NO-RESCHED: {'met' if t['auc_geq_noresched_on_mean'] else 'MISSED'} "
              f"(difference {_f(t['auc_diff_vs_noresched'])}).",
              f"- Final stage within 1 point of the teacher at <= 25% of its FLOPs: "
              f"{'met' if t['final_within_1pt_at_25pct'] else 'MISSED'} (gap "
              f"{100 * t['final_gap_to_teacher']:+.2f} points at "
              f"{100 * t['final_fraction']:.1f}% of the FLOPs).",
              "- Labels issue: " + ", ".join(
                  f"{k} {'met' if t[k] else 'MISSED'}" for k in LABEL_TARGETS) + ".", "",
              "Seconds per seed (mean ± std): " + ", ".join(
                  f"{k} {v[0]:.1f} ± {v[1]:.1f}" for k, v in agg["seconds"].items())
              + f". Whole command: {wall:.0f} s.", ""]
    return "\n".join(lines)


LABEL_TARGETS = ("auc_geq_resched", "auc_geq_label_trained", "auc_geq_noresched_minus_0.3pt",
                 "final_geq_teacher_minus_0.5pt", "final_geq_labels_where_they_beat_teacher")

COLORS = {"B-DISTIL": "C3", "RESCHED": "C0", "NO-RESCHED": "C2", "label-trained": "C7",
          "label single": "C5",
          "GB nets": "C1", "HGB": "C4"}


def plot(name, runs, agg, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for m in METHODS:
        rows = agg["stages"][m]
        x = np.array([r["fraction"][0] for r in rows])
        y = np.array([r["accuracy"][0] for r in rows])
        s = np.array([r["accuracy"][1] for r in rows])
        style = "-" if m in STAGED and m not in ("NO-RESCHED", "label single") else "--"
        marker = "o" if m != "HGB" else None
        ax.plot(x, y, style, marker=marker, ms=3, color=COLORS[m], label=m,
                lw=2 if m == "B-DISTIL" else 1.2)
        ax.fill_between(x, y - s, y + s, color=COLORS[m], alpha=0.12, lw=0)
    ta = agg["teacher_accuracy"][0]
    ax.axhline(ta, color="k", ls=":", lw=1, label=f"teacher ({ta:.3f})")
    ax.axhline(ta - 0.01, color="k", ls=":", lw=0.6, alpha=0.5)
    ax.axvline(0.25, color="grey", ls=":", lw=0.8)
    ax.plot([1.0], [ta], "k*", ms=9)
    lo, hi = runs[0]["auc_range_flops"]
    ax.axvspan(lo / agg["teacher_flops"][0], hi / agg["teacher_flops"][0], color="C3",
               alpha=0.04)
    ax.set_xscale("log")
    ax.set_xlabel("cumulative FLOPs per row / teacher's (log scale)")
    ax.set_ylabel("test accuracy")
    ys = [r["accuracy"][0] for m in STAGED for r in agg["stages"][m]]
    ax.set_ylim(max(0.0, min(ys) - 0.05), min(1.0, max(ys + [ta]) + 0.02))
    ax.set_title(f"{name}: accuracy vs cost, mean of {agg['n_seeds']} seeds (band: ±1 std)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_table(name, agg):
    print(f"\n{name}: teacher acc {_f(agg['teacher_accuracy'])}, "
          f"{agg['teacher_flops'][0]:,.0f} FLOPs/row; {agg['n_seeds']} seeds")
    print(f"{'method':<14} {'final acc':>17} {'cost/teacher':>14} {'AUC':>17}")
    for m in METHODS:
        fin = agg["final"][m]
        print(f"{m:<14} {_f(fin['accuracy']):>17} {100 * fin['fraction'][0]:>13.1f}% "
              f"{_f(agg['auc'][m]):>17}")
    t = agg["targets"]
    print(f"targets: >=RESCHED every stage {t['geq_resched_every_stage_on_mean']} "
          f"(min diff {min(t['mean_diff_vs_resched_per_stage']):+.4f}); AUC>=NO-RESCHED "
          f"{t['auc_geq_noresched_on_mean']} ({t['auc_diff_vs_noresched'][0]:+.4f}); "
          f"final within 1pt at <=25% {t['final_within_1pt_at_25pct']} "
          f"(gap {100 * t['final_gap_to_teacher']:+.2f} pt at "
          f"{100 * t['final_fraction']:.1f}%)")
    print("labels targets: " + ", ".join(f"{k} {t[k]}" for k in LABEL_TARGETS))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, choices=C.DATASETS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true",
                        help="one seed, 6 stages of 10 epochs, smaller data (~1-2 min)")
    parser.add_argument("--gbnn", choices=("own", "torchensemble"), default="own",
                        help="gradient-boosted nets: the built-in implementation (any "
                             "students) or torchensemble's (first student class only)")
    parser.add_argument("--out", default=None, help="default benchmarks/results/<dataset>")
    parser.add_argument("--no-docs", action="store_true",
                        help="do not copy the results to docs/results/")
    parser.add_argument("--groups", action="store_true",
                        help="B-DISTIL holds out whole training subjects to accept stages "
                             "(fit(groups=...); watch and hapt only)")
    args = parser.parse_args(argv)
    if args.groups and args.dataset not in ("watch", "hapt"):
        parser.error("--groups needs a data set with subjects: watch, hapt")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    seeds = args.seeds[:1] if args.quick and args.seeds == [0, 1, 2] else args.seeds

    missing = C.check_available(args.dataset)
    if missing:
        print(f"SKIPPED {args.dataset}: {missing}")
        return 0
    start = time.perf_counter()
    runs = [run_seed(args.dataset, s, args.quick, gbnn=args.gbnn, groups=args.groups)
            for s in seeds]
    wall = time.perf_counter() - start
    agg = aggregate(runs)
    out = Path(args.out) if args.out else (ROOT / "benchmarks" / "results" / args.dataset
                                           / ("quick" if args.quick else ""))
    out.mkdir(parents=True, exist_ok=True)
    given = sys.argv[1:] if argv is None else argv
    meta = {"command": "python -m benchmarks.compare " + " ".join(given),
            "quick": args.quick, "gbnn": args.gbnn, "groups": args.groups,
            "wall_seconds": wall,
            "torch": torch.__version__, "threads": torch.get_num_threads()}
    (out / "compare.json").write_text(json.dumps(
        {"meta": meta, "aggregate": agg, "runs": runs}, indent=1, default=str))
    (out / "compare.md").write_text(markdown(args.dataset, runs, agg, wall))
    plot(args.dataset, runs, agg, out / "compare.png")
    if not (args.quick or args.no_docs):
        docs = ROOT / "docs" / "results"
        docs.mkdir(parents=True, exist_ok=True)
        for ext in ("json", "md", "png"):
            shutil.copy(out / f"compare.{ext}", docs / f"{args.dataset}.{ext}")
    print(f"wrote {out}/compare.{{json,md,png}} in {wall:.0f} s")
    print_table(args.dataset, agg)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
