#!/usr/bin/env python3
"""Descent against PyTorch on the same machine, model, data, batch and thread count, in one run.

    python3 bench/peers/compare.py [--steps 200] [--threads 1,2] [--only single,ddp,full,straggler,wide]

Scenarios (each prints Descent's figure, PyTorch's and their ratio):
  single  one process, 784-256-128-10, batch 512, for each of --threads T (T > 1: --shards T): examples/s
  ddp     2 local workers (1 thread each) vs DDP with gloo, 2 ranks, global batch 1024: examples/s
  full    full batch (all 60,000 examples every step), 1 thread: steps/s and peak RSS
  small   batch 128 with sgd and with adam: Descent in-process 1 thread vs PyTorch 1 thread, and
          Descent 2 local workers vs PyTorch 2 threads (issue 24; not in the default --only)
  straggler  the ddp row with worker/rank 1 at half speed (stopped and continued in turns of 3 ms,
          by this script): each side's throughput as a fraction of its own undisturbed run.
          Descent runs --shards 8, so that shards can follow the compute (issue 20)
  wide    the ddp row on the wide model 784-2048-2048-10 (5.8M parameters, 25 times the default's):
          2 local workers (1 thread each) vs DDP with gloo, 2 ranks, global batch 1024: examples/s.
          Not in the default --only: a step takes most of a second here, so run it on its own
          (issue 21: `--only wide --repeat 3 --steps 40`)

Descent's figures are the median step of `coordinator train --metrics` (first tenth dropped);
PyTorch's the median step of the same loop, timed the same way. Each row runs the two sides
alternately --repeat times and prints the medians and the median of the pairs' ratios. Needs `torch` (pip) and the
release binaries (swift build -c release).
"""
import argparse, gzip, json, os, resource, signal, socket, statistics, struct, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("DESCENT_BIN", os.path.join(ROOT, ".build", "release"))
DATA = "/usr/share/datasets/fashion-mnist"
LAYERS = [784, 256, 128, 10]
WIDE_LAYERS = [784, 2048, 2048, 10]


def load_fashion_mnist(split="train"):
    """`split`: "train" (60,000 examples) or "t10k" (the 10,000 test examples)."""
    import numpy as np
    with gzip.open(f"{DATA}/{split}-images-idx3-ubyte.gz") as f:
        _, n, rows, cols = struct.unpack(">IIII", f.read(16))
        x = np.frombuffer(f.read(), dtype=np.uint8).reshape(n, rows * cols).astype(np.float32) / 255
    with gzip.open(f"{DATA}/{split}-labels-idx1-ubyte.gz") as f:
        f.read(8)
        y = np.frombuffer(f.read(), dtype=np.uint8).astype(np.int64)
    return x, y


