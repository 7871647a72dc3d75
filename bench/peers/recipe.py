#!/usr/bin/env python3
"""The README's recipe, Descent against PyTorch, in one run: time to train and the accuracy reached.

    python3 bench/peers/recipe.py [--repeat 2] [--epochs 10] [--workers 2] [--threads 2] [--target 0.89]

The recipe: 784-256-128-10 (ReLU, softmax), Adam (lr 0.001), a cosine schedule to 0 at the last
step, batch 128, --epochs passes over Fashion-MNIST's 60,000 training images, the 10,000 test
images evaluated after every epoch.
  Descent  `coordinator train --local-workers W` (1 thread each; the command scripts/train-fashion-mnist runs)
  PyTorch  one process, torch.set_num_threads(T), the same loop (nn.Linear's own initialisation)
  DDP      PyTorch DistributedDataParallel, gloo, W ranks of 1 thread, each a 128/W share of every
           global batch of 128 (rank 0 evaluates after each epoch while the others wait)

Each side's time is its training loop's wall clock, per-epoch evaluations included, data loading
and start-up excluded (Descent: the summary's wall_s; PyTorch: timed around its loop); its time
to the target (--target, 89% by default) is that clock at the end of the first evaluation at or
above it (Descent: the eval line's wall_s), none when the recipe ends below it. Runs alternate,
--repeat times each; the medians and each run's accuracy after every epoch are printed. Needs
torch (pip) and the release binaries.
"""
import argparse, json, math, os, socket, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import BIN, load_fashion_mnist, torch_model  # noqa: E402


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
        return summary["wall_s"], [e["test_accuracy"] for e in evals], [e["wall_s"] for e in evals]


def pytorch(epochs, threads):
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    x, y = (torch.from_numpy(a) for a in load_fashion_mnist())
    tx, ty = (torch.from_numpy(a) for a in load_fashion_mnist("t10k"))
    return recipe_loop(torch_model(), x, y, tx, ty, epochs, 128)


def recipe_loop(model, x, y, tx, ty, epochs, share, rank=0, world=1, evaluate=True):
    """Adam + cosine over `epochs` of global batch 128, this rank's `share` of each; returns the
    loop's seconds, the test accuracy after each epoch (rank 0) and the seconds at which each was
    known."""
    import torch
    batch, m = 128, x.shape[0]
    steps_per_epoch = math.ceil(m / batch)
    opt = torch.optim.Adam(model.parameters(), lr=0.001)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch, eta_min=0)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(1)
    accuracies, stamps = [], []
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(m, generator=generator)
        for j in range(steps_per_epoch):
            idx = order[j * batch:(j + 1) * batch][rank * share:(rank + 1) * share]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
            schedule.step()
        if evaluate:
            with torch.no_grad():
                accuracies.append((model(tx).argmax(1) == ty).float().mean().item())
                stamps.append(time.perf_counter() - start)
        if world > 1:
            torch.distributed.barrier()
    return time.perf_counter() - start, accuracies, stamps


def ddp_rank(rank, world, port, epochs, results):
    import torch, torch.distributed as dist
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    x, y = (torch.from_numpy(a) for a in load_fashion_mnist())
    tx, ty = (torch.from_numpy(a) for a in load_fashion_mnist("t10k"))
    torch.manual_seed(1)
    model = torch.nn.parallel.DistributedDataParallel(torch_model())
    outcome = recipe_loop(model, x, y, tx, ty, epochs, 128 // world, rank, world, evaluate=rank == 0)
    if rank == 0:
        results.put(outcome)
    dist.destroy_process_group()


def ddp(epochs, world):
    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=ddp_rank, args=(r, world, port, epochs, results)) for r in range(world)]
    for p in procs:
        p.start()
    outcome = results.get(timeout=1200)
    for p in procs:
        p.join()
    return outcome


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--target", type=float, default=0.89, help="the test accuracy to time each side to")
    args = parser.parse_args()
    sides = {"descent": lambda: descent(args.epochs, args.workers),
             "pytorch": lambda: pytorch(args.epochs, args.threads),
             "ddp": lambda: ddp(args.epochs, args.workers)}
    times = {side: [] for side in sides}
    reached_at = {side: [] for side in sides}
    for r in range(args.repeat):
        for side, run in sides.items():
            seconds, accuracies, stamps = run()
            times[side].append(seconds)
            first = next((i for i, a in enumerate(accuracies) if a >= args.target), None)
            reached_at[side].append(stamps[first] if first is not None else None)
            reached = f"≥ {args.target} first after epoch {first + 1}, at {stamps[first]:.1f} s" \
                if first is not None else f"never ≥ {args.target}"
            print(f"run {r + 1} {side}: {seconds:.1f} s, test accuracy by epoch "
                  f"{' '.join(f'{a:.4f}' for a in accuracies)}; {reached}", file=sys.stderr)
    d, p, q = (statistics.median(times[side]) for side in ("descent", "pytorch", "ddp"))
    # A side's time to the target: the median over runs, none if any run ended below it.
    reach = {side: (round(statistics.median(v), 2) if None not in v else None) for side, v in reached_at.items()}
    print(json.dumps({"descent_s": round(d, 2), "pytorch_s": round(p, 2), "ddp_s": round(q, 2),
                      "vs_pytorch": round(p / d, 2), "vs_ddp": round(q / d, 2),
                      "target": args.target, "descent_to_target_s": reach["descent"],
                      "pytorch_to_target_s": reach["pytorch"], "ddp_to_target_s": reach["ddp"],
                      "workers": args.workers, "threads": args.threads, "epochs": args.epochs}))


if __name__ == "__main__":
    main()
