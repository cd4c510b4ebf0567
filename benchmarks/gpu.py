"""FIND_WL and staged prediction throughput, CPU vs GPU and vs a plain torch loop.

    python -m benchmarks.gpu                      # 100k and 1M rows, every device here
    python -m benchmarks.gpu --rows 20000 --devices cpu --epochs 1   # CPU smoke run

One script for everything GPU-related, sized for a few minutes on one GPU:

- **FIND_WL epoch**: rows/s of the package's skorch FIND_WL net
  (:func:`sklearn_bdistil._find_wl.train_student`) against a plain torch loop
  over the same device-resident tensors, module, loss, batch size and Adam
  (no per-batch host sync in the plain loop: the fastest honest loop). Both
  for an MLP student on 64 features and a 1-D CNN student on 6 x 100 sensor
  windows, at each ``--rows`` and ``--batch-sizes`` and on each device.
  Median over epochs after one warm-up epoch.
- **staged prediction**: rows/s of ``staged_decision_function`` (all stages)
  and of ``decision_function`` (last stage) of a 10-stage ensemble of each
  student kind, on each device, at the largest ``--rows``. The ensemble is
  fitted on 4,000 rows (its accuracy is irrelevant here).

- **torch.compile** (``--compile MODE ...``, off by default): the plain loop
  again with the student and the criterion compiled in each mode (e.g.
  ``default``; ``reduce-overhead`` replays CUDA graphs), at the largest
  ``--rows`` and the smallest batch size, where launch overhead dominates.
  The first (dropped) epoch includes the compilation; its excess over a
  timed epoch is reported as ``compile_s``.

Devices run in the order given (``cuda`` first by default), and the JSON is
rewritten after every measurement, so a run stopped by a time limit keeps
what it measured. Targets (issue 8): on a GPU, FIND_WL within 1.3x of the
plain loop and faster than the CPU path at 1M rows; staged prediction of 1M
rows in well under a second for MLP students. Writes ``gpu.json`` under
``--out`` (default ``benchmarks/results``) and prints a table last.
"""

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from benchmarks.find_wl_overhead import plain_epochs, problem, skorch_epochs
from sklearn_bdistil import BDistilClassifier
from sklearn_bdistil.students import Conv1dStudent, MLPStudent
from sklearn_bdistil.students._base import build_student

N_CLASSES = 10
#: student kind -> (factory, n_features)
STUDENTS = {
    "mlp": (MLPStudent((16,)), 64),
    "cnn": (Conv1dStudent(n_channels=6, n_filters=(8, 16)), 600),
}


def _fresh(kind, device):
    factory, n_features = STUDENTS[kind]
    return build_student(factory, n_features, N_CLASSES, seed=0).to(device)


def warm_up(kind, device, batch_size, rows=20_000):
    """Both loops, untimed: a process's first epochs pay for thread pools, kernel
    selection and allocator growth (seconds on a busy CPU), which the first timed
    loop would otherwise absorb."""
    X, y = problem(rows, STUDENTS[kind][1], N_CLASSES, device)
    plain_epochs(_fresh(kind, device), X, y, batch_size, 2)
    skorch_epochs(_fresh(kind, device), X, y, batch_size, 1e-2, device, 2, False)


def time_find_wl(kind, X, y, batch_size, device, epochs):
    """FIND_WL and the plain loop on the same resident problem ``(X, y)``."""
    rows = X.shape[0]
    # one warm-up epoch each (allocator, cuDNN autotuning, thread pools), dropped
    plain = plain_epochs(_fresh(kind, device), X, y, batch_size, epochs + 1)[1:]
    find_wl = skorch_epochs(_fresh(kind, device), X, y, batch_size, 1e-2, device,
                            epochs + 1, False)[1:]
    p, f = statistics.median(plain), statistics.median(find_wl)
    return {"student": kind, "rows": rows, "batch_size": batch_size, "device": str(device),
            "plain_s_per_epoch": p, "find_wl_s_per_epoch": f,
            "plain_rows_per_s": rows / p, "find_wl_rows_per_s": rows / f,
            "find_wl_vs_plain": f / p}


def time_compiled(kind, rows, batch_size, device, epochs, mode):
    """The plain loop with ``torch.compile(mode=mode)``, against the eager plain loop."""
    X, y = problem(rows, STUDENTS[kind][1], N_CLASSES, device)
    eager = statistics.median(plain_epochs(_fresh(kind, device), X, y, batch_size,
                                           epochs + 1)[1:])
    torch._dynamo.reset()  # no cache from an earlier mode or student
    seconds = plain_epochs(_fresh(kind, device), X, y, batch_size, epochs + 1,
                           compile_mode=mode)
    compiled = statistics.median(seconds[1:])
    del X, y
    return {"student": kind, "rows": rows, "batch_size": batch_size, "device": str(device),
            "mode": mode, "eager_s_per_epoch": eager, "compiled_s_per_epoch": compiled,
            "compile_s": seconds[0] - compiled, "compiled_vs_eager": compiled / eager}


