"""Lab notebook: what a boosting round does with its student (step, escalation, subsampling).

    OMP_NUM_THREADS=1 python -m benchmarks.lab_rounds --datasets watch digits \
        [--seeds 0 1 2] [--quick] [--variants default escalate ...] [--out /tmp/lab_rounds]

Per data set and seed, on one split and one teacher (as in ``benchmarks.labels``):
B-DISTIL with the library defaults (``label_weight=0.9``, the blocks held-out
split, ``fit(X, y)``), in each variant below. Nothing in the library is
edited: a variant monkeypatches it for the duration of one fit.

- ``default``: the library as it is. A stage whose step raises the held-out
  loss gets the shorter held-out step (see ``train-step``); a round whose
  stage still does not lower the held-out loss is rejected and the next round
  retries the same student class; only a student whose edge stays below
  ``gamma`` moves the ladder up.
- ``escalate``: a rejected round also moves the ladder one class up (if there
  is one), so the next round tries a wider student.
- ``subsample``: every round trains its student on a random half of the
  training rows (drawn from the round's seed, without replacement; stochastic
  gradient boosting). The line search, the distribution player and
  acceptance still see all rows.
- ``escalate+subsample``: both.
- ``train-step``: the rule before the held-out cut: a stage whose step
  (``learning_rate`` times the line search on the training rows) does not
  lower the held-out loss is rejected. (``default`` now cuts that step to
  ``learning_rate`` times the line search on the held-out rows, and keeps the
  stage if the cut step lowers the held-out loss.)
- ``heldout-step-all``: every stage takes the smaller of the two steps, also
  where the training step already lowers the held-out loss.
- ``greedy``: every round trains the current student class and the next
  one, and keeps the stage that lowers the held-out loss most per FLOP; the
  ladder moves up when that is the wider one (cost-aware escalation; two
  students trained per round, 1.3-2x the fit time measured).
- ``epochs x2``: twice the training epochs per student (``max_epochs``).
- ``stall 2%x2`` / ``stall 1%x1``: escalation on diminishing returns. The
  ladder moves one class up after ``patience`` (2 / 1) rounds in a row at the
  current class that each lowered the held-out loss by less than ``rho``
  (2% / 1%) of its value before the round (a rejected round counts as one).
  Unlike ``greedy``, it trains one student per round and reads a trend, not
  one noisy comparison of two students.
- ``lr 0.01 constant``: FIND_WL's learning rate as it was until 2026-12-04,
  0.01 for every epoch (``lr_schedule="constant"``); put it first to measure
  against it.
- ``cosine`` / ``cosine lr x2`` / ``cosine lr x4``: the rate annealed from
  0.01 / 0.02 / 0.04 down towards 0 over the ``max_epochs`` epochs
  (``lr_schedule="cosine"``; ``cosine lr x2`` is today's default).
- ``lr x2``: 0.02, constant (the control for ``cosine lr x2``).
- ``lstm`` / ``lstm, lr 0.01 constant``: ``connection="lstm"`` with today's
  learning rate (0.02, annealed) / with the constant 0.01 of before.
- ``first x2`` / ``first x4``: the first stage (the round with no kept stage
  before it) trains twice / four times ``max_epochs``; every later stage
  trains ``max_epochs``. The first stage carries most of the anytime curve's
  area and fits the bulk of the teacher, where longer training is least
  likely to over-fit the residual; it adds one (three) rounds' training time.
- ``corrective`` / ``corrective x2``: after each kept stage (from the second
  on), a corrective step trains every kept student together for a quarter /
  half of ``max_epochs`` epochs (Adam from 0.005 / 0.01, annealed) on the mean
  over prefixes ``k`` of the distillation loss of ``F_k``, the stage weights
  fixed, and keeps it where it lowers that mean on the held-out rows (as
  GrowNet's corrective step, but on every prefix, so the anytime curve is the
  objective). ``corrective lr 0.001``: from 0.001; ``..., best epoch``: the
  held-out mean is read after each epoch and the best epoch's students are
  kept; ``corrective, halving``: best epoch, and a round whose step does not
  lower the held-out mean halves the rate of every later round's step. A sum
  of narrow students is one wide student trained a block
  at a time; the step lets earlier blocks move to what later ones need.
- ``final corrective``: one corrective step only, after the last of
  ``n_estimators`` stages, for ``max_epochs`` epochs from 0.005 (best
  epoch): the rounds' acceptance never sees a corrected ensemble.
- ``corrective_epochs=5``: the library's corrective step (``corrective,
  halving`` as a parameter; nothing patched).
- ``final_corrective_epochs=20``: the library's final corrective step (``final
  corrective`` as a parameter, which also runs after an early stop), and
  ``final_corrective_epochs=20, lr 0.001`` at a fifth of its rate. Since
  2026-12-06 the step is the classifier's default, so ``default`` and every
  other variant include it; ``final_corrective_epochs=0`` is the library
  without it (the default before), to put first and measure against.
- ``AdamW wd 0.03`` / ``AdamW wd 0.1``: FIND_WL's optimiser with decoupled
  weight decay (``optimizer=torch.optim.AdamW, weight_decay=...``, every
  stage's student; the corrective step keeps Adam):
  the summed decay over the annealed schedule, ``weight_decay`` times the
  summed rate, shrinks an untouched weight by ``exp(-0.4)`` / ``exp(-1.4)`` in
  20 epochs of 70 batches. Measured because on Fashion-MNIST the rounds'
  held-out mean prefix loss is twice their training one (0.39 against 0.18,
  seed 0) and every epoch of the final step raises it. ``AdamW wd 0.1`` is
  the classifier's default since 2026-12-06 (session of the afternoon);
  ``weight_decay=0`` is the library before (Adam, no decay), to put first and
  measure against.
- ``final step wd 0.3`` / ``final step wd 1``: the final corrective step
  (the default's 20 epochs from 0.005) with AdamW's decoupled weight decay
  0.3 / 1 instead of Adam (``corrective_weight_decay``; measured first, at
  commit c260633, as a patch of ``corrective_step(weight_decay=...)``); FIND_WL
  unchanged. Over the step's annealed 20 epochs of 70 batches the decay
  alone would shrink a weight by ``exp(-1.05)`` / ``exp(-3.5)``; it is kept,
  as always, only where it lowers the held-out mean prefix loss. Measured
  because on Fashion-MNIST seed 0 (``benchmarks.lab_final_step``) the step
  with decay lowered that loss (0.369 to 0.358 at 1) where plain Adam raises
  it every epoch. ``corrective_weight_decay=0``: the final step with Adam only,
  the library before ``"auto"`` became the default (Adam, then AdamW at 0.3
  where the Adam step was not kept), to put first and measure against.
- ``lr=1.0``: no shrinkage (``learning_rate=1.0`` instead of 0.5), nothing
  patched.
- ``auto retry wd 1``: ``corrective_weight_decay="auto"`` retries the final
  step with AdamW at 1 instead of 0.3 (``AUTO_CORRECTIVE_DECAY`` patched).
  Measured because a decay of 1 in every final step raised fashion_mnist's
  final stage by 1.1 points on average, and cost most on a watch seed where
  "auto" does not retry.
- ``eta=0.3`` / ``eta=0.1`` / ``eta=2`` / ``eta=3``: a flatter / sharper
  distribution player (``eta`` 1.0 by default; the ablations that kept 1.0
  ran before labels entered the target). At ``eta=0`` every edge is 0 and no
  stage is kept (watch seed 0), so the estimators now refuse it.

AUC: mean anytime accuracy over the first variant's budget range (first and
last cumulative cost), floor the majority class, as in ``benchmarks.labels``;
``AUC(fixed)``: over one to ``n_estimators`` first-stage costs of the first
variant. Writes ``<out>/<datasets>.json`` and ``.md``; prints a table last.
"""

