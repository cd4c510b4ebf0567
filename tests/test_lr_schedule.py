"""FIND_WL's learning-rate schedule (``lr_schedule``) and the label-trained loop's."""

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from conftest import FAST
from sklearn_bdistil import BDistilClassifier, BDistilRegressor, MLPStudent
from sklearn_bdistil._find_wl import EpochLR, epoch_lr, train_student
from sklearn_bdistil._label_trained import train_plain
from sklearn_bdistil._loss import DistillationCriterion
from sklearn_bdistil.students._base import build_student


def test_cosine_matches_torchs_cosine_annealing():
    lr, n = 0.02, 7
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=n)
    for epoch in range(n):
        assert epoch_lr(lr, "cosine", epoch, n) == pytest.approx(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert epoch_lr(lr, "cosine", 0, n) == lr
    assert 0 < epoch_lr(lr, "cosine", n - 1, n) < lr * (1 - math.cos(math.pi / n))
    assert [epoch_lr(lr, "constant", e, n) for e in range(n)] == [lr] * n
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        epoch_lr(lr, "linear", 0, n)


class _Recorder(torch.optim.SGD):
    """SGD that records the learning rate of every step."""

    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        self.seen = []

    def step(self, closure=None):
        self.seen.append(self.param_groups[0]["lr"])
        return super().step(closure)


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_find_wl_steps_at_the_scheduled_rate_each_epoch(schedule):
    X = torch.randn(64, 4)
    targets = torch.cat([torch.randn(64, 3), torch.zeros(64, 3), torch.randn(64, 3)], dim=1)
    module = build_student(MLPStudent((4,)), 4, 3, 0)
    net = train_student(module, X, targets, criterion=(DistillationCriterion, {}), seed=0,
                        max_epochs=4, batch_size=32, lr=0.1, optimizer=_Recorder,
                        device="cpu", lr_schedule=schedule)
    expected = [epoch_lr(0.1, schedule, e, 4) for e in range(4) for _ in range(2)]
    assert net.optimizer_.seen == pytest.approx(expected)
    assert dict(net.callbacks_)["lr_schedule"].schedule == schedule
    assert isinstance(dict(net.callbacks_)["lr_schedule"], EpochLR)


def test_label_trained_loop_follows_the_same_schedule(monkeypatch):
    recorded = []

    class RecordingAdam(torch.optim.Adam):
        def step(self, closure=None):
            recorded.append(self.param_groups[0]["lr"])
            return super().step(closure)

    monkeypatch.setattr(torch.optim, "Adam", RecordingAdam)
    X, y = np.random.RandomState(0).randn(40, 3).astype(np.float32), np.arange(40) % 2
    module = build_student(MLPStudent((4,)), 3, 2, 0)
    train_plain(module, X, torch.as_tensor(y), F.cross_entropy, epochs=3, batch_size=20,
                lr=0.03, seed=0, lr_schedule="cosine")
    assert recorded == pytest.approx([epoch_lr(0.03, "cosine", e, 3) for e in range(3)
                                      for _ in range(2)])


@pytest.mark.parametrize("Estimator", [BDistilClassifier, BDistilRegressor])
def test_lr_schedule_is_a_checked_parameter(Estimator, data, teacher):
    X, y = data
    if Estimator is BDistilRegressor:
        from sklearn.linear_model import Ridge

        teacher = Ridge().fit(X, y.astype(float))
    assert Estimator(teacher).get_params()["lr_schedule"] == "cosine"
    with pytest.raises(ValueError, match="lr_schedule"):
        Estimator(teacher, lr_schedule="linear", **FAST).fit(X, y)


def test_constant_and_cosine_fits_differ_and_both_are_deterministic(data, teacher):
    X, y = data
    fits = {s: [BDistilClassifier(teacher, lr_schedule=s, **FAST).fit(X, y)
                .decision_function(X) for _ in range(2)] for s in ("constant", "cosine")}
    for a, b in fits.values():
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(fits["constant"][0], fits["cosine"][0])
