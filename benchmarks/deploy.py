"""FLOPs against measured latency and size: each student type and connection, per stage.

    python benchmarks/deploy.py [--stages 3] [--epochs 15] [--repeats 2000] [--quick]

Fits, on digits (64 features, 10 classes; the accuracy is the test split's), a
3-stage ensemble for every student type (MLP, Conv1d over 8 channels of 8,
Conv2d over 8x8 images) and every connection, then, for each stage:

- FLOPs per row (``stage_costs_``);
- latency at batch 1 of the compiled C (``export.to_c``, ``gcc -O2``, timed
  in C with ``clock_gettime``: stage k is ``bdistil_logits(x, k)`` minus
  ``bdistil_logits(x, k - 1)``, best of 7 trials);
- latency of the same stage graph in ONNX Runtime (one thread) and of the
  stage as an ExecuTorch program (XNNPACK), both called from Python, so each
  includes the binding's per-call overhead (measured: an identity graph);
- code + data size of the stage's object file: host ``size`` and, where
  ``arm-none-eabi-gcc`` is installed, a Cortex-M4 build
  (``-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -O2``).

Prints a table and writes ``benchmarks/results/deploy.json`` and
``benchmarks/results/deploy_latency.png`` (accuracy against cumulative C
latency, the MLP ladders). Target (issue 16): the C within 2x of ONNX
Runtime per stage.
"""

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from sklearn_bdistil import BDistilClassifier, Conv1dStudent, Conv2dStudent, MLPStudent
from sklearn_bdistil.export import _c, stage_modules, to_c
from sklearn_bdistil.students._connections import CONNECTIONS

STUDENTS = {
    "mlp": lambda: MLPStudent((32,)),
    "conv1d": lambda: Conv1dStudent(n_channels=8, n_filters=(8, 16), kernel_size=3, stride=1),
    "conv2d": lambda: Conv2dStudent(n_channels=1, height=8, n_filters=(8, 16), stride=1),
}

_TIMER = r"""
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "bdistil.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv)
{
    float x[BDISTIL_N_FEATURES], logits[BDISTIL_N_CLASSES];
    volatile float sink = 0.0f;
    int reps = argc > 1 ? atoi(argv[1]) : 1000, j, k, r, trial;
    for (j = 0; j < BDISTIL_N_FEATURES; ++j)
        if (scanf("%f", &x[j]) != 1)
            return 2;
    for (k = 1; k <= BDISTIL_N_STAGES; ++k) {
        double best = 1e30;
        for (trial = 0; trial < 7; ++trial) {
            double start = now();
            for (r = 0; r < reps; ++r) {
                bdistil_logits(x, k, logits);
                sink += logits[0];
            }
            double t = (now() - start) / reps;
            if (t < best)
                best = t;
        }
        printf("%.9g\n", best);
    }
    return sink == 12345.0f;
}
"""

ARM_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O2"]


def c_latencies(directory, x, repeats):
    """Seconds per call of each stage of the C, at batch 1."""
    cc = _c.find_c_compiler()
    with tempfile.TemporaryDirectory() as tmp:
        main, binary = Path(tmp) / "timer.c", Path(tmp) / "timer"
        main.write_text(_TIMER)
        subprocess.run([cc, "-O2", "-std=c99", f"-I{directory}", str(main),
                        *map(str, sorted(directory.glob("*.c"))), "-o", str(binary), "-lm"],
                       check=True)
        out = subprocess.run([str(binary), str(repeats)], input=" ".join(map(str, x)),
                             capture_output=True, text=True, check=True).stdout
    cumulative = np.array(out.split(), dtype=float)
    return np.diff(cumulative, prepend=0.0)


def object_sizes(directory, compiler, size_tool, flags):
    """Bytes of code + data (text + data + bss) of each stage's object file."""
    sizes = []
    with tempfile.TemporaryDirectory() as tmp:
        for source in sorted(directory.glob("bdistil_stage*.c"), key=lambda p: int(p.stem[13:])):
            obj = Path(tmp) / (source.stem + ".o")
            subprocess.run([compiler, *flags, "-std=c99", "-c", str(source), "-o", str(obj)],
                           check=True)
            line = subprocess.run([size_tool, str(obj)], capture_output=True, text=True,
                                  check=True).stdout.splitlines()[1].split()
            sizes.append(int(line[0]) + int(line[1]) + int(line[2]))
    return sizes


def _stage_inputs(stages, x):
    """Each stage's inputs at batch 1 (x, and the previous stage's state)."""
    inputs, state = [], None
    with torch.no_grad():
        for stage in stages:
            args = (x, state) if stage.takes_state else (x,)
            inputs.append(args)
            out = stage(*args)
            state = out[1] if stage.gives_state else None
    return inputs