import contextlib
import copy
import dataclasses
import math
import time

import numpy as np
import torch

import sklearn_bdistil._base as _base_mod
from benchmarks import _common as C
from benchmarks.compare import bdistil_params
from benchmarks.labels import lab_main, lab_parser, lab_seed, per_dataset
from sklearn_bdistil import BDistilClassifier
from sklearn_bdistil._corrective import prefix_outputs

VARIANTS = {
    "default": {},
    "escalate": {"escalate": True},
    "subsample": {"subsample": 0.5},
    "escalate+subsample": {"escalate": True, "subsample": 0.5},
    "train-step": {"step": "train"},
    "heldout-step-all": {"step": "all"},
    "lr=1.0": {"params": {"learning_rate": 1.0}},
    "greedy": {"greedy": True},
    "epochs x2": {"epochs_factor": 2},
    "stall 2%x2": {"stall": (0.02, 2)},
    "stall 1%x1": {"stall": (0.01, 1)},
    "lr 0.01 constant": {"params": {"lr": 0.01, "lr_schedule": "constant"}},
    "cosine": {"params": {"lr": 0.01, "lr_schedule": "cosine"}},
    "cosine lr x2": {"params": {"lr": 0.02, "lr_schedule": "cosine"}},
    "cosine lr x4": {"params": {"lr": 0.04, "lr_schedule": "cosine"}},
    "lr x2": {"params": {"lr": 0.02, "lr_schedule": "constant"}},
    "lstm": {"params": {"connection": "lstm"}},
    "lstm, lr 0.01 constant": {"params": {"connection": "lstm", "lr": 0.01,
                                          "lr_schedule": "constant"}},
    "first x2": {"first_epochs": 2},
    "first x4": {"first_epochs": 4},
    "corrective": {"corrective": (0.25, 0.005)},
    "corrective x2": {"corrective": (0.5, 0.01)},
    "corrective lr 0.001": {"corrective": (0.25, 0.001)},
    "corrective, best epoch": {"corrective": (0.25, 0.005, True)},
    "corrective x2, best epoch": {"corrective": (0.5, 0.01, True)},
    "corrective, halving": {"corrective": (0.25, 0.005, True, True)},
    "corrective x2, halving": {"corrective": (0.5, 0.01, True, True)},
    "corrective_epochs=5": {"params": {"corrective_epochs": 5}},
    "final corrective": {"corrective": (1.0, 0.005, True, False, True)},
    "final_corrective_epochs=0": {"params": {"final_corrective_epochs": 0}},
    "final_corrective_epochs=20": {"params": {"final_corrective_epochs": 20}},
    "final_corrective_epochs=20, lr 0.001": {"params": {"final_corrective_epochs": 20,
                                                        "corrective_lr": 0.001}},
    "AdamW wd 0.03": {"params": {"optimizer": torch.optim.AdamW, "weight_decay": 0.03}},
    "AdamW wd 0.1": {"params": {"optimizer": torch.optim.AdamW, "weight_decay": 0.1}},
    "weight_decay=0": {"params": {"optimizer": torch.optim.Adam, "weight_decay": 0.0}},
    "final step wd 0.3": {"params": {"corrective_weight_decay": 0.3}},
    "final step wd 1": {"params": {"corrective_weight_decay": 1.0}},
    "corrective_weight_decay=0": {"params": {"corrective_weight_decay": 0.0}},
    "eta=0.3": {"params": {"eta": 0.3}},
    "eta=0.1": {"params": {"eta": 0.1}},
    "eta=2": {"params": {"eta": 2.0}},
    "eta=3": {"params": {"eta": 3.0}},
    "auto retry wd 1": {"auto_decay": 1.0},
}
DEFAULT_VARIANTS = tuple(VARIANTS)

