"""Lab notebook: per-round early stopping of FIND_WL on the held-out part.

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python -m benchmarks.lab_find_wl_stop \
        --datasets watch [--seeds 0 1 2] [--quick] [--variants default es-best ...] \
        [--out /tmp/lab17]

Per data set and seed, on one split and one teacher (as in ``benchmarks.labels``):
B-DISTIL with the library defaults (``label_weight=0.9``, the blocks held-out
split, ``fit(X, y)``), in each variant below. Nothing in the library is
edited: the variants monkeypatch it for the duration of one fit.

- ``default``: the library as it is.
- ``es-best``: after every FIND_WL epoch the candidate stage is scored by the
  quantity acceptance uses, the held-out distillation loss of the ensemble
  after the (shrunk) line-searched step, ``KD(Fv + lr * a f_v; Gv)`` with
  ``a = line_search(F, f, G)`` on the training rows; the parameters of the
  best epoch are restored at the end of the round; all ``max_epochs`` epochs
  are trained.
- ``es-patience``: the same, stopping after ``3`` epochs without a held-out
  improvement (then restoring the best).
- ``es-best-kd``: restore best by the FIND_WL criterion itself on the held-out
  rows, ``KD(Fv + f_v; Gv) + lam * B(f_v; Dv)`` (unit step, ``Dv`` the
  distribution player's weights on the held-out residual, the round's training
  scale), all epochs trained.

The held-out rows are only ever forwarded (no gradient), in eval mode, and the
scoring draws nothing from torch's random state, so the training trajectory of
every round is the default's: only the epoch whose parameters are kept
changes. (The same held-out rows then also decide acceptance, which is
therefore optimistic after a selection on them.)

How it is patched (see :func:`patched`): ``sklearn_bdistil._base.find_wl``
(the name the boosting loop calls) is wrapped to publish the round's
``(estimator, loss, Transfer, targets)``, and
``sklearn_bdistil._find_wl.FindWLNet`` (which ``train_student`` looks up at call
time) is replaced by a subclass that adds :class:`HeldOutStopper` to its
callbacks and ends ``fit_loop`` quietly on :class:`_StopEarly` (skorch's own
``EarlyStopping`` raises ``KeyboardInterrupt``, which ``FindWLNet`` turns into an
interrupted fit). Supports ``connection="none"`` and connected stages (the
module is then a ``ConnectedTrainer`` and ``Transfer.outputs`` forwards the
cached state); not the ``accelerator`` path.

AUC: mean anytime accuracy over the ``default`` run's budget range (first and
last cumulative cost), floor the majority class, as in ``benchmarks.labels``;
``auc_doc`` is the same over the range of the committed
``docs/results/labels_<name>.json`` run of that seed (its reference variant),
to check ``default`` against the documented ``w=0.9 blocks`` numbers.
Writes ``<out>/<datasets>.json`` and ``.md``; prints a table last.
"""

import contextlib
import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback

import sklearn_bdistil._base as _base_mod
import sklearn_bdistil._find_wl as _fw
from benchmarks import _common as C
from benchmarks.compare import bdistil_params
from benchmarks.labels import lab_main, lab_parser, lab_seed, per_dataset
from sklearn_bdistil import BDistilClassifier
from sklearn_bdistil._game import signed_weights
from sklearn_bdistil._loss import pack_targets

ROOT = Path(__file__).resolve().parent.parent

VARIANTS = {
    "default": None,
    "es-best": {"criterion": "accept", "patience": None},
    "es-patience": {"criterion": "accept", "patience": 3},
    "es-best-kd": {"criterion": "heldout", "patience": None},
}
DEFAULT_VARIANTS = ("default", "es-best", "es-patience")


# ------------------------------------------------------------ the patch

class _StopEarly(Exception):
    """Raised by :class:`HeldOutStopper` to end a round's training early."""


