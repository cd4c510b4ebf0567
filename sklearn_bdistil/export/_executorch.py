"""The ensemble as an ExecuTorch program (``.pte``), for phones and embedded Linux.

The program's method ``forward`` takes float32 ``(batch_size, n_features)``
and returns the cumulative logits after every stage, ``(n_stages, batch_size,
n_classes)``, as :func:`~sklearn_bdistil.export.to_onnx`'s graph does. The
batch size is fixed when the program is written (ExecuTorch plans its memory
ahead; GRU connections do not export with a variable batch).
"""

import contextlib
import os
import warnings
from pathlib import Path

import torch
from sklearn.utils.validation import check_is_fitted

from sklearn_bdistil.export._onnx import to_torch
from sklearn_bdistil.export._stages import (
    check_rows,
    max_difference,
    reference_logits,
)

__all__ = ["EXECUTORCH_INSTALL", "to_executorch"]

EXECUTORCH_INSTALL = "pip install 'sklearn-bdistil[executorch]'"

#: Largest difference from the ensemble's logits an export may show.
TOLERANCE = 1e-4


def _import_executorch():
    try:
        # torchao, imported with it, reports CUDA kernels it cannot load on stderr
        with _quiet_stderr():
            from executorch.exir import to_edge_transform_and_lower
    except ImportError as exc:
        raise ImportError(
            f"ExecuTorch export needs the executorch package: {EXECUTORCH_INSTALL}."
        ) from exc
    return to_edge_transform_and_lower


def to_executorch(estimator, path, n_stages=None, batch_size=1, xnnpack=True, check=True):
    """Write the first ``n_stages`` stages of ``estimator`` as an ExecuTorch program.

    Needs the ``executorch`` extra (``pip install 'sklearn-bdistil[executorch]'``).

    Parameters
    ----------
    estimator : fitted BDistilClassifier or BDistilRegressor
        A regressor's program returns every stage's predictions in the
        targets' units, ``(n_stages, batch_size, n_outputs)``.
    path : str or os.PathLike
        Where to write the program (by convention ``*.pte``).
    n_stages : int, default=None
        Number of stages to include; ``None`` includes all.
    batch_size : int, default=1
        Rows per call of the program's ``forward``, fixed in the program.
    xnnpack : bool, default=True
        Delegate what XNNPACK supports (linear layers, convolutions,
        activations) to ExecuTorch's XNNPACK backend, the fast path on Arm
        and x86 CPUs; False keeps ExecuTorch's portable operators only.
    check : bool, default=True
        Run the written program in ExecuTorch's runtime on ``batch_size``
        rows and compare its output with the ensemble's
        (``staged_decision_function``'s logits, a regressor's
        ``staged_predict``); a difference above 1e-4 (relative to the
        outputs' scale where it exceeds 1) is a ``ValueError`` and no file is
        left.

    Returns
    -------
    path : pathlib.Path

    Examples
    --------
    >>> from sklearn_bdistil.export import to_executorch  # doctest: +SKIP
    >>> to_executorch(clf, "ensemble.pte")  # doctest: +SKIP
    >>> from executorch.runtime import Runtime  # doctest: +SKIP
    >>> program = Runtime.get().load_program("ensemble.pte")  # doctest: +SKIP
    >>> x = torch.as_tensor(X[:1], dtype=torch.float32)  # doctest: +SKIP
    >>> program.load_method("forward").execute([x])[0][2]  # stage 3's logits  # doctest: +SKIP
    """
    check_is_fitted(estimator)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    to_edge_transform_and_lower = _import_executorch()
    module = to_torch(estimator, n_stages)
    n = len(module.students)
    example = torch.zeros(batch_size, estimator.n_features_in_)
    with _quiet_export():
        exported = torch.export.export(module, (example,))
        partitioner = []
        if xnnpack:
            with _quiet_stderr():
                from executorch.backends.xnnpack.partition.xnnpack_partitioner import (
                    XnnpackPartitioner,
                )
            partitioner = [XnnpackPartitioner()]
        program = to_edge_transform_and_lower(exported, partitioner=partitioner).to_executorch()
    path = Path(path)
    path.write_bytes(program.buffer)
    if check:
        rows = check_rows(estimator, batch_size)
        try:
            got = run_program(path, rows)
        except Exception:
            path.unlink(missing_ok=True)
            raise
        difference = max_difference(got, reference_logits(estimator, rows, n))
        if not difference <= TOLERANCE:
            path.unlink(missing_ok=True)
            raise ValueError(
                f"The ExecuTorch program's logits differ from the ensemble's by {difference:.2g} "
                f"(more than {TOLERANCE:g}); the file was removed. Try xnnpack=False.")
    return path


def run_program(path, X, method="forward"):
    """Run a ``.pte`` program's method on ``X`` (one call) in ExecuTorch's runtime."""
    with _quiet_stderr():
        from executorch.runtime import Runtime

        forward = Runtime.get().load_program(str(path)).load_method(method)
    return forward.execute([torch.as_tensor(X, dtype=torch.float32)])[0].numpy()


@contextlib.contextmanager
def _quiet_export():
    """torch.export's and ExecuTorch's notices that are not the user's business."""
    with warnings.catch_warnings():
        # deprecations inside torch.export and ExecuTorch, and its "experimental API" notes
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r".*experimental", category=UserWarning)
        yield


@contextlib.contextmanager
def _quiet_stderr():
    """Hide the process's stderr (file descriptor 2): ExecuTorch's runtime logs
    its CPU probing (``cpuinfo_utils.cpp``) there when it starts, and torchao
    the CUDA kernels it cannot load; neither is the user's business."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to hide
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)
