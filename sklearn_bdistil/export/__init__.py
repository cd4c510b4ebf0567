"""Export a fitted ensemble (or a prefix) for a device runtime."""

from sklearn_bdistil.export._c import find_c_compiler, run_c, to_c
from sklearn_bdistil.export._executorch import to_executorch
from sklearn_bdistil.export._onnx import StagedEnsembleModule, to_onnx, to_torch
from sklearn_bdistil.export._stages import StageModule, stage_modules

__all__ = ["StageModule", "StagedEnsembleModule", "find_c_compiler", "run_c", "stage_modules",
           "to_c", "to_executorch", "to_onnx", "to_torch"]
