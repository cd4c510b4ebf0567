import numpy as np
import pytest
import torch

from conftest import FAST
from sklearn_bdistil import BDistilClassifier, Conv1dStudent, MLPStudent
from sklearn_bdistil.export import StagedEnsembleModule, to_onnx, to_torch


@pytest.fixture(scope="module")
def fitted():
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(n_samples=200, n_features=8, n_informative=5, n_classes=3,
                               random_state=1)
    teacher = LogisticRegression(max_iter=500).fit(X, y)
    clf = BDistilClassifier(teacher, [Conv1dStudent(n_channels=2, kernel_size=3),
                                      MLPStudent((6,))],
                            **{**FAST, "gamma": -1.0}).fit(X)
    return clf, X.astype(np.float32)


def test_torch_module_gives_the_staged_logits(fitted):
    clf, X = fitted
    module = to_torch(clf)
    assert isinstance(module, StagedEnsembleModule) and not module.training
    with torch.no_grad():
        out = module(torch.as_tensor(X)).numpy()
    expected = np.stack(list(clf.staged_decision_function(X)))
    assert out.shape == (clf.n_estimators_, len(X), 3)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert to_torch(clf, n_stages=1)(torch.as_tensor(X)).shape == (1, len(X), 3)
    # the export is a copy: the fitted students are untouched
    assert module.students[0] is not clf.estimators_[0]


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
@pytest.mark.parametrize("n_stages", [None, 2])
def test_onnx_round_trip_matches_staged_decision_function(fitted, tmp_path, n_stages):
    ort = pytest.importorskip("onnxruntime")
    clf, X = fitted
    path = to_onnx(clf, tmp_path / "ensemble.onnx", n_stages=n_stages)
    session = ort.InferenceSession(str(path))
    (inp,) = session.get_inputs()
    assert inp.name == "input" and inp.type == "tensor(float)"
    assert session.get_outputs()[0].name == "stage_logits"
    expected = np.stack(list(clf.staged_decision_function(X)))[:n_stages]
    for batch in (X[:1], X[:7], X):  # the batch axis is dynamic
        (out,) = session.run(None, {"input": batch})
        assert out.shape == (len(expected), len(batch), 3)
        np.testing.assert_allclose(out, expected[:, :len(batch)], atol=1e-4)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
def test_an_opset_the_exporter_cannot_write_is_an_error_and_leaves_no_file(fitted, tmp_path):
    """torch writes opset 18 and converts down; a failed conversion returned normally."""
    pytest.importorskip("onnxruntime")
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    clf, _ = fitted
    path = tmp_path / "old.onnx"
    with pytest.raises(ValueError, match="wrote opset 18, not opset_version=13"):
        to_onnx(clf, path, opset_version=13)
    assert not path.exists()
    X, y = make_classification(n_samples=100, n_features=6, n_classes=2, random_state=0)
    gru = BDistilClassifier(LogisticRegression().fit(X, y), [MLPStudent((4,))],
                            connection="gru", **FAST).fit(X)
    with pytest.raises(ValueError, match="invalid opset-17 file"):
        to_onnx(gru, path, opset_version=17)
    assert not path.exists()
    assert to_onnx(gru, path, opset_version=18).exists()


def test_export_needs_a_fitted_ensemble_with_stages(fitted):
    from sklearn.exceptions import NotFittedError
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(NotFittedError):
        to_torch(BDistilClassifier(LogisticRegression()))
    with pytest.raises(ValueError, match="n_stages"):
        to_torch(fitted[0], n_stages=99)


@pytest.mark.parametrize("connection", ["none", "lstm", "dense"])
def test_torch_module_exports_with_torch_export(connection):
    """torch.export (what ONNX, ExecuTorch and AOTInductor build on), not the
    deprecated torch.jit.script: the exported program matches the eager module."""
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(n_samples=120, n_features=8, n_informative=5, n_classes=3,
                               random_state=2)
    teacher = LogisticRegression(max_iter=500).fit(X, y)
    clf = BDistilClassifier(teacher, [Conv1dStudent(n_channels=2, kernel_size=3),
                                      MLPStudent((6,))],
                            connection=connection, **FAST).fit(X)
    module = to_torch(clf)
    x = torch.as_tensor(X, dtype=torch.float32)
    batch = torch.export.Dim("batch")
    program = torch.export.export(module, (x[:2],), dynamic_shapes={"x": {0: batch}})
    with torch.no_grad():
        eager, out = module(x), program.module()(x)
    assert out.shape == (clf.n_estimators_, len(X), 3)
    torch.testing.assert_close(out, eager, rtol=1e-6, atol=1e-6)
    # a prefix export works too
    prefix = torch.export.export(to_torch(clf, n_stages=1), (x[:2],),
                                 dynamic_shapes={"x": {0: batch}}).module()(x)
    torch.testing.assert_close(prefix, eager[:1], rtol=1e-6, atol=1e-6)


def test_torch_module_needs_one_connection_per_student():
    students = [torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)]
    with pytest.raises(ValueError, match="one connection"):
        StagedEnsembleModule(students, [1.0, 1.0], connections=[None])


def test_onnx_export_says_nothing_that_is_not_the_users_business(tmp_path, caplog, recwarn):
    """No 'torchvision is not installed' log lines, no torch-internal FutureWarning."""
    import logging

    pytest.importorskip("onnxscript")
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(n_samples=80, n_features=6, n_informative=4, n_classes=3,
                               random_state=0)
    clf = BDistilClassifier(LogisticRegression(max_iter=500).fit(X, y), [MLPStudent((4,))],
                            **FAST).fit(X)
    recwarn.clear()
    with caplog.at_level(logging.WARNING):
        to_onnx(clf, tmp_path / "m.onnx")
    assert not [r for r in caplog.records if "torchvision" in r.getMessage()]
    assert not [w for w in recwarn if issubclass(w.category, (FutureWarning, DeprecationWarning))]
