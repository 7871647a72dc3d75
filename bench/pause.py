#!/usr/bin/env python3
"""A worker paused (SIGSTOP) for --pause seconds mid-run: how much later does the run end?

    python3 bench/pause.py [--pause 3] [--repeat 3] [--steps 300]

Fashion-MNIST, 784-256-128-10, 2 local workers, batch 1024, --shards 8. Each round runs, in turn:
undisturbed; local-1 stopped for --pause s once the run is 1 s in, with backup computation
(--backup-after 0.25, the default); the same without (--backup-after 0). Prints each run's wall time and the delay of the
paused runs against the round's undisturbed one. Needs the release binaries (swift build -c release).
"""
import argparse, os, signal, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))
from compare import BIN, LAYERS, child_with_argument  # noqa: E402


def run(steps, pause, extra):
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [os.path.join(BIN, "coordinator"), "train", "--local-workers", "2", "--shards", "8",
               "--dataset", "fashion-mnist", "--layers", ",".join(map(str, LAYERS)), "--batch", "1024",
               "--steps", str(steps), "--out", os.path.join(tmp, "m.safetensors"), "--quiet", *extra]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if pause:
            worker = child_with_argument(proc.pid, "local-1")
            time.sleep(1)
            os.kill(worker, signal.SIGSTOP)
            time.sleep(pause)
            os.kill(worker, signal.SIGCONT)
        _, err = proc.communicate()
        if proc.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{err}")
        return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pause", type=float, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    delays = {"backup": [], "no backup": []}
    for round in range(args.repeat):
        calm = run(args.steps, 0, [])
        backed = run(args.steps, args.pause, ["--backup-after", "0.25"])
        waiting = run(args.steps, args.pause, ["--backup-after", "0"])
        delays["backup"].append(backed - calm)
        delays["no backup"].append(waiting - calm)
        print(f"round {round + 1}: undisturbed {calm:.2f} s, paused {args.pause:g} s with backup {backed:.2f} s "
              f"(+{backed - calm:.2f}), without {waiting:.2f} s (+{waiting - calm:.2f})")
    for name, values in delays.items():
        print(f"delay {name}: median {statistics.median(values):.2f} s ({', '.join('%.2f' % v for v in values)})")


if __name__ == "__main__":
    main()