def median_after_warmup(times):
    return statistics.median(times[len(times) // 10:])


# ---------------------------------------------------------------- Descent

def mean_after_warmup(times):
    return statistics.fmean(times[len(times) // 10:])


class Throttle:
    """Stops and continues a process in turns of `ms` milliseconds: half speed, as a noisy
    neighbour or a throttled VM would leave it."""

    def __init__(self, pid, ms=3):
        self.pid, self.ms, self.running = pid, ms, True
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        try:
            while self.running:
                os.kill(self.pid, signal.SIGSTOP)
                time.sleep(self.ms / 1000)
                os.kill(self.pid, signal.SIGCONT)
                time.sleep(self.ms / 1000)
        except ProcessLookupError:
            pass

    def stop(self):
        self.running = False
        self.thread.join()
        try:
            os.kill(self.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def child_with_argument(parent, argument, timeout=60):
    """The pid of a child of `parent` whose command line holds `argument`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    args = f.read().split(b"\0")
            except OSError:
                continue
            if ppid == parent and argument.encode() in args:
                return int(pid)
        time.sleep(0.01)
    raise RuntimeError(f"no child of {parent} with argument {argument}")


def descent(mode, batch, steps, threads, slow_worker=None, layers=LAYERS, extra=()):
    """`slow_worker`: the name of a local worker to run at half speed (throughput then counts
    every step after the first tenth, not the median: the run's pace changes as shards move)."""
    with tempfile.TemporaryDirectory() as tmp:
        metrics = os.path.join(tmp, "m.jsonl")
        cmd = [os.path.join(BIN, "coordinator"), "train", *mode, "--dataset", "fashion-mnist",
               "--test-dataset", "fashion-mnist", "--layers", ",".join(map(str, layers)),
               "--batch", str(batch), "--steps", str(steps), "--threads", str(threads),
               "--metrics", metrics, "--out", os.path.join(tmp, "m.safetensors"), "--quiet", *extra]
        run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        throttle = Throttle(child_with_argument(run.pid, slow_worker)) if slow_worker else None
        out, err = run.communicate()
        if throttle:
            throttle.stop()
        if run.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{err}")
        summary = json.loads(out.strip().splitlines()[-1])
        lines = [json.loads(l) for l in open(metrics) if '"event"' not in l]
        pick = mean_after_warmup if slow_worker else median_after_warmup
        step = pick([l["step_s"] for l in lines])
        examples = statistics.median(l["examples"] for l in lines)
        return {"examples_per_s": examples / step, "steps_per_s": 1 / step,
                "peak_rss_mb": summary.get("peak_rss_mb", 0.0)}


# ---------------------------------------------------------------- PyTorch

def torch_model(sizes=LAYERS):
    import torch
    layers = []
    for i in range(1, len(sizes)):
        layers.append(torch.nn.Linear(sizes[i - 1], sizes[i]))
        if i < len(sizes) - 1:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def torch_loop(model, x, y, batch, steps, rank=0, world=1, optimizer="sgd"):
    import torch
    opt = (torch.optim.Adam(model.parameters(), lr=0.001) if optimizer == "adam"
           else torch.optim.SGD(model.parameters(), lr=0.1))
    loss_fn = torch.nn.CrossEntropyLoss()
    m = x.shape[0]
    g = torch.Generator().manual_seed(1)
    order = torch.randperm(m, generator=g)
    times, position = [], 0
    for _ in range(steps):
        if position + batch * world > m:
            order, position = torch.randperm(m, generator=g), 0
        idx = order[position + rank * batch: position + (rank + 1) * batch]
        position += batch * world
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return times


def torch_single(batch, steps, threads, optimizer="sgd"):
    import torch
    torch.set_num_threads(threads)
    x, y = (torch.from_numpy(a) for a in load_fashion_mnist())
    times = torch_loop(torch_model(), x, y, batch, steps, optimizer=optimizer)
    step = median_after_warmup(times)
    return {"examples_per_s": batch / step, "steps_per_s": 1 / step,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def torch_full_batch(steps):
    # Its own process, so the peak RSS is this scenario's alone.
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
            f"import compare, json; print(json.dumps(compare.torch_single(60000, {steps}, 1)))")
    return json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)


def ddp_rank(rank, world, port, batch, steps, results, slowed=False, sizes=LAYERS):
    import torch, torch.distributed as dist
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    x, y = (torch.from_numpy(a) for a in load_fashion_mnist())
    torch.manual_seed(1)
    model = torch.nn.parallel.DistributedDataParallel(torch_model(sizes))
    times = torch_loop(model, x, y, batch // world, steps, rank, world)
    dist.barrier()
    if rank == 0:
        results.put((mean_after_warmup if slowed else median_after_warmup)(times))
    dist.destroy_process_group()


def torch_ddp(batch, steps, world=2, slow_rank=None, sizes=LAYERS):
    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    slowed = slow_rank is not None
    procs = [ctx.Process(target=ddp_rank, args=(r, world, port, batch, steps, results, slowed, sizes)) for r in range(world)]
    for p in procs:
        p.start()
    throttle = Throttle(procs[slow_rank].pid) if slowed else None
    step = results.get(timeout=600)
    if throttle:
        throttle.stop()
    for p in procs:
        p.join()
    return {"examples_per_s": batch / step, "steps_per_s": 1 / step}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--full-steps", type=int, default=8)
    parser.add_argument("--threads", default="1,2", help="thread counts for the single-process rows, comma-separated")
    parser.add_argument("--only", default="single,ddp,full,straggler")
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each side per row (medians)")
    parser.add_argument("--json", help="append results as JSON lines here")
    args = parser.parse_args()
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.exit("PyTorch is not installed: pip install torch")
    rows = []
    only = args.only.split(",")

    def paired(label, ours, theirs, figures):
        """Runs the two alternately --repeat times (the machine drifts; pairs see the same drift)
        and, for each (figure, key), keeps the medians and the median of the pairs' ratios."""
        d, t = [], []
        for _ in range(args.repeat):
            d.append(ours())
            t.append(theirs())
        for figure, key in figures:
            print("%s, %s, pair by pair: %s" % (label, figure, ", ".join("%.1f/%.1f" % (a[key], b[key]) for a, b in zip(d, t))), file=sys.stderr)
            ratio = statistics.median(a[key] / b[key] for a, b in zip(d, t))
            rows.append((label, figure, statistics.median(a[key] for a in d), statistics.median(b[key] for b in t), ratio))

    if "single" in only:
        for threads in map(int, args.threads.split(",")):
            # With T threads Descent computes T shards side by side (the bits of one thread with
            # T shards); PyTorch splits each operator over its T threads.
            shards = ["--shards", str(threads)] if threads > 1 else []
            label = "single process, batch 512, %d thread%s" % (threads, "s (shards)" if threads > 1 else "")
            paired(label,
                   lambda: descent(["--in-process", *shards], 512, args.steps, threads),
                   lambda: torch_single(512, args.steps, threads), [("examples/s", "examples_per_s")])
    if "small" in only:
        # The recipe users start with (issue 24): batch 128, sgd and adam; Descent with 1 thread
        # in-process and with 2 local workers, PyTorch with 1 and 2 threads.
        for optimizer in ("sgd", "adam"):
            extra = ["--optimizer", "adam", "--lr", "0.001"] if optimizer == "adam" else []
            paired("batch 128, %s, 1 thread" % optimizer,
                   lambda: descent(["--in-process"], 128, args.steps, 1, extra=extra),
                   lambda: torch_single(128, args.steps, 1, optimizer), [("examples/s", "examples_per_s")])
            paired("batch 128, %s, 2 local workers vs 2 threads" % optimizer,
                   lambda: descent(["--local-workers", "2"], 128, args.steps, 1, extra=extra),
                   lambda: torch_single(128, args.steps, 2, optimizer), [("examples/s", "examples_per_s")])
    if "ddp" in only:
        paired("2 workers vs DDP gloo 2 ranks, global batch 1024",
               lambda: descent(["--local-workers", "2"], 1024, args.steps, 1),
               lambda: torch_ddp(1024, args.steps), [("examples/s", "examples_per_s")])
    if "full" in only:
        paired("full batch (60,000), 1 thread",
               lambda: descent(["--in-process"], 0, args.full_steps, 1),
               lambda: torch_full_batch(args.full_steps),
               [("steps/s", "steps_per_s"), ("peak RSS MB", "peak_rss_mb")])
    if "straggler" in only:
        d, t = [], []
        for _ in range(args.repeat):
            mode = ["--local-workers", "2", "--shards", "8"]
            calm = descent(mode, 1024, args.steps, 1)
            slowed = descent(mode, 1024, args.steps, 1, slow_worker="local-1")
            d.append(slowed["examples_per_s"] / calm["examples_per_s"])
            calm, slowed = torch_ddp(1024, args.steps), torch_ddp(1024, args.steps, slow_rank=1)
            t.append(slowed["examples_per_s"] / calm["examples_per_s"])
        print("straggler, fraction of undisturbed, pair by pair: %s" % ", ".join("%.2f/%.2f" % p for p in zip(d, t)),
              file=sys.stderr)
        rows.append(("2 workers, one at half speed (vs undisturbed)", "fraction", statistics.median(d),
                     statistics.median(t), statistics.median(a / b for a, b in zip(d, t))))
    if "wide" in only:
        paired("wide 784-2048-2048-10: 2 workers vs DDP, batch 1024",
               lambda: descent(["--local-workers", "2"], 1024, args.steps, 1, layers=WIDE_LAYERS),
               lambda: torch_ddp(1024, args.steps, sizes=WIDE_LAYERS), [("examples/s", "examples_per_s")])
    print(f"{'scenario':<52}{'figure':<13}{'Descent':>12}{'PyTorch':>12}{'ratio':>8}")
    for scenario, figure, ours, theirs, ratio in rows:
        digits = 2 if figure == "fraction" else 1
        print(f"{scenario:<52}{figure:<13}{ours:>12.{digits}f}{theirs:>12.{digits}f}{ratio:>8.2f}")
    if args.json:
        with open(args.json, "a") as f:
            for scenario, figure, ours, theirs, ratio in rows:
                f.write(json.dumps({"scenario": scenario, "figure": figure, "descent": ours, "pytorch": theirs,
                                    "ratio": ratio, "repeat": args.repeat, "torch": torch.__version__}) + "\n")


if __name__ == "__main__":
    main()
