"""FIND_WL's optimizer and its ``weight_decay``, and the label-trained loop's."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.utils._param_validation import InvalidParameterError
from torch.nn import functional as F

from conftest import FAST
from sklearn_bdistil import BDistilClassifier, BDistilRegressor, MLPStudent
from sklearn_bdistil._label_trained import train_plain
from sklearn_bdistil.students._base import build_student

MADE = []


class _RecordingAdamW(torch.optim.AdamW):
    """AdamW that records the keyword arguments it is built with."""

    def __init__(self, params, **kwargs):
        MADE.append(kwargs)
        super().__init__(params, **kwargs)


class _NoDecay(torch.optim.SGD):
    def __init__(self, params, lr):
        super().__init__(params, lr=lr)


@pytest.fixture
def small():
    rng = np.random.RandomState(0)
    X = rng.randn(120, 4).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, y, LogisticRegression().fit(X, y)


def test_defaults_are_adam_without_decay():
    # AdamW with weight_decay=0.1 won on Fashion-MNIST only (docs/results.md)
    for est in (BDistilClassifier(None), BDistilRegressor(None)):
        params = est.get_params()
        assert params["optimizer"] is torch.optim.Adam and params["weight_decay"] == 0.0


@pytest.mark.parametrize("weight_decay", [0.1, 0.03, 0.0])
def test_weight_decay_reaches_every_round_s_optimizer(small, weight_decay):
    X, y, teacher = small
    MADE.clear()
    clf = BDistilClassifier(teacher, [MLPStudent((4,))], optimizer=_RecordingAdamW,
                            weight_decay=weight_decay, **dict(FAST, n_estimators=2)).fit(X, y)
    assert len(MADE) >= clf.n_estimators_ >= 1
    for kwargs in MADE:
        assert kwargs["lr"] == clf.lr
        # not passed at 0: an optimizer without the argument still works there
        assert kwargs.get("weight_decay", "absent") == (weight_decay or "absent")


def test_decay_shrinks_the_students_weights(small):
    X, y, teacher = small
    norms = []
    for wd in (0.0, 1.0):
        clf = BDistilClassifier(teacher, [MLPStudent((4,))], n_estimators=1,
                                optimizer=torch.optim.AdamW, weight_decay=wd,
                                random_state=0, max_epochs=10).fit(X, y)
        norms.append(sum(float(p.detach().norm()) for p in clf.estimators_[0].parameters()))
    assert norms[1] < norms[0]


def test_optimizer_without_weight_decay_is_refused_by_name(small):
    X, y, teacher = small
    with pytest.raises(TypeError, match="takes no weight_decay argument.*weight_decay=0"):
        BDistilClassifier(teacher, optimizer=_NoDecay, weight_decay=0.1, **FAST).fit(X, y)
    clf = BDistilClassifier(teacher, optimizer=_NoDecay, weight_decay=0,
                            **dict(FAST, n_estimators=1)).fit(X, y)
    assert clf.n_estimators_ == 1


def test_negative_weight_decay_is_a_parameter_error(small):
    X, y, teacher = small
    with pytest.raises(InvalidParameterError, match="weight_decay"):
        BDistilClassifier(teacher, weight_decay=-0.1).fit(X, y)


def test_label_trained_loop_takes_the_same_optimizer():
    X = np.random.RandomState(0).randn(40, 3).astype(np.float32)
    y = torch.as_tensor(np.arange(40) % 2)
    MADE.clear()
    train_plain(build_student(MLPStudent((4,)), 3, 2, 0), X, y, F.cross_entropy, epochs=1,
                batch_size=20, lr=0.03, seed=0, lr_schedule="constant",
                optimizer=_RecordingAdamW, weight_decay=0.1)
    assert MADE == [{"lr": 0.03, "weight_decay": 0.1}]
