import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from torch import nn

from conftest import FAST
from sklearn_bdistil import (
    BDistilClassifier,
    EarlyStoppingWarning,
    FitInterruptedWarning,
    MLPStudent,
)
from sklearn_bdistil._teacher import teacher_logits


def test_fit_sets_the_documented_attributes(data, teacher):
    X, y = data
    clf = BDistilClassifier(teacher, [MLPStudent((4,)), MLPStudent((8,))], **FAST).fit(X)
    n = clf.n_estimators_
    assert 1 <= n <= 3 and len(clf.estimators_) == n
    assert clf.n_features_in_ == 8
    np.testing.assert_array_equal(clf.classes_, teacher.classes_)
    for name in ("estimator_weights_", "edges_", "student_indices_", "stage_costs_",
                 "cumulative_costs_", "stage_params_"):
        assert getattr(clf, name).shape == (n,), name
    assert clf.train_loss_.shape == clf.validation_loss_.shape == (n + 1,)
    assert (clf.estimator_weights_ > 0).all()
    assert (clf.edges_ >= clf.gamma).all()
    np.testing.assert_allclose(clf.cumulative_costs_, np.cumsum(clf.stage_costs_))
    assert clf.stage_costs_[0] == 2 * (8 * 4 + 4 * 3)
    assert clf.teacher_cost_ == 2 * 8 * 3  # a logistic regression: a multiply-add per weight
    assert all(not m.training for m in clf.estimators_)


def test_every_kept_stage_lowers_the_held_out_loss(data, teacher):
    X, _ = data
    # the acceptance rule (the final corrective step rewrites the losses as those of
    # the corrected prefixes, which need not decrease: tests/test_corrective.py)
    clf = BDistilClassifier(teacher, [MLPStudent((8,))],
                            **{**FAST, "n_estimators": 5, "final_corrective_epochs": 0})
    clf.fit(X)
    assert clf.n_estimators_ >= 2
    assert np.all(np.diff(clf.validation_loss_) < 0)
    assert clf.validation_loss_[-1] < 0.5 * clf.validation_loss_[0]


def test_distilled_ensemble_agrees_with_the_teacher(data, teacher):
    X, y = data
    clf = BDistilClassifier(teacher, [MLPStudent((16,))], n_estimators=4, max_epochs=20,
                            random_state=0).fit(X)
    assert (clf.predict(X) == teacher.predict(X)).mean() > 0.9
    assert clf.score(X, y) > teacher.score(X, y) - 0.1


def test_prediction_methods_are_consistent(data, teacher):
    X, _ = data
    clf = BDistilClassifier(teacher, [MLPStudent((4,))], **FAST).fit(X)
    F = clf.decision_function(X)
    P = clf.predict_proba(X)
    assert F.shape == P.shape == (len(X), 3)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    np.testing.assert_allclose(P, np.exp(F) / np.exp(F).sum(1, keepdims=True), rtol=1e-6)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[F.argmax(1)])
    staged = list(clf.staged_decision_function(X))
    assert len(staged) == clf.n_estimators_
    for k, (Fk, Pk, yk) in enumerate(zip(staged, clf.staged_predict_proba(X),
                                         clf.staged_predict(X), strict=True)):
        np.testing.assert_allclose(Fk, clf.decision_function(X, n_stages=k + 1))
        np.testing.assert_allclose(Pk, clf.predict_proba(X, n_stages=k + 1))
        np.testing.assert_array_equal(yk, clf.predict(X, n_stages=k + 1))
    np.testing.assert_allclose(staged[-1], F)
    # the first stage alone is a_1 * f_1
    with torch.no_grad():
        f1 = clf.estimators_[0](torch.as_tensor(X)).double().numpy()
    np.testing.assert_allclose(staged[0], clf.estimator_weights_[0] * f1, rtol=1e-5,
                               atol=1e-6)


class _CountingStudent(nn.Module):
    calls = 0

    def __init__(self, n_in, n_out):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)

    def forward(self, x):
        if not self.training:
            type(self).calls += 1
        return self.linear(x)


