"""CostCurveDisplay: accuracy or another metric (and agreement with the teacher) against cost."""

import numpy as np

__all__ = ["CostCurveDisplay"]

_RELATIVE_LABEL = "cumulative cost (fraction of the teacher's FLOPs)"
_FLOPS_LABEL = "cumulative cost (FLOPs per row)"


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "CostCurveDisplay needs matplotlib: pip install 'sklearn-bdistil[plot]'."
        ) from exc
    return plt


class CostCurveDisplay:
    """Accuracy-vs-cost curve of a staged ensemble, in the style of sklearn's Displays.

    Build it with :meth:`from_estimator` (a fitted
    :class:`~sklearn_bdistil.BDistilClassifier`) or :meth:`from_staged` (any
    method's per-stage costs and accuracies, e.g. a baseline), then call
    :meth:`plot`. Several displays drawn on one ``ax`` overlay their curves
    (all with a ``teacher_cost``, or all without: a ``ValueError`` refuses
    mixing the two x units; the teacher's accuracy line is drawn once).

    Parameters
    ----------
    cost : ndarray of shape (n_stages,)
        Cumulative cost (FLOPs per row) after each stage.
    accuracy : ndarray of shape (n_stages,)
    agreement : ndarray of shape (n_stages,), default=None
        Agreement with the teacher's predictions after each stage.
    teacher_cost : float, default=None
        When given, the x axis is cost as a fraction of the teacher's.
    teacher_accuracy : float, default=None
        Drawn as a horizontal reference line.
    name : str, default=None
    cost_label : str, default=None
        The x axis's label, for a cost that is not FLOPs: e.g. ``"cumulative
        latency (µs per row, compiled C)"`` for latencies measured on a
        device (with ``teacher_cost=None``). By default the FLOPs' label.
    metric_label : str, default=None
        The y axis's label, for another metric than accuracy (``accuracy``
        then holds its values): e.g. ``"R^2"`` or ``"mean absolute error"``
        for a regressor. By default ``"accuracy"``.
    agreement_label : str, default=None
        What ``agreement`` measures, for the right axis and the legend: e.g.
        ``"R^2 against the teacher"`` for a regressor. By default the share
        of predictions equal to the teacher's.

    Attributes
    ----------
    line_ : matplotlib Line2D
    agreement_line_ : matplotlib Line2D or None
        Drawn dashed on its own y axis, on the right.
    agreement_ax_ : matplotlib Axes or None
        That axis (``ax_.twinx()``, shared by the displays drawn on ``ax_``).
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn_bdistil.plotting import CostCurveDisplay
    >>> disp = CostCurveDisplay([10, 20, 30], [0.8, 0.85, 0.9], teacher_cost=100,
    ...                         name="ensemble").plot()
    >>> disp.line_.get_xdata().tolist()
    [0.1, 0.2, 0.3]
    """

    def __init__(self, cost, accuracy, *, agreement=None, teacher_cost=None,
                 teacher_accuracy=None, name=None, cost_label=None, metric_label=None,
                 agreement_label=None):
        self.cost = np.asarray(cost, dtype=np.float64)
        self.accuracy = np.asarray(accuracy, dtype=np.float64)
        self.agreement = None if agreement is None else np.asarray(agreement, dtype=np.float64)
        if self.cost.shape != self.accuracy.shape or self.cost.ndim != 1:
            raise ValueError(
                f"cost and accuracy must be 1-D of one length; got {self.cost.shape} "
                f"and {self.accuracy.shape}."
            )
        if self.agreement is not None and self.agreement.shape != self.cost.shape:
            raise ValueError("agreement must have the shape of cost.")
        if teacher_cost is not None and not teacher_cost > 0:
            raise ValueError(f"teacher_cost must be positive (or None), got {teacher_cost!r}.")
        self.teacher_cost = teacher_cost
        self.teacher_accuracy = teacher_accuracy
        self.name = name
        self.cost_label = cost_label
        self.metric_label = metric_label
        self.agreement_label = agreement_label

    @classmethod
    def from_estimator(cls, estimator, X, y, *, show_agreement=True, relative=True,
                       metric=None, metric_label=None, name=None, ax=None, **kwargs):
        """Compute the staged curve of a fitted ensemble on ``(X, y)`` and plot it.

        Parameters
        ----------
        estimator : fitted BDistilClassifier or BDistilRegressor
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        show_agreement : bool, default=True
            Also draw agreement with the teacher (its predictions on ``X``):
            the share of equal predictions for a classifier, ``metric``
            against the teacher's predictions for a regressor.
        metric : callable, default=None
            ``metric(y_true, y_pred) -> float`` on the y axis, e.g.
            ``sklearn.metrics.mean_absolute_error``; by default accuracy for
            a classifier and R^2 (``sklearn.metrics.r2_score``) for a regressor.
        metric_label : str, default=None
            Its axis label; by default ``"accuracy"``, ``"R^2"``, or the
            metric's name.
        relative : bool, default=True
            Cost as a fraction of the teacher's, where the teacher's is known.
        name : str, default=None
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : CostCurveDisplay
        """
        from sklearn.utils.validation import check_is_fitted

        from sklearn_bdistil._teacher import (
            is_dataframe,
            is_fitted,
            teacher_logits,
            teacher_predictions,
        )

        check_is_fitted(estimator)
        y = np.asarray(y)
        staged = list(estimator.staged_predict(X))
        regressor = not hasattr(estimator, "classes_")
        if metric is None:
            if regressor:
                from sklearn.metrics import r2_score as metric

                metric_label = metric_label or "R^2"
            else:
                def metric(y_true, y_pred):
                    return (np.asarray(y_pred) == np.asarray(y_true)).mean()

                metric_label = metric_label or "accuracy"
        metric_label = metric_label or getattr(metric, "__name__", "metric").replace("_", " ")
        accuracy = [float(metric(y, p)) for p in staged]
        agreement, teacher_accuracy = None, None
        if show_agreement:
            if not is_fitted(estimator.teacher_):
                given = "teacher_predictions" if regressor else "teacher_logits"
                raise ValueError(
                    "show_agreement=True compares with the teacher's predictions, but the "
                    f"teacher is not fitted (the ensemble was fitted on {given}). "
                    "Pass a fitted teacher, or show_agreement=False.")
            # a DataFrame reaches the teacher as it is, as in fit
            rows = X if is_dataframe(X) else np.asarray(X)
            if regressor:
                P, _ = teacher_predictions(estimator.teacher_, rows,
                                           estimator.predict_batch_size)
                teacher_pred = P[:, 0] if y.ndim == 1 else P
                agreement = [float(metric(teacher_pred, p)) for p in staged]
            else:
                G = teacher_logits(estimator.teacher_, rows, estimator.predict_batch_size)
                teacher_pred = estimator.classes_[G.argmax(axis=1)]
                agreement = [float((p == teacher_pred).mean()) for p in staged]
            teacher_accuracy = float(metric(y, teacher_pred))
        teacher_cost = estimator.teacher_cost_ if relative else None
        display = cls(estimator.cumulative_costs_, accuracy, agreement=agreement,
                      teacher_cost=teacher_cost, teacher_accuracy=teacher_accuracy,
                      name=name or type(estimator).__name__, metric_label=metric_label,
                      agreement_label=f"{metric_label} against the teacher" if regressor
                      else None)
        return display.plot(ax=ax, **kwargs)

    @classmethod
    def from_staged(cls, cost, accuracy, *, teacher_cost=None, name=None, cost_label=None,
                    metric_label=None, ax=None, **kwargs):
        """Plot any method's cumulative cost and accuracy (or ``metric_label``'s metric)
        per stage: a baseline, or an ensemble against latency measured on a device
        (``cost_label``)."""
        return cls(cost, accuracy, teacher_cost=teacher_cost, name=name,
                   cost_label=cost_label, metric_label=metric_label).plot(ax=ax, **kwargs)

    def plot(self, ax=None, *, name=None, marker="o", **kwargs):
        """Draw the curve (and agreement, and the teacher's accuracy) on ``ax``.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            A new figure's when None.
        name : str, default=None
            Legend label of the curve; ``self.name`` when None.
        marker : str, default="o"
        **kwargs
            Passed to matplotlib's ``ax.plot`` for the accuracy curve, and, but
            for ``label`` and the line style, for the agreement curve.

        Returns
        -------
        self : CostCurveDisplay
        """
        plt = _pyplot()
        if ax is None:
            # constrained: the legend below the axes stays inside the figure
            _, ax = plt.subplots(layout="constrained")
        xlabel = self.cost_label or (_RELATIVE_LABEL if self.teacher_cost is not None
                                     else _FLOPS_LABEL)
        drawn = getattr(ax, "_bdistil_cost_label", None)  # what earlier displays drew
        if drawn is not None and drawn != xlabel:
            raise ValueError(
                f"This ax already shows {drawn!r}, and this display's x axis is "
                f"{xlabel!r}: curves in both units on one ax would be misread. Give every "
                "display a teacher_cost (relative=True), or none (relative=False), and "
                "one cost_label.")
        x = self.cost if self.teacher_cost is None else self.cost / self.teacher_cost
        ylabel = self.metric_label or "accuracy"
        label = kwargs.pop("label", None) or name or self.name or ylabel
        (self.line_,) = ax.plot(x, self.accuracy, marker=marker, label=label, **kwargs)
        self.agreement_line_ = self.agreement_ax_ = None
        if self.agreement is not None:
            # its own y axis (right): on the accuracy's, the two ranges squash each other
            twin = getattr(ax, "_bdistil_agreement_ax", None)
            if twin is None:
                twin = ax._bdistil_agreement_ax = ax.twinx()
                twin.set_ylabel(f"{self.agreement_label or 'agreement with the teacher'} "
                                "(dashed)")
            shared = {k: v for k, v in kwargs.items()
                      if k not in ("linestyle", "ls", "color", "c")}
            what = self.agreement_label or "agreement with teacher"
            (self.agreement_line_,) = twin.plot(
                x, self.agreement, marker=marker, linestyle="--", markerfacecolor="none",
                color=self.line_.get_color(), label=f"{label} ({what})",
                **shared)
            self.agreement_ax_ = twin
        if self.teacher_accuracy is not None and not any(  # once per ax
                line.get_label() == f"teacher {ylabel}"
                and list(line.get_ydata()) == [self.teacher_accuracy] * 2
                for line in ax.get_lines()):
            ax.axhline(self.teacher_accuracy, color="gray", linestyle=":",
                       label=f"teacher {ylabel}")
        ax.set_xlabel(xlabel)
        ax._bdistil_cost_label = xlabel
        ax.set_ylabel(ylabel)
        # one legend for both y axes, below the plot: never over the curves' ends
        handles, labels = ax.get_legend_handles_labels()
        twin = getattr(ax, "_bdistil_agreement_ax", None)
        if twin is not None:
            more = twin.get_legend_handles_labels()
            handles, labels = handles + more[0], labels + more[1]
        ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2,
                  frameon=False)
        self.ax_, self.figure_ = ax, ax.figure
        return self
