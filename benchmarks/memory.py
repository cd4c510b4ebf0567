"""Peak memory of fit and predict on 1M x 64 rows.

    python benchmarks/memory.py [--rows 1000000] [--features 64]

The data (float32) is made first; the peak resident set size (RSS) of the
process is read before and after ``fit`` and after ``predict``, so the
figures are the package's own working memory on top of the data. The teacher
is a torch MLP (64-256-10) whose logits are computed in batches. Prints a
table and writes ``benchmarks/results/memory.json``.
"""

import argparse
import json
import resource
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sklearn_bdistil import BDistilClassifier, MLPStudent


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--stages", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    torch.manual_seed(0)
    teacher = nn.Sequential(nn.Linear(args.features, 256), nn.ReLU(),
                            nn.Linear(256, args.classes))
    # drawn as float32: a float64 draw cast down would leave its freed temporary in
    # the peak RSS read below, hiding up to twice the data of the fit's own peak
    X = np.random.default_rng(0).standard_normal((args.rows, args.features),
                                                 dtype=np.float32)
    data_mb = X.nbytes / 2**20
    before = peak_rss_mb()
    clf = BDistilClassifier(teacher, [MLPStudent((16,))], n_estimators=args.stages,
                            max_epochs=1, batch_size=4096, gamma=-1.0, random_state=0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X)
    fit_s = time.perf_counter() - start
    after_fit = peak_rss_mb()
    start = time.perf_counter()
    clf.predict(X)
    predict_s = time.perf_counter() - start
    after_predict = peak_rss_mb()

    result = {"config": vars(args), "data_mb": data_mb, "peak_rss_before_fit_mb": before,
              "peak_rss_after_fit_mb": after_fit, "peak_rss_after_predict_mb": after_predict,
              "fit_overhead_x_data": (after_fit - before) / data_mb,
              "fit_seconds": fit_s, "predict_seconds": predict_s,
              "n_stages": clf.n_estimators_}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "memory.json").write_text(json.dumps(result, indent=2))
    print(f"{args.rows:,} rows x {args.features} float32 features = {data_mb:,.0f} MB; "
          f"{clf.n_estimators_} stages of MLP(16), 1 epoch each")
    print(f"{'point':<22} {'peak RSS MB':>12}")
    for name, value in (("data made", before), ("after fit", after_fit),
                        ("after predict", after_predict)):
        print(f"{name:<22} {value:>12,.0f}")
    print(f"fit adds {after_fit - before:,.0f} MB at its peak "
          f"({(after_fit - before) / data_mb:.1f}x the data); fit {fit_s:.1f}s, "
          f"predict {predict_s:.1f}s")


if __name__ == "__main__":
    main()
