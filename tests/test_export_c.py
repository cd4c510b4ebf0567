"""to_c: the C that emx-onnx-cgen and the package's driver write, compiled with gcc and run."""

import shutil
import subprocess

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from conftest import FAST
from sklearn_bdistil import BDistilClassifier, Conv1dStudent, Conv2dStudent, MLPStudent
from sklearn_bdistil.export import _c, run_c, to_c

pytest.importorskip("emx_onnx_cgen", reason="needs the c extra: pip install 'sklearn-bdistil[c]'")
pytest.importorskip("onnxscript", reason="needs the c extra: pip install 'sklearn-bdistil[c]'")
needs_cc = pytest.mark.skipif(_c.find_c_compiler() is None,
                              reason="needs a C compiler: apt-get install gcc")

pytestmark = [needs_cc, pytest.mark.filterwarnings("ignore::DeprecationWarning",
                                                    "ignore::FutureWarning")]

# every student type and every connection, with as few exports as that takes
# (each stage costs seconds of ONNX export and C generation)
CASES = {
    "mlp-none": (MLPStudent((6,)), "none", 2),
    "mlp-dense": (MLPStudent((6,)), "dense", 2),
    "conv1d-residual": (Conv1dStudent(n_channels=2, kernel_size=3), "residual", 2),
    "conv2d-gru": (Conv2dStudent(n_channels=1, height=4, n_filters=(4,), kernel_size=2), "gru", 2),
    # three stages: the third LSTM connection projects the previous cell state too
    "conv1d-lstm": (Conv1dStudent(n_channels=2, kernel_size=3), "lstm", 3),
}


def _fit(data, teacher, student, connection, n_estimators):
    X, y = data
    return BDistilClassifier(teacher, [student], connection=connection,
                             **{**FAST, "n_estimators": n_estimators, "gamma": -1.0}).fit(X, y)


@pytest.mark.parametrize("case", list(CASES))
def test_c_matches_staged_logits_and_early_exit(case, data, teacher, tmp_path):
    X, _ = data
    clf = _fit(data, teacher, *CASES[case])
    directory = to_c(clf, tmp_path / "c")
    names = sorted(p.name for p in directory.iterdir())
    n = clf.n_estimators_
    assert names == sorted(["bdistil.c", "bdistil.h"] + [f"bdistil_stage{k}.c"
                                                        for k in range(1, n + 1)])
    header = (directory / "bdistil.h").read_text()
    for define in (f"BDISTIL_N_FEATURES {X.shape[1]}", "BDISTIL_N_CLASSES 3",
                   f"BDISTIL_N_STAGES {n}"):
        assert f"#define {define}" in header
    code = "".join(p.read_text() for p in directory.glob("*.c"))
    assert "malloc" not in code and "fopen" not in code  # no dynamic memory, no files

    thresholds = [0.4, 0.6, 0.8, 0.95]
    logits, used, exit_logits = run_c(directory, X, thresholds)
    expected = np.stack(list(clf.staged_decision_function(X)))
    assert logits.shape == (n, len(X), 3)
    np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)
    for j, t in enumerate(thresholds):
        _, stages = clf.predict_early_exit(X, threshold=t)
        assert np.mean(used[j] == stages) >= 0.99, t
        rows = np.arange(len(X))
        np.testing.assert_allclose(exit_logits[j], expected[used[j] - 1, rows], atol=1e-4,
                                   rtol=0)


