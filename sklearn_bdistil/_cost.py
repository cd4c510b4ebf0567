"""Inference cost per row: FLOPs and parameter counts of students and teachers.

FLOPs are counted by :class:`torch.utils.flop_counter.FlopCounterMode` on a
batch of one row: 2 FLOPs per multiply-add of matrix products and
convolutions. Element-wise work (activations, pooling, the softmax) is not
counted; for the small students here it is a few percent of the total.
Latency is measured, not counted: see :func:`module_latency`.
"""

import statistics
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from sklearn_bdistil._modes import eval_mode, module_placement

__all__ = ["LATENCY_BATCH_SIZES", "hgb_iteration_costs", "module_flops", "module_latency",
           "module_params", "set_stage_costs", "stage_flops", "stage_latency", "stage_params",
           "teacher_flops", "tree_comparisons"]

#: Batch sizes at which ``stage_latency_`` is measured: one row, and a large batch.
LATENCY_BATCH_SIZES = (1, 1024)


@torch.no_grad()
def module_flops(module, n_features_in):
    """FLOPs of one forward pass of ``module`` on one row of ``n_features_in`` floats."""
    # the probe row in the module's own device and floating dtype (e.g. a float64 teacher)
    device, dtype = module_placement(module)
    counter = FlopCounterMode(display=False)
    with eval_mode(module), counter:
        module(torch.zeros(1, n_features_in, device=device, dtype=dtype))
    return float(counter.get_total_flops())


