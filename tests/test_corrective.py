"""The corrective steps (``corrective_epochs``, ``final_corrective_epochs``): kept stages
trained again, together."""

import numpy as np
import pytest
import torch

from conftest import FAST
from sklearn_bdistil import BDistilClassifier, BDistilRegressor, MLPStudent
from sklearn_bdistil._corrective import prefix_outputs
from sklearn_bdistil.exceptions import FitInterruptedWarning

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


FINAL = {**FAST, "n_estimators": 3, "max_epochs": 5, "final_corrective_epochs": 4,
         "corrective_lr": 0.01}


def _fit(teacher, X, y, **params):
    return BDistilClassifier(teacher, [MLPStudent((4,))], **{**FINAL, **params}).fit(X, y)


def test_the_final_step_corrects_every_stage_once_without_moving_the_rounds(
        data, teacher, capsys):
    X, y = data
    plain = _fit(teacher, X, y, final_corrective_epochs=0)
    final = _fit(teacher, X, y, verbose=1)
    out = capsys.readouterr().out
    assert out.count("final step at rate 0.01, 4 epochs") == 1
    assert "corrective step" not in out
    assert final.n_estimators_ == plain.n_estimators_ >= 2
    # the rounds are the same fit (the step draws from a copy of the random state)...
    np.testing.assert_array_equal(final.estimator_weights_, plain.estimator_weights_)
    assert all(a.rng_state[1].tolist() == b.rng_state[1].tolist() for a, b in
               zip(final._round_records, plain._round_records, strict=True))
    assert final._rng.get_state()[1].tolist() == plain._rng.get_state()[1].tolist()
    # ...and the kept step moved every student and lowered the held-out mean prefix loss
    assert all(not torch.equal(_params(a), _params(b))
               for a, b in zip(final.estimators_, plain.estimators_, strict=True))
    assert final.validation_loss_[1:].mean() < plain.validation_loss_[1:].mean()
    staged = list(final.staged_decision_function(X))
    np.testing.assert_allclose(staged[-1], final.decision_function(X), rtol=1e-5, atol=1e-5)


def test_the_final_step_runs_after_a_callback_stop_and_not_after_ctrl_c(data, teacher):
    X, y = data
    plain = _fit(teacher, X, y, final_corrective_epochs=0)

    def stop_after_two(est, info):
        return info["stage"] == 2

    with pytest.warns(FitInterruptedWarning, match="after stage 2"):
        stopped = _fit(teacher, X, y, stage_callback=stop_after_two)
    assert stopped.n_estimators_ == 2
    assert not torch.equal(_params(stopped.estimators_[0]), _params(plain.estimators_[0]))

    def ctrl_c_after_two(est, info):
        if info["stage"] == 2:
            raise KeyboardInterrupt

    with pytest.warns(FitInterruptedWarning, match="without the final corrective step"):
        interrupted = _fit(teacher, X, y, stage_callback=ctrl_c_after_two)
    assert interrupted.n_estimators_ == 2
    assert torch.equal(_params(interrupted.estimators_[0]), _params(plain.estimators_[0]))


def test_the_final_step_leaves_a_single_stage_as_trained(data, teacher, capsys):
    X, y = data  # nothing between stages to correct: one stage is FIND_WL's student
    plain = _fit(teacher, X, y, n_estimators=1, final_corrective_epochs=0)
    single = _fit(teacher, X, y, n_estimators=1, verbose=1)
    assert "final step" not in capsys.readouterr().out
    assert torch.equal(_params(single.estimators_[0]), _params(plain.estimators_[0]))


def test_a_final_step_interrupted_keeps_the_stages_and_a_resume_runs_it(
        data, teacher, tmp_path, monkeypatch):
    X, y = data
    whole = _fit(teacher, X, y)
    plain = _fit(teacher, X, y, final_corrective_epochs=0)
    import sklearn_bdistil._base as base

    original = base.corrective_step

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(base, "corrective_step", ctrl_c)
    with pytest.warns(FitInterruptedWarning, match="in the final corrective step"):
        cut = _fit(teacher, X, y, checkpoint_dir=tmp_path)
    np.testing.assert_allclose(cut.decision_function(X), plain.decision_function(X),
                               rtol=1e-6, atol=1e-6)
    monkeypatch.setattr(base, "corrective_step", original)
    resumed = _fit(teacher, X, y, checkpoint_dir=tmp_path)
    np.testing.assert_allclose(resumed.decision_function(X), whole.decision_function(X),
                               rtol=1e-5, atol=1e-5)
    # the directory now records the step: resuming again changes nothing
    again = _fit(teacher, X, y, checkpoint_dir=tmp_path)
    np.testing.assert_allclose(again.decision_function(X), whole.decision_function(X),
                               rtol=1e-5, atol=1e-5)


