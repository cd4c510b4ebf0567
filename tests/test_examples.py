"""Smoke tests: every gallery example in examples/ runs to the end.

sphinx-gallery runs the same scripts when the documentation is built; running
them here keeps them working where the docs are not built.
"""

import runpy
import warnings
from pathlib import Path

import pytest
import torch
from threadpoolctl import threadpool_limits

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("plot_*.py"))

#: Optional packages an example needs, found by what its source mentions.
NEEDS = {"load_watch": ("seglearn",), "onnxruntime": ("onnx", "onnxscript", "onnxruntime")}


def test_examples_are_found():
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(path, tmp_path, monkeypatch):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    source = path.read_text(encoding="utf-8")
    for word, modules in NEEDS.items():
        if word in source:
            for module in modules:
                pytest.importorskip(module)
    monkeypatch.chdir(tmp_path)  # whatever an example writes lands here
    threads = torch.get_num_threads()
    # one thread, as in the docs build: tiny models on a busy CPU are many
    # times slower with threads that spin against each other
    torch.set_num_threads(1)
    try:
        with warnings.catch_warnings(), threadpool_limits(1):
            # an example is user code: its warnings are not our errors
            warnings.simplefilter("ignore")
            runpy.run_path(str(path), run_name="__main__")
    finally:
        torch.set_num_threads(threads)
        plt.close("all")
