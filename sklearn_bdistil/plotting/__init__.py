"""Display objects for accuracy-vs-cost curves (matplotlib, imported lazily)."""

from sklearn_bdistil.plotting._cost_curve import CostCurveDisplay

__all__ = ["CostCurveDisplay"]
