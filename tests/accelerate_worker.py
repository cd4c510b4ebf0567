"""Run by tests/test_scale_out.py under ``torch.distributed.run``: one data-parallel fit.

Usage: python -m torch.distributed.run --standalone --nproc_per_node 2 \
           tests/accelerate_worker.py OUT_DIR
Each process writes ``OUT_DIR/rank<i>.npz`` with its decision function on the
transfer set and a description of its accelerator.
"""

import sys
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from sklearn_bdistil import BDistilClassifier, MLPStudent

PARAMS = dict(n_estimators=2, max_epochs=3, batch_size=64, random_state=0)


def data():
    X, y = make_classification(n_samples=240, n_features=8, n_informative=5, n_classes=3,
                               n_clusters_per_class=1, random_state=0)
    X = X.astype(np.float32)
    return X, LogisticRegression(max_iter=500).fit(X, y)


def main(out):
    torch.set_num_threads(1)
    X, teacher = data()
    accelerator = Accelerator(cpu=True)
    clf = BDistilClassifier(teacher, [MLPStudent((4,))], accelerator=accelerator,
                            checkpoint_dir=Path(out) / "checkpoint", **PARAMS).fit(X)
    np.savez(Path(out) / f"rank{accelerator.process_index}.npz",
             decision=clf.decision_function(X), n_processes=accelerator.num_processes,
             kind=str(accelerator.distributed_type))


if __name__ == "__main__":
    main(sys.argv[1])