class _Round:
    """What the callback of the current FIND_WL round needs (set by the wrapper)."""

    def __init__(self):
        self.settings = None   # the variant's dict while a patched fit runs
        self.estimator = self.loss = self.t = self.targets = None
        self.log = []          # one dict per trained student: best epoch, epochs run
        self._heldout_targets = None

    def active(self):
        return self.settings is not None and self.t is not None and self.t.has_valid

    def split_module(self, module):
        if isinstance(module, _fw.ConnectedTrainer):
            return module.student, module.connection
        return module, None

    def score(self, module):
        """Held-out score of the module as it stands (lower is better)."""
        est, loss, t = self.estimator, self.loss, self.t
        student, connection = self.split_module(module)
        fv = t.outputs(student, connection, est.predict_batch_size, valid=True)[0]
        if self.settings["criterion"] == "accept":
            f = t.outputs(student, connection, est.predict_batch_size)[0]
            a = est.learning_rate * loss.step(t.F, f, t.G)
            return loss.evaluate(t.Fv + a * fv, t.Gv)  # a = 0: the current held-out loss
        # the FIND_WL criterion on the held-out rows (unit step)
        with torch.no_grad():
            if self._heldout_targets is None:
                scale = loss.residual(t.G, t.F)[1]
                Dv = signed_weights(loss.residual(t.Gv, t.Fv)[0], est.eta, scale)
                self._heldout_targets = pack_targets(t.Gv, t.Fv, Dv)
            criterion, kwargs = loss.criterion()
            return float(criterion(**kwargs)(fv, self._heldout_targets))


ROUND = _Round()


class HeldOutStopper(Callback):
    """Scores the student on the held-out rows after each epoch; keeps the best."""

    def on_train_begin(self, net, **kwargs):
        self.best, self.best_epoch, self.best_state, self.wait = math.inf, 0, None, 0

    def on_epoch_end(self, net, **kwargs):
        score = ROUND.score(net.module_)
        epoch = len(net.history)
        net.history.record("heldout_score", score)
        if np.isfinite(score) and score < self.best:
            self.best, self.best_epoch, self.wait = score, epoch, 0
            self.best_state = copy.deepcopy(net.module_.state_dict())
        else:
            self.wait += 1
        patience = ROUND.settings["patience"]
        if patience is not None and self.wait >= patience:
            raise _StopEarly

    def on_train_end(self, net, **kwargs):
        if self.best_state is not None:
            net.module_.load_state_dict(self.best_state)
        ROUND.log.append({"best_epoch": self.best_epoch, "epochs": len(net.history),
                          "max_epochs": net.max_epochs,
                          "last_is_best": self.best_epoch == len(net.history)})


_ORIGINAL_NET = _fw.FindWLNet
_ORIGINAL_FIND_WL = _fw.find_wl


class EarlyStoppedFindWLNet(_ORIGINAL_NET):
    """``FindWLNet`` plus :class:`HeldOutStopper` while a patched fit runs."""

    @property
    def _default_callbacks(self):
        callbacks = list(super()._default_callbacks)
        if ROUND.active():
            callbacks.append(("heldout_stopper", HeldOutStopper()))
        return callbacks

    def fit_loop(self, X, y=None, **fit_params):
        try:
            return super().fit_loop(X, y, **fit_params)
        except _StopEarly:  # partial_fit then calls on_train_end: the best is restored
            return self


def _find_wl_with_round(estimator, loss, factory, t, targets, previous, seed):
    ROUND.estimator, ROUND.loss, ROUND.t, ROUND.targets = estimator, loss, t, targets
    ROUND._heldout_targets = None
    try:
        return _ORIGINAL_FIND_WL(estimator, loss, factory, t, targets, previous, seed)
    finally:
        ROUND.estimator = ROUND.loss = ROUND.t = ROUND.targets = None


@contextlib.contextmanager
def patched(settings):
    """The library with held-out early stopping of FIND_WL (``settings``: a VARIANTS
    entry); nothing patched for ``None``."""
    ROUND.log = []
    if settings is None:
        yield ROUND.log
        return
    ROUND.settings = settings
    saved = (_fw.FindWLNet, _base_mod.find_wl)
    _fw.FindWLNet, _base_mod.find_wl = EarlyStoppedFindWLNet, _find_wl_with_round
    try:
        yield ROUND.log
    finally:
        _fw.FindWLNet, _base_mod.find_wl = saved
        ROUND.settings = None