def test_staged_prediction_evaluates_each_student_once(data, teacher):
    X, _ = data
    clf = BDistilClassifier(teacher, [_CountingStudent], **FAST).fit(X)
    _CountingStudent.calls = 0
    for _ in clf.staged_predict_proba(X):
        pass
    assert _CountingStudent.calls == clf.n_estimators_  # one batch per student


def test_binary_problems_give_one_dimensional_decisions(data):
    X, y = data
    y = np.where(y == 0, "cat", "dog")
    teacher = LogisticRegression().fit(X, y)
    clf = BDistilClassifier(teacher, [MLPStudent((4,))], **FAST).fit(X, y)
    assert clf.decision_function(X).shape == (len(X),)
    assert set(clf.predict(X)) <= {"cat", "dog"}
    P = clf.predict_proba(X)
    d = clf.decision_function(X)
    np.testing.assert_allclose(P[:, 1], 1 / (1 + np.exp(-d)), rtol=1e-6)


def test_string_labels_and_an_unfitted_teacher(data):
    X, y = data
    labels = np.array(["low", "mid", "high"])[y]
    clf = BDistilClassifier(LogisticRegression(), [MLPStudent((4,))], **FAST)
    clf.fit(X, labels)
    np.testing.assert_array_equal(clf.classes_, ["high", "low", "mid"])
    assert clf.teacher_ is not clf.teacher
    assert set(clf.predict(X)) <= set(labels)


def test_precomputed_teacher_logits_give_the_same_fit(data, teacher):
    X, _ = data
    a = BDistilClassifier(teacher, [MLPStudent((4,))], **FAST).fit(X)
    b = BDistilClassifier(teacher, [MLPStudent((4,))], **FAST).fit(
        X, teacher_logits=teacher_logits(teacher, X))
    np.testing.assert_allclose(a.decision_function(X), b.decision_function(X), rtol=1e-5)


def test_same_seed_same_model_different_seed_different_model(data, teacher):
    X, _ = data
    make = lambda seed: BDistilClassifier(  # noqa: E731
        teacher, [MLPStudent((4,))], **{**FAST, "random_state": seed}).fit(X)
    np.testing.assert_array_equal(make(3).decision_function(X), make(3).decision_function(X))
    assert not np.allclose(make(3).decision_function(X), make(4).decision_function(X))