def test_a_warm_start_continues_the_rounds_and_equals_one_fit(data, teacher):
    X, y = data
    whole = _fit(teacher, X, y)
    clf = _fit(teacher, X, y, warm_start=True, n_estimators=2)
    before = clf.decision_function(X)
    clf.fit(X, y)  # nothing to add: the same model
    np.testing.assert_allclose(clf.decision_function(X), before, rtol=1e-6, atol=1e-6)
    # the rounds continue from the stages before the step; all are corrected at the end
    clf.set_params(n_estimators=3).fit(X, y)
    assert clf.n_estimators_ == 3
    np.testing.assert_allclose(clf.decision_function(X), whole.decision_function(X),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(clf.validation_loss_, whole.validation_loss_, rtol=1e-6)


def test_the_final_step_of_the_regressor(data, teacher):
    X, _ = data
    from sklearn.linear_model import Ridge
    target = X @ np.arange(X.shape[1], dtype=np.float32)
    ridge = Ridge().fit(X, target)
    params = {**FINAL, "students": [MLPStudent((4,))]}
    plain = BDistilRegressor(ridge, **{**params, "final_corrective_epochs": 0}).fit(X, target)
    reg = BDistilRegressor(ridge, **params).fit(X, target)
    assert reg.validation_loss_[1:].mean() < plain.validation_loss_[1:].mean()
    assert reg.score(X, target) > 0.5


@pytest.mark.parametrize("params, match", [
    ({"final_corrective_epochs": -1}, "final_corrective_epochs"),
    ({"final_corrective_epochs": 2.0}, "final_corrective_epochs"),
    ({"corrective_epochs": -1}, "corrective_epochs"),
    ({"corrective_epochs": 1.5}, "corrective_epochs"),
    ({"corrective_lr": 0.0}, "corrective_lr"),
])
def test_bad_settings_are_refused(data, teacher, params, match):
    X, y = data
    with pytest.raises(ValueError, match=match):
        BDistilClassifier(teacher, **{**FAST, **params}).fit(X, y)


@pytest.mark.gpu
@pytest.mark.parametrize("settings", [SETTINGS, FINAL], ids=["each stage", "final"])
def test_on_cuda(data, teacher, settings):
    X, y = data
    clf = BDistilClassifier(teacher, [MLPStudent((4,))], device="cuda", **settings).fit(X, y)
    assert clf.n_estimators_ >= 2
    assert all(next(m.parameters()).device.type == "cpu" for m in clf.estimators_)
    assert np.isfinite(clf.decision_function(X)).all()


@pytest.mark.parametrize("decay", [0.0, 0.5])
def test_corrective_weight_decay_trains_the_step_with_adamw(data, teacher, monkeypatch, decay):
    X, y = data
    built = []

    class RecordingAdamW(torch.optim.AdamW):
        def __init__(self, params, **kwargs):
            built.append(kwargs)
            super().__init__(params, **kwargs)

    monkeypatch.setattr(torch.optim, "AdamW", RecordingAdamW)
    clf = BDistilClassifier(teacher, [MLPStudent((4,))], corrective_weight_decay=decay,
                            **{**SETTINGS, "corrective_epochs": 0,
                               "final_corrective_epochs": 2}).fit(X, y)
    assert clf.n_estimators_ >= 2
    # FIND_WL keeps Adam: only the final step builds an AdamW, and only with decay
    assert built == ([{"lr": clf.corrective_lr, "weight_decay": decay}] if decay else [])


@pytest.mark.parametrize("first_kept", [True, False])
def test_auto_decay_retries_the_final_step_with_decay_where_it_was_not_kept(
        data, teacher, monkeypatch, first_kept):
    import sklearn_bdistil._base as base

    X, y = data
    calls, real = [], base.corrective_step

    def recording(*args, weight_decay, **kwargs):
        calls.append(weight_decay)
        if weight_decay == 0 and not first_kept:
            return False, 1.0, 1.0  # as a step that over-fits every epoch
        return real(*args, weight_decay=weight_decay, **kwargs)

    monkeypatch.setattr(base, "corrective_step", recording)
    settings = {**SETTINGS, "corrective_epochs": 0, "final_corrective_epochs": 2}
    assert BDistilClassifier(teacher).corrective_weight_decay == "auto"
    clf = BDistilClassifier(teacher, [MLPStudent((4,))], **settings).fit(X, y)
    assert calls == ([0.0] if first_kept else [0.0, base.AUTO_CORRECTIVE_DECAY])
    # the retry starts from the rounds' stages, not from a failed attempt's
    rounds = [r.module for r in clf._round_records]
    moved = [not torch.equal(_params(a), _params(b))
             for a, b in zip(rounds, clf.estimators_, strict=True)]
    assert any(moved)
    calls.clear()
    BDistilClassifier(teacher, [MLPStudent((4,))], corrective_weight_decay=0.0,
                      **settings).fit(X, y)
    assert calls == [0.0]


def test_negative_corrective_weight_decay_is_refused(data, teacher):
    X, y = data
    with pytest.raises(ValueError, match="corrective_weight_decay"):
        BDistilClassifier(teacher, corrective_weight_decay=-1.0, **FAST).fit(X, y)
