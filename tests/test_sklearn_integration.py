"""clone, params, Pipeline, GridSearchCV (frozen teacher, sliced logits), pickling."""

import pickle

import joblib
import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from conftest import FAST
from sklearn_bdistil import BDistilClassifier, Conv1dStudent, MLPStudent
from sklearn_bdistil._teacher import teacher_logits


def test_clone_and_params_round_trip(teacher):
    clf = BDistilClassifier(teacher, [MLPStudent((4,))], eta=2.0)
    twin = clone(clf)
    assert twin.get_params()["eta"] == 2.0
    assert repr(twin.get_params()["students"][0]) == "MLPStudent(hidden_sizes=(4,))"
    twin.set_params(eta=0.5, learning_rate=0.2)
    assert (twin.eta, twin.learning_rate, clf.eta) == (0.5, 0.2, 2.0)


def test_pipeline_passes_n_stages_to_predict(data, teacher):
    X, y = data
    scaler = StandardScaler().fit(X)
    pipe = make_pipeline(scaler, BDistilClassifier(teacher, [MLPStudent((4,))], **FAST))
    # the teacher was fitted on raw X: give it the raw data through its logits
    pipe.fit(X, y, bdistilclassifier__teacher_logits=teacher_logits(teacher, X))
    clf = pipe[-1]
    Xs = scaler.transform(X)
    np.testing.assert_array_equal(pipe.predict(X, n_stages=1), clf.predict(Xs, n_stages=1))
    assert pipe.score(X, y) == clf.score(Xs, y)


def test_grid_search_with_a_frozen_teacher(data, teacher):
    X, y = data
    search = GridSearchCV(
        BDistilClassifier(FrozenEstimator(teacher), [MLPStudent((4,))], **FAST),
        {"learning_rate": [0.3, 1.0]}, cv=2,
    ).fit(X, y)
    assert search.best_params_["learning_rate"] in (0.3, 1.0)
    # the frozen teacher was never refitted
    assert search.best_estimator_.teacher_.estimator is teacher


def _torch_threads(estimator, X, y):
    """A scorer that reports how many intra-op threads torch had during the fit."""
    import torch

    return torch.get_num_threads()


def test_parallel_grid_search_does_not_oversubscribe_the_cores(data, teacher):
    """With joblib's default (loky) backend each worker gets cpu_count // n_jobs
    threads, and torch in the worker keeps to them: the package must not raise
    its own thread count (two workers with two threads each on two cores made a
    search 2.2x slower, docs/user_guide.md)."""
    X, y = data
    search = GridSearchCV(
        BDistilClassifier(FrozenEstimator(teacher), [MLPStudent((4,))], **FAST),
        {"learning_rate": [0.3, 1.0]}, cv=2, n_jobs=2,
        scoring={"threads": _torch_threads, "accuracy": "accuracy"}, refit=False,
    ).fit(X, y)
    assert search.cv_results_["mean_test_threads"].max() <= max(1, joblib.cpu_count() // 2)


def test_grid_search_slices_precomputed_teacher_logits(data, teacher):
    X, y = data
    G = teacher_logits(teacher, X)
    search = GridSearchCV(BDistilClassifier(FrozenEstimator(teacher), [MLPStudent((4,))],
                                            **FAST),
                          {"eta": [0.5, 2.0]}, cv=3)
    search.fit(X, y, teacher_logits=G)
    assert set(search.cv_results_["param_eta"]) == {0.5, 2.0}


def test_grid_search_with_metadata_routing(data, teacher):
    X, y = data
    G = teacher_logits(teacher, X)
    with sklearn.config_context(enable_metadata_routing=True):
        est = BDistilClassifier(FrozenEstimator(teacher), [MLPStudent((4,))], **FAST)
        est.set_fit_request(teacher_logits=True)
        search = GridSearchCV(est, {"eta": [1.0]}, cv=2).fit(X, y, teacher_logits=G)
    assert search.best_estimator_.n_estimators_ >= 1


@pytest.mark.parametrize("dump, load", [(pickle.dumps, pickle.loads),
                                        ("joblib", "joblib")])
def test_pickle_round_trip_gives_identical_predictions(data, teacher, tmp_path, dump, load):
    X, _ = data
    clf = BDistilClassifier(teacher, [MLPStudent((4,)), Conv1dStudent(n_channels=2,
                                                                      kernel_size=3)],
                            **FAST).fit(X)
    if dump == "joblib":
        joblib.dump(clf, tmp_path / "model.joblib")
        again = joblib.load(tmp_path / "model.joblib")
    else:
        again = load(dump(clf))
    np.testing.assert_array_equal(again.decision_function(X), clf.decision_function(X))
    np.testing.assert_array_equal(again.predict(X), clf.predict(X))
    for a, b in zip(again.staged_predict_proba(X), clf.staged_predict_proba(X), strict=True):
        np.testing.assert_array_equal(a, b)


def test_integer_labels_that_are_not_zero_based(data):
    X, y = data
    from sklearn.linear_model import LogisticRegression

    y = np.array([10, 20, 30])[y]
    clf = BDistilClassifier(LogisticRegression(), [MLPStudent((4,))], **FAST).fit(X, y)
    np.testing.assert_array_equal(clf.classes_, [10, 20, 30])
    assert set(clf.predict(X)) <= {10, 20, 30}
