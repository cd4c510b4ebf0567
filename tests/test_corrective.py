"""The corrective step (``corrective_epochs``): kept stages trained again, together."""

import numpy as np
import pytest
import torch

from conftest import FAST
from sklearn_bdistil import BDistilClassifier, BDistilRegressor, MLPStudent
from sklearn_bdistil._corrective import prefix_outputs

SETTINGS = {**FAST, "n_estimators": 4, "max_epochs": 5, "corrective_epochs": 3,
            "corrective_lr": 0.01}


def _params(module):
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def test_a_kept_step_moves_earlier_stages_and_every_prefix_stays_consistent(
        data, teacher, capsys):
    X, y = data
    plain = BDistilClassifier(teacher, [MLPStudent((4,))],
                              **{**SETTINGS, "corrective_epochs": 0}).fit(X, y)
    clf = BDistilClassifier(teacher, [MLPStudent((4,))], verbose=1, **SETTINGS).fit(X, y)
    out = capsys.readouterr().out
    assert "corrective step at rate" in out
    assert clf.n_estimators_ >= 2
    # the first round is the same in both fits; later corrective steps moved its student
    assert not torch.equal(_params(plain.estimators_[0]), _params(clf.estimators_[0]))
    # the recorded losses are those of the final model's prefixes (checked exactly
    # in the next test); staged prediction runs the corrected stages
    assert np.isfinite(clf.validation_loss_).all()
    staged = list(clf.staged_decision_function(X))
    assert len(staged) == clf.n_estimators_
    np.testing.assert_allclose(staged[-1], clf.decision_function(X), rtol=1e-5, atol=1e-5)


def test_without_held_out_rows_the_training_losses_are_the_prefixes(data, teacher):
    X, _ = data
    clf = BDistilClassifier(teacher, [MLPStudent((4,))], validation_fraction=None,
                            **SETTINGS).fit(X)
    G = torch.as_tensor(clf._teacher_target(X), dtype=torch.float32)
    Xt = torch.as_tensor(X)
    stages = list(zip(clf.estimators_, clf.connections_, strict=True))
    prefixes, _ = prefix_outputs(stages, list(clf.estimator_weights_), Xt, 512, False)
    from sklearn_bdistil._loss import distillation_loss
    want = [float(distillation_loss(F.double(), G.double())) for F in prefixes]
    np.testing.assert_allclose(clf.train_loss_[1:], want, rtol=1e-4)


def test_warm_start_and_checkpoint_resume_equal_one_fit(data, teacher, tmp_path):
    X, y = data
    whole = BDistilClassifier(teacher, [MLPStudent((4,))], **SETTINGS).fit(X, y)
    warm = BDistilClassifier(teacher, [MLPStudent((4,))], warm_start=True,
                             **{**SETTINGS, "n_estimators": 2}).fit(X, y)
    warm.set_params(n_estimators=SETTINGS["n_estimators"]).fit(X, y)
    np.testing.assert_allclose(warm.decision_function(X), whole.decision_function(X),
                               rtol=1e-5, atol=1e-5)
    first = BDistilClassifier(teacher, [MLPStudent((4,))], checkpoint_dir=tmp_path,
                              **{**SETTINGS, "n_estimators": 2}).fit(X, y)
    assert first.n_estimators_ == 2
    resumed = BDistilClassifier(teacher, [MLPStudent((4,))], checkpoint_dir=tmp_path,
                                **SETTINGS).fit(X, y)
    np.testing.assert_allclose(resumed.decision_function(X), whole.decision_function(X),
                               rtol=1e-5, atol=1e-5)


def test_connected_stages_and_the_regressor(data, teacher):
    X, y = data
    clf = BDistilClassifier(teacher, [MLPStudent((4,))], connection="gru",
                            **SETTINGS).fit(X, y)
    assert clf.n_estimators_ >= 2
    assert np.isfinite(clf.decision_function(X)).all()
    from sklearn.linear_model import Ridge
    target = X @ np.arange(X.shape[1], dtype=np.float32)
    reg = BDistilRegressor(Ridge().fit(X, target), [MLPStudent((4,))],
                           **SETTINGS).fit(X, target)
    assert reg.score(X, target) > 0.5


@pytest.mark.parametrize("params, match", [
    ({"corrective_epochs": -1}, "corrective_epochs"),
    ({"corrective_epochs": 1.5}, "corrective_epochs"),
    ({"corrective_lr": 0.0}, "corrective_lr"),
])
def test_bad_settings_are_refused(data, teacher, params, match):
    X, y = data
    with pytest.raises(ValueError, match=match):
        BDistilClassifier(teacher, **{**FAST, **params}).fit(X, y)


@pytest.mark.gpu
def test_on_cuda(data, teacher):
    X, y = data
    clf = BDistilClassifier(teacher, [MLPStudent((4,))], device="cuda", **SETTINGS).fit(X, y)
    assert clf.n_estimators_ >= 2
    assert all(next(m.parameters()).device.type == "cpu" for m in clf.estimators_)
    assert np.isfinite(clf.decision_function(X)).all()
