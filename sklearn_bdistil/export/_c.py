"""The ensemble as self-contained C99, for microcontrollers.

Each stage is exported to ONNX on its own (batch 1) and turned into C by the
emmtrix ONNX-to-C generator (``emx-onnx-cgen``, PyPI): weights as ``const``
arrays, temporaries on the stack, no dynamic memory. The package writes the
driver around the stages: the connection state carried from one stage to the
next, the running sum of the stage outputs, and the early-exit rule of
``predict_early_exit(confidence="proba")``.

Files written (``N`` stages)::

    bdistil.h                                the API below
    bdistil.c                                the driver
    bdistil_stage1.c ... bdistil_stageN.c    one stage each (generated)

Build: ``cc -O2 -std=c99 main.c bdistil*.c -lm``.
"""

import re
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from sklearn_bdistil.export import _c_templates as T
from sklearn_bdistil.export._onnx import _quiet_exporter
from sklearn_bdistil.export._stages import (
    check_rows,
    max_difference,
    reference_logits,
    stage_modules,
)

__all__ = ["C_INSTALL", "find_c_compiler", "run_c", "to_c"]

C_INSTALL = "pip install 'sklearn-bdistil[c]'"

#: Largest difference from the ensemble's logits the C may show.
TOLERANCE = 1e-4

def _import_cgen():
    try:
        import emx_onnx_cgen  # noqa: F401
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"C export needs emx-onnx-cgen, onnx and onnxscript: {C_INSTALL}."
        ) from exc


def to_c(estimator, directory, n_stages=None, check=True):
    """Write the first ``n_stages`` stages of ``estimator`` as self-contained C99.

    Needs the ``c`` extra (``pip install 'sklearn-bdistil[c]'``: emx-onnx-cgen,
    onnx and onnxscript). The C needs only ``<math.h>``: no dynamic memory,
    no files, the weights as ``const`` arrays.

    Parameters
    ----------
    estimator : fitted BDistilClassifier or BDistilRegressor
    directory : str or os.PathLike
        Where to write ``bdistil.h``, ``bdistil.c`` and one
        ``bdistil_stage<k>.c`` per stage (created if missing; earlier files of
        these names are replaced).
    n_stages : int, default=None
        Number of stages to include; ``None`` includes all.
    check : bool, default=True
        Compile the C with the host's C compiler (``$CC``, ``cc`` or ``gcc``)
        and compare its logits for every prefix with the ensemble's
        (``staged_decision_function``'s logits; a regressor's
        ``staged_predict``) on a few rows; a difference above 1e-4 (relative
        to the outputs' scale where it exceeds 1) is a ``ValueError`` and the
        files are removed. Without a compiler, a warning says the C was not
        checked.

    Returns
    -------
    directory : pathlib.Path

    Notes
    -----
    ``bdistil.h`` defines ``BDISTIL_N_FEATURES``, ``BDISTIL_N_CLASSES`` (the
    outputs per row), ``BDISTIL_N_STAGES`` and declares, for one row::

        void bdistil_logits(const float *x, int n_stages, float *logits);
        int bdistil_early_exit(const float *x, float threshold, float *logits);

    ``bdistil_early_exit`` runs stages until the largest softmax probability
    of the ensemble so far reaches ``threshold`` and returns the number of
    stages it ran: the rule of ``predict_early_exit(confidence="proba")``.
    For a regressor the header defines ``BDISTIL_N_OUTPUTS`` (values per
    row) instead of ``BDISTIL_N_CLASSES`` and declares, in place of both::

        void bdistil_predict(const float *x, int n_stages, float *y);

    the prediction of the first ``n_stages`` stages in the targets' units
    (``predict(X, n_stages=n_stages)``). Build with
    ``cc -O2 -std=c99 main.c bdistil*.c -lm``.

    Examples
    --------
    >>> from sklearn_bdistil.export import to_c  # doctest: +SKIP
    >>> to_c(clf, "bdistil_c")  # doctest: +SKIP
    """
    check_is_fitted(estimator)
    _import_cgen()
    stages = stage_modules(estimator, n_stages)
    regressor = not hasattr(estimator, "classes_")
    n_features = estimator.n_features_in_
    n_classes = estimator.n_outputs_ if regressor else len(estimator.classes_)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        widths = _state_widths(stages, n_features)
        prototypes = []
        for k, stage in enumerate(stages, start=1):
            name = f"bdistil_stage{k}"
            model = _export_stage(stage, n_features, widths[k - 2] if k > 1 else None,
                                  prefix=f"s{k}_")
            c_path = directory / f"{name}.c"
            written.append(c_path)
            c_path.write_text(_generate(model, name))
            prototypes.append(_prototype(c_path, name))
        header, driver = directory / "bdistil.h", directory / "bdistil.c"
        written += [header, driver]
        header.write_text((T.REGRESSOR_HEADER if regressor else T.CLASSIFIER_HEADER).format(
            n=len(stages), n_features=n_features, n_classes=n_classes))
        if regressor:
            api = T.REGRESSOR_API.format(shift=_floats(estimator._target_mean),
                                         scale=_floats(estimator._target_scale))
        else:
            api = T.CLASSIFIER_API.format()
        driver.write_text(T.DRIVER.format(
            prototypes="\n".join(prototypes), state_width=max([1, *widths]),
            cases="\n".join(_case(k, stage, widths, n_features, n_classes)
                            for k, stage in enumerate(stages)), api=api))
        if check:
            _check(estimator, directory, len(stages))
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return directory


