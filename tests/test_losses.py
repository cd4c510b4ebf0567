"""The loss objects of the boosting loop (``_losses``) and the squared-error pieces."""

import numpy as np
import pytest
import torch

from sklearn_bdistil._loss import DistillationCriterion, SquaredErrorCriterion, pack_targets
from sklearn_bdistil._losses import DistillationLoss, SquaredErrorLoss
from sklearn_bdistil._step import closed_form_step


def _tensors(seed=0, n=200, m=3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, m, generator=g), torch.randn(n, m, generator=g)


def test_squared_error_residual_is_scaled_per_output():
    target, F = _tensors()
    target[:, 1] *= 1000.0  # one output on another scale must not take all the weight
    R, scale = SquaredErrorLoss(0.1, 0.1).residual(target, F * 0.0)
    assert scale == 1.0
    np.testing.assert_allclose(R.std(dim=0, unbiased=False).numpy(), 1.0, rtol=1e-5)


def test_a_matched_output_gets_no_weight_and_all_matched_stops():
    target, F = _tensors()
    F[:, 0] = target[:, 0]
    R, scale = SquaredErrorLoss(0.1, 0.1).residual(target, F)
    assert scale == 1.0 and torch.all(R[:, 0] == 0)
    _, scale = SquaredErrorLoss(0.1, 0.1).residual(target, target.clone())
    assert scale == 0.0


def test_closed_form_step_is_the_minimiser():
    target, F = _tensors()
    f = (target - F) * 0.3 + 0.05 * torch.randn_like(F)
    a = closed_form_step(F, f, target)
    loss = SquaredErrorLoss(0.1, 0.1)
    best = loss.evaluate(F + a * f, target)
    for other in (a * 0.9, a * 1.1):
        assert loss.evaluate(F + other * f, target) > best
    assert closed_form_step(F, -f, target) == 0.0  # moving against it never helps
    assert closed_form_step(F, torch.zeros_like(f), target) == 0.0


def test_criteria_are_the_losses_plus_the_barrier():
    target, F = _tensors()
    f = torch.randn_like(F)
    D = torch.zeros_like(F)  # no weight: the barrier is 0
    packed = pack_targets(target, F, D)
    mse = SquaredErrorCriterion(barrier_strength=1.0)(f, packed)
    assert float(mse) == pytest.approx(float(((F + f - target) ** 2).mean()), rel=1e-6)
    kd = DistillationCriterion(temperature=2.0, barrier_strength=1.0)(f, packed)
    assert float(kd) == pytest.approx(
        DistillationLoss(2.0, 1.0, 0.1).evaluate(F + f, target), rel=1e-5)


def test_the_criterion_each_loss_hands_find_wl():
    assert SquaredErrorLoss(0.2, 0.3).criterion() == (
        SquaredErrorCriterion, {"barrier_strength": 0.2, "barrier_delta": 0.3})
    cls, kwargs = DistillationLoss(1.5, 0.2, 0.3).criterion()
    assert cls is DistillationCriterion and kwargs["temperature"] == 1.5
    assert np.isnan(SquaredErrorLoss(0.1, 0.1).evaluate(torch.zeros(0, 2), torch.zeros(0, 2)))
