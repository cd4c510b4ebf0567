"""FIND_WL epoch time vs a plain torch loop: same data, model, loss, batch size, run.

    python benchmarks/find_wl_overhead.py [--rows 50000] [--features 64] [--device cpu]

Three ways to run one epoch of the FIND_WL objective over the same resident
tensors, interleaved so machine noise hits all of them alike:

- ``plain``: a hand-written torch loop (randperm, slice, forward, backward, step;
  one host sync per epoch, as FIND_WL);
- ``find_wl``: the package's skorch net with whole-tensor batches;
- ``skorch_default``: skorch's default per-row Dataset + DataLoader (reference).

Prints a table last and writes ``benchmarks/results/find_wl_overhead.json``.
Target (BENCHMARKS.md): find_wl / plain <= 1.3.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from sklearn_bdistil._find_wl import train_student
from sklearn_bdistil._loss import DistillationCriterion, pack_targets
from sklearn_bdistil.students import MLPStudent
from sklearn_bdistil.students._base import build_student

LOSS = dict(temperature=1.0, barrier_strength=0.1, barrier_delta=0.1)


def problem(rows, n_features, n_classes, device, seed=0):
    """Random resident inputs and packed FIND_WL targets ``[G | 0 | D]``."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(rows, n_features, generator=g)
    G = torch.randn(rows, n_classes, generator=g)
    D = torch.randn(rows, n_classes, generator=g)
    y = pack_targets(G, torch.zeros_like(G), D / D.abs().sum())
    return X.to(device), y.to(device)


def plain_epochs(module, X, y, batch_size, epochs, lr=1e-2, seed=0, compile_mode=None):
    """Seconds per epoch of a hand-written loop over resident tensors.

    One Adam over all epochs, a new random order each epoch (drawn on the CPU
    from ``seed``), and, like FIND_WL, one host sync per epoch: the batch
    losses are summed on the device and read once at the end of the epoch.
    ``compile_mode`` (e.g. ``"default"``, ``"reduce-overhead"`` for CUDA
    graphs): the module and the criterion run through ``torch.compile`` with
    that mode; the first epoch then includes the compilation.
    """
    criterion = DistillationCriterion(**LOSS)
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    if compile_mode is not None:
        module = torch.compile(module, mode=compile_mode)
        criterion = torch.compile(criterion, mode=compile_mode)
    generator = torch.Generator().manual_seed(seed)
    module.train()
    out = []
    for _ in range(epochs):
        if X.device.type == "cuda":
            torch.cuda.synchronize(X.device)
        start = time.perf_counter()
        order = torch.randperm(len(X), generator=generator).to(X.device)
        total = torch.zeros((), device=X.device)
        for i in range(0, len(X), batch_size):
            idx = order[i:i + batch_size]
            optimizer.zero_grad()
            loss = criterion(module(X[idx]), y[idx])
            loss.backward()
            optimizer.step()
            total += loss.detach()
        total.item()
        out.append(time.perf_counter() - start)
    return out


def skorch_epochs(module, X, y, batch_size, lr, device, epochs, default_iterator):
    if default_iterator:
        from skorch import NeuralNet

        net = NeuralNet(module, criterion=DistillationCriterion, optimizer=torch.optim.Adam,
                        lr=lr, max_epochs=epochs, batch_size=batch_size,
                        iterator_train__shuffle=True, train_split=None, device=device,
                        verbose=0, **{f"criterion__{k}": v for k, v in LOSS.items()})
        net.fit(X.cpu(), y.cpu())
    else:
        net = train_student(module, X, y, seed=0, max_epochs=epochs, batch_size=batch_size,
                            lr=lr, optimizer=torch.optim.Adam, device=device,
                            lr_schedule="constant",  # as the plain skorch net it is timed against
                            criterion=(DistillationCriterion, LOSS))
    return list(net.history[:, "dur"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    device = torch.device(args.device)
    L = args.classes
    X, y = problem(args.rows, args.features, L, device)
    factory = MLPStudent((args.hidden,))

    def fresh():
        return build_student(factory, args.features, L, seed=0).to(device)

    times = {"plain": [], "find_wl": [], "skorch_default": []}
    # warm-up: first calls pay for imports, allocator growth and thread start-up
    plain_epochs(fresh(), X, y, args.batch_size, 1)
    skorch_epochs(fresh(), X, y, args.batch_size, 1e-2, device, 1, False)
    for _ in range(args.repeats):
        times["plain"] += plain_epochs(fresh(), X, y, args.batch_size, args.epochs)
        times["find_wl"] += skorch_epochs(fresh(), X, y, args.batch_size, 1e-2, device,
                                          args.epochs, False)
        times["skorch_default"] += skorch_epochs(fresh(), X, y, args.batch_size, 1e-2,
                                                 device, 1, True)

    median = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "config": vars(args) | {"torch": torch.__version__,
                                "threads": torch.get_num_threads()},
        "seconds_per_epoch": median,
        "ratio_find_wl_vs_plain": median["find_wl"] / median["plain"],
        "ratio_skorch_default_vs_plain": median["skorch_default"] / median["plain"],
        "target_find_wl_vs_plain": 1.3,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "find_wl_overhead.json").write_text(json.dumps(result, indent=2))

    print(f"{args.rows} rows x {args.features} features, {L} classes, "
          f"MLP({args.hidden}), batch {args.batch_size}, device {device}, "
          f"{torch.get_num_threads()} threads; median of "
          f"{args.epochs * args.repeats} epochs")
    print(f"{'loop':<16} {'s/epoch':>8} {'x plain':>8}")
    for name, seconds in median.items():
        print(f"{name:<16} {seconds:>8.3f} {seconds / median['plain']:>8.2f}")
    status = "meets" if result["ratio_find_wl_vs_plain"] <= 1.3 else "MISSES"
    print(f"FIND_WL / plain = {result['ratio_find_wl_vs_plain']:.2f} "
          f"({status} the 1.3x target)")


if __name__ == "__main__":
    main()
