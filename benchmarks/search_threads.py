"""Threads per fit and wall time of a parallel GridSearchCV, same run.

    python benchmarks/search_threads.py

A 4-candidate x 2-fold search on digits (4 stages of ``MLPStudent((16,))``,
20 epochs, a frozen logistic-regression teacher), run three ways: ``n_jobs=1``;
``n_jobs=2`` with joblib's default loky backend, which gives each worker
``cpu_count // n_jobs`` threads; and ``n_jobs=2`` with each worker allowed
``cpu_count`` threads (``parallel_config(inner_max_num_threads=...)``), the
oversubscribed case. A scorer reports torch's thread count inside each fit.
Prints a table and writes ``benchmarks/results/search_threads.json``.
"""

import json
import time
import warnings
from pathlib import Path

import joblib
import torch
from joblib import parallel_config
from sklearn.datasets import load_digits
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

from sklearn_bdistil import BDistilClassifier, MLPStudent


def torch_threads(estimator, X, y):
    """A scorer: torch's intra-op thread count in the process that fitted ``estimator``."""
    return torch.get_num_threads()


def main():
    warnings.simplefilter("ignore")
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    teacher = FrozenEstimator(LogisticRegression(max_iter=500).fit(X, y))
    cores = joblib.cpu_count()
    runs = [("n_jobs=1", 1, None), ("n_jobs=2, loky default", 2, None),
            (f"n_jobs=2, {cores} threads per worker", 2, cores)]
    rows = []
    for label, n_jobs, inner in runs:
        search = GridSearchCV(
            BDistilClassifier(teacher, [MLPStudent((16,))], n_estimators=4, max_epochs=20,
                              random_state=0),
            {"learning_rate": [0.5, 1.0], "eta": [1.0, 2.0]}, cv=2, n_jobs=n_jobs,
            scoring={"threads": torch_threads, "accuracy": "accuracy"}, refit=False)
        start = time.perf_counter()
        if inner is None:
            search.fit(X, y)
        else:
            with parallel_config(backend="loky", inner_max_num_threads=inner):
                search.fit(X, y)
        wall = time.perf_counter() - start
        threads = sorted({int(t) for t in search.cv_results_["mean_test_threads"]})
        rows.append({"run": label, "wall_s": round(wall, 2), "threads_per_fit": threads,
                     "accuracy": search.cv_results_["mean_test_accuracy"].round(4).tolist()})
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "search_threads.json").write_text(json.dumps(
        {"cores": cores, "torch": torch.__version__, "runs": rows}, indent=2))
    print(f"{cores} cores, torch {torch.__version__}")
    print(f"{'run':<32} {'threads/fit':>11} {'wall s':>7}  accuracy per candidate")
    for r in rows:
        print(f"{r['run']:<32} {str(r['threads_per_fit']):>11} {r['wall_s']:>7.1f}  "
              f"{r['accuracy']}")


if __name__ == "__main__":
    main()
