"""The ensemble as one torch module, and as one ONNX file.

The exported graph has one float32 input ``input`` of shape
``(batch, n_features)`` (dynamic batch axis) and one output ``stage_logits`` of
shape ``(n_stages, batch, n_classes)``: the cumulative logits ``F_k`` after
every stage, so a runtime can read any prefix (and stop evaluating students
once its budget is spent, by running a prefix export).
"""

import contextlib
import copy
import logging
import warnings

import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

__all__ = ["StagedEnsembleModule", "to_torch", "to_onnx"]


class _NoConnection(nn.Module):
    """Placeholder for an unconnected stage: the state is the student's own features."""

    def forward(self, z, state):
        return z

    def features(self, state):
        return state


class StagedEnsembleModule(nn.Module):
    """``x -> stack([F_1(x), ..., F_k(x)])``, the cumulative logits of each stage.

    The module exports with :func:`torch.export.export` and
    :func:`torch.onnx.export`.

    Parameters
    ----------
    students : list of torch.nn.Module
    weights : sequence of float
        Stage weights ``a_t``.
    connections : list of torch.nn.Module or None, default=None
        Each stage's connection to the previous one (``None`` entries for
        unconnected stages); the hidden state is carried from stage to stage.
    output_shift, output_scale : sequence of float, default=None
        A regressor's link, per output: the module returns
        ``output_shift + output_scale * F_k``, in the targets' units. ``None``
        (a classifier): the cumulative logits themselves.
    """

    connected: torch.jit.Final[bool]
    scaled: torch.jit.Final[bool]

    def __init__(self, students, weights, connections=None, output_shift=None,
                 output_scale=None):
        super().__init__()
        if len(students) != len(weights) or not len(students):
            raise ValueError("Need one weight per student and at least one student.")
        connections = list(connections) if connections is not None else [None] * len(students)
        if len(connections) != len(students):
            raise ValueError(f"Need one connection (or None) per student: got "
                             f"{len(connections)} connections for {len(students)} students.")
        self.students = nn.ModuleList(students)
        self.connected = any(c is not None for c in connections)
        # TorchScript can only index a ModuleList with literals, so forward zips
        # over the students and connections; unconnected stages get a placeholder.
        self.connections = nn.ModuleList([c if c is not None else _NoConnection()
                                          for c in connections])
        self.register_buffer("weights", torch.as_tensor(list(weights), dtype=torch.float32))
        self.scaled = output_scale is not None
        self.register_buffer("output_shift", torch.as_tensor(
            [0.0] if output_shift is None else list(output_shift), dtype=torch.float32))
        self.register_buffer("output_scale", torch.as_tensor(
            [1.0] if output_scale is None else list(output_scale), dtype=torch.float32))

    def forward(self, x):
        outputs = []
        F = torch.zeros(0)
        state: torch.Tensor | None = None
        # TorchScript's zip takes no strict=; __init__ checks the lengths agree
        for k, (student, connection) in enumerate(zip(self.students,  # noqa: B905
                                                      self.connections)):
            if self.connected:
                # as students._connections.stage_forward, which TorchScript cannot
                # compile (it takes modules as arguments)
                z = student.features(x)
                if state is None:
                    state = z
                    logits = student.head(z)
                else:
                    state = connection(z, state)
                    logits = student.head(connection.features(state))
            else:
                logits = student(x)
            step = self.weights[k] * logits
            F = step if k == 0 else F + step
            outputs.append(self.output_shift + self.output_scale * F if self.scaled else F)
        return torch.stack(outputs)


def to_torch(estimator, n_stages=None):
    """A :class:`StagedEnsembleModule` (eval mode, CPU, float32) of the first ``n_stages``.

    Parameters
    ----------
    estimator : fitted BDistilClassifier or BDistilRegressor
    n_stages : int, default=None
        Number of stages to include; ``None`` includes all.

    Returns
    -------
    module : StagedEnsembleModule
        Maps ``(batch, n_features)`` float32 rows to the cumulative logits of
        every stage, ``(n_stages, batch, n_classes)``; for a regressor, every
        stage's predictions ``(n_stages, batch, n_outputs)`` in the targets'
        units. A copy, independent of the estimator.

    Examples
    --------
    >>> import torch
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_bdistil import BDistilClassifier, MLPStudent
    >>> from sklearn_bdistil.export import to_torch
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = BDistilClassifier(LogisticRegression(max_iter=500).fit(X, y),
    ...                         [MLPStudent((4,))], n_estimators=2, max_epochs=20,
    ...                         random_state=0).fit(X)
    >>> to_torch(clf)(torch.as_tensor(X[:5], dtype=torch.float32)).shape
    torch.Size([2, 5, 3])
    """
    check_is_fitted(estimator)
    n = estimator._n_stages_for(n_stages, None)  # at least 1, or NotFittedError

    def copy_(m):
        return None if m is None else copy.deepcopy(m).cpu().float()

    shift = getattr(estimator, "_target_mean", None)  # a regressor's link
    scale = getattr(estimator, "_target_scale", None)
    return StagedEnsembleModule([copy_(m) for m in estimator.estimators_[:n]],
                                estimator.estimator_weights_[:n],
                                [copy_(c) for c in estimator.connections_[:n]],
                                None if shift is None else shift.tolist(),
                                None if scale is None else scale.tolist()).eval()


