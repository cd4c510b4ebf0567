"""Intermediate connections between students."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import make_circles
from sklearn.neural_network import MLPClassifier
from torch import nn

from conftest import FAST
from sklearn_bdistil import BDistilClassifier, Conv1dStudent, Conv2dStudent, MLPStudent
from sklearn_bdistil._cost import stage_flops
from sklearn_bdistil.export import to_torch
from sklearn_bdistil.students import CONNECTIONS, StudentFactory

CONNECTED = [c for c in CONNECTIONS if c != "none"]


class _Mixed(StudentFactory):
    """One ladder rung whose students alternate in kind and width."""

    calls = 0

    def build(self, n_features_in, n_classes):
        kinds = [MLPStudent((4,)), Conv1dStudent(n_channels=2, n_filters=(6,), kernel_size=3),
                 MLPStudent((7, 5))]
        type(self).calls += 1
        return kinds[type(self).calls % 3].build(n_features_in, n_classes)


def _fit(X, teacher, connection, **params):
    _Mixed.calls = 0
    return BDistilClassifier(teacher, [_Mixed()], connection=connection,
                             **{**FAST, "n_estimators": 4, "gamma": -1.0, **params}).fit(X)


@pytest.mark.parametrize("connection", CONNECTED)
def test_connected_ensembles_fit_stage_and_pickle(data, teacher, connection):
    X, _ = data
    clf = _fit(X, teacher, connection)
    assert clf.n_estimators_ >= 3
    assert clf.connections_[0] is None
    assert all(isinstance(c, nn.Module) for c in clf.connections_[1:])
    staged = list(clf.staged_decision_function(X))
    for k, F in enumerate(staged):
        np.testing.assert_allclose(F, clf.decision_function(X, n_stages=k + 1), rtol=1e-5,
                                   atol=1e-6)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    with torch.no_grad():
        exported = to_torch(clf)(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(exported, np.stack(staged), rtol=1e-4, atol=1e-5)
    # early exit carries the state of the rows still running
    y_pred, used = clf.predict_early_exit(X, threshold=0.8)
    for k in range(1, clf.n_estimators_ + 1):
        rows = used == k
        if rows.any():
            np.testing.assert_array_equal(y_pred[rows], clf.predict(X[rows], n_stages=k))


@pytest.mark.parametrize("connection", CONNECTED)
def test_the_connection_is_counted_in_the_stage_cost(data, teacher, connection):
    X, _ = data
    clf = _fit(X, teacher, connection)
    student, conn = clf.estimators_[1], clf.connections_[1]
    alone = stage_flops(student, None, X.shape[1])
    assert clf.stage_costs_[1] >= alone
    if connection != "residual" or conn.project.__class__ is not nn.Identity:
        assert clf.stage_costs_[1] > alone
    assert clf.stage_params_[1] == (sum(p.numel() for p in student.parameters())
                                    + sum(p.numel() for p in conn.parameters()))


class _Counting(nn.Module):
    """A linear-body student that records when it runs, by build order."""

    built = 0
    log = []

    def __init__(self, n_in, n_out):
        super().__init__()
        type(self).built += 1
        self.index = type(self).built
        self.body, self.head = nn.Linear(n_in, 4), nn.Linear(4, n_out)

    def features(self, x):
        type(self).log.append((self.index, type(self).built))
        return torch.relu(self.body(x))

    def forward(self, x):
        return self.head(self.features(x))


def test_previous_students_are_not_rerun_in_later_rounds(data, teacher, monkeypatch):
    X, _ = data
    _Counting.built, _Counting.log = 0, []
    fitted = BDistilClassifier._set_fitted_stages

    def mark_end_of_rounds(self, *args):  # after it, costs are measured stage by stage
        _Counting.log.append("end of rounds")
        return fitted(self, *args)

    monkeypatch.setattr(BDistilClassifier, "_set_fitted_stages", mark_end_of_rounds)
    # (the final corrective step trains every student again, by design)
    clf = BDistilClassifier(teacher, [_Counting], connection="dense",
                            **{**FAST, "n_estimators": 4, "gamma": -1.0,
                               "final_corrective_epochs": 0}).fit(X)
    assert clf.n_estimators_ >= 3
    rounds = _Counting.log[:_Counting.log.index("end of rounds")]
    # every call of student k happened before student k + 1 was built: later
    # rounds read its cached features instead of running it
    assert rounds and all(built_then == index for index, built_then in rounds)


def test_connections_let_linear_students_express_more():
    X, y = make_circles(n_samples=600, noise=0.05, factor=0.5, random_state=0)
    X = X.astype(np.float32)
    teacher = MLPClassifier((32, 32), max_iter=2000, random_state=0).fit(X, y)
    linear = [MLPStudent(hidden_sizes=())]  # alone, a sum of linear students is linear
    # the first (linear) stage barely helps on circles: accept it on the training loss
    params = dict(n_estimators=6, max_epochs=40, batch_size=64, gamma=-1.0,
                  validation_fraction=None, random_state=0)
    scores = {c: BDistilClassifier(teacher, linear, connection=c, **params).fit(X).score(X, y)
              for c in ("none", "residual", "dense", "gru")}
    # a residual sum of linear maps is still linear; dense and GRU compose non-linearly
    assert scores["none"] < 0.6 and scores["residual"] < 0.6
    assert scores["dense"] > 0.95 and scores["gru"] > 0.95


def test_a_custom_connection(data, teacher):
    X, _ = data

    class Gate(nn.Module):
        def __init__(self, body_width, prev_width):
            super().__init__()
            self.gate = nn.Linear(prev_width, body_width)

        def forward(self, z, h_prev):
            return z * torch.sigmoid(self.gate(h_prev))

    clf = BDistilClassifier(teacher, [MLPStudent((4,))], connection=Gate,
                            **{**FAST, "gamma": -1.0}).fit(X)
    assert isinstance(clf.connections_[1].module, Gate)
    assert np.isfinite(clf.predict_proba(X)).all()


def test_connections_need_connectable_students(data, teacher):
    X, _ = data
    with pytest.raises(TypeError, match="features"):
        BDistilClassifier(teacher, [lambda n_in, n_out: nn.Linear(n_in, n_out)],
                          connection="gru", **FAST).fit(X)
    with pytest.raises(ValueError, match="connection"):
        BDistilClassifier(teacher, connection="attention", **FAST).fit(X)


def test_warm_start_and_checkpoints_keep_connections(data, teacher, tmp_path):
    X, _ = data
    one_go = _fit(X, teacher, "lstm")
    warm = _fit(X, teacher, "lstm", n_estimators=2, warm_start=True)
    warm.set_params(n_estimators=4).fit(X)
    np.testing.assert_array_equal(warm.decision_function(X), one_go.decision_function(X))
    _fit(X, teacher, "lstm", n_estimators=2, checkpoint_dir=tmp_path)
    resumed = _fit(X, teacher, "lstm", checkpoint_dir=tmp_path)
    np.testing.assert_array_equal(resumed.decision_function(X), one_go.decision_function(X))
    with pytest.raises(ValueError, match="connection"):
        _fit(X, teacher, "gru", checkpoint_dir=tmp_path)


def test_conv2d_student_on_digits_rows():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    X, y = load_digits(return_X_y=True)
    X, y = (X / 16).astype(np.float32)[:600], y[:600]
    teacher = LogisticRegression(max_iter=300).fit(X, y)
    clf = BDistilClassifier(teacher, [Conv2dStudent(n_filters=(4, 8))], connection="residual",
                            **{**FAST, "gamma": -1.0, "max_epochs": 10}).fit(X)
    assert clf.n_estimators_ >= 2
    assert clf.score(X, y) > 0.5
    # 3x3 convolutions, stride 2: 8x8 -> 4 maps of 4x4 -> 8 maps of 2x2; then the head
    expected = 2 * (4 * 4 * 4 * 9 * 1 + 2 * 2 * 8 * 9 * 4 + 8 * 10)
    assert clf.stage_costs_[0] == expected
    # equal widths: the residual connection is an identity (its add is element-wise)
    assert clf.stage_costs_[1] == expected
    with pytest.raises(ValueError, match="cannot lay out"):
        Conv2dStudent(n_channels=3)(64, 10)


def test_a_custom_connection_of_the_wrong_width_is_a_clear_error(data, teacher):
    X, _ = data
    class TooWide(nn.Module):
        def __init__(self, body_width, prev_width):
            super().__init__()
            self.linear = nn.Linear(body_width + prev_width, body_width + 1)

        def forward(self, z, h_prev):
            return self.linear(torch.cat([z, h_prev], dim=1))

    with pytest.raises(ValueError, match="to h of width 4"):
        BDistilClassifier(teacher, [MLPStudent((4,))], connection=TooWide,
                          **{**FAST, "gamma": -1.0}).fit(X)
    with pytest.raises(ValueError, match="failed on"):
        BDistilClassifier(teacher, [MLPStudent((4,))],
                          connection=lambda body, prev: nn.Linear(body, body),
                          **{**FAST, "gamma": -1.0}).fit(X)


def test_conv2d_without_height_needs_square_images():
    with pytest.raises(ValueError, match="cannot lay out"):
        Conv2dStudent()(48, 3)
    assert Conv2dStudent(height=6)(48, 3)(torch.zeros(1, 48)).shape == (1, 3)


@pytest.mark.parametrize("connection", ["none", "residual", "lstm"])
def test_fitted_stages_are_in_eval_mode(data, teacher, tmp_path, connection):
    """Dropout students: a stage left in training mode gives random features to
    anyone who calls it directly (the costs' wrapper module used to do that)."""
    X, _ = data
    params = dict(n_estimators=3, gamma=-1.0, connection=connection, checkpoint_dir=tmp_path)
    ladder = [MLPStudent((8,), dropout=0.5)]
    for clf in (BDistilClassifier(teacher, ladder, **{**FAST, **params}).fit(X),
                BDistilClassifier(teacher, ladder, **{**FAST, **params}).fit(X)):  # resumed
        modules = [m for stage in zip(clf.estimators_, clf.connections_, strict=True)
                   for m in stage if m is not None]
        assert clf.n_estimators_ == 3
        assert not any(sub.training for m in modules for sub in m.modules())
        x = torch.as_tensor(X[:5])
        torch.testing.assert_close(clf.estimators_[-1].features(x),
                                   clf.estimators_[-1].features(x))