def _stage_call(student, connection, state_width):
    """A module running one stage (student, and connection when there is one)."""
    from sklearn_bdistil.students._connections import stage_forward

    if state_width is None:
        return student

    class _Stage(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.student, self.connection = student, connection

        def forward(self, x):
            # the previous state is part of the input row: its width is fixed
            n_features = x.shape[1] - state_width
            return stage_forward(self.student, self.connection, x[:, :n_features],
                                 x[:, n_features:])[0]

    return _Stage()


def stage_flops(student, connection, n_features_in, state_width=None):
    """FLOPs per row of one stage: the student and its connection.

    ``state_width`` is the width of the previous stage's state (``None`` for
    an unconnected stage or the first stage).
    """
    width = 0 if state_width is None else state_width
    return module_flops(_stage_call(student, connection, state_width), n_features_in + width)


def stage_params(student, connection):
    """Parameters of one stage: the student and its connection."""
    return module_params(student) + (0 if connection is None else module_params(connection))


def stage_latency(student, connection, n_features_in, state_width, batch_size):
    """Measured seconds per row of one stage (see :func:`module_latency`)."""
    width = 0 if state_width is None else state_width
    return module_latency(_stage_call(student, connection, state_width),
                          n_features_in + width, batch_size)


def module_params(module):
    """Number of parameters of ``module``."""
    return int(sum(p.numel() for p in module.parameters()))


def _mlp_classifier_flops(mlp):
    return float(sum(2 * w.shape[0] * w.shape[1] for w in mlp.coefs_))


def tree_comparisons(tree):
    """Expected comparisons per row of a fitted scikit-learn ``tree_``.

    The depth of the leaf a row reaches, averaged over the leaves weighted by
    the training samples that reached them: one comparison per split node on
    the row's path.
    """
    left, right = tree.children_left, tree.children_right
    depth = np.zeros(tree.node_count)
    for node in range(tree.node_count):  # a parent's id is below its children's
        if left[node] != -1:
            depth[left[node]] = depth[right[node]] = depth[node] + 1
    leaves = left == -1
    weight = tree.weighted_n_node_samples[leaves]
    return float((depth[leaves] * weight).sum() / weight.sum())


def hgb_iteration_costs(hgb):
    """FLOPs per row of each boosting iteration of a fitted HistGradientBoosting model.

    Per tree (one per class; one in all for two classes or regression): the
    split nodes a row visits (the leaves' depths weighted by their training
    counts), 1 FLOP per comparison, plus 1 addition of the leaf value.
    Binning the features and the final link are not counted.
    """
    costs = []
    for trees in hgb._predictors:
        cost = 0.0
        for tree in trees:
            leaves = tree.nodes[tree.nodes["is_leaf"] == 1]
            cost += float((leaves["count"] * leaves["depth"]).sum() / leaves["count"].sum()) + 1
        costs.append(cost)
    return np.asarray(costs)


def _sklearn_flops(model, n_features_in):
    """FLOPs per row of a fitted scikit-learn classifier of a family we can count, or None.

    Trees count 1 FLOP per comparison on a row's expected path (see
    :func:`tree_comparisons`), plus the additions that combine trees: one per
    boosted tree, one per class per tree of a forest (averaging the leaves'
    class probabilities). Linear models count 2 FLOPs per coefficient (a
    multiply-add, as the students' matrix products). Kernel SVMs count, per
    support vector, the kernel (2 per feature for a linear kernel, 3 per
    feature otherwise) and the dual coefficients' multiply-adds; k-nearest
    neighbours a brute-force distance to every training row (3 per feature);
    Gaussian naive Bayes 4 per feature and class. Element-wise links (sigmoid,
    softmax, exp) are not counted, as for the students.
    """
    from sklearn import ensemble, naive_bayes, neighbors, svm, tree

    if isinstance(model, (ensemble.HistGradientBoostingClassifier,
                          ensemble.HistGradientBoostingRegressor)):
        return float(hgb_iteration_costs(model).sum())
    if isinstance(model, (ensemble.GradientBoostingClassifier,
                          ensemble.GradientBoostingRegressor)):
        return float(sum(tree_comparisons(t.tree_) + 1 for t in model.estimators_.ravel()))
    if isinstance(model, (ensemble.RandomForestClassifier, ensemble.ExtraTreesClassifier,
                          ensemble.RandomForestRegressor, ensemble.ExtraTreesRegressor)):
        outputs = int(np.prod(model.estimators_[0].tree_.value.shape[1:]))
        return float(sum(tree_comparisons(t.tree_) + outputs for t in model.estimators_))
    if isinstance(model, (tree.DecisionTreeClassifier, tree.ExtraTreeClassifier,
                          tree.DecisionTreeRegressor, tree.ExtraTreeRegressor)):
        return tree_comparisons(model.tree_)
    if isinstance(model, (svm.SVC, svm.NuSVC)):
        per_vector = (2 if model.kernel == "linear" else 3) * n_features_in
        n_vectors = model.support_vectors_.shape[0]
        return float(n_vectors * per_vector + 2 * model.dual_coef_.size)
    if isinstance(model, neighbors.KNeighborsClassifier):
        return float(3 * model.n_samples_fit_ * n_features_in)
    if isinstance(model, naive_bayes.GaussianNB):
        return float(4 * model.theta_.size)
    coef = getattr(model, "coef_", None)
    if isinstance(coef, np.ndarray) and coef.ndim in (1, 2) and coef.size:
        # LogisticRegression, SGDClassifier, RidgeClassifier, LinearSVC, LDA, Perceptron ...
        return float(2 * coef.size)
    return None


def teacher_flops(teacher, n_features_in):
    """FLOPs per row of a teacher, or ``None`` where they cannot be computed.

    Counted for torch modules, skorch nets, scikit-learn's MLPs,
    tree models (decision trees, random and extra forests, gradient boosting,
    HistGradientBoosting), linear models, kernel SVMs, k-nearest neighbours
    and Gaussian naive Bayes (see :func:`_sklearn_flops` for what each
    counts); also inside a ``FrozenEstimator`` or as the last step of a
    ``Pipeline`` (whose earlier steps are not counted). A module whose input
    width is unknown (the last step of a pipeline that changes the width) or
    whose forward pass fails on a zero row is not counted.
    """
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import Pipeline

    inner = getattr(teacher, "estimator", None)
    if type(teacher).__name__ == "FrozenEstimator" and inner is not None:
        return teacher_flops(inner, n_features_in)
    if isinstance(teacher, Pipeline):
        last = teacher.steps[-1][1]
        width = getattr(last, "n_features_in_", None)
        if width is None and len(teacher.steps) > 1:
            width = getattr(teacher.steps[-2][1], "n_features_out_", None)
            if width is None and hasattr(teacher[:-1], "get_feature_names_out"):
                try:
                    width = len(teacher[:-1].get_feature_names_out())
                except Exception:  # a step without feature names
                    width = None
        return None if width is None else teacher_flops(last, int(width))
    if isinstance(teacher, (MLPClassifier, MLPRegressor)) and hasattr(teacher, "coefs_"):
        return _mlp_classifier_flops(teacher)
    module = teacher if isinstance(teacher, torch.nn.Module) else getattr(
        teacher, "module_", None)
    if isinstance(module, torch.nn.Module):
        try:
            return module_flops(module, n_features_in)
        except Exception:  # an input layout we cannot guess: leave it uncounted
            return None
    if type(teacher).__module__.startswith("sklearn."):
        try:
            return _sklearn_flops(teacher, n_features_in)
        except AttributeError:  # not fitted: nothing to count
            return None
    return None


@torch.no_grad()
def module_latency(module, n_features_in, batch_size, repeats=None, device="cpu"):
    """Measured seconds per row of ``module`` on batches of ``batch_size`` rows.

    The median over ``repeats`` timed calls after three warm-up calls;
    wall-clock time on ``device`` (synchronised on CUDA). A measurement, so it
    varies with the machine and its load, unlike FLOPs.
    """
    if repeats is None:
        repeats = 25 if batch_size == 1 else 5
    x = torch.zeros(batch_size, n_features_in, device=device)
    times = []
    with eval_mode(module):
        for _ in range(repeats + 3):
            start = time.perf_counter()
            module(x)
            if x.device.type == "cuda":
                torch.cuda.synchronize(x.device)
            times.append(time.perf_counter() - start)
    return statistics.median(times[3:]) / batch_size


def _state_width(student, connection, connected):
    """Width of the state a stage hands to the next one (``None``: unconnected)."""
    from sklearn_bdistil.students._connections import state_layout

    if not connected:
        return None
    width, has_cell = state_layout(student, connection)
    return 2 * width if has_cell else width


def set_stage_costs(estimator, flops, n_features, latency):
    """Set ``stage_costs_``, ``cumulative_costs_``, ``stage_params_`` and ``stage_latency_``.

    ``flops`` are the kept stages' FLOPs per row (counted by :func:`stage_flops`
    when each stage was kept); ``latency`` maps stage modules to their measured
    latencies and is filled as needed, so a fit that sets its stages after
    every stage measures each once. ``fit`` sets ``teacher_cost_`` with
    :func:`teacher_flops`.
    """
    est = estimator
    est.stage_costs_ = np.asarray(flops, dtype=np.float64)
    est.cumulative_costs_ = np.cumsum(est.stage_costs_)
    stages = list(zip(est.estimators_, est.connections_, strict=True))
    est.stage_params_ = np.asarray([stage_params(m, c) for m, c in stages], dtype=np.int64)
    connected = est.connection != "none"
    widths = ([None] + [_state_width(m, c, connected) for m, c in stages])[:len(stages)]
    for (m, c), w in zip(stages, widths, strict=True):
        if m not in latency:
            latency[m] = [stage_latency(m, c, n_features, w, b) for b in LATENCY_BATCH_SIZES]
    est.stage_latency_ = np.asarray([latency[m] for m, _ in stages],
                                    dtype=np.float64).reshape(-1, 2)