_ORIGINAL_BOOST = _base_mod.BaseBDistil._boost
_ORIGINAL_FIND_WL = _base_mod.find_wl
_ORIGINAL_STEP = _base_mod.BaseBDistil._step


def _escalating_boost(self, t, loss, students, *args):
    record = _ORIGINAL_BOOST(self, t, loss, students, *args)
    if record is None and t.level + 1 < len(students):
        t.level += 1
    return record


def _stalling_boost(rho, patience):
    """``_boost`` that moves the ladder up after ``patience`` stalled rounds in a row."""
    def boost(self, t, loss, students, rng, train_loss, valid_loss, attempt, previous):
        level = t.level
        record = _ORIGINAL_BOOST(self, t, loss, students, rng, train_loss, valid_loss,
                                 attempt, previous)
        if t.level != level:  # the edge rule escalated: a fresh count at the new class
            t.stalled = 0
        gain = 0.0 if record is None else (valid_loss - record.valid_loss) / valid_loss
        t.stalled = getattr(t, "stalled", 0) + 1 if gain < rho else 0
        if t.stalled >= patience and t.level + 1 < len(students):
            t.level, t.stalled = t.level + 1, 0
        return record
    return boost


def _greedy_boost(self, t, loss, students, rng, train_loss, valid_loss, attempt, previous):
    """A round that trains the current class *and* the next one, and keeps the stage
    that lowers the held-out loss most per FLOP (escalating when it is the wider one)."""
    D, targets = self._round_targets(t, loss)
    prev_width = None if t.S is None else t.S.shape[1]
    best = None
    for level in range(t.level, min(t.level + 2, len(students))):
        seed = int(rng.randint(np.iinfo(np.int32).max))
        found = _base_mod.find_wl(self, loss, students[level], t, targets, previous, seed)
        if found is None:
            continue
        student, connection, out = found
        e = _base_mod.edge(D, out[0])
        if e < self.gamma:
            continue
        valid_out = t.outputs(student, connection, self.predict_batch_size, valid=True)
        step = self._step(t, loss, out[0], valid_out[0], train_loss, valid_loss)
        if isinstance(step, str):
            continue
        flops = _base_mod.stage_flops(student, connection, t.X.shape[1], prev_width)
        gain = (valid_loss - step[2]) / flops
        if best is None or gain > best[0]:
            best = (gain, (student, connection, level, e, step, out, valid_out))
    if best is None:
        return None
    t.level = best[1][2]
    return self._accept(t, *best[1])


