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
    assert repr(factory) == "MLPStudent(activation='tanh', hidden_sizes=(3,))"
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