def fitted_ensemble(kind, n_stages=10, seed=0):
    factory, n_features = STUDENTS[kind]
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((4000, n_features)).astype(np.float32)
    teacher = torch.nn.Sequential(torch.nn.Linear(n_features, 32), torch.nn.ReLU(),
                                  torch.nn.Linear(32, N_CLASSES))
    clf = BDistilClassifier(teacher, [factory], n_estimators=n_stages, max_epochs=2,
                            gamma=-1.0, n_iter_no_change=n_stages, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return clf.fit(X)


def time_prediction(kind, clf, rows, device, repeats):
    n_features = STUDENTS[kind][1]
    X = np.random.default_rng(1).standard_normal((rows, n_features)).astype(np.float32)
    clf.set_params(device=str(device), predict_batch_size=max(8192, rows // 8))

    def staged():
        for _ in clf.staged_decision_function(X):
            pass

    def last():
        clf.decision_function(X)

    out = {"student": kind, "rows": rows, "device": str(device),
           "n_stages": int(clf.n_estimators_)}
    for name, fn in (("staged", staged), ("last_stage", last)):
        fn()  # warm-up
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            seconds.append(time.perf_counter() - start)
        s = statistics.median(seconds)
        out[f"{name}_seconds"] = s
        out[f"{name}_rows_per_s"] = rows / s
    out["staged_vs_last_stage"] = out["staged_seconds"] / out["last_stage_seconds"]
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 4096])
    parser.add_argument("--students", nargs="+", choices=sorted(STUDENTS),
                        default=["mlp", "cnn"])
    parser.add_argument("--devices", nargs="+", default=None,
                        help="in this order; default: cuda where available, then cpu")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs (after a warm-up)")
    parser.add_argument("--repeats", type=int, default=3, help="timed prediction repeats")
    parser.add_argument("--compile", nargs="*", default=[], metavar="MODE",
                        help="torch.compile modes to time the plain loop in (default: none)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)
    devices = [torch.device(d) for d in (args.devices or
                                         (["cuda"] if torch.cuda.is_available() else [])
                                         + ["cpu"])]
    for d in devices:
        if d.type == "cuda" and not torch.cuda.is_available():
            parser.error("--devices cuda, but CUDA is not available here")
    card = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = {"config": vars(args) | {"torch": torch.__version__, "card": card,
                                      "cpu_threads": torch.get_num_threads()},
              "find_wl": [], "compiled": [], "prediction": [], "wall_seconds": 0.0}

    def record(section, r):
        result[section].append(r)
        result["wall_seconds"] = time.perf_counter() - start
        (out / "gpu.json").write_text(json.dumps(result, indent=2))

    # per student: the FIND_WL sweep, then its prediction; the compile runs (slow to
    # compile) last, so a run cut short by a time limit has every target's numbers
    for device in devices:
        for kind in args.students:
            warm_up(kind, device, min(args.batch_sizes))
            for rows in args.rows:
                X, y = problem(rows, STUDENTS[kind][1], N_CLASSES, device)  # once per size
                for batch_size in args.batch_sizes:
                    r = time_find_wl(kind, X, y, batch_size, device, args.epochs)
                    record("find_wl", r)
                    print(f"FIND_WL {kind} {rows} rows batch {batch_size} {device}: "
                          f"{r['find_wl_rows_per_s']:,.0f} rows/s "
                          f"({r['find_wl_vs_plain']:.2f}x plain)", flush=True)
                del X, y
            r = time_prediction(kind, fitted_ensemble(kind), max(args.rows), device,
                                args.repeats)
            record("prediction", r)
            print(f"predict {kind} {r['rows']} rows {device}: all {r['n_stages']} stages "
                  f"{r['staged_seconds']:.3f} s, last stage {r['last_stage_seconds']:.3f} s",
                  flush=True)
        for kind in args.students:
            for mode in args.compile:
                r = time_compiled(kind, max(args.rows), min(args.batch_sizes), device,
                                  args.epochs, mode)
                record("compiled", r)
                print(f"plain loop {kind} {r['rows']} rows batch {r['batch_size']} {device} "
                      f"compiled ({mode}): {r['compiled_vs_eager']:.2f}x eager, "
                      f"compiling {r['compile_s']:.0f} s", flush=True)
    wall = result["wall_seconds"]

    print(f"\ntorch {torch.__version__}; card: {card or 'none'}; "
          f"{torch.get_num_threads()} CPU threads; {wall:.0f} s; wrote {out / 'gpu.json'}")
    print(f"{'student':<7} {'rows':>9} {'batch':>6} {'device':<6} {'FIND_WL rows/s':>15} "
          f"{'plain rows/s':>13} {'x plain':>8}")
    for r in result["find_wl"]:
        print(f"{r['student']:<7} {r['rows']:>9} {r['batch_size']:>6} {r['device']:<6} "
              f"{r['find_wl_rows_per_s']:>15,.0f} {r['plain_rows_per_s']:>13,.0f} "
              f"{r['find_wl_vs_plain']:>8.2f}")
    if result["compiled"]:
        print(f"\n{'student':<7} {'rows':>9} {'batch':>6} {'device':<6} {'mode':<16} "
              f"{'eager s':>8} {'compiled s':>10} {'x eager':>8} {'compile s':>9}")
        for r in result["compiled"]:
            print(f"{r['student']:<7} {r['rows']:>9} {r['batch_size']:>6} {r['device']:<6} "
                  f"{r['mode']:<16} {r['eager_s_per_epoch']:>8.3f} "
                  f"{r['compiled_s_per_epoch']:>10.3f} {r['compiled_vs_eager']:>8.2f} "
                  f"{r['compile_s']:>9.1f}")
    print(f"\n{'student':<7} {'rows':>9} {'device':<6} {'stages':>6} {'staged s':>9} "
          f"{'last s':>8} {'staged rows/s':>14} {'staged/last':>11}")
    for r in result["prediction"]:
        print(f"{r['student']:<7} {r['rows']:>9} {r['device']:<6} {r['n_stages']:>6} "
              f"{r['staged_seconds']:>9.3f} {r['last_stage_seconds']:>8.3f} "
              f"{r['staged_rows_per_s']:>14,.0f} {r['staged_vs_last_stage']:>11.2f}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
