"""One table across data sets from the ablation results: each setting's change from the defaults.

    python -m benchmarks.ablation_summary [docs/results]

Reads every ``<dataset>_ablation.json`` that ``benchmarks.ablation`` wrote
(by default under ``docs/results``), and prints a Markdown table: per setting
and data set, the change in AUC and in final-stage accuracy from the default
run of the same seed (mean ± std over seeds, in points). The defaults hold
across data sets when no row is better on all of them.
"""

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def deltas(result, key):
    """``{setting: [per-seed change from the defaults]}`` for one data set."""
    out = {}
    for run in result["runs"]:
        base = run["rows"][0]
        assert base["setting"] == "defaults"
        for row in run["rows"][1:]:
            out.setdefault(row["setting"], []).append(100 * (row[key] - base[key]))
    return out


def fmt(values):
    if not values:
        return ""
    v = np.asarray(values)
    return f"{v.mean():+.2f} ± {v.std():.2f}" if len(v) > 1 else f"{v.mean():+.2f}"


def table(folder):
    # docs/results/<dataset>_ablation.json, or a --no-docs run's <dataset>/ablation.json
    files = {f.name[:-len("_ablation.json")]: f for f in Path(folder).glob("*_ablation.json")}
    files.update((f.parent.name, f) for f in Path(folder).glob("*/ablation.json"))
    if not files:
        raise SystemExit(f"no *_ablation.json or */ablation.json under {folder}")
    results = {name: json.loads(f.read_text()) for name, f in sorted(files.items())}
    names = list(results)
    auc = {n: deltas(r, "auc") for n, r in results.items()}
    acc = {n: deltas(r, "final_accuracy") for n, r in results.items()}
    settings = list(dict.fromkeys(s for n in names for s in auc[n]))
    head = []
    for n in names:
        meta = results[n]["meta"]
        seeds = [r["seed"] for r in results[n]["runs"]]
        head.append(f"{n}{' (quick)' if meta.get('quick') else ''}, seeds {seeds}")
    lines = ["Change from the defaults in points (mean ± std over seeds): "
             "AUC / final-stage accuracy. Data sets: " + "; ".join(head) + ".", "",
             "| setting | " + " | ".join(names) + " |",
             "|---|" + "---|" * len(names)]
    for s in settings:
        cells = [f"{fmt(auc[n].get(s, []))} / {fmt(acc[n].get(s, []))}"
                 if s in auc[n] else "not run" for n in names]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    print(table(argv[0] if argv else ROOT / "docs" / "results"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