def _best_per_call(call, repeats):
    for _ in range(20):
        call()
    best = np.inf
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            call()
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def ort_latencies(stages, x, repeats):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    times = []
    for k, (stage, args) in enumerate(zip(stages, _stage_inputs(stages, x), strict=True)):
        model = _c._export_stage(stage, x.shape[1], None if len(args) == 1 else args[1].shape[1],
                                 prefix=f"s{k}_")
        session = ort.InferenceSession(model.SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
        feed = dict(zip(["x", "state"], [a.numpy() for a in args], strict=False))
        times.append(_best_per_call(lambda s=session, f=feed: s.run(None, f), repeats))
    return times


def ort_overhead(repeats):
    """Per-call cost of ONNX Runtime's Python binding on an identity graph."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    feed = {"x": np.zeros((1, 64), dtype=np.float32)}
    return _best_per_call(lambda: session.run(None, feed), repeats)


def executorch_latencies(stages, x, repeats):
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    from executorch.runtime import Runtime

    from sklearn_bdistil.export._executorch import _quiet_export

    runtime, times = Runtime.get(), []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (stage, args) in enumerate(zip(stages, _stage_inputs(stages, x), strict=True)):
            with _quiet_export():
                program = to_edge_transform_and_lower(
                    torch.export.export(stage, args),
                    partitioner=[XnnpackPartitioner()]).to_executorch()
            path = Path(tmp) / f"stage{k}.pte"
            path.write_bytes(program.buffer)
            method = runtime.load_program(str(path)).load_method("forward")
            times.append(_best_per_call(lambda m=method, a=list(args): m.execute(a), repeats))
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="MLP students only")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    teacher = LogisticRegression(max_iter=1000).fit(X_train, y_train)
    x = torch.as_tensor(X_test[:1])
    arm = shutil.which("arm-none-eabi-gcc")
    overhead = ort_overhead(args.repeats)
    rows = []
    kinds = ["mlp"] if args.quick else list(STUDENTS)
    for kind in kinds:
        for connection in CONNECTIONS:
            clf = BDistilClassifier(teacher, [STUDENTS[kind]()], n_estimators=args.stages,
                                    max_epochs=args.epochs, connection=connection,
                                    gamma=-1.0, random_state=0).fit(X_train, y_train)
            accuracy = [float((p == y_test).mean()) for p in clf.staged_predict(X_test)]
            stages = stage_modules(clf)
            with tempfile.TemporaryDirectory() as tmp:
                directory = to_c(clf, Path(tmp) / "c")
                c_time = c_latencies(directory, X_test[0], args.repeats)
                host = object_sizes(directory, _c.find_c_compiler(), "size", ["-O2"])
                m4 = (object_sizes(directory, arm, "arm-none-eabi-size", ARM_FLAGS) if arm
                      else [None] * len(stages))
            ort_time = ort_latencies(stages, x, args.repeats)
            et_time = executorch_latencies(stages, x, args.repeats)
            for k in range(clf.n_estimators_):
                rows.append({
                    "student": kind, "connection": connection, "stage": k + 1,
                    "flops": float(clf.stage_costs_[k]), "accuracy": accuracy[k],
                    "c_us": 1e6 * float(c_time[k]), "ort_us": 1e6 * ort_time[k],
                    "executorch_us": 1e6 * et_time[k], "host_bytes": host[k],
                    "m4_bytes": m4[k]})
            print(f"{kind} {connection}: done", flush=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"ort_call_overhead_us": 1e6 * overhead, "rows": rows,
              "command": "python benchmarks/deploy.py" + (" --quick" if args.quick else "")}
    (out / "deploy.json").write_text(json.dumps(result, indent=1))
    _plot(rows, out / "deploy_latency.png")

    print(f"\nONNX Runtime's per-call overhead from Python (identity graph): "
          f"{1e6 * overhead:.1f} us")
    print("| student | connection | stage | FLOPs | C us | ORT us | ORT - overhead us | "
          "ExecuTorch us | C / (ORT - overhead) | ns per FLOP (C) | host bytes | M4 bytes |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ort_net = r["ort_us"] - 1e6 * overhead
        print(f"| {r['student']} | {r['connection']} | {r['stage']} | {r['flops']:,.0f} | "
              f"{r['c_us']:.2f} | {r['ort_us']:.2f} | {ort_net:.2f} | "
              f"{r['executorch_us']:.2f} | {r['c_us'] / max(ort_net, 1e-3):.2f} | "
              f"{1e3 * r['c_us'] / r['flops']:.2f} | {r['host_bytes']:,} | "
              f"{'' if r['m4_bytes'] is None else format(r['m4_bytes'], ',')} |")
    # where FLOPs mislead: a connected stage's latency per FLOP against stage 1's
    print("\nlatency per FLOP of stages 2.. relative to stage 1 (C), per ladder:")
    for kind in kinds:
        for connection in CONNECTIONS:
            ladder = [r for r in rows if r["student"] == kind and r["connection"] == connection]
            if len(ladder) < 2:
                continue
            base = ladder[0]["c_us"] / ladder[0]["flops"]
            ratios = [r["c_us"] / r["flops"] / base for r in ladder[1:]]
            print(f"  {kind:7s} {connection:9s} {statistics.mean(ratios):.2f}")


def _plot(rows, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    from sklearn_bdistil.plotting import CostCurveDisplay

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for connection in CONNECTIONS:
        ladder = [r for r in rows if r["student"] == "mlp" and r["connection"] == connection]
        CostCurveDisplay.from_staged(np.cumsum([r["c_us"] for r in ladder]),
                                     [r["accuracy"] for r in ladder],
                                     name=f"MLPStudent((32,)), {connection}",
                                     cost_label="cumulative latency (µs per row, compiled C)",
                                     ax=ax)
    ax.set_title("digits: accuracy against measured C latency, batch 1")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
