import pytest
import torch
from sklearn.base import clone
from torch import nn

from sklearn_bdistil.students import Conv1dStudent, MLPStudent, StudentNet
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