class _ZeroStudent(nn.Module):
    """Outputs exactly zero: its edge is 0, so it never is a weak learner."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)

    def forward(self, x):
        return 0.0 * self.linear(x)


def test_escalates_to_the_next_student_class_and_never_back(data, teacher):
    X, _ = data
    clf = BDistilClassifier(teacher, [_ZeroStudent, MLPStudent((4,))],
                            **{**FAST, "gamma": 0.01}).fit(X)
    assert clf.n_estimators_ >= 1
    assert (clf.student_indices_ == 1).all()


def test_stops_early_with_a_warning_when_no_class_is_a_weak_learner(data, teacher):
    X, _ = data
    clf = BDistilClassifier(teacher, [_ZeroStudent], **{**FAST, "gamma": 0.01})
    with pytest.warns(EarlyStoppingWarning, match="weak-learning edge"):
        clf.fit(X)
    assert clf.n_estimators_ == 0
    # the empty ensemble would answer classes_[0] for every row: it refuses
    with pytest.raises(NotFittedError, match="kept no stage"):
        clf.predict_proba(X[:3])


class _CountedMLPStudent(MLPStudent):
    built = 0

    def __call__(self, n_in, n_out):
        type(self).built += 1
        return super().__call__(n_in, n_out)


def test_a_gamma_out_of_reach_stops_before_training_and_says_why(data, teacher):
    """No edge exceeds sum|K+ - K-| (about 0.08 at eta=0.1): the message names
    gamma and eta rather than asking for larger students."""
    X, _ = data
    _CountedMLPStudent.built = 0
    clf = BDistilClassifier(teacher, [_CountedMLPStudent((4,))],
                            **{**FAST, "eta": 0.1, "gamma": 0.2})
    with pytest.warns(EarlyStoppingWarning, match=r"gamma=0.2 is out of reach.*eta=0.1"):
        clf.fit(X)
    assert clf.n_estimators_ == 0 and _CountedMLPStudent.built == 0


def test_stops_after_n_iter_no_change_rejected_rounds(data, teacher):
    X, _ = data
    # gamma=-1 accepts any edge; a student that outputs zeros never lowers the loss
    clf = BDistilClassifier(teacher, [_ZeroStudent], **{**FAST, "gamma": -1.0,
                                                        "n_iter_no_change": 2})
    with pytest.warns(EarlyStoppingWarning, match="2 rounds in a row"):
        clf.fit(X)
    assert clf.n_estimators_ == 0


class _InterruptingStudent(nn.Module):
    """Raises KeyboardInterrupt while training once ``built`` reaches ``stop_at``."""

    built = 0
    stop_at = 3

    def __init__(self, n_in, n_out):
        super().__init__()
        type(self).built += 1
        self.interrupt = type(self).built >= self.stop_at
        self.linear = nn.Linear(n_in, n_out)

    def forward(self, x):
        if self.training and self.interrupt:
            raise KeyboardInterrupt
        return self.linear(x)


def test_interrupted_fit_keeps_the_completed_stages(data, teacher):
    X, _ = data
    _InterruptingStudent.built = 0
    clf = BDistilClassifier(teacher, [_InterruptingStudent],
                            **{**FAST, "n_estimators": 5, "validation_fraction": None})
    with pytest.warns(FitInterruptedWarning, match="keeping the 2 completed stages"):
        clf.fit(X)
    assert clf.n_estimators_ == 2
    assert len(list(clf.staged_predict(X))) == 2


class _Flat(nn.Module):
    """Outputs zeros whatever it learns: its edge is 0, below any positive gamma."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.n_out = n_out

    def forward(self, x):
        return x.new_zeros(x.shape[0], self.n_out) * self.w


def test_verbose_prints_a_legend_then_the_header_then_full_student_names(data, teacher,
                                                                          capsys):
    X, _ = data
    long_name = MLPStudent((4,), activation="tanh", dropout=0.1)
    BDistilClassifier(teacher, [_Flat, long_name], verbose=1,
                      **{**FAST, "gamma": 0.01}).fit(X)
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.lstrip().startswith("stage"))
    escalation = next(i for i, line in enumerate(lines) if "escalating" in line)
    assert header < escalation  # the header comes first, whatever prints in round 1
    assert any(line.startswith("edge:") for line in lines[:header])  # the legend explains
    assert "train/valid KD" in "".join(lines[:header])
    stages = [line for line in lines if line.strip()[:1].isdigit()]
    assert stages and all(repr(long_name) in line for line in stages)  # never cut
    assert repr(MLPStudent()) == "MLPStudent(hidden_sizes=(16,))"  # the width, always


def test_verbose_2_shows_a_progress_bar_per_round(data, teacher, capsys):
    X, _ = data
    BDistilClassifier(teacher, [MLPStudent((4,))], verbose=2, **FAST).fit(X)
    err = capsys.readouterr().err
    assert "MLPStudent(hidden_sizes=(4,))" in err and "epoch" in err


def test_fit_without_validation_uses_the_training_loss(data, teacher):
    X, _ = data
    clf = BDistilClassifier(teacher, [MLPStudent((4,))],
                            **{**FAST, "validation_fraction": None}).fit(X)
    assert np.isnan(clf.validation_loss_).all()
    assert np.all(np.diff(clf.train_loss_) < 0)


def test_no_warnings_on_a_normal_fit(data, teacher):
    X, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        BDistilClassifier(teacher, [MLPStudent((4,))], **FAST).fit(X).predict(X)