# ------------------------------------------------------------ the lab

def doc_range(name, seed):
    """``(lo, hi)`` of the committed labels run of ``name`` and ``seed``, and its
    documented ``w=0.9 blocks`` AUC, or ``None``."""
    path = ROOT / "docs" / "results" / f"labels_{name}.json"
    if not path.exists():
        return None
    for r in json.loads(path.read_text())["runs"]:
        if r["dataset"] == name and r["seed"] == seed:
            v = r["variants"].get("w=0.9 blocks")
            return (r["baselines"]["lo"], r["baselines"]["hi"],
                    None if v is None else v["auc"],
                    None if v is None else [p["accuracy"] for p in v["curve"]])
    return None


def run_seed(name, seed, quick, variants, log=print):
    lab = lab_seed(name, seed, quick)
    split, teacher, teacher_name, G = lab.split, lab.teacher, lab.teacher_name, lab.G
    teacher_pred, teacher_acc, floor, students = (lab.teacher_pred, lab.teacher_acc,
                                                  lab.floor, lab.students)
    doc = doc_range(name, seed)
    log(f"[{name} seed {seed}] teacher {teacher_name}: acc {teacher_acc:.4f}"
        + (f"; documented w=0.9 blocks AUC {doc[2]:.4f}" if doc and doc[2] else ""))
    rows, ref = {}, None
    for label in variants:
        clf = BDistilClassifier(teacher, students, random_state=seed,
                                **bdistil_params(quick, {"label_weight": 0.9}))
        with patched(VARIANTS[label]) as rounds:
            t0 = time.perf_counter()
            C.quiet_fit(clf, split.X_train, split.y_train, teacher_logits=G)
            seconds = time.perf_counter() - t0
        costs = np.asarray(clf.cumulative_costs_, dtype=float)
        curve = C.curve_from_preds(list(clf.staged_predict(split.X_test)), costs,
                                   split.y_test, teacher_pred)
        if ref is None:  # the first variant fixes the budget range
            ref = {"lo": float(costs[0]), "hi": float(costs[-1]), "variant": label,
                   # the same for every variant and seed: one to n_estimators stages of
                   # the first stage's cost (what the documented labels runs' reference
                   # variant spanned)
                   "fixed": [float(costs[0]), float(costs[0]) * clf.n_estimators]}
        auc = C.curve_auc(curve, ref["lo"], ref["hi"], floor)
        auc_fixed = C.curve_auc(curve, *ref["fixed"], floor)
        auc_doc = None if doc is None else C.curve_auc(curve, doc[0], doc[1], floor)
        rows[label] = {
            "n_stages": int(clf.n_estimators_), "auc": auc, "auc_doc": auc_doc,
            "auc_fixed": auc_fixed,
            "final_accuracy": curve[-1]["accuracy"],
            "best_accuracy": max(p["accuracy"] for p in curve), "seconds": seconds,
            "validation_loss": clf.validation_loss_.tolist(),
            "train_loss": clf.train_loss_.tolist(), "curve": curve, "rounds": list(rounds),
        }
        best = [r["best_epoch"] for r in rounds]
        extra = (f" | best epochs {best} (runs {[r['epochs'] for r in rounds]})"
                 if rounds else "")
        log(f"  {label:<12} final {curve[-1]['accuracy']:.4f} AUC {auc:.4f} "
            f"AUC(fixed) {auc_fixed:.4f} "
            f"AUC(doc range) {auc_doc if auc_doc is None else round(auc_doc, 4)} "
            f"stages {clf.n_estimators_} ({seconds:.1f}s) "
            + " ".join(f"{p['accuracy']:.3f}" for p in curve) + extra, )
    return {"dataset": name, "seed": seed, "split": split.description,
            "teacher": {"name": teacher_name, "accuracy": teacher_acc}, "floor": floor,
            "range": ref, "doc": None if doc is None else
            {"lo": doc[0], "hi": doc[1], "auc_w09_blocks": doc[2], "curve": doc[3]},
            "variants": rows}


