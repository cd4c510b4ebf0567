import numpy as np
import pytest
import torch
from scipy.optimize import minimize_scalar

from sklearn_bdistil import BDistilRegressor
from sklearn_bdistil._loss import distillation_loss
from sklearn_bdistil._losses import SquaredErrorLoss
from sklearn_bdistil._step import line_search
from sklearn_bdistil._transfer import Transfer


def test_line_search_recovers_the_exact_step():
    g = torch.Generator().manual_seed(0)
    G = 3 * torch.randn(40, 5, generator=g)
    F = torch.zeros_like(G)
    # the teacher itself, scaled down: the best step scales it back up
    assert line_search(F, G / 4.0, G) == pytest.approx(4.0, rel=1e-4)


@pytest.mark.parametrize("tau", [1.0, 2.5])
def test_line_search_matches_a_scalar_minimiser(tau):
    g = torch.Generator().manual_seed(1)
    G, F = torch.randn(60, 4, generator=g), 0.3 * torch.randn(60, 4, generator=g)
    f = (G - F) + 0.5 * torch.randn(60, 4, generator=g)
    a = line_search(F, f, G, tau)

    def loss(t):
        return float(distillation_loss((F + t * f).double(), G.double(), tau))

    best = minimize_scalar(loss, bounds=(0, 50), method="bounded", options={"xatol": 1e-8})
    assert a == pytest.approx(best.x, rel=1e-3, abs=1e-4)
    assert loss(a) <= loss(0.0)


def test_line_search_is_unbounded_above():
    G = torch.tensor([[1.0, -1.0], [-1.0, 0.5]])
    # within 0.1%: the float32 loss is flat to rounding within 0.03% of the optimum
    assert line_search(torch.zeros_like(G), G * 1e-3, G) == pytest.approx(1000.0, rel=1e-3)


def test_line_search_returns_zero_for_a_useless_direction():
    G = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    F = torch.zeros_like(G)
    assert line_search(F, -G, G) == 0.0
    assert line_search(F, torch.zeros_like(G), G) == 0.0
    assert line_search(F, torch.full_like(G, np.nan), G) == 0.0


@pytest.mark.parametrize("seed", range(20))
def test_line_search_ignores_a_row_constant_direction(seed):
    """Adding a constant to a row leaves its softmax unchanged: the loss is flat along
    such an f, so the step is 0 (not a step chosen by float32 rounding noise), and
    adding such a part to a useful f leaves the step unchanged."""
    g = torch.Generator().manual_seed(seed)
    F, G = torch.randn(300, 4, generator=g), 3 * torch.randn(300, 4, generator=g)
    shift = torch.randn(300, 1, generator=g).expand(300, 4)
    assert line_search(F, shift.contiguous(), G) == 0.0
    f = (G - F) / 3
    assert line_search(F, f + 5 * shift, G) == pytest.approx(line_search(F, f, G), rel=1e-4)


def _round(f, train_step, fv, valid_step):
    """A transfer set whose training rows want ``train_step`` along ``f`` and whose
    held-out rows want ``valid_step`` along ``fv`` (squared error, so exactly)."""
    return Transfer(X=torch.zeros(len(f), 1), G=train_step * f, F=torch.zeros_like(f),
                    Xv=torch.zeros(len(fv), 1), Gv=valid_step * fv, Fv=torch.zeros_like(fv))


@pytest.mark.parametrize("learning_rate", [1.0, 0.5])
def test_a_step_that_overshoots_on_held_out_rows_is_cut_not_rejected(learning_rate):
    g = torch.Generator().manual_seed(0)
    f, fv = torch.randn(50, 2, generator=g), torch.randn(30, 2, generator=g)
    t = _round(f, 4.0, fv, 0.5)
    loss = SquaredErrorLoss(0.1, 0.1)
    empty = loss.evaluate(t.Fv, t.Gv)
    est = BDistilRegressor(None, [], learning_rate=learning_rate)
    # the training step 4 * lr raises the held-out loss; 0.5 * lr lowers it
    assert loss.evaluate(t.Fv + 4.0 * learning_rate * fv, t.Gv) > empty
    a, train_loss, valid_loss = est._step(t, loss, f, fv, 1.0, empty)
    assert a == pytest.approx(0.5 * learning_rate, rel=1e-6)
    assert valid_loss == pytest.approx(loss.evaluate(t.Fv + a * fv, t.Gv))
    assert valid_loss < empty
    assert train_loss == pytest.approx(loss.evaluate(t.F + a * f, t.G))


def test_a_step_that_helps_on_held_out_rows_is_not_cut():
    g = torch.Generator().manual_seed(1)
    f, fv = torch.randn(50, 2, generator=g), torch.randn(30, 2, generator=g)
    t = _round(f, 1.0, fv, 3.0)  # the held-out rows would take a longer step
    loss = SquaredErrorLoss(0.1, 0.1)
    a, _, _ = BDistilRegressor(None, [], learning_rate=1.0)._step(
        t, loss, f, fv, 1.0, loss.evaluate(t.Fv, t.Gv))
    assert a == pytest.approx(1.0, rel=1e-6)


def test_a_stage_that_points_the_wrong_way_on_held_out_rows_is_rejected():
    g = torch.Generator().manual_seed(2)
    f, fv = torch.randn(50, 2, generator=g), torch.randn(30, 2, generator=g)
    t = _round(f, 1.0, fv, -1.0)
    loss = SquaredErrorLoss(0.1, 0.1)
    why = BDistilRegressor(None, [], learning_rate=1.0)._step(
        t, loss, f, fv, 1.0, loss.evaluate(t.Fv, t.Gv))
    assert why == "it does not lower the held-out squared error"
