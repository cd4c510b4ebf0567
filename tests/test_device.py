"""Where prediction runs: the CPU fallback of a model fitted for CUDA, the stage copies."""

import pickle

import numpy as np
import pytest


def test_model_fitted_for_cuda_predicts_on_a_cpu_only_machine(data, fitted):
    X, _ = data
    moved = pickle.loads(pickle.dumps(fitted))
    moved.device = "cuda"  # as if fitted on a GPU machine and loaded here
    if _cuda():
        pytest.skip("needs a machine without CUDA")
    with pytest.warns(UserWarning, match="predicting on the CPU"):
        np.testing.assert_array_equal(moved.predict(X), fitted.predict(X))
    assert all(p.device.type == "cpu" for m in moved.estimators_ for p in m.parameters())


def test_stage_copies_on_another_device_are_made_once(fitted, data):
    """Copies for a non-CPU device (``meta`` here, standing in for a GPU) are
    reused until a stage changes, and never pickled."""
    import torch

    from sklearn_bdistil._device import stages_on

    meta = torch.device("meta")
    assert stages_on(fitted, torch.device("cpu"))[0][0] is fitted.estimators_[0]
    first = stages_on(fitted, meta)
    assert all(p.is_meta for p in first[0][0].parameters())
    assert stages_on(fitted, meta) is first
    assert all(p.device.type == "cpu" for m in fitted.estimators_ for p in m.parameters())

    # an in-place change of the fitted weights, e.g. load_state_dict, makes new copies
    state = {k: v.clone() for k, v in fitted.estimators_[-1].state_dict().items()}
    fitted.estimators_[-1].load_state_dict(state)
    second = stages_on(fitted, meta)
    assert second is not first and stages_on(fitted, meta) is second
    fitted.estimators_[0] = pickle.loads(pickle.dumps(fitted.estimators_[0]))
    assert stages_on(fitted, meta) is not second

    restored = pickle.loads(pickle.dumps(fitted))
    assert "_device_stages" in vars(fitted) and "_device_stages" not in vars(restored)
    # a refit drops them: its new modules could reuse the ids of the old ones
    fitted.set_params(n_estimators=1).fit(data[0])
    assert "_device_stages" not in vars(fitted)


def _cuda():
    import torch

    return torch.cuda.is_available()
