import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` skip where CUDA is not available; tests marked
    ``docs`` (minutes of documentation blocks) run only with ``-m docs``."""
    skip_gpu = pytest.mark.skip(
        reason="needs CUDA; run `python -m pytest -m gpu` on a GPU machine")
    skip_docs = pytest.mark.skip(reason="documentation blocks: run `python -m pytest -m docs`")
    asked_for_docs = "docs" in (config.getoption("markexpr") or "")
    for item in items:
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_gpu)
        if "docs" in item.keywords and not asked_for_docs:
            item.add_marker(skip_docs)

#: Tiny training settings that keep each fit well under a second.
FAST = dict(n_estimators=3, max_epochs=3, batch_size=64, random_state=0)


@pytest.fixture
def data():
    X, y = make_classification(n_samples=240, n_features=8, n_informative=5,
                               n_classes=3, n_clusters_per_class=1, random_state=0)
    return X.astype(np.float32), y


@pytest.fixture
def teacher(data):
    X, y = data
    return LogisticRegression(max_iter=500).fit(X, y)


@pytest.fixture
def fitted(data, teacher):
    """A 4-stage classifier of two student sizes (test_predict, test_early_exit,
    test_device; other modules define their own ``fitted``)."""
    from sklearn_bdistil import BDistilClassifier, MLPStudent

    X, _ = data
    clf = BDistilClassifier(teacher, [MLPStudent((4,)), MLPStudent((8,))],
                            **{**FAST, "n_estimators": 4, "max_epochs": 10}).fit(X)
    assert clf.n_estimators_ >= 3
    return clf
