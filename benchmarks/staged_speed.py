"""staged_decision_function over all stages vs one decision_function, same run.

    python benchmarks/staged_speed.py [--rows 100000] [--stages 10] [--device cpu]

Fits a small ensemble (the fit is not timed), then times, interleaved and
repeated, ``list(staged_decision_function(X))`` against
``decision_function(X)`` at the last stage on the same rows. Both evaluate
each student once; the staged call also hands out one copy of the logits per
stage. Prints a table last and writes ``benchmarks/results/staged_speed.json``.
Target (BENCHMARKS.md): staged / final <= 1.15.
"""

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from sklearn_bdistil import BDistilClassifier, MLPStudent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--stages", type=int, default=10)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    centers = rng.normal(size=(args.classes, args.features))
    y = rng.integers(args.classes, size=args.rows)
    X = (centers[y] + 2.0 * rng.normal(size=(args.rows, args.features))).astype(np.float32)
    teacher = LogisticRegression(max_iter=200).fit(X[:5000], y[:5000])
    clf = BDistilClassifier(teacher, [MLPStudent((args.hidden,))], n_estimators=args.stages,
                            max_epochs=2, gamma=-1.0, validation_fraction=None,
                            device=args.device, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X[:5000])

    def staged():
        for _ in clf.staged_decision_function(X):
            pass

    def final():
        clf.decision_function(X)

    staged(), final()  # warm-up
    times = {"staged_all": [], "final_only": []}
    for _ in range(args.repeats):
        for name, fn in (("staged_all", staged), ("final_only", final)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    median = {k: statistics.median(v) for k, v in times.items()}
    ratio = median["staged_all"] / median["final_only"]
    result = {
        "config": vars(args) | {"torch": torch.__version__,
                                "threads": torch.get_num_threads(),
                                "n_stages": clf.n_estimators_},
        "seconds": median, "ratio_staged_vs_final": ratio, "target": 1.15,
        "rows_per_second_staged": args.rows / median["staged_all"],
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "staged_speed.json").write_text(json.dumps(result, indent=2))
    print(f"{args.rows} rows x {args.features} features, {clf.n_estimators_} stages of "
          f"MLP({args.hidden}), device {args.device}, {torch.get_num_threads()} threads; "
          f"median of {args.repeats}")
    print(f"{'call':<12} {'seconds':>8} {'rows/s':>12}")
    for name, seconds in median.items():
        print(f"{name:<12} {seconds:>8.3f} {args.rows / seconds:>12,.0f}")
    status = "meets" if ratio <= 1.15 else "MISSES"
    print(f"staged / final = {ratio:.3f} ({status} the 1.15x target)")


if __name__ == "__main__":
    main()
