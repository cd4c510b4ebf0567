import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from skorch import NeuralNetClassifier
from torch import nn

from sklearn_bdistil._cost import teacher_flops
from sklearn_bdistil._teacher import (
    PROBA_EPS,
    fit_teacher,
    is_fitted,
    teacher_classes,
    teacher_logits,
)


def test_predict_proba_teacher_gives_centred_clipped_log_probabilities(data, teacher):
    X, _ = data
    G = teacher_logits(teacher, X, batch_size=50)
    expected = np.log(np.clip(teacher.predict_proba(X), PROBA_EPS, None))
    expected -= expected.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(G, expected, rtol=1e-5, atol=1e-5)
    assert G.dtype == np.float32


def test_binary_decision_function_teacher(data):
    X, y = data
    svc = LinearSVC().fit(X, y == 1)
    G = teacher_logits(svc, X)
    d = svc.decision_function(X)
    np.testing.assert_allclose(G, np.column_stack([-d / 2, d / 2]), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(teacher_classes(svc, 2), [False, True])


def test_multiclass_decision_function_teacher(data):
    X, y = data
    svc = LinearSVC().fit(X, y)
    np.testing.assert_allclose(teacher_logits(svc, X), svc.decision_function(X),
                               rtol=1e-5, atol=1e-5)


def test_torch_module_teacher_in_batches(data):
    X, y = data
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)).train()
    G = teacher_logits(module, X, batch_size=7)
    with torch.no_grad():
        expected = module.eval()(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(G, expected, rtol=1e-5, atol=1e-6)
    assert module.eval().training is False
    np.testing.assert_array_equal(teacher_classes(module, 3, y), [0, 1, 2])
    np.testing.assert_array_equal(teacher_classes(module, 3, np.array(["a", "b", "c"])),
                                  ["a", "b", "c"])
    assert teacher_flops(module, 8) == 2 * (8 * 16 + 16 * 3)


def test_a_module_teacher_with_a_y_that_lacks_a_class_is_refused_or_named(data):
    """Labels 1, 2, 3 with 3 absent must not silently read as 0, 1, 2."""
    from sklearn_bdistil import BDistilClassifier, MLPStudent

    X, y = data
    module = nn.Linear(X.shape[1], 3)
    labels = y + 1
    keep = labels != 3
    clf = BDistilClassifier(module, [MLPStudent((4,))], n_estimators=1, max_epochs=1,
                            gamma=-1.0, random_state=0)
    with pytest.raises(ValueError, match="2 distinct labels for its 3 outputs"):
        clf.fit(X[keep], labels[keep])
    clf.set_params(classes=[1, 2, 3]).fit(X[keep], labels[keep])
    np.testing.assert_array_equal(clf.classes_, [1, 2, 3])
    assert set(clf.predict(X)) <= {1, 2, 3}
    # precomputed logits and no teacher: the same rule
    G = teacher_logits(module, X[keep])
    clf = BDistilClassifier(None, [MLPStudent((4,))], n_estimators=1, max_epochs=1,
                            gamma=-1.0, random_state=0)
    with pytest.raises(ValueError, match="ambiguous"):
        clf.fit(X[keep], labels[keep], teacher_logits=G)
    clf.set_params(classes=["a", "b", "c"]).fit(X[keep], teacher_logits=G)
    np.testing.assert_array_equal(clf.classes_, ["a", "b", "c"])


def test_read_only_inputs_reach_a_torch_teacher_without_warnings(data):
    """joblib hands parallel search workers read-only memmaps."""
    import warnings

    X, _ = data
    X = X.copy()
    X.setflags(write=False)
    net = NeuralNetClassifier(nn.Linear, module__in_features=X.shape[1], module__out_features=3,
                              criterion=nn.CrossEntropyLoss, max_epochs=1, train_split=None,
                              verbose=0).initialize()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        teacher_logits(nn.Linear(X.shape[1], 3), X)
        teacher_logits(net, X)


def test_classes_must_agree_with_the_teachers_and_be_distinct(data):
    X, y = data
    lr = LogisticRegression().fit(X, y)
    np.testing.assert_array_equal(teacher_classes(lr, 3, classes=[0, 1, 2]), [0, 1, 2])
    with pytest.raises(ValueError, match="differs from the teacher's classes_"):
        teacher_classes(lr, 3, classes=[1, 2, 3])
    with pytest.raises(ValueError, match="distinct labels"):
        teacher_classes(nn.Linear(8, 3), 3, classes=[0, 0, 1])


def test_skorch_teacher_with_cross_entropy_gives_module_logits(data):
    X, y = data
    net = NeuralNetClassifier(nn.Linear, module__in_features=8, module__out_features=3,
                              criterion=nn.CrossEntropyLoss, max_epochs=2,
                              train_split=None, verbose=0).fit(X, y)
    G = teacher_logits(net, X)
    with torch.no_grad():
        expected = net.module_(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(G, expected, rtol=1e-5, atol=1e-6)
    assert teacher_flops(net, 8) == 2 * 8 * 3


class _SoftmaxNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(8, 3)

    def forward(self, x):
        return torch.softmax(self.linear(x), dim=1)


def test_skorch_teacher_with_probability_outputs_uses_predict_proba(data):
    X, y = data
    net = NeuralNetClassifier(_SoftmaxNet, max_epochs=2, train_split=None,
                              verbose=0).fit(X, y)
    G = teacher_logits(net, X)
    log_p = np.log(np.clip(net.predict_proba(X), PROBA_EPS, None))
    np.testing.assert_allclose(G, log_p - log_p.mean(1, keepdims=True), atol=1e-5)


def test_unfitted_teacher_is_cloned_and_fitted(data):
    X, y = data
    unfitted = LogisticRegression()
    fitted = fit_teacher(unfitted, X, y)
    assert fitted is not unfitted and is_fitted(fitted) and not is_fitted(unfitted)
    with pytest.raises(ValueError, match="requires y|needs y"):
        fit_teacher(LogisticRegression(), X, None)


def test_fitted_and_frozen_teachers_are_used_as_they_are(data, teacher):
    X, y = data
    assert fit_teacher(teacher, X, y) is teacher
    frozen = FrozenEstimator(teacher)
    assert fit_teacher(frozen, X, None) is frozen
    np.testing.assert_allclose(teacher_logits(frozen, X), teacher_logits(teacher, X))
    np.testing.assert_array_equal(teacher_classes(frozen, 3), teacher.classes_)


class _NoScores(BaseEstimator):
    def fit(self, X, y):
        return self

    def predict(self, X):
        return np.zeros(len(X))


def test_teacher_without_scores_is_a_type_error(data):
    X, y = data
    with pytest.raises(TypeError, match="predict_proba or decision_function"):
        fit_teacher(_NoScores(), X, y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_teacher_flops_of_mlp_classifier_also_wrapped(data):
    X, y = data
    mlp = MLPClassifier((10,), max_iter=20).fit(X, y)
    expected = 2 * (8 * 10 + 10 * 3)
    assert teacher_flops(mlp, 8) == expected
    assert teacher_flops(FrozenEstimator(mlp), 8) == expected
    assert teacher_flops(make_pipeline(StandardScaler(), mlp).fit(X, y), 8) == expected
    assert teacher_flops(LogisticRegression().fit(X, y), 8) == 2 * 8 * 3


def test_teacher_flops_of_trees_linear_models_and_kernels(data):
    """Trees: comparisons on a row's expected path; linear: a multiply-add per weight."""
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.svm import SVC, LinearSVC
    from sklearn.tree import DecisionTreeClassifier

    from sklearn_bdistil._cost import hgb_iteration_costs, tree_comparisons

    X, y = data
    # a stump: every row makes one comparison
    stump = DecisionTreeClassifier(max_depth=1).fit(X, y)
    assert teacher_flops(stump, 8) == tree_comparisons(stump.tree_) == 1.0
    # a full tree: the leaves' depths weighted by the training rows that reach them
    full = DecisionTreeClassifier(random_state=0).fit(X, y)
    leaf = full.apply(X)
    depth = full.decision_path(X).sum(axis=1).A1 - 1  # nodes on the path, less the leaf
    assert leaf.size and teacher_flops(full, 8) == pytest.approx(depth.mean())
    forest = RandomForestClassifier(n_estimators=4, bootstrap=False, random_state=0).fit(X, y)
    paths = sum(tree_comparisons(t.tree_) for t in forest.estimators_)
    assert teacher_flops(forest, 8) == pytest.approx(paths + 4 * 3)  # + averaging 3 classes
    gb = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(X, y)
    assert teacher_flops(gb, 8) == pytest.approx(
        sum(tree_comparisons(t.tree_) + 1 for t in gb.estimators_.ravel()))
    hgb = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X, y)
    costs = hgb_iteration_costs(hgb)
    assert costs.shape == (5,) and (costs > 3).all()  # 3 trees per iteration, each >= 1
    assert teacher_flops(FrozenEstimator(hgb), 8) == pytest.approx(costs.sum())
    assert teacher_flops(LinearSVC().fit(X, y), 8) == 2 * 8 * 3
    svc = SVC().fit(X, y)
    n_sv = svc.support_vectors_.shape[0]
    assert teacher_flops(svc, 8) == n_sv * 3 * 8 + 2 * svc.dual_coef_.size
    assert teacher_flops(DecisionTreeClassifier(), 8) is None  # unfitted: nothing to count


def test_teacher_flops_of_a_pipeline_that_changes_the_width(data):
    from sklearn.decomposition import PCA

    X, y = data
    net = NeuralNetClassifier(nn.Linear, module__in_features=4, module__out_features=3,
                              criterion=nn.CrossEntropyLoss, max_epochs=1,
                              train_split=None, verbose=0)
    pipe = make_pipeline(PCA(4), net).fit(X, y)
    assert teacher_flops(pipe, 8) == 2 * 4 * 3
    # a module that cannot run on a row of this width is left uncounted
    assert teacher_flops(nn.Linear(5, 3), 8) is None


def test_one_vs_one_decision_function_is_refused(data):
    from sklearn.svm import SVC

    X, y = data
    ovo = SVC(decision_function_shape="ovo").fit(X, y)
    from sklearn.model_selection import GridSearchCV
    from sklearn.semi_supervised import SelfTrainingClassifier

    search = GridSearchCV(SVC(decision_function_shape="ovo"), {"C": [0.1, 1.0]}, cv=2)
    self_training = SelfTrainingClassifier(SVC(decision_function_shape="ovo"))
    for teacher in (ovo, make_pipeline(StandardScaler(), ovo), FrozenEstimator(ovo),
                    search.fit(X, y), self_training.fit(X, y)):
        with pytest.raises(ValueError, match="one column per pair of classes"):
            teacher_logits(teacher, X)
    # one-vs-rest columns are per class
    ovr = SVC(decision_function_shape="ovr").fit(X, y)
    np.testing.assert_allclose(teacher_logits(ovr, X), ovr.decision_function(X), rtol=1e-5)


def test_frozen_skorch_teacher_counts_as_the_net_it_wraps(data):
    X, y = data
    net = NeuralNetClassifier(nn.Linear, module__in_features=X.shape[1], module__out_features=3,
                              criterion=nn.CrossEntropyLoss, max_epochs=2, train_split=None,
                              verbose=0).fit(X, y)
    X64 = X.astype(np.float64)  # a skorch module wants float32: converted for both
    assert is_fitted(FrozenEstimator(net))
    np.testing.assert_array_equal(teacher_logits(FrozenEstimator(net), X64),
                                  teacher_logits(net, X64))
    # the module's logits, not the log of its probabilities
    np.testing.assert_allclose(teacher_logits(net, X64),
                               net.forward(X).numpy(), rtol=1e-6)


class _PairOutput(nn.Module):
    def __init__(self, n_in):
        super().__init__()
        self.linear = nn.Linear(n_in, 3)

    def forward(self, x):
        return self.linear(x), x


def test_torch_teacher_failures_name_the_teacher(data):
    X, _ = data
    with pytest.raises(ValueError, match="teacher module Linear failed on a batch"):
        teacher_logits(nn.Linear(X.shape[1] + 1, 3), X)
    with pytest.raises(TypeError, match="returned tuple"):
        teacher_logits(_PairOutput(X.shape[1]), X)


def test_float64_torch_teacher_gets_float64_inputs(data):
    X, _ = data
    torch.manual_seed(0)
    module = nn.Linear(X.shape[1], 3).double()
    G = teacher_logits(module, X.astype(np.float64))
    with torch.no_grad():
        expected = module(torch.as_tensor(X, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(G, expected, rtol=1e-6)
    # its cost is counted too (the probe row takes the module's dtype)
    assert teacher_flops(module, X.shape[1]) == 2 * X.shape[1] * 3


def test_a_dataframe_reaches_the_teacher_with_its_columns(data):
    """A teacher pipeline that selects columns by name works, without warnings."""
    import warnings

    pd = pytest.importorskip("pandas")
    from sklearn.compose import ColumnTransformer

    from sklearn_bdistil import BDistilClassifier, MLPStudent

    X, y = data
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    select = ColumnTransformer([("keep", StandardScaler(), ["f0", "f1", "f2", "f3"])])
    teacher = make_pipeline(select, LogisticRegression(max_iter=500)).fit(df, y)
    params = dict(n_estimators=2, max_epochs=3, gamma=-1.0, random_state=0)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*feature names")
        clf = BDistilClassifier(teacher, [MLPStudent((4,))], **params).fit(df)
        BDistilClassifier(teacher, [MLPStudent((4,))], augmentation="jitter",
                          **params).fit(df)  # the new rows reach the teacher named too
    np.testing.assert_array_equal(clf.feature_names_in_, df.columns)
    # the same fit as with the teacher's logits on the DataFrame given
    ref = BDistilClassifier(teacher, [MLPStudent((4,))], **params).fit(
        X, teacher_logits=teacher_logits(teacher, df))
    np.testing.assert_array_equal(clf.estimator_weights_, ref.estimator_weights_)
    np.testing.assert_array_equal(clf.predict(df), ref.predict(X))


def test_single_logit_torch_teacher_is_binary(data):
    X, _ = data
    torch.manual_seed(0)
    module = nn.Linear(X.shape[1], 1)
    G = teacher_logits(module, X)
    with torch.no_grad():
        p = torch.sigmoid(module(torch.as_tensor(X))).numpy().ravel()
    assert G.shape == (len(X), 2)
    np.testing.assert_allclose(torch.softmax(torch.as_tensor(G), 1)[:, 1].numpy(), p,
                               rtol=1e-5, atol=1e-6)


def test_unfitted_binary_skorch_teacher_with_string_labels_is_a_clear_error(data):
    from skorch import NeuralNetBinaryClassifier

    from sklearn_bdistil import BDistilClassifier, MLPStudent

    X, y = data
    binary = (y > 0).astype(int)

    class _OneLogit(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(X.shape[1], 1)

        def forward(self, x):
            return self.linear(x).squeeze(-1)

    net = NeuralNetBinaryClassifier(_OneLogit, max_epochs=2, train_split=None, verbose=0)
    clf = BDistilClassifier(net, [MLPStudent((4,))], n_estimators=1, max_epochs=1,
                            gamma=-1.0, random_state=0)
    with pytest.raises(ValueError, match="NeuralNetBinaryClassifier trains on 0/1 targets"):
        clf.fit(X, np.array(["neg", "pos"])[binary])
    clf.fit(X, binary.astype(np.float32))
    np.testing.assert_array_equal(clf.classes_, [0, 1])


def test_unfitted_skorch_teacher_with_string_labels(data):
    from sklearn_bdistil import BDistilClassifier, MLPStudent

    X, y = data
    labels = np.array(["cat", "dog", "emu"])[y]
    net = NeuralNetClassifier(nn.Linear, module__in_features=X.shape[1], module__out_features=3,
                              criterion=nn.CrossEntropyLoss, max_epochs=5, lr=0.1,
                              train_split=None, verbose=0)
    clf = BDistilClassifier(net, [MLPStudent((4,))], n_estimators=2, max_epochs=20,
                            gamma=-1.0, random_state=0).fit(X, labels)
    np.testing.assert_array_equal(clf.classes_, ["cat", "dog", "emu"])
    np.testing.assert_array_equal(clf.teacher_.classes_, ["cat", "dog", "emu"])
    assert net.get_params()["classes"] is None  # the user's net is left as it was
    # skorch's predict gives column indices; classes_ names them
    assert (clf.teacher_.classes_[clf.teacher_.predict(X)] == labels).mean() > 0.6
    assert (clf.predict(X) == labels).mean() > 0.5
