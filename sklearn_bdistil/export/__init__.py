"""Export a fitted ensemble (or a prefix) for a device runtime."""

from sklearn_bdistil.export._onnx import StagedEnsembleModule, to_onnx, to_torch

__all__ = ["StagedEnsembleModule", "to_onnx", "to_torch"]
