"""Scaling out on existing engines: skorch's Accelerate integration and joblib's Dask backend."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from accelerate_worker import PARAMS, data
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from conftest import FAST
from sklearn_bdistil import BDistilClassifier, MLPStudent

accelerate = pytest.importorskip("accelerate")


def test_single_process_accelerator_matches_plain_fit(data, teacher):
    X, _ = data
    plain = BDistilClassifier(teacher, [MLPStudent((4,))], **FAST).fit(X)
    accelerated = BDistilClassifier(teacher, [MLPStudent((4,))],
                                    accelerator=accelerate.Accelerator(cpu=True), **FAST)
    assert clone(accelerated).get_params()["accelerator"] is not None
    accelerated.fit(X)
    np.testing.assert_array_equal(plain.decision_function(X), accelerated.decision_function(X))
    assert all(type(m).__name__ == "StudentNet" for m in accelerated.estimators_)  # unwrapped
    # the accelerator does not keep every round's student and optimizer
    accelerator = accelerated.accelerator
    assert accelerator._models == [] and accelerator._optimizers == []


def test_accelerator_must_look_like_one(data, teacher):
    X, _ = data
    with pytest.raises(ValueError, match="accelerator"):
        BDistilClassifier(teacher, accelerator="cuda", **FAST).fit(X)


def test_two_process_data_parallel_fit(tmp_path):
    """``accelerate``'s multi-CPU mode under torchrun: DDP over gloo, 2 processes."""
    worker = Path(__file__).with_name("accelerate_worker.py")
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(worker.parent),
                                                        os.environ.get("PYTHONPATH")])))
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
         "2", str(worker), str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    ranks = [np.load(tmp_path / f"rank{i}.npz") for i in range(2)]
    assert all(int(r["n_processes"]) == 2 and "MULTI_CPU" in str(r["kind"]) for r in ranks)
    # every process ends with the same ensemble ...
    np.testing.assert_array_equal(ranks[0]["decision"], ranks[1]["decision"])
    # ... close to one process on whole batches (same global batches, sharded)
    X, teacher = data()
    single = BDistilClassifier(teacher, [MLPStudent((4,))], **PARAMS).fit(X)
    reference = single.decision_function(X)
    agree = (ranks[0]["decision"].argmax(1) == reference.argmax(1)).mean()
    assert agree > 0.95
    np.testing.assert_allclose(ranks[0]["decision"], reference, atol=0.1 * np.abs(reference).max())
    # the main process wrote a checkpoint that a single process resumes from as it is
    resumed = BDistilClassifier(teacher, [MLPStudent((4,))],
                                checkpoint_dir=tmp_path / "checkpoint", **PARAMS).fit(X)
    np.testing.assert_allclose(resumed.decision_function(X), ranks[0]["decision"],
                               rtol=1e-5, atol=1e-5)


def _must_run_on_a_dask_worker(estimator, info):
    from distributed import get_worker

    get_worker()  # raises ValueError outside a worker


def test_grid_search_on_a_dask_cluster(data):
    """joblib's Dask backend spreads a search over a LocalCluster on loopback."""
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster, get_task_stream
    from joblib import parallel_config
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LogisticRegression

    X, y = data
    teacher = FrozenEstimator(LogisticRegression(max_iter=500).fit(X, y))
    grid = {"eta": [0.5, 2.0], "learning_rate": [0.5, 1.0]}
    params = dict(FAST, n_estimators=2, max_epochs=10)
    local = GridSearchCV(BDistilClassifier(teacher, [MLPStudent((8,))], **params),
                         grid, cv=2, error_score="raise").fit(X, y)
    on_cluster = BDistilClassifier(teacher, [MLPStudent((8,))],
                                   stage_callback=_must_run_on_a_dask_worker, **params)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster) as client, parallel_config(backend="dask"), \
            get_task_stream(client) as tasks:
        search = GridSearchCV(on_cluster, grid, cv=2, n_jobs=-1, refit=False,
                              error_score="raise").fit(X, y)
        workers = set(client.scheduler_info()["workers"])
    assert len(workers) == 2 and {t["worker"] for t in tasks.data} == workers
    assert len(tasks.data) >= len(search.cv_results_["params"])
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"], atol=0.02)
