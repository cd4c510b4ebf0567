"""Staged accuracy vs cost for every connection type: same students, seeds, split.

    python -m benchmarks.connections [--datasets watch digits] [--seeds 0] [--stages 8]

For each data set the teacher is fitted once per seed (``benchmarks._common``:
the demo's 1-D CNN for watch, a wide MLP for digits); then B-DISTIL is fitted
with ``connection`` in none / dense / residual / gru / lstm, with the same
student ladder, seed and settings. Reports per stage accuracy and cumulative
cost (the connection's FLOPs included), and the mean anytime accuracy over
the budget range every method covers (area under the step curve / width).
Writes ``connections.json`` under ``--out`` (default ``benchmarks/results``)
and, unless ``--no-docs``, ``docs/connections_table.md`` and
``docs/images/connections_<dataset>.png``; prints the table last.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks._common import (
    curve_auc,
    fit_teacher,
    load_split,
    quiet_fit,
    students_for,
    teacher_outputs,
    warm_up,
)
from sklearn_bdistil import BDistilClassifier
from sklearn_bdistil.students import CONNECTIONS

ROOT = Path(__file__).resolve().parent.parent


def run(dataset, seed, stages, max_epochs):
    split = load_split(dataset, seed)
    teacher, teacher_name = fit_teacher(split, seed)
    G, teacher_pred = teacher_outputs(teacher, split)
    teacher_acc = float((teacher_pred == split.y_test).mean())
    rows = {}
    warm_up(teacher, students_for(split)[0], split.X_train, G, seed)  # before "none"
    for connection in CONNECTIONS:
        start = time.perf_counter()
        clf = BDistilClassifier(teacher, students_for(split), n_estimators=stages,
                                connection=connection, max_epochs=max_epochs,
                                random_state=seed)
        quiet_fit(clf, split.X_train, teacher_logits=G)
        seconds = time.perf_counter() - start
        points = [{"cost": float(c), "accuracy": float((p == split.y_test).mean()),
                   "agreement": float((p == teacher_pred).mean())}
                  for c, p in zip(clf.cumulative_costs_, clf.staged_predict(split.X_test),
                                  strict=True)]
        rows[connection] = {"points": points, "fit_seconds": seconds,
                            "n_stages": clf.n_estimators_}
    return {"dataset": dataset, "seed": seed, "teacher": teacher_name,
            "teacher_accuracy": teacher_acc, "methods": rows,
            "majority": float(np.bincount(split.y_test).max() / len(split.y_test))}


def summarise(result):
    methods = result["methods"]
    lo = max(m["points"][0]["cost"] for m in methods.values() if m["points"])
    hi = min(m["points"][-1]["cost"] for m in methods.values() if m["points"])
    for m in methods.values():
        m["auc"] = curve_auc(m["points"], lo, hi, result["majority"]) if m["points"] else None
    result["budget_range"] = [lo, hi]
    return result


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for connection, m in results["methods"].items():
        ax.step([p["cost"] for p in m["points"]], [p["accuracy"] for p in m["points"]],
                where="post", marker="o", label=f"{connection} (AUC {m['auc']:.3f})")
    ax.axhline(results["teacher_accuracy"], color="gray", linestyle=":", label="teacher")
    ax.set_xlabel("cumulative FLOPs per row (connections included)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"{results['dataset']}: connection types, seed {results['seed']}")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(all_results):
    lines = ["| dataset | seed | connection | stages | final accuracy | final FLOPs/row | "
             "mean accuracy over the common budget range | fit s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in all_results:
        for connection, m in r["methods"].items():
            last = m["points"][-1] if m["points"] else {"accuracy": float("nan"), "cost": 0}
            lines.append(f"| {r['dataset']} | {r['seed']} | {connection} | {m['n_stages']} | "
                         f"{last['accuracy']:.4f} | {last['cost']:,.0f} | {m['auc']:.4f} | "
                         f"{m['fit_seconds']:.0f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["watch", "digits"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--stages", type=int, default=8)
    parser.add_argument("--max-epochs", type=int, default=20)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--no-docs", action="store_true",
                        help="do not write the table and figures under docs/")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    results = []
    for dataset in args.datasets:
        for seed in args.seeds:
            r = summarise(run(dataset, seed, args.stages, args.max_epochs))
            results.append(r)
            if not args.no_docs:
                plot(r, ROOT / "docs" / "images" / f"connections_{dataset}.png")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "connections.json").write_text(json.dumps(results, indent=2))
    text = table(results)
    if not args.no_docs:
        (ROOT / "docs" / "connections_table.md").write_text(text + "\n")
    for r in results:
        print(f"{r['dataset']} seed {r['seed']}: teacher {r['teacher_accuracy']:.4f}; "
              f"budget range {r['budget_range'][0]:,.0f}-{r['budget_range'][1]:,.0f} FLOPs")
    print(text)


if __name__ == "__main__":
    main()