def _ms(values):
    v = np.asarray([x for x in values if x is not None], dtype=float)
    return [float(v.mean()), float(v.std())] if len(v) else [float("nan")] * 2


def summarise(runs):
    out = {}
    for name, rs, entry in per_dataset(runs):
        entry["doc_auc"] = _ms([(r["doc"] or {}).get("auc_w09_blocks") for r in rs])
        for label in rs[0]["variants"]:
            vs = [r["variants"][label] for r in rs]
            entry[label] = {k: _ms([v[k] for v in vs])
                            for k in ("auc", "auc_fixed", "auc_doc", "final_accuracy",
                                      "n_stages",
                                      "seconds")}
            entry[label]["auc_per_seed"] = [v["auc"] for v in vs]
            entry[label]["auc_doc_per_seed"] = [v["auc_doc"] for v in vs]
            entry[label]["auc_fixed_per_seed"] = [v["auc_fixed"] for v in vs]
            ep = [r["best_epoch"] / r["max_epochs"] for v in vs for r in v["rounds"]]
            entry[label]["mean_best_epoch_fraction"] = float(np.mean(ep)) if ep else None
            entry[label]["delta_auc_vs_first"] = [
                v["auc"] - r["variants"][next(iter(r["variants"]))]["auc"]
                for v, r in zip(vs, rs, strict=True)]
            entry[label]["delta_auc_fixed_vs_first"] = [
                v["auc_fixed"] - r["variants"][next(iter(r["variants"]))]["auc_fixed"]
                for v, r in zip(vs, rs, strict=True)]
        out[name] = entry
    return out


def markdown(summary, command):
    lines = [f"Command: `{command}`. Mean ± std over seeds; AUC over the first variant's "
             "budget range; AUC(fixed) over one to n_estimators first-stage costs; "
             "AUC(doc) over the committed labels run's range (seeds that have one); "
             "Δ: against the first variant, per seed.", ""]
    for name, e in summary.items():
        lines += [f"### {name} (seeds {e['seeds']}, teacher {e['teacher'][0]:.4f}; "
                  f"documented w=0.9 blocks AUC {e['doc_auc'][0]:.4f})", "",
                  "| variant | AUC | AUC(fixed) | AUC(doc range) | final accuracy | stages | "
                  "fit s | AUC per seed | ΔAUC per seed | ΔAUC(fixed) per seed | "
                  "best epoch / max |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for label, v in e.items():
            if not isinstance(v, dict):
                continue
            be = v["mean_best_epoch_fraction"]
            lines.append(
                f"| {label} | {v['auc'][0]:.4f} ± {v['auc'][1]:.4f} | "
                f"{v['auc_fixed'][0]:.4f} ± {v['auc_fixed'][1]:.4f} | "
                f"{v['auc_doc'][0]:.4f} ± {v['auc_doc'][1]:.4f} | "
                f"{v['final_accuracy'][0]:.4f} ± {v['final_accuracy'][1]:.4f} | "
                f"{v['n_stages'][0]:.1f} ± {v['n_stages'][1]:.1f} | "
                f"{v['seconds'][0]:.1f} ± {v['seconds'][1]:.1f} | "
                + " ".join(f"{a:.4f}" for a in v["auc_per_seed"]) + " | "
                + " ".join(f"{d:+.4f}" for d in v["delta_auc_vs_first"]) + " | "
                + " ".join(f"{d:+.4f}" for d in v["delta_auc_fixed_vs_first"]) + " | "
                + ("" if be is None else f"{be:.2f}") + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = lab_parser(__doc__.splitlines()[0], VARIANTS, DEFAULT_VARIANTS, ["watch"],
                        "/tmp/lab17", threads=True)
    args = parser.parse_args(argv)
    return lab_main(args, argv, "lab_find_wl_stop", run_seed, summarise, markdown)


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