def test_binary_prefix_and_clamped_stage_count(data, teacher, tmp_path):
    X, y = data
    keep = y < 2
    X2, y2 = X[keep], y[keep]
    from sklearn.linear_model import LogisticRegression

    clf = BDistilClassifier(LogisticRegression().fit(X2, y2), [MLPStudent((6,))],
                            **{**FAST, "gamma": -1.0}).fit(X2, y2)
    directory = to_c(clf, tmp_path / "c", n_stages=2)
    assert "#define BDISTIL_N_STAGES 2" in (directory / "bdistil.h").read_text()
    logits, _, _ = run_c(directory, X2)
    # two classes: decision_function is F_1 - F_0 of the C's two logits
    decision = np.stack(list(clf.staged_decision_function(X2)))[:2]
    np.testing.assert_allclose(logits[..., 1] - logits[..., 0], decision, atol=1e-4, rtol=0)
    # n_stages outside [1, BDISTIL_N_STAGES] is clamped
    main = tmp_path / "main.c"
    main.write_text(
        '#include <stdio.h>\n#include "bdistil.h"\n'
        "int main(void) { float x[BDISTIL_N_FEATURES] = {0}, a[2], b[2], c[2], d[2];\n"
        "  bdistil_logits(x, 0, a); bdistil_logits(x, 1, b);\n"
        "  bdistil_logits(x, 99, c); bdistil_logits(x, BDISTIL_N_STAGES, d);\n"
        '  printf("%d %d\\n", a[0] == b[0] && a[1] == b[1], c[0] == d[0] && c[1] == d[1]);\n'
        "  return 0; }\n")
    binary = tmp_path / "main"
    cc = _c.find_c_compiler()
    subprocess.run([cc, "-std=c99", "-O2", f"-I{directory}", str(main),
                    *map(str, directory.glob("*.c")), "-o", str(binary), "-lm"], check=True)
    assert subprocess.run([str(binary)], capture_output=True, text=True,
                          check=True).stdout.split() == ["1", "1"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One export (two GRU-connected stages) shared by the tests that only read it."""
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(n_samples=120, n_features=8, n_informative=5, n_classes=3,
                               random_state=0)
    clf = BDistilClassifier(LogisticRegression(max_iter=500).fit(X, y), [MLPStudent((4,))],
                            connection="gru", **{**FAST, "n_estimators": 2, "gamma": -1.0})
    return to_c(clf.fit(X, y), tmp_path_factory.mktemp("c"), check=False)


def test_driver_compiles_cleanly_with_strict_warnings(exported, tmp_path):
    directory = exported
    cc = _c.find_c_compiler()
    result = subprocess.run([cc, "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-c",
                             str(directory / "bdistil.c"), "-o", str(tmp_path / "d.o")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_a_mismatch_is_an_error_and_leaves_no_file(data, teacher, tmp_path, monkeypatch):
    clf = _fit(data, teacher, MLPStudent((4,)), "none", 1)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "main.c").write_text("/* the user's */\n")
    monkeypatch.setattr(_c, "TOLERANCE", -1.0)
    with pytest.raises(ValueError, match="C's logits differ from the ensemble's"):
        to_c(clf, tmp_path / "c")
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["main.c"]


def test_no_compiler_warns_that_the_c_is_unchecked(data, teacher, tmp_path, monkeypatch):
    clf = _fit(data, teacher, MLPStudent((4,)), "none", 1)
    monkeypatch.setattr(_c, "find_c_compiler", lambda: None)
    with pytest.warns(UserWarning, match="No C compiler found"):
        directory = to_c(clf, tmp_path / "c")
    assert (directory / "bdistil_stage1.c").is_file()


def test_errors_name_the_problem(data, teacher, tmp_path, monkeypatch):
    with pytest.raises(NotFittedError):
        to_c(BDistilClassifier(teacher, [MLPStudent()]), tmp_path / "c")
    with pytest.raises(FileNotFoundError, match="write it with to_c first"):
        run_c(tmp_path, np.zeros((1, 8)))
    import builtins

    real_import = builtins.__import__

    def no_cgen(name, *args, **kwargs):
        if name.startswith("emx_onnx_cgen"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    clf = _fit(data, teacher, MLPStudent((4,)), "none", 1)
    monkeypatch.setattr(builtins, "__import__", no_cgen)
    with pytest.raises(ImportError, match=r"pip install 'sklearn-bdistil\[c\]'"):
        to_c(clf, tmp_path / "c")


def test_run_c_checks_the_rows(exported):
    with pytest.raises(ValueError, match=r"shape \(n_samples, 8\)"):
        run_c(exported, np.zeros((2, 5)))


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None,
                    reason="needs Arm's cross compiler: apt-get install gcc-arm-none-eabi")
def test_cross_compiles_for_a_cortex_m4(exported, tmp_path):
    for source in exported.glob("*.c"):
        subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
                        "-mfpu=fpv4-sp-d16", "-std=c99", "-O2", "-c", str(source), "-o",
                        str(tmp_path / (source.stem + ".o"))], check=True)
