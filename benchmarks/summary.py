"""The Results page's summary tables, from the JSON that ``benchmarks.compare`` wrote.

    python -m benchmarks.summary [docs/results]

Reads ``<dataset>.json`` for each data set (default folder ``docs/results``)
and prints three Markdown tables: accuracy, cost and AUC per method; the
paper-protocol targets per data set with the margin by which each is met or
missed; and the practitioner-baseline targets (AUC against RESCHED, the
label-trained students and NO-RESCHED, the final stage against the teacher
and the label-trained students), in points, means over seeds. The per-data-set sections come
from the ``compare.md`` next to each JSON.
"""

import json
import sys
from pathlib import Path

from benchmarks import _common as C

ROOT = Path(__file__).resolve().parent.parent
AUC_METHODS = ("B-DISTIL", "RESCHED", "NO-RESCHED", "label-trained", "label single",
               "GB nets", "HGB")


def _ms(pair, digits=4):
    m, s = pair
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def load(folder):
    out = {}
    for name in C.DATASETS:
        path = Path(folder) / f"{name}.json"
        if path.exists():
            out[name] = json.loads(path.read_text())
    if not out:
        raise SystemExit(f"no <dataset>.json under {folder}")
    return out


def summary_table(results):
    lines = ["| data set | seeds | teacher acc | teacher FLOPs | B-DISTIL final acc | "
             "cost / teacher | RESCHED final | NO-RESCHED final | "
             + " | ".join(f"AUC {m}" for m in AUC_METHODS) + " |",
             "|" + "---|" * (8 + len(AUC_METHODS))]
    for name, r in results.items():
        a = r["aggregate"]
        fin = a["final"]
        lines.append(
            f"| {name}{' (quick)' if r['meta'].get('quick') else ''} | {a['seeds']} | "
            f"{_ms(a['teacher_accuracy'])} | {a['teacher_flops'][0]:,.0f} | "
            f"{_ms(fin['B-DISTIL']['accuracy'])} | "
            f"{100 * fin['B-DISTIL']['fraction'][0]:.1f}% | "
            f"{_ms(fin['RESCHED']['accuracy'])} | {_ms(fin['NO-RESCHED']['accuracy'])} | "
            + " | ".join(_ms(a["auc"][m]) for m in AUC_METHODS) + " |")
    return "\n".join(lines)


def targets_table(results):
    lines = ["| data set | B-DISTIL >= RESCHED every stage | AUC >= NO-RESCHED | "
             "final within 1 pt at <= 25% FLOPs |", "|---|---|---|---|"]
    for name, r in results.items():
        t = r["aggregate"]["targets"]
        below = [c["stages_below_resched"] for c in t["per_seed"]]
        worst = min(c["min_diff_vs_resched"] for c in t["per_seed"])
        mean_min = min(t["mean_diff_vs_resched_per_stage"])
        resched = (f"{'met' if t['geq_resched_every_stage_on_mean'] else 'MISSED'} on the mean "
                   f"curve (smallest difference {100 * mean_min:+.2f} pt); stages below per "
                   f"seed {below}, worst {100 * worst:+.2f} pt")
        d = t["auc_diff_vs_noresched"]
        auc = (f"{'met' if t['auc_geq_noresched_on_mean'] else 'MISSED'} "
               f"({100 * d[0]:+.2f} ± {100 * d[1]:.2f} pt)")
        gap = t["final_gap_to_teacher"]  # teacher minus B-DISTIL: negative is above
        final = (f"{'met' if t['final_within_1pt_at_25pct'] else 'MISSED'} "
                 f"({100 * abs(gap):.2f} pt {'below' if gap >= 0 else 'above'} at "
                 f"{100 * t['final_fraction']:.1f}%)")
        lines.append(f"| {name} | {resched} | {auc} | {final} |")
    return "\n".join(lines)


def _pt(x):
    return f"{100 * x:+.2f}"


def baselines_table(results):
    """Margins in points (B-DISTIL minus the other; positive: B-DISTIL ahead)."""
    lines = ["| data set | AUC - RESCHED | AUC - label-trained | AUC - NO-RESCHED (>= -0.3) | "
             "final - teacher (>= -0.5) | final - best label-trained final | "
             "AUC - GB nets | AUC - HGB |", "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        a = r["aggregate"]
        auc = {m: a["auc"][m][0] for m in a["auc"]}
        final = {m: a["final"][m]["accuracy"][0] for m in a["final"]}
        teacher = a["teacher_accuracy"][0]
        label = max(final["label-trained"], final["label single"])
        beat = label > teacher
        lines.append(
            f"| {name} | {_pt(auc['B-DISTIL'] - auc['RESCHED'])} | "
            f"{_pt(auc['B-DISTIL'] - auc['label-trained'])} | "
            f"{_pt(auc['B-DISTIL'] - auc['NO-RESCHED'])} | "
            f"{_pt(final['B-DISTIL'] - teacher)} | "
            f"{_pt(final['B-DISTIL'] - label)}{'' if beat else ' (labels below the teacher)'} | "
            f"{_pt(auc['B-DISTIL'] - auc['GB nets'])} | {_pt(auc['B-DISTIL'] - auc['HGB'])} |")
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    results = load(argv[0] if argv else ROOT / "docs" / "results")
    print(summary_table(results))
    print()
    print(targets_table(results))
    print()
    print(baselines_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