def _corrective_boost(epochs_fraction, lr, best_epoch=False, halving=False, final=False):
    """``_boost`` followed by a corrective step: after a kept stage, every kept
    student is trained for ``epochs_fraction * max_epochs`` epochs (Adam from
    ``lr``, annealed) on the mean over prefixes ``k`` of ``L(F_k; target)``;
    kept where it lowers that mean on the held-out rows (the stage weights stay)."""
    def boost(self, t, loss, students, rng, train_loss, valid_loss, attempt, previous):
        record = _ORIGINAL_BOOST(self, t, loss, students, rng, train_loss, valid_loss,
                                 attempt, previous)
        if record is None:
            return None
        if t.connected:
            raise ValueError("the corrective variant needs connection='none'")
        stages = t.__dict__.setdefault("kept_stages", [])
        stages.append(record)
        if len(stages) >= 2 and (not final or len(stages) == self.n_estimators):
            rate = t.__dict__.setdefault("corrective_lr", lr)
            _correct(self, t, loss, stages, max(1, round(epochs_fraction * self.max_epochs)),
                     rate, attempt, best_epoch)
            if halving and not t.corrections[-1][1] < t.corrections[-1][0]:
                t.corrective_lr = rate / 2
        return record
    return boost


def _correct(self, t, loss, stages, epochs, lr, seed, best_epoch=False):
    device = t.X.device
    modules = [r.module.to(device) for r in stages]
    weights = [r.weight for r in stages]
    bs = self.predict_batch_size

    def _prefix_outputs(modules, weights, X, batch_size):  # the library's, unconnected
        return prefix_outputs([(m, None) for m in modules], weights, X, batch_size, False)[0]

    def valid_score():
        return float(np.mean([loss.evaluate(Fk, t.Gv)
                              for Fk in _prefix_outputs(modules, weights, t.Xv, bs)]))

    before = best = valid_score()
    saved = best_state = [copy.deepcopy(m.state_dict()) for m in modules]
    opt = torch.optim.Adam([p for m in modules for p in m.parameters()], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    n = t.X.shape[0]
    for m in modules:
        m.train()
    for epoch in range(epochs):
        for group in opt.param_groups:
            group["lr"] = lr * (1 + math.cos(math.pi * epoch / epochs)) / 2
        order = torch.randperm(n, generator=gen).to(device)
        for start in range(0, n, self.batch_size):
            rows = order[start:start + self.batch_size]
            x, g = t.X[rows], t.G[rows]
            F, total = 0.0, 0.0
            for m, a in zip(modules, weights, strict=True):
                F = F + a * m(x)
                total = total + loss.loss(F, g)
            opt.zero_grad()
            (total / len(modules)).backward()
            opt.step()
        if best_epoch:
            score = valid_score()  # (eval mode inside, train mode again after)
            if score < best:
                best, best_state = score, [copy.deepcopy(m.state_dict()) for m in modules]
            for m in modules:
                m.train()
    for m in modules:
        m.eval()
    if best_epoch:
        for m, state in zip(modules, best_state, strict=True):
            m.load_state_dict(state)
    after = valid_score()
    if after < before:
        t.F = _prefix_outputs(modules, weights, t.X, bs)[-1]
        t.Fv = _prefix_outputs(modules, weights, t.Xv, bs)[-1]
        stages[-1].train_loss = loss.evaluate(t.F, t.G)
        stages[-1].valid_loss = loss.evaluate(t.Fv, t.Gv)
    else:
        for m, state in zip(modules, saved, strict=True):
            m.load_state_dict(state)
    for m in modules:
        m.cpu()
    t.corrections = getattr(t, "corrections", []) + [(before, after)]


def _other_step(which):
    """``BaseBDistil._step`` with the rule ``which``: ``"train"`` or ``"all"``."""
    def step(self, t, loss, f, fv, train_loss, valid_loss):
        if not t.has_valid:
            return _ORIGINAL_STEP(self, t, loss, f, fv, train_loss, valid_loss)
        a = self.learning_rate * loss.step(t.F, f, t.G)
        if which == "all":
            a = min(a, self.learning_rate * loss.step(t.Fv, fv, t.Gv))
        if a <= 0.0:
            return "no positive step"
        new_valid = loss.evaluate(t.Fv + a * fv, t.Gv)
        if not new_valid < valid_loss:
            return f"it does not lower the held-out {loss.name}"
        return a, loss.evaluate(t.F + a * f, t.G), new_valid
    return step


def _longer_first_find_wl(factor):
    def find_wl(estimator, loss, factory, t, targets, previous, seed):
        if previous is not None:
            return _ORIGINAL_FIND_WL(estimator, loss, factory, t, targets, previous, seed)
        epochs = estimator.max_epochs
        estimator.max_epochs = epochs * factor
        try:
            return _ORIGINAL_FIND_WL(estimator, loss, factory, t, targets, previous, seed)
        finally:
            estimator.max_epochs = epochs
    return find_wl


def _subsampling_find_wl(fraction):
    def find_wl(estimator, loss, factory, t, targets, previous, seed):
        if t.epoch_rows is not None:
            raise ValueError("the subsample variant does not support an enlarged transfer set")
        n = t.X.shape[0]
        rows = np.sort(np.random.RandomState(seed).choice(n, max(1, int(fraction * n)),
                                                          replace=False))
        idx = torch.as_tensor(rows, device=t.X.device)
        part = dataclasses.replace(
            t, X=t.X[idx], G=t.G[idx], F=t.F[idx], S=None if t.S is None else t.S[idx],
            n_given=len(rows))
        found = _ORIGINAL_FIND_WL(estimator, loss, factory, part, targets[idx], previous, seed)
        if found is None:
            return None
        student, connection, _ = found
        return student, connection, t.outputs(student, connection, estimator.predict_batch_size)
    return find_wl


@contextlib.contextmanager
def patched(settings):
    """The library changed as ``settings`` (a VARIANTS entry) says, for one fit."""
    saved = (_base_mod.BaseBDistil._boost, _base_mod.find_wl, _base_mod.BaseBDistil._step,
             _base_mod.AUTO_CORRECTIVE_DECAY)
    if settings.get("auto_decay"):
        _base_mod.AUTO_CORRECTIVE_DECAY = settings["auto_decay"]
    if settings.get("escalate"):
        _base_mod.BaseBDistil._boost = _escalating_boost
    if settings.get("stall"):
        _base_mod.BaseBDistil._boost = _stalling_boost(*settings["stall"])
    if settings.get("greedy"):
        _base_mod.BaseBDistil._boost = _greedy_boost
    if settings.get("corrective"):
        _base_mod.BaseBDistil._boost = _corrective_boost(*settings["corrective"])
    if settings.get("subsample"):
        _base_mod.find_wl = _subsampling_find_wl(settings["subsample"])
    if settings.get("first_epochs"):
        _base_mod.find_wl = _longer_first_find_wl(settings["first_epochs"])
    if settings.get("step"):
        _base_mod.BaseBDistil._step = _other_step(settings["step"])
    try:
        yield
    finally:
        (_base_mod.BaseBDistil._boost, _base_mod.find_wl,
         _base_mod.BaseBDistil._step, _base_mod.AUTO_CORRECTIVE_DECAY) = saved


def run_seed(name, seed, quick, variants, log=print):
    lab = lab_seed(name, seed, quick)
    split, teacher, G, teacher_pred = lab.split, lab.teacher, lab.G, lab.teacher_pred
    log(f"[{name} seed {seed}] teacher {lab.teacher_name}: acc {lab.teacher_acc:.4f}")
    rows, ref = {}, None
    for label in variants:
        params = {"label_weight": 0.9, **VARIANTS[label].get("params", {})}
        clf = BDistilClassifier(teacher, lab.students, random_state=seed,
                                **bdistil_params(quick, params))
        clf.set_params(max_epochs=clf.max_epochs * VARIANTS[label].get("epochs_factor", 1))
        with patched(VARIANTS[label]):
            t0 = time.perf_counter()
            C.quiet_fit(clf, split.X_train, split.y_train, teacher_logits=G)
            seconds = time.perf_counter() - t0
        costs = np.asarray(clf.cumulative_costs_, dtype=float)
        curve = C.curve_from_preds(list(clf.staged_predict(split.X_test)), costs,
                                   split.y_test, teacher_pred)
        if ref is None:
            ref = {"lo": float(costs[0]), "hi": float(costs[-1]), "variant": label,
                   "fixed": [float(costs[0]), float(costs[0]) * clf.n_estimators]}
        auc = C.curve_auc(curve, ref["lo"], ref["hi"], lab.floor)
        auc_fixed = C.curve_auc(curve, *ref["fixed"], lab.floor)
        rows[label] = {
            "n_stages": int(clf.n_estimators_), "auc": auc, "auc_fixed": auc_fixed,
            "final_accuracy": curve[-1]["accuracy"],
            "student_indices": clf.student_indices_.tolist(), "seconds": seconds,
            "validation_loss": clf.validation_loss_.tolist(), "curve": curve,
        }
        log(f"  {label:<20} final {curve[-1]['accuracy']:.4f} AUC {auc:.4f} "
            f"AUC(fixed) {auc_fixed:.4f} stages {clf.n_estimators_} "
            f"{clf.student_indices_.tolist()} ({seconds:.1f}s) "
            + " ".join(f"{p['accuracy']:.3f}" for p in curve))
    return {"dataset": name, "seed": seed, "split": split.description,
            "teacher": {"name": lab.teacher_name, "accuracy": lab.teacher_acc},
            "floor": lab.floor,
            "range": ref, "variants": rows}


def _ms(values):
    v = np.asarray(values, dtype=float)
    return [float(v.mean()), float(v.std())]


def summarise(runs):
    out = {}
    for name, rs, entry in per_dataset(runs):
        first = next(iter(rs[0]["variants"]))
        for label in rs[0]["variants"]:
            vs = [r["variants"][label] for r in rs]
            entry[label] = {k: _ms([v[k] for v in vs])
                            for k in ("auc", "auc_fixed", "final_accuracy", "n_stages",
                                      "seconds")}
            entry[label]["delta_auc_vs_first"] = [
                v["auc"] - r["variants"][first]["auc"] for v, r in zip(vs, rs, strict=True)]
            entry[label]["delta_final_vs_first"] = [
                v["final_accuracy"] - r["variants"][first]["final_accuracy"]
                for v, r in zip(vs, rs, strict=True)]
        out[name] = entry
    return out


def markdown(summary, command):
    lines = [f"Command: `{command}`. Mean ± std over seeds; AUC over the first variant's "
             "budget range; AUC(fixed) over one to n_estimators first-stage costs; "
             "Δ: against the first variant, per seed.", ""]
    for name, e in summary.items():
        lines += [f"### {name} (seeds {e['seeds']}, teacher {e['teacher'][0]:.4f})", "",
                  "| variant | AUC | AUC(fixed) | final accuracy | stages | fit s | "
                  "ΔAUC per seed | Δfinal per seed |",
                  "|---|---|---|---|---|---|---|---|"]
        for label, v in e.items():
            if not isinstance(v, dict):
                continue
            lines.append(
                f"| {label} | {v['auc'][0]:.4f} ± {v['auc'][1]:.4f} | "
                f"{v['auc_fixed'][0]:.4f} ± {v['auc_fixed'][1]:.4f} | "
                f"{v['final_accuracy'][0]:.4f} ± {v['final_accuracy'][1]:.4f} | "
                f"{v['n_stages'][0]:.1f} ± {v['n_stages'][1]:.1f} | "
                f"{v['seconds'][0]:.1f} | "
                + " ".join(f"{d:+.4f}" for d in v["delta_auc_vs_first"]) + " | "
                + " ".join(f"{d:+.4f}" for d in v["delta_final_vs_first"]) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = lab_parser(__doc__.splitlines()[0], VARIANTS, DEFAULT_VARIANTS, ["watch"],
                        "/tmp/lab_rounds", threads=True)
    args = parser.parse_args(argv)
    return lab_main(args, argv, "lab_rounds", run_seed, summarise, markdown)


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
