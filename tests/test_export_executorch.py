"""to_executorch: a .pte program, run in ExecuTorch's runtime."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from conftest import FAST
from sklearn_bdistil import BDistilClassifier, Conv1dStudent, Conv2dStudent, MLPStudent
from sklearn_bdistil.export import _executorch, to_executorch

pytest.importorskip("executorch",
                    reason="needs the executorch extra: pip install 'sklearn-bdistil[executorch]'")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")

# every student type and connection; each lowering takes seconds
CASES = {
    "mlp-dense-xnnpack": (MLPStudent((6,)), "dense", 1, True),
    "conv1d-gru-xnnpack": (Conv1dStudent(n_channels=2, kernel_size=3), "gru", 1, True),
    "conv2d-lstm-portable-batch4": (
        Conv2dStudent(n_channels=1, height=4, n_filters=(4,), kernel_size=2), "lstm", 4, False),
    "mlp-residual-batch3": (MLPStudent((6,)), "residual", 3, True),
    "conv1d-none": (Conv1dStudent(n_channels=2, kernel_size=3), "none", 1, True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_program_matches_staged_decision_function(case, data, teacher, tmp_path):
    X, y = data
    student, connection, batch_size, xnnpack = CASES[case]
    clf = BDistilClassifier(teacher, [student], connection=connection,
                            **{**FAST, "n_estimators": 2, "gamma": -1.0}).fit(X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = to_executorch(clf, tmp_path / "ensemble.pte", batch_size=batch_size,
                             xnnpack=xnnpack)
    assert path.is_file()
    # what is not the user's business stays quiet
    assert not [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    expected = np.stack(list(clf.staged_decision_function(X)))
    for start in (0, batch_size, 5 * batch_size):
        rows = slice(start, start + batch_size)
        out = _executorch.run_program(path, X[rows])
        assert out.shape == (clf.n_estimators_, batch_size, 3)
        np.testing.assert_allclose(out, expected[:, rows], atol=1e-4, rtol=0)


def test_prefix_and_errors(data, teacher, tmp_path, monkeypatch):
    X, y = data
    with pytest.raises(NotFittedError):
        to_executorch(BDistilClassifier(teacher, [MLPStudent()]), tmp_path / "m.pte")
    clf = BDistilClassifier(teacher, [MLPStudent((4,))], **{**FAST, "gamma": -1.0}).fit(X, y)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            to_executorch(clf, tmp_path / "m.pte", batch_size=bad)
    path = to_executorch(clf, tmp_path / "m.pte", n_stages=1)
    assert _executorch.run_program(path, X[:1]).shape == (1, 1, 3)
    # a program that does not reproduce the ensemble is an error, and no file
    monkeypatch.setattr(_executorch, "TOLERANCE", -1.0)
    with pytest.raises(ValueError, match="differ from the ensemble's"):
        to_executorch(clf, tmp_path / "bad.pte")
    assert not (tmp_path / "bad.pte").exists()


def test_missing_extra_names_the_install(data, teacher, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_executorch(name, *args, **kwargs):
        if name.startswith("executorch"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    X, y = data
    clf = BDistilClassifier(teacher, [MLPStudent((4,))], **{**FAST, "n_estimators": 1}).fit(X, y)
    monkeypatch.setattr(builtins, "__import__", no_executorch)
    with pytest.raises(ImportError, match=r"pip install 'sklearn-bdistil\[executorch\]'"):
        to_executorch(clf, tmp_path / "m.pte")