def _state_widths(stages, n_features):
    """Width of the state each stage gives (0 where it gives none)."""
    widths, state = [], None
    with torch.no_grad():
        x = torch.zeros(1, n_features)
        for stage in stages:
            out = stage(x, state) if stage.takes_state else stage(x)
            state = out[1] if stage.gives_state else None
            widths.append(0 if state is None else int(state.shape[1]))
    return widths


def _export_stage(stage, n_features, state_width, prefix):
    """One stage to ONNX at batch 1, every internal name prefixed (the C
    generator names its weight arrays after them: stages must not collide)."""
    args = (torch.zeros(1, n_features),)
    inputs, outputs = ["x"], ["logits"]
    if stage.takes_state:
        args += (torch.zeros(1, state_width),)
        inputs.append("state")
    if stage.gives_state:
        outputs.append("new_state")
    with _quiet_exporter(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*training mode")
        program = torch.onnx.export(stage, args, input_names=inputs, output_names=outputs,
                                    dynamo=True, verbose=False)
    model = program.model_proto
    graph = model.graph
    keep = set(inputs) | set(outputs)
    names = {init.name for init in graph.initializer}
    for node in graph.node:
        names.update(node.input)
        names.update(node.output)
    rename = {name: prefix + name for name in names if name and name not in keep}
    for init in graph.initializer:
        init.name = rename.get(init.name, init.name)
    for info in graph.value_info:
        info.name = rename.get(info.name, info.name)
    for node in graph.node:
        node.input[:] = [rename.get(i, i) for i in node.input]
        node.output[:] = [rename.get(o, o) for o in node.output]
    return model


def _generate(model, name):
    """The C of one stage's ONNX model: temporaries on the stack, weights inline."""
    from emx_onnx_cgen import CodegenError, Compiler, ShapeInferenceError, UnsupportedOpError
    from emx_onnx_cgen.compiler import CompilerOptions

    options = CompilerOptions(model_name=name, large_temp_threshold_bytes=0,
                              large_weight_threshold=0)
    try:
        code, weight_data = Compiler(options).compile_with_weight_data(model)
    except (CodegenError, ShapeInferenceError, UnsupportedOpError) as exc:
        raise ValueError(f"emx-onnx-cgen could not turn {name} into C: {exc}") from exc
    if weight_data:  # large_weight_threshold=0 keeps every weight in the C
        raise ValueError(f"emx-onnx-cgen put {name}'s weights in a separate file.")
    return code


def _prototype(c_path, name):
    """The generated stage function's declaration, copied from its definition."""
    match = re.search(rf"^void {name}\((.*)\) \{{$", c_path.read_text(), flags=re.MULTILINE)
    if match is None:
        raise ValueError(f"emx-onnx-cgen wrote no function {name}() to {c_path.name}.")
    return f"void {name}({match.group(1)});"


def _floats(values):
    """A C initialiser list of float literals."""
    return ", ".join(f"{float(v):.9e}f" for v in values)


def _case(k, stage, widths, n_features, n_classes):
    """The driver's call of stage ``k`` (0-based), the flat arrays cast to the
    generated function's row-major ``[1][n]`` parameters."""
    args = [f"(const float (*)[{n_features}])x"]
    if stage.takes_state:
        args.append(f"(const float (*)[{widths[k - 1]}])state_in")
    args.append(f"(float (*)[{n_classes}])step")
    if stage.gives_state:
        args.append(f"(float (*)[{widths[k]}])state_out")
    return f"    case {k}:\n        bdistil_stage{k + 1}({', '.join(args)});\n        break;"


def find_c_compiler():
    """The host's C compiler: ``$CC``, else ``cc``, else ``gcc``; None if none."""
    import os

    for candidate in (os.environ.get("CC"), "cc", "gcc"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


def run_c(directory, X, thresholds=(), compiler=None, flags=("-O2",)):
    """Compile the C that :func:`to_c` wrote with the host's compiler and run it on ``X``.

    For checking an export on the host before it goes to a device.

    Parameters
    ----------
    directory : str or os.PathLike
        What :func:`to_c` wrote.
    X : array-like of shape (n_samples, BDISTIL_N_FEATURES)
    thresholds : sequence of float, default=()
        Thresholds at which to run ``bdistil_early_exit`` on every row (a
        classifier's C only).
    compiler : str, default=None
        Path of the C compiler; :func:`find_c_compiler`'s when None.
    flags : sequence of str, default=("-O2",)

    Returns
    -------
    logits : ndarray of shape (n_stages, n_samples, n_classes)
        ``bdistil_logits`` of every prefix (a regressor's: ``bdistil_predict``,
        ``(n_stages, n_samples, n_outputs)``).
    stages_used : ndarray of shape (n_thresholds, n_samples)
        ``bdistil_early_exit``'s return value.
    exit_logits : ndarray of shape (n_thresholds, n_samples, n_classes)
        The logits ``bdistil_early_exit`` wrote.
    """
    directory = Path(directory)
    header = directory / "bdistil.h"
    if not header.is_file():
        raise FileNotFoundError(f"{directory} holds no bdistil.h: write it with to_c first.")
    defines = dict(re.findall(r"#define (BDISTIL_N_\w+) (\d+)", header.read_text()))
    regressor = "BDISTIL_N_CLASSES" not in defines
    n_features, n_classes, n_stages = (
        int(defines[f"BDISTIL_N_{k}"])
        for k in ("FEATURES", "OUTPUTS" if regressor else "CLASSES", "STAGES"))
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(f"X must have shape (n_samples, {n_features}); got {X.shape}.")
    thresholds = [float(t) for t in thresholds]
    if regressor and thresholds:
        raise ValueError("A regressor's C has no early exit: run_c takes no thresholds.")
    if len(thresholds) > 256:
        raise ValueError("run_c takes at most 256 thresholds.")
    compiler = compiler or find_c_compiler()
    if compiler is None:
        raise RuntimeError("No C compiler found: install gcc (apt-get install gcc) or set $CC.")
    with tempfile.TemporaryDirectory() as tmp:
        runner, binary = Path(tmp) / "runner.c", Path(tmp) / "runner"
        runner.write_text(T.RUNNER)
        sources = [str(runner), str(directory / "bdistil.c"),
                   *sorted(str(p) for p in directory.glob("bdistil_stage*.c"))]
        build = subprocess.run([compiler, *flags, "-std=c99", f"-I{directory}", *sources,
                                "-o", str(binary), "-lm"], capture_output=True, text=True)
        if build.returncode != 0:
            tail = "\n".join(build.stderr.strip().splitlines()[-10:])
            raise RuntimeError(f"Compiling the C in {directory} failed:\n{tail}")
        lines = [f"{len(X)} {len(thresholds)}", " ".join(f"{t:.9g}" for t in thresholds)]
        lines += [" ".join(f"{v:.9g}" for v in row) for row in X]
        result = subprocess.run([str(binary)], input="\n".join(lines) + "\n",
                                capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"The compiled C exited with status {result.returncode}.")
    out = np.array([line.split() for line in result.stdout.strip().splitlines()],
                   dtype=np.float64).reshape(len(X), -1)
    logits = out[:, :n_stages * n_classes].reshape(len(X), n_stages, n_classes)
    rest = out[:, n_stages * n_classes:].reshape(len(X), len(thresholds), 1 + n_classes)
    return (logits.transpose(1, 0, 2), rest[:, :, 0].T.astype(np.intp),
            rest[:, :, 1:].transpose(1, 0, 2))


def _check(estimator, directory, n_stages):
    compiler = find_c_compiler()
    if compiler is None:
        warnings.warn("No C compiler found ($CC, cc, gcc): the C was written but not "
                      "checked. Install gcc, or pass check=False.", UserWarning, stacklevel=3)
        return
    rows = check_rows(estimator, 16)
    logits, _, _ = run_c(directory, rows, compiler=compiler)
    difference = max_difference(logits, reference_logits(estimator, rows, n_stages))
    if not difference <= TOLERANCE:
        raise ValueError(f"The C's logits differ from the ensemble's by {difference:.2g} "
                         f"(more than {TOLERANCE:g}); the files were removed.")
