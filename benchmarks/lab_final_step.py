"""Lab: what the final corrective step does to one fit, epoch by epoch.

    OMP_NUM_THREADS=2 python -m benchmarks.lab_final_step fashion_mnist 0 \
        0.005:10 0.0005:10 0.05:10:sgd

One split, teacher and seed as in ``benchmarks.lab_rounds``; B-DISTIL with the
library defaults is fitted and its rounds' stages (before the final step)
kept. Each ``lr:epochs[:sgd|:adamwD]`` then trains copies of them as the final
step does (mean prefix loss, rate annealed; Adam, SGD with momentum 0.9, or
AdamW with weight decay ``D``),
printing after every epoch the held-out and training mean prefix losses and
the test accuracy (mean over prefixes, and the last prefix). Unconnected
stages only. Writes ``/tmp/lab_final_step/<data set>_<seed>.json``. Written
to see why the step is never kept on Fashion-MNIST (docs/results.md, the
weight decay section).
"""

import copy
import json
import math
import os
import sys

import numpy as np
import torch

import sklearn_bdistil._base as _base_mod
from benchmarks import _common as C
from benchmarks.compare import bdistil_params
from benchmarks.labels import lab_seed
from sklearn_bdistil import BDistilClassifier
from sklearn_bdistil._corrective import prefix_outputs


def parse(spec):
    lr, epochs, *opt = spec.split(":")
    return {"lr": float(lr), "epochs": int(epochs), "opt": opt[0] if opt else "adam"}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    name, seed, configs = argv[0], int(argv[1]), [parse(a) for a in argv[2:]]
    lab = lab_seed(name, seed, False)
    split, stash = lab.split, {}

    def finish(self, t, loss, records, rng):  # the rounds' stages, no final step
        stash.update(t=t, loss=loss, records=records)
        return records

    original = _base_mod.BaseBDistil._finish
    _base_mod.BaseBDistil._finish = finish
    try:
        clf = BDistilClassifier(lab.teacher, lab.students, random_state=seed,
                                **bdistil_params(False))
        C.quiet_fit(clf, split.X_train, split.y_train, teacher_logits=lab.G)
    finally:
        _base_mod.BaseBDistil._finish = original
    t, loss, records = stash["t"], stash["loss"], stash["records"]
    if t.connected:
        raise SystemExit("unconnected stages only")
    X_test = torch.as_tensor(np.asarray(split.X_test, dtype=np.float32))
    classes, weights = np.asarray(clf.classes_), [r.weight for r in records]
    print(f"{name} seed {seed}: {len(records)} stages, teacher {lab.teacher_acc:.4f}")

    def evaluate(stages):
        def mean_loss(X, G):
            P, _ = prefix_outputs(stages, weights, X, 8192, False)
            return float(np.mean([loss.evaluate(F, G) for F in P]))
        with torch.no_grad():
            P, _ = prefix_outputs(stages, weights, X_test, 8192, False)
            acc = [float((classes[F.argmax(1).numpy()] == split.y_test).mean()) for F in P]
            return {"heldout": mean_loss(t.Xv, t.Gv), "train": mean_loss(t.X, t.G),
                    "acc": acc}

    def show(label, r):
        print(f"{label}: held-out {r['heldout']:.4f} train {r['train']:.4f} test mean "
              f"{np.mean(r['acc']):.4f} final {r['acc'][-1]:.4f}", flush=True)

    stages = [(r.module, r.connection) for r in records]
    out = {"rounds": evaluate(stages)}
    show("rounds", out["rounds"])
    for cfg in configs:
        trained = copy.deepcopy(stages)
        params = [p for s, _ in trained for p in s.parameters()]
        if cfg["opt"].startswith("adamw"):
            opt = torch.optim.AdamW(params, lr=cfg["lr"], weight_decay=float(cfg["opt"][5:]))
        elif cfg["opt"] == "adam":
            opt = torch.optim.Adam(params, lr=cfg["lr"])
        else:
            opt = torch.optim.SGD(params, lr=cfg["lr"], momentum=0.9)
        gen, n, epochs, log = torch.Generator().manual_seed(seed), t.X.shape[0], cfg["epochs"], []
        for epoch in range(epochs):
            for group in opt.param_groups:
                group["lr"] = cfg["lr"] * (1 + math.cos(math.pi * epoch / epochs)) / 2
            for s, _ in trained:
                s.train()
            order = torch.randperm(n, generator=gen)
            for start in range(0, n - 1, 256):
                rows = order[start:start + 256]
                F, total = 0.0, 0.0
                for (s, _), a in zip(trained, weights, strict=True):
                    F = F + a * s(t.X[rows])
                    total = total + loss.loss(F, t.G[rows])
                opt.zero_grad()
                (total / len(trained)).backward()
                opt.step()
            for s, _ in trained:
                s.eval()
            log.append(evaluate(trained))
            show(f"  {cfg} epoch {epoch + 1}", log[-1])
        out[str(cfg)] = log
    os.makedirs("/tmp/lab_final_step", exist_ok=True)
    with open(f"/tmp/lab_final_step/{name}_{seed}.json", "w") as fh:
        json.dump(out, fh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
