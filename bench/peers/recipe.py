#!/usr/bin/env python3
"""The README's recipe, Descent against PyTorch, in one run: time to train and the accuracy reached.

    python3 bench/peers/recipe.py [--repeat 2] [--epochs 10] [--workers 2] [--threads 2]

The recipe: 784-256-128-10 (ReLU, softmax), Adam (lr 0.001), a cosine schedule to 0 at the last
step, batch 128, --epochs passes over Fashion-MNIST's 60,000 training images, the 10,000 test
images evaluated after every epoch.
  Descent  `coordinator train --local-workers W` (1 thread each; the command scripts/train-fashion-mnist runs)
  PyTorch  one process, torch.set_num_threads(T), the same loop (nn.Linear's own initialisation)

Each side's time is its training loop's wall clock, per-epoch evaluations included, data loading
and start-up excluded (Descent: the summary's wall_s; PyTorch: timed around its loop). Runs
alternate, --repeat times each; the medians and each run's accuracy after every epoch are
printed. Needs torch (pip) and the release binaries.
"""
import argparse, json, math, os, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import BIN, LAYERS, load_fashion_mnist, DATA  # noqa: E402


def descent(epochs, workers):
    with tempfile.TemporaryDirectory() as tmp:
        metrics = os.path.join(tmp, "m.jsonl")
        cmd = [os.path.join(BIN, "coordinator"), "train", "--local-workers", str(workers), "--dataset",
               "fashion-mnist", "--optimizer", "adam", "--lr", "0.001", "--lr-schedule", "cosine", "--batch", "128",
               "--epochs", str(epochs), "--metrics", metrics, "--out", os.path.join(tmp, "m.safetensors"), "--quiet"]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{run.stderr}")
        summary = json.loads(run.stdout.strip().splitlines()[-1])
        evals = [json.loads(l) for l in open(metrics) if '"eval"' in l]
        return summary["wall_s"], [e["test_accuracy"] for e in evals]


def load_test():
    import gzip, struct
    import numpy as np
    with gzip.open(f"{DATA}/t10k-images-idx3-ubyte.gz") as f:
        _, n, rows, cols = struct.unpack(">IIII", f.read(16))
        x = np.frombuffer(f.read(), dtype=np.uint8).reshape(n, rows * cols).astype(np.float32) / 255
    with gzip.open(f"{DATA}/t10k-labels-idx1-ubyte.gz") as f:
        f.read(8)
        y = np.frombuffer(f.read(), dtype=np.uint8).astype(np.int64)
    return x, y


def pytorch(epochs, threads):
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    x, y = (torch.from_numpy(a) for a in load_fashion_mnist())
    tx, ty = (torch.from_numpy(a) for a in load_test())
    layers = []
    for i in range(1, len(LAYERS)):
        layers.append(torch.nn.Linear(LAYERS[i - 1], LAYERS[i]))
        if i < len(LAYERS) - 1:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    batch, m = 128, x.shape[0]
    steps_per_epoch = math.ceil(m / batch)
    opt = torch.optim.Adam(model.parameters(), lr=0.001)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch, eta_min=0)
    loss_fn = torch.nn.CrossEntropyLoss()
    accuracies = []
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(m)
        for j in range(steps_per_epoch):
            idx = order[j * batch:(j + 1) * batch]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
            schedule.step()
        with torch.no_grad():
            accuracies.append((model(tx).argmax(1) == ty).float().mean().item())
    return time.perf_counter() - start, accuracies


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    times = {"descent": [], "pytorch": []}
    for r in range(args.repeat):
        for side in ("descent", "pytorch"):
            seconds, accuracies = (descent(args.epochs, args.workers) if side == "descent"
                                   else pytorch(args.epochs, args.threads))
            times[side].append(seconds)
            first = next((i + 1 for i, a in enumerate(accuracies) if a >= 0.89), None)
            print(f"run {r + 1} {side}: {seconds:.1f} s, test accuracy by epoch "
                  f"{' '.join(f'{a:.4f}' for a in accuracies)}; ≥ 0.89 first after epoch {first}", file=sys.stderr)
    d, p = statistics.median(times["descent"]), statistics.median(times["pytorch"])
    print(json.dumps({"descent_s": round(d, 2), "pytorch_s": round(p, 2), "speedup": round(p / d, 2),
                      "workers": args.workers, "threads": args.threads, "epochs": args.epochs}))


if __name__ == "__main__":
    main()
