"""Staged prediction: budgeted prefixes, cost attributes, an ensemble without stages."""


import numpy as np
import pytest

from conftest import FAST
from sklearn_bdistil import BDistilClassifier, MLPStudent, early_exit_curve


def test_cost_attributes(fitted):
    n = fitted.n_estimators_
    assert fitted.stage_costs_.dtype == fitted.cumulative_costs_.dtype == np.float64
    assert fitted.stage_latency_.shape == (n, 2)
    assert (fitted.stage_latency_ > 0).all()
    # per row, a large batch is cheaper than one row at a time
    assert (fitted.stage_latency_[:, 1] < fitted.stage_latency_[:, 0]).all()
    expected = [2 * (8 * h + h * 3) for h in np.array([4, 8])[fitted.student_indices_]]
    np.testing.assert_array_equal(fitted.stage_costs_, expected)
    assert list(fitted.stage_params_) == [(8 * h + h) + (h * 3 + 3) for h in
                                          np.array([4, 8])[fitted.student_indices_]]


def test_max_cost_picks_the_longest_prefix_that_fits(data, fitted):
    X, _ = data
    c = fitted.cumulative_costs_
    for k in range(fitted.n_estimators_):
        for budget in (c[k], c[k] + 0.5 * (c[k + 1] - c[k]) if k + 1 < len(c) else 1e12):
            np.testing.assert_array_equal(fitted.predict_proba(X, max_cost=budget),
                                          fitted.predict_proba(X, n_stages=k + 1))
    with pytest.raises(ValueError, match="below the cost of the first stage"):
        fitted.predict(X, max_cost=c[0] - 1)
    with pytest.raises(ValueError, match="not both"):
        fitted.predict(X, n_stages=1, max_cost=c[-1])
    with pytest.raises(ValueError, match="max_cost"):
        fitted.decision_function(X, max_cost=-1.0)


def test_an_ensemble_without_stages_refuses_to_predict(data, teacher):
    """gamma out of reach keeps no stage: the empty ensemble F = 0 would answer
    classes_[0] for every row, so every way to predict raises instead."""
    from sklearn.exceptions import NotFittedError

    from sklearn_bdistil import EarlyStoppingWarning
    from sklearn_bdistil.export import to_torch

    X, y = data
    empty = BDistilClassifier(teacher, [MLPStudent((4,))], **{**FAST, "eta": 0.1, "gamma": 0.5})
    with pytest.warns(EarlyStoppingWarning, match="out of reach"):
        empty.fit(X)
    assert empty.n_estimators_ == 0
    calls = [lambda: empty.predict(X), lambda: empty.predict_proba(X),
             lambda: empty.decision_function(X), lambda: empty.score(X, y),
             lambda: empty.predict(X, n_stages=1), lambda: empty.predict(X, max_cost=1e9),
             lambda: list(empty.staged_predict(X)), lambda: list(empty.staged_predict_proba(X)),
             lambda: list(empty.staged_decision_function(X)),
             lambda: empty.predict_early_exit(X), lambda: early_exit_curve(empty, X, y, [0.5]),
             lambda: to_torch(empty)]
    for call in calls:
        with pytest.raises(NotFittedError, match="kept no stage when it was fitted"):
            call()