def to_onnx(estimator, path, n_stages=None, opset_version=None):
    """Write the first ``n_stages`` stages of ``estimator`` to one ONNX file.

    Needs the ``onnx`` extra (``pip install 'sklearn-bdistil[onnx]'``: onnx and
    onnxscript for torch's exporter, onnxruntime to run the file).

    Parameters
    ----------
    estimator : fitted BDistilClassifier or BDistilRegressor
    path : str or os.PathLike
    n_stages : int, default=None
    opset_version : int, default=None
        ONNX opset; ``None`` lets torch choose (18 with torch 2.13). Torch
        builds opset 18 and converts it to an older one; where that
        conversion fails (``"gru"`` and ``"lstm"`` connections below 18) or
        yields another opset, a ``ValueError`` says so and no file is left.

    Returns
    -------
    path : str or os.PathLike
        Where the model was written. Input ``input`` (float32, ``(batch,
        n_features)``), output ``stage_logits`` (``(n_stages, batch,
        n_classes)``; a regressor's: every stage's predictions,
        ``(n_stages, batch, n_outputs)``).

    Examples
    --------
    >>> import numpy as np, onnxruntime  # doctest: +SKIP
    >>> to_onnx(clf, "ensemble.onnx")  # doctest: +SKIP
    >>> session = onnxruntime.InferenceSession("ensemble.onnx")  # doctest: +SKIP
    >>> logits = session.run(None, {"input": X.astype(np.float32)})[0]  # doctest: +SKIP
    >>> logits[2]  # the cumulative logits after stage 3  # doctest: +SKIP
    """
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "ONNX export needs onnx and onnxscript: pip install 'sklearn-bdistil[onnx]'."
        ) from exc
    module = to_torch(estimator, n_stages)
    example = torch.zeros(2, estimator.n_features_in_)
    batch = torch.export.Dim("batch")
    with _quiet_exporter():
        program = torch.onnx.export(
            module, (example,), input_names=["input"], output_names=["stage_logits"],
            dynamic_shapes={"x": {0: batch}}, opset_version=opset_version, dynamo=True,
            verbose=False,
        )
    program.save(str(path))
    _check_written(path, opset_version)
    return path


@contextlib.contextmanager
def _quiet_exporter():
    """Silence what torch's exporter says that is not the user's business: that
    torchvision's operators (never in an ensemble) are skipped when torchvision
    is not installed, and torch's internal deprecation of ``LeafSpec``."""
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*LeafSpec", category=FutureWarning)
            yield
    finally:
        logger.setLevel(level)


def _check_written(path, opset_version):
    """Refuse (and remove) a file of another opset than asked, or not valid ONNX.

    torch's exporter converts its opset-18 graph to an older opset where
    asked; the conversion can leave an opset-18 file or an invalid one (e.g.
    ``Split`` with opset 18's ``num_outputs``) while ``export`` returns
    normally.
    """
    import os

    import onnx

    model = onnx.load(str(path))
    written = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                   None)
    problem = None
    if opset_version is not None and written != opset_version:
        problem = f"torch's exporter wrote opset {written}, not opset_version={opset_version}"
    else:
        try:
            onnx.checker.check_model(model, full_check=True)
        except onnx.checker.ValidationError as exc:
            first = str(exc).strip().splitlines()[0]
            problem = f"torch's exporter wrote an invalid opset-{written} file ({first})"
    if problem is not None:
        os.remove(path)
        raise ValueError(
            f"{problem}. The file was removed. Use opset_version=None (opset 18) or "
            "later: every student and connection exports there."
        )
