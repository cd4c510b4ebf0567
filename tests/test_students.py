import pytest
import torch
from sklearn.base import clone
from torch import nn

from sklearn_bdistil.students import Conv1dStudent, Conv2dStudent, MLPStudent, StudentNet
from sklearn_bdistil.students._base import build_student


@pytest.mark.parametrize("hidden", [(), (4,), (8, 4)])
def test_mlp_student_shapes_and_features(hidden):
    net = MLPStudent(hidden_sizes=hidden)(n_features_in=6, n_classes=3)
    assert isinstance(net, StudentNet)
    x = torch.randn(5, 6)
    assert net(x).shape == (5, 3)
    assert net.features(x).shape == (5, hidden[-1] if hidden else 6)


def test_conv1d_student_reads_channel_major_windows():
    net = Conv1dStudent(n_channels=3, n_filters=(4, 5), kernel_size=3)(3 * 20, 2)
    assert net(torch.randn(7, 60)).shape == (7, 2)
    assert net.features(torch.randn(7, 60)).shape == (7, 5)
    conv = net.body[1]
    assert isinstance(conv, nn.Conv1d) and conv.in_channels == 3


def test_conv1d_student_rejects_rows_that_are_not_windows():
    with pytest.raises(ValueError, match="divisible by n_channels"):
        Conv1dStudent(n_channels=4)(n_features_in=10, n_classes=2)
    with pytest.raises(ValueError, match="shorter than kernel_size"):
        Conv1dStudent(n_channels=2, kernel_size=9)(n_features_in=8, n_classes=2)


@pytest.mark.parametrize("factory, n_features, error, message", [
    (MLPStudent(hidden_sizes="16"), 6, TypeError, "hidden_sizes must be a tuple"),
    (MLPStudent(hidden_sizes=(4.7,)), 6, TypeError, "each entry of hidden_sizes"),
    (MLPStudent(hidden_sizes=(0,)), 6, ValueError, "each entry of hidden_sizes"),
    (MLPStudent(dropout=1.0), 6, ValueError, r"dropout must be a number in \[0, 1\)"),
    (MLPStudent(dropout=True), 6, ValueError, "dropout"),
    (Conv1dStudent(n_channels=2.5), 30, TypeError, "n_channels must be a positive integer"),
    (Conv1dStudent(n_channels=3, n_filters=(-1,)), 30, ValueError, "each entry of n_filters"),
    (Conv1dStudent(n_channels=3, n_filters=()), 30, ValueError, "n_filters must not be empty"),
    (Conv1dStudent(n_channels=3, kernel_size=0), 30, ValueError, "kernel_size"),
    (Conv1dStudent(n_channels=3, stride=0), 30, ValueError, "stride"),
    # 10 samples, kernel 5, stride 2: 3 left after the first convolution
    (Conv1dStudent(n_channels=3, n_filters=(4, 8), kernel_size=5), 30, ValueError,
     r"Window width 3 after 1 convolution\(s\) is shorter than kernel_size=5"),
    (Conv2dStudent(height=-5), 64, ValueError, "height must be a positive integer"),
    (Conv2dStudent(n_filters=(4, 0)), 64, ValueError, "each entry of n_filters"),
])
def test_factory_arguments_are_checked(factory, n_features, error, message):
    with pytest.raises(error, match=message):
        factory(n_features_in=n_features, n_classes=2)


def test_factories_print_and_clone_like_estimators():
    factory = MLPStudent(hidden_sizes=(3,), activation="tanh")
    assert repr(factory) == "MLPStudent(hidden_sizes=(3,), activation='tanh')"
    assert clone(factory).get_params() == factory.get_params()
    with pytest.raises(ValueError, match="activation"):
        MLPStudent(activation="swish")(4, 2)


def test_build_student_is_seeded():
    a = build_student(MLPStudent((4,)), 5, 3, seed=7)
    b = build_student(MLPStudent((4,)), 5, 3, seed=7)
    c = build_student(MLPStudent((4,)), 5, 3, seed=8)
    x = torch.randn(3, 5)
    assert torch.equal(a(x), b(x))
    assert not torch.equal(a(x), c(x))


def test_build_student_accepts_any_callable_returning_a_module():
    net = build_student(lambda n_in, n_out: nn.Linear(n_in, n_out), 4, 2, seed=0)
    assert isinstance(net, nn.Linear)


