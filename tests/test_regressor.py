"""BDistilRegressor: the boosting loop of the classifier with the squared error."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import make_regression
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV
from sklearn.multioutput import MultiOutputRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_bdistil import BDistilRegressor, EarlyStoppingWarning, MLPStudent
from sklearn_bdistil.export import to_c, to_torch

FAST = {"n_estimators": 3, "max_epochs": 15, "batch_size": 64, "random_state": 0}


@pytest.fixture(scope="module")
def data():
    X, y = make_regression(n_samples=400, n_features=6, n_informative=4, noise=5.0,
                           random_state=0)
    return X, y * 10 + 500  # far from zero mean and unit scale: the link must undo it


@pytest.fixture(scope="module")
def teacher(data):
    X, y = data
    return HistGradientBoostingRegressor(max_iter=60, random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def fitted(data, teacher):
    X, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EarlyStoppingWarning)
        return BDistilRegressor(teacher, [MLPStudent((8,))], **FAST).fit(X)


def test_stages_approach_the_teacher_and_keep_its_units(fitted, data, teacher):
    X, _ = data
    target = teacher.predict(X)
    scores = [r2_score(target, p) for p in fitted.staged_predict(X)]
    assert len(scores) == fitted.n_estimators_ >= 2
    assert scores[-1] > 0.8 and scores[-1] >= scores[0]
    assert np.all(np.diff(fitted.validation_loss_) < 0)  # every kept stage lowers it
    assert fitted.predict(X).shape == (len(X),)
    assert abs(fitted.predict(X).mean() - target.mean()) < 0.1 * target.std()
    assert fitted.n_outputs_ == 1
    assert fitted.score(X, target) == pytest.approx(scores[-1])


def test_prefixes_by_stage_count_and_by_cost(fitted, data):
    X, _ = data
    staged = list(fitted.staged_predict(X))
    np.testing.assert_allclose(fitted.predict(X, n_stages=1), staged[0], rtol=1e-6)
    budget = fitted.cumulative_costs_[1]
    np.testing.assert_allclose(fitted.predict(X, max_cost=budget), staged[1], rtol=1e-6)
    assert fitted.cumulative_costs_.shape == fitted.stage_costs_.shape == (fitted.n_estimators_,)
    assert fitted.teacher_cost_ > 0


def test_to_torch_returns_predictions_in_the_targets_units(fitted, data):
    X, _ = data
    module = to_torch(fitted)
    with torch.no_grad():
        out = module(torch.as_tensor(X[:20], dtype=torch.float32)).numpy()
    expected = np.stack(list(fitted.staged_predict(X[:20])))
    np.testing.assert_allclose(out[:, :, 0], expected, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("connection", ["none", "gru"])
def test_c_predicts_every_prefix_in_the_targets_units(data, teacher, tmp_path, connection):
    pytest.importorskip("emx_onnx_cgen", reason="pip install 'sklearn-bdistil[c]'")
    from sklearn_bdistil.export import find_c_compiler, run_c

    if find_c_compiler() is None:
        pytest.skip("no C compiler (apt-get install gcc)")
    X, y = data
    Y = np.column_stack([y, -0.01 * y + 3.0])  # two outputs on different scales
    teacher2 = MultiOutputRegressor(Ridge()).fit(X, Y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EarlyStoppingWarning)
        reg = BDistilRegressor(teacher2, [MLPStudent((8,))], connection=connection,
                               **FAST).fit(X)
    to_c(reg, tmp_path)
    header = (tmp_path / "bdistil.h").read_text()
    assert "#define BDISTIL_N_OUTPUTS 2" in header and "bdistil_predict" in header
    assert "BDISTIL_N_CLASSES" not in header and "early_exit" not in header
    import subprocess

    strict = subprocess.run([find_c_compiler(), "-std=c99", "-Wall", "-Wextra", "-pedantic",
                             "-Werror", "-c", "bdistil.c", "-o", "driver.o"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert strict.returncode == 0, strict.stderr  # the package's driver, strictly
    out, _, _ = run_c(tmp_path, X[:50])
    expected = np.stack(list(reg.staged_predict(X[:50])))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-4 * np.abs(expected).max())
    with pytest.raises(ValueError, match="no early exit"):
        run_c(tmp_path, X[:2], thresholds=[0.5])


def test_multi_output_teacher_and_labels(data):
    X, y = data
    Y = np.column_stack([y, -0.01 * y + 3.0])
    teacher = MultiOutputRegressor(Ridge()).fit(X, Y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EarlyStoppingWarning)
        reg = BDistilRegressor(teacher, [MLPStudent((8,))], **FAST).fit(X, Y)
    assert reg.n_outputs_ == 2
    pred = reg.predict(X)
    assert pred.shape == (len(X), 2)
    assert r2_score(Y, pred, multioutput="raw_values").min() > 0.8


def test_an_unfitted_teacher_is_fitted_on_the_labels(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EarlyStoppingWarning)
        reg = BDistilRegressor(make_pipeline(StandardScaler(), Ridge()), [MLPStudent((8,))],
                               **FAST).fit(X, y)
    assert hasattr(reg.teacher_, "predict") and reg.teacher_ is not reg.teacher
    with pytest.raises(ValueError, match="requires y"):
        BDistilRegressor(Ridge(), **FAST).fit(X)


def test_precomputed_predictions_and_torch_teachers(data, teacher):
    X, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EarlyStoppingWarning)
        reg = BDistilRegressor(None, [MLPStudent((8,))], **FAST).fit(
            X, teacher_predictions=teacher.predict(X))
        assert reg.predict(X[:5]).shape == (5,)
        linear = torch.nn.Linear(6, 3)
        reg = BDistilRegressor(linear, [MLPStudent((8,))], **FAST).fit(X)
        assert reg.predict(X[:5]).shape == (5, 3)
    with pytest.raises(ValueError, match="teacher_predictions must have shape"):
        BDistilRegressor(None, **FAST).fit(X, teacher_predictions=np.zeros((3, 1)))
    with pytest.raises(ValueError, match="NaN"):
        BDistilRegressor(None, **FAST).fit(X, teacher_predictions=np.full(len(X), np.nan))
    with pytest.raises(TypeError, match="no predict"):
        BDistilRegressor(object(), **FAST).fit(X)


def test_skorch_regressor_teacher(data):
    from skorch import NeuralNetRegressor

    X, y = data
    X32 = StandardScaler().fit_transform(X).astype(np.float32)
    y32 = ((y - y.mean()) / y.std()).astype(np.float32).reshape(-1, 1)
    net = NeuralNetRegressor(torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(),
                                                 torch.nn.Linear(16, 1)),
                             max_epochs=5, lr=0.05, train_split=None, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EarlyStoppingWarning)
        reg = BDistilRegressor(net, [MLPStudent((8,))], **FAST).fit(X32, y32)
    assert reg.predict(X32[:4]).shape == (4, 1)  # y was 2-D
    assert reg.teacher_cost_ > 0


def test_warm_start_adds_stages_and_keeps_the_prefix(data, teacher):
    X, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EarlyStoppingWarning)
        # the rounds' own invariant: the final corrective step (on by default) moves the
        # first stage once there are two (tests/test_corrective.py covers warm starts with it)
        reg = BDistilRegressor(teacher, [MLPStudent((8,))],
                               **{**FAST, "n_estimators": 1, "final_corrective_epochs": 0},
                               warm_start=True, validation_fraction=None).fit(X)
        first = reg.predict(X, n_stages=1)
        reg.set_params(n_estimators=3).fit(X)
    assert reg.n_estimators_ >= 2
    np.testing.assert_allclose(reg.predict(X, n_stages=1), first, rtol=1e-6)


def test_checkpoint_resume_gives_the_same_stages(data, teacher, tmp_path):
    X, _ = data
    kwargs = {**FAST, "validation_fraction": None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EarlyStoppingWarning)
        full = BDistilRegressor(teacher, [MLPStudent((8,))], **kwargs).fit(X)
        BDistilRegressor(teacher, [MLPStudent((8,))], **{**kwargs, "n_estimators": 2},
                         checkpoint_dir=tmp_path).fit(X)
        resumed = BDistilRegressor(teacher, [MLPStudent((8,))], **kwargs,
                                   checkpoint_dir=tmp_path).fit(X)
    np.testing.assert_allclose(resumed.predict(X), full.predict(X), rtol=1e-5)


def test_groups_and_connections(data, teacher):
    X, _ = data
    groups = np.repeat(np.arange(8), len(X) // 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EarlyStoppingWarning)
        reg = BDistilRegressor(teacher, [MLPStudent((8,))], connection="gru",
                               **FAST).fit(X, groups=groups)
    assert reg.n_estimators_ >= 1
    assert all(c is None for c in reg.connections_[:1])
    np.testing.assert_allclose(list(reg.staged_predict(X))[-1], reg.predict(X), rtol=1e-6)


def test_bad_targets_are_refused(data, teacher):
    X, y = data
    with pytest.raises(ValueError, match="outputs"):
        BDistilRegressor(teacher, **FAST).fit(X, np.column_stack([y, y]))
    with pytest.raises(ValueError):
        BDistilRegressor(teacher, **FAST).fit(X, np.array(["a"] * len(X)))


def test_a_uniform_player_is_refused(data, teacher):
    """eta=0 would make every edge 0 and keep no stage: refused by name."""
    X, y = data
    with pytest.raises(ValueError, match="eta"):
        BDistilRegressor(teacher, eta=0.0, **FAST).fit(X, y)


@pytest.mark.filterwarnings("ignore::sklearn_bdistil.EarlyStoppingWarning")
def test_a_useless_teacher_is_reported(data):
    X, y = data
    bad = FrozenEstimator(Ridge().fit(X, -y))  # e.g. fitted on another encoding
    with pytest.warns(UserWarning, match="R\\^2"):
        BDistilRegressor(bad, [MLPStudent((4,))], **{**FAST, "n_estimators": 1}).fit(X, y)


def test_grid_search_on_r2(data, teacher):
    X, y = data
    search = GridSearchCV(BDistilRegressor(FrozenEstimator(teacher), [MLPStudent((4,))],
                                           **{**FAST, "n_estimators": 2}),
                          {"learning_rate": [0.5, 1.0]}, cv=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EarlyStoppingWarning)
        search.fit(X, y)
    assert search.best_score_ > 0.5


def test_onnx_file_predicts_every_prefix(fitted, data, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from sklearn_bdistil.export import to_onnx

    X, _ = data
    path = to_onnx(fitted, tmp_path / "reg.onnx")
    session = onnxruntime.InferenceSession(str(path))
    out = session.run(None, {"input": X[:30].astype(np.float32)})[0]
    expected = np.stack(list(fitted.staged_predict(X[:30])))
    assert out.shape == (fitted.n_estimators_, 30, 1)
    np.testing.assert_allclose(out[:, :, 0], expected, rtol=1e-4, atol=1e-2)


def test_cost_curve_with_r2_and_with_an_error_metric(fitted, data, teacher):
    import matplotlib

    matplotlib.use("Agg")
    from sklearn.metrics import mean_absolute_error

    from sklearn_bdistil.plotting import CostCurveDisplay

    X, y = data
    disp = CostCurveDisplay.from_estimator(fitted, X, y)
    expected = [r2_score(y, p) for p in fitted.staged_predict(X)]
    np.testing.assert_allclose(disp.accuracy, expected)
    assert disp.teacher_accuracy == pytest.approx(r2_score(y, teacher.predict(X)))
    np.testing.assert_allclose(disp.agreement[-1],
                               r2_score(teacher.predict(X), fitted.predict(X)), rtol=1e-6)
    assert disp.ax_.get_ylabel() == "R^2"
    assert disp.agreement_ax_.get_ylabel() == "R^2 against the teacher (dashed)"
    mae = CostCurveDisplay.from_estimator(fitted, X, y, metric=mean_absolute_error,
                                          show_agreement=False)
    assert mae.ax_.get_ylabel() == "mean absolute error"
    assert mae.accuracy[-1] == pytest.approx(mean_absolute_error(y, fitted.predict(X)))


def test_executorch_program_predicts_every_prefix(fitted, data, tmp_path):
    pytest.importorskip("executorch", reason="pip install 'sklearn-bdistil[executorch]'")
    from sklearn_bdistil.export import to_executorch
    from sklearn_bdistil.export._executorch import run_program

    X, _ = data
    path = to_executorch(fitted, tmp_path / "reg.pte", batch_size=4)
    out = run_program(path, X[:4])
    expected = np.stack(list(fitted.staged_predict(X[:4])))
    assert out.shape == (fitted.n_estimators_, 4, 1)
    np.testing.assert_allclose(out[:, :, 0], expected, rtol=1e-4)


def test_stage_callback_can_stop_the_fit_keeping_the_stages(data, teacher):
    from sklearn_bdistil import FitInterruptedWarning

    X, _ = data
    seen = []

    def callback(estimator, info):
        seen.append((info["stage"], estimator.n_estimators_, info["valid_loss"]))
        return info["stage"] == 2

    with pytest.warns(FitInterruptedWarning, match="after stage 2"):
        reg = BDistilRegressor(teacher, [MLPStudent((8,))], **{**FAST, "n_estimators": 5},
                               stage_callback=callback).fit(X)
    assert reg.n_estimators_ == 2 and [s[:2] for s in seen] == [(1, 1), (2, 2)]
    assert reg.predict(X).shape == (len(X),)
