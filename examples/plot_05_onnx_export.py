"""
=================================================
Export to ONNX and run stage by stage
=================================================

A device that cannot run Python runs the ensemble from an ONNX file.
:func:`~sklearn_bdistil.export.to_onnx` writes the first ``n_stages`` stages
as one graph with

* one input ``input``: float32, shape ``(batch, n_features)`` (the batch axis
  is dynamic), and
* one output ``stage_logits``: shape ``(n_stages, batch, n_classes)``, the
  *cumulative* logits ``F_1, ..., F_k`` after every stage.

This example needs the ``onnx`` extra: ``pip install onnx onnxscript
onnxruntime``.
"""

# %%
# Fit a small ensemble
# --------------------
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from sklearn_bdistil import BDistilClassifier, MLPStudent
from sklearn_bdistil.export import to_onnx, to_torch

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0)
teacher = MLPClassifier((256,), learning_rate_init=0.01, max_iter=300, random_state=0)
teacher.fit(X_train, y_train)
clf = BDistilClassifier(teacher, [MLPStudent((8,)), MLPStudent((16,))],
                        n_estimators=4, max_epochs=20, batch_size=64, random_state=0)
clf.fit(X_train)

# %%
# Write the ONNX file
# -------------------
# Torch's exporter is chatty about its own internals; those messages are not
# about your model.
logging.getLogger("torch.onnx").setLevel(logging.ERROR)
tmpdir = tempfile.TemporaryDirectory()
tmp = Path(tmpdir.name)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    full = to_onnx(clf, tmp / "ensemble.onnx")
    prefix = to_onnx(clf, tmp / "ensemble_2_stages.onnx", n_stages=2)
print(f"all {clf.n_estimators_} stages: {full.stat().st_size} bytes; "
      f"first 2 stages: {prefix.stat().st_size} bytes")

# %%
# Run it with onnxruntime
# -----------------------
# The inputs must be float32. One call gives the logits after every stage;
# they match :meth:`~sklearn_bdistil.BDistilClassifier.staged_decision_function`
# up to float32 rounding.
session = onnxruntime.InferenceSession(str(full))
print([(i.name, i.type, i.shape) for i in session.get_inputs()])
print([(o.name, o.shape) for o in session.get_outputs()])

X_test32 = X_test.astype(np.float32)
(stage_logits,) = session.run(None, {"input": X_test32})
print("stage_logits:", stage_logits.shape)
expected = np.stack(list(clf.staged_decision_function(X_test)))
print("largest difference from staged_decision_function:",
      float(np.abs(stage_logits - expected).max()))

for k, F in enumerate(stage_logits, start=1):
    accuracy = (clf.classes_[F.argmax(axis=1)] == y_test).mean()
    print(f"after stage {k}: accuracy {accuracy:.3f}")

# %%
# Stopping early on the device
# ----------------------------
# The full graph evaluates every student. To spend less, ship the prefix that
# fits the budget (``n_stages=`` above), or ship one file per prefix and move
# to a longer one only for the rows that are not confident yet. Here the
# two-stage file answers every row, and the full file runs only on the rows
# whose top class probability is below 0.9 after two stages. This is a coarser
# rule than :meth:`~sklearn_bdistil.BDistilClassifier.predict_early_exit`,
# which tests the confidence after every stage: with two files a row exits
# only after stage 2 or after the last, and a row sent on pays for stages 1-2
# twice (the full file runs them again), so its cost is
# ``cumulative_costs_[1] + cumulative_costs_[-1]``. One file per stage, or a
# runtime that feeds the hidden state on, avoids the repeat.
short = onnxruntime.InferenceSession(str(prefix))
(F2,) = short.run(None, {"input": X_test32})
F = F2[-1]
P = np.exp(F - F.max(axis=1, keepdims=True))
P /= P.sum(axis=1, keepdims=True)
unsure = P.max(axis=1) < 0.9
(F_all,) = session.run(None, {"input": X_test32[unsure]})
F = F.copy()
F[unsure] = F_all[-1]
accuracy = (clf.classes_[F.argmax(axis=1)] == y_test).mean()
print(f"{unsure.sum()} of {len(X_test)} rows needed more than two stages; "
      f"accuracy {accuracy:.3f}")

# %%
# The same graph in torch
# -----------------------
# :func:`~sklearn_bdistil.export.to_torch` returns the
# :class:`~sklearn_bdistil.export.StagedEnsembleModule` that was exported: a
# plain ``torch.nn.Module`` (CPU, eval mode, float32) with the same output,
# for TorchScript, ``torch.export`` or a mobile runtime.
module = to_torch(clf, n_stages=2)
with torch.no_grad():
    out = module(torch.from_numpy(X_test32))
print(type(module).__name__, tuple(out.shape),
      float(np.abs(out.numpy() - F2).max()))

# %%
# Remove the files written above.
tmpdir.cleanup()