def test_build_student_rejects_bad_factories():
    with pytest.raises(TypeError, match="must be a factory"):
        build_student(nn.Linear(4, 2), 4, 2, seed=0)
    with pytest.raises(TypeError, match="must be a factory"):
        build_student("mlp", 4, 2, seed=0)
    with pytest.raises(TypeError, match="expected a torch.nn.Module"):
        build_student(lambda n_in, n_out: "not a module", 4, 2, seed=0)
    with pytest.raises(ValueError, match="logits of shape"):
        build_student(lambda n_in, n_out: nn.Linear(n_in, n_out + 1), 4, 2, seed=0)
    with pytest.raises(ValueError, match="failed on a batch"):
        build_student(lambda n_in, n_out: nn.Linear(n_in + 1, n_out), 4, 2, seed=0)


def test_input_statistics_per_column_and_per_channel():
    import numpy as np

    from sklearn_bdistil.students._base import input_statistics

    rng = np.random.default_rng(0)
    X = rng.normal(loc=[5.0, -3.0, 0.0, 100.0], scale=[2.0, 0.1, 1.0, 50.0], size=(500, 4))
    X[:, 2] = 7.0  # a constant column: centred, not divided by zero
    mean, inv = input_statistics(torch.as_tensor(X, dtype=torch.float32), batch_size=64)
    np.testing.assert_allclose(mean, X.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(inv[[0, 1, 3]], 1 / X[:, [0, 1, 3]].std(axis=0), rtol=1e-4)
    assert inv[2] == 1.0
    # two channels of two time steps, channel-major: pooled per channel
    mean, inv = input_statistics(torch.as_tensor(X, dtype=torch.float32), n_groups=2)
    np.testing.assert_allclose(mean, np.repeat([X[:, :2].mean(), X[:, 2:].mean()], 2), rtol=1e-5)
    np.testing.assert_allclose(inv, np.repeat(1 / np.array([X[:, :2].std(), X[:, 2:].std()]), 2),
                               rtol=1e-4)
    with pytest.raises(ValueError, match="do not split into 3 equal groups"):
        input_statistics(torch.zeros(3, 4), n_groups=3)


@pytest.mark.parametrize("factory, n_features, groups", [
    (MLPStudent((4,)), 6, None), (Conv1dStudent(n_channels=2, kernel_size=3), 16, 2),
    (Conv2dStudent(n_channels=1), 16, 1)])
def test_built_in_students_standardise_their_inputs_unless_told_not_to(factory, n_features,
                                                                        groups):
    from sklearn_bdistil.students import Standardize
    from sklearn_bdistil.students._base import fit_input_scaling

    net = build_student(factory, n_features, 3, seed=0)
    assert isinstance(net.scaling, Standardize) and net.scaling.n_groups == groups
    X = 100 + 30 * torch.randn(200, n_features)
    fit_input_scaling(net, X)
    scaled = net.scaling(X)
    assert scaled.mean().abs() < 1e-3 and (scaled.std() - 1).abs() < 0.05
    # the statistics are buffers: saved with the module
    assert {"scaling.mean", "scaling.inv_std"} <= set(net.state_dict())
    plain = build_student(clone(factory).set_params(standardize=False), n_features, 3, seed=0)
    assert plain.scaling is None
    with pytest.raises(TypeError, match="standardize must be True or False"):
        build_student(clone(factory).set_params(standardize="yes"), n_features, 3, seed=0)


def test_a_student_net_pickled_before_scaling_existed_still_runs():
    import pickle

    net = build_student(MLPStudent((4,)), 5, 3, seed=0)
    del net._modules["scaling"]  # as a StudentNet pickled by an earlier version
    loaded = pickle.loads(pickle.dumps(net))
    assert loaded.scaling is None and loaded(torch.zeros(2, 5)).shape == (2, 3)


def test_raw_features_far_from_unit_scale_fit_like_standardised_ones():
    """Wine with raw features (columns from 0.1 to 1000): students that scale their
    inputs learn; without, the fit stops and the warning points at the scaling."""
    import warnings

    import numpy as np
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sklearn_bdistil import BDistilClassifier, EarlyStoppingWarning

    X, y = load_wine(return_X_y=True)
    teacher = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EarlyStoppingWarning)
        clf = BDistilClassifier(teacher, [MLPStudent((8,))], n_estimators=3, max_epochs=20,
                                random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.95
    # statistics of the training rows: the whole set comes out near unit scale
    Z = clf.estimators_[0].scaling(torch.as_tensor(X, dtype=torch.float32)).numpy()
    assert (np.abs(Z.mean(axis=0)) < 0.5).all() and (np.abs(Z.std(axis=0) - 1) < 0.5).all()
    with pytest.warns(EarlyStoppingWarning, match="far from unit scale"):
        BDistilClassifier(teacher, [MLPStudent((8,), standardize=False)], n_estimators=10,
                          max_epochs=5, random_state=0).fit(X, y)
