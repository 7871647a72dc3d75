#!/usr/bin/env python3
"""A step-time model of Descent, fitted on this machine, checked against real runs, and used to
predict throughput and scaling efficiency to 256 workers (issue 21). docs/SCALING.md explains it.

    python3 bench/scaling.py --validate   # measure, fit, check (loopback TCP; network namespaces as root)
    python3 bench/scaling.py --predict    # tables and plots from bench/scaling-params.json

--validate runs `coordinator train` on this machine:
  1. in-process, 1 thread, batch 512, both models: compute seconds per example;
  2. a coordinator and 1-4 workers over TCP on 127.0.0.1 (`--workers N --bind tcp://...`, each
     worker its own process; batch 512 a worker), both models, fp32 and fp16 gradients: a
     (a step), gamma (a value through the coordinator), d16 (fp16 rounding a value) and kappa
     (this machine's slowdown of a worker beside the coordinator) are fitted to N = 1 and 2;
     N = 3 and 4 are held out;
  3. as root: a coordinator and 1 or 2 workers, each in its own network namespace on a bridge,
     every veth end shaped to 1 Gbit/s (tc tbf), batch 512 a worker, fp32 and fp16: held out.
It writes bench/scaling-params.json (the fitted parameters and every measured row) and the
validation table into docs/SCALING.md between its markers. Namespaces and processes it starts are
removed on every exit. --predict writes docs/images/scaling-efficiency-*.svg and the prediction
tables and crossovers into docs/SCALING.md. Python 3 standard library only.
"""
import argparse, json, math, os, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("DESCENT_BIN", os.path.join(ROOT, ".build", "release"))
PARAMS_FILE = os.path.join(ROOT, "bench", "scaling-params.json")
DOC = os.path.join(ROOT, "docs", "SCALING.md")
IMAGES = os.path.join(ROOT, "docs", "images")

MODELS = {"small": [784, 256, 128, 10], "wide": [784, 2048, 2048, 10]}
PER_WORKER_BATCH = 512
SEGMENT_VALUES = 65536          # docs/PROTOCOL.md, PARTIAL: pieces joined to at least this many values
MAX_COLUMN_BLOCKS = 4
ETH_GOODPUT = 1448 / 1538       # TCP payload per Ethernet frame on the wire (MTU 1500, timestamps, preamble + gap)
TBF_GOODPUT = 1448 / 1514       # what tc tbf counts of the same frame on a veth (no preamble, no gap)
CHUNK_BYTES = 64 * 1024         # a PARAMS_PART piece: the broadcast tree's pipelining unit
TREE_FANOUT = 2                 # --relay-fanout's default
LINK_LATENCY_S = 50e-6          # one way, host to host through a switch, for the predictions


# ---------------------------------------------------------------- the model's structure

def parameter_count(layers):
    return sum(layers[i] * layers[i - 1] + layers[i] for i in range(1, len(layers)))


def pieces(layers):
    """Backprop's pieces in the order it finishes them (PROTOCOL, PARTIAL): (values, flops done
    when the piece is ready, as a fraction of the whole step's flops)."""
    forward = sum(2 * layers[i] * layers[i - 1] for i in range(1, len(layers)))
    total = forward + sum(2 * layers[i] * layers[i - 1] * (2 if i > 1 else 1) for i in range(1, len(layers)))
    done, out = forward, []
    for l in range(len(layers) - 1, 0, -1):
        rows, cols = layers[l], layers[l - 1]
        weights = rows * cols
        if weights <= SEGMENT_VALUES:
            done += 2 * weights
            out.append((weights + rows, done / total))
        else:
            out.append((rows, done / total))  # b alone, ready with the first block
            blocks = min(MAX_COLUMN_BLOCKS, math.ceil(weights / SEGMENT_VALUES))
            width = math.ceil(cols / blocks)
            widths = [width] * (blocks - 1) + [cols - width * (blocks - 1)]
            for w in reversed(widths):
                done += 2 * rows * w
                out.append((rows * w, done / total))
        if l > 1:
            done += 2 * weights  # dA for the layer below
    return out


def segments(layers):
    """Segments as (values, ready fraction): consecutive pieces joined to >= 65,536 values."""
    out, values, ready = [], 0, 0.0
    for v, r in pieces(layers):
        values += v
        ready = r
        if values >= SEGMENT_VALUES:
            out.append((values, ready))
            values = 0
    if values:
        out.append((values, ready))
    return out


# ---------------------------------------------------------------- the step model

def step_time(p, model, n, *, link_bps=None, reducers=1, tree=False, fp16=False, cores=None,
              latency_s=None, goodput=ETH_GOODPUT, burst_bytes=0, compute_s=None, parts=False):
    """Predicted seconds for one step of `n` workers, PER_WORKER_BATCH examples each.

    T = max(T_wire, T_comp + gamma * V) + a + a_w * n / S + 2 * lat

    T_comp  compute of one worker: t_ex * b on a host of its own (cores=None) or alone here;
            t_ex2 * b * max(1, n / cores) for n > 1 workers sharing this machine's cores (t_ex2:
            measured with `cores` in-process runs side by side), both times kappa on this
            machine (a worker beside a coordinator computes slower than a process alone);
            + d16 * P with fp16 gradients (the worker's rounding and error feedback)
    V       values through the busiest coordinator/reducer a step: (n_p + n) P / S, where
            n_p = n direct, 1 with the broadcast tree (a 16-bit value costs the CPU as a 32-bit one)
    B_p     4 P bytes of W, b; B_g = 4 P (fp32) or 2 P (fp16) bytes of gradient
    T_wire  0 without a link (loopback: gamma covers it); with a link of bw bytes/s each way,
            the time the last gradient segment reaches its reducer, from three small queues:
      params  direct: every worker has W, b at t_k = max(B_p, n B_p / S - burst) / bw (ZeroMQ
              writes all workers' copies at once, so they share the reducer's outbound link and
              end together; a worker's own link bounds it at B_p / bw); broadcast tree (the
              coordinator sends position 0 one copy in pieces, position p > 0 takes them from
              (p - 1) / 2, each relay forwarding every piece as it comes): the root at B_p / bw,
              a worker whose parent feeds c children at t_parent + (c - 1) B_p / bw + c chunk / bw
              + lat (the parent's uplink carries c copies, pipelined a piece behind its own)
      uplink  worker k's segment j (values v_j, ready at t_k + r_j T_comp, r_j from the flops
              backprop has done when it finishes the segment) leaves its uplink at
              u_kj = max(u_k(j-1), t_k + r_j T_comp) + v_j B_g / P / bw
      inbound the reducer's inbound link takes each segment's 1/S of every worker in order of
              u_kj: f = max(f + v_j B_g / (P S bw), u_kj); T_wire = the last f
    burst   what a tc tbf bucket lets through at once (the namespaces' 256 KiB; 0 on real links)
    """
    layers = MODELS[model]
    P = parameter_count(layers)
    bp, bg = 4 * P, (2 if fp16 else 4) * P
    S = reducers
    if cores and n > 1:  # this machine: workers share its cores
        t_comp = p["t_example_shared_s"][model] * PER_WORKER_BATCH * max(1.0, n / cores)
    else:
        t_comp = p["t_example_s"][model] * PER_WORKER_BATCH
    if cores:  # a worker beside the coordinator on this machine
        t_comp *= p.get("kappa", 1.0)
    if fp16:  # the worker rounds its gradient with error feedback before sending it
        t_comp += p.get("fp16_worker_s_per_value", 0.0) * P
    if compute_s is not None:  # the validation's second prediction: the run's own slowest compute
        t_comp = compute_s
    n_params_sent = 1 if tree else n
    v_node = (n_params_sent + n) * P / S
    t_cpu = p["gamma_s_per_value"] * v_node
    t_fixed = p["a_s"] + p["a_worker_s"] * n / S
    lat = (LINK_LATENCY_S if latency_s is None else latency_s) if link_bps else 0.0
    t_wire = 0.0
    if link_bps:
        bw = link_bps / 8 * goodput
        segs = segments(layers)
        if tree and n >= 2:
            starts = [max(bp / S, bp - burst_bytes) / bw]
            for k in range(1, n):
                up = (k - 1) // TREE_FANOUT
                c = min(TREE_FANOUT, n - 1 - up * TREE_FANOUT)
                starts.append(starts[up] + ((c - 1) * bp + c * CHUNK_BYTES) / bw + lat)
        else:
            starts = [(max(bp, n * bp / S) - burst_bytes) / bw] * n
        leaving = []
        for t_k in starts:
            up, credit = t_k, burst_bytes
            for values, ready in segs:
                size = values * bg / P
                free = min(credit, size)
                credit -= free
                up = max(up, t_k + ready * t_comp) + (size - free) / bw
                leaving.append((up, size, free))
        leaving.sort()
        f, credit = 0.0, burst_bytes
        for u, size, free_up in leaving:
            free = min(credit, size / S)
            credit -= free
            f = max(f + (size / S - free) / bw, u)
        t_wire = f
    total = max(t_wire, t_comp + t_cpu) + t_fixed + 2 * lat
    if parts:
        return {"compute": t_comp, "fixed": t_fixed, "wire": t_wire, "cpu": t_cpu, "step": total}
    return total


# ---------------------------------------------------------------- running Descent

class Processes:
    """Every process this script starts, ended (TERM, then KILL) on any exit."""

    def __init__(self):
        self.procs = []

    def start(self, cmd, **kw):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True, **kw)
        self.procs.append(proc)
        return proc

    def stop_all(self):
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.time() + 3
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        self.procs = []


PROCS = Processes()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_metrics(path):
    lines = [json.loads(l) for l in open(path) if '"event"' not in l]
    lines = lines[max(1, len(lines) // 10):]  # the first tenth (at least the first step) dropped
    med = lambda key: statistics.median(l[key] for l in lines)
    return {"step_s": med("step_s"), "compute_slowest_s": med("compute_slowest_s"),
            "compute_s": med("compute_s"), "bytes_sent": med("bytes_sent"),
            "bytes_received": med("bytes_received"), "examples": med("examples"), "steps": len(lines)}


def common_args(model, n, steps, tmp):
    return ["train", "--dataset", "fashion-mnist", "--layers",
            ",".join(map(str, MODELS[model])), "--batch", str(PER_WORKER_BATCH * n), "--steps", str(steps),
            "--threads", "1", "--backup-after", "0", "--metrics", os.path.join(tmp, "m.jsonl"),
            "--out", os.path.join(tmp, "m.safetensors"), "--quiet"]


def run_in_process(model, steps, side_by_side=1):
    """Compute seconds per example of `side_by_side` in-process runs at once (1 thread each):
    alone, and as many as there are cores, which is how local workers compute here."""
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        for k in range(side_by_side):
            os.mkdir(os.path.join(tmp, str(k)))
            cmd = [os.path.join(BIN, "coordinator"), *common_args(model, 1, steps, os.path.join(tmp, str(k))), "--in-process"]
            procs.append((cmd, PROCS.start(cmd)))
        for cmd, proc in procs:
            _, err = proc.communicate(timeout=600)
            if proc.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
        per = [read_metrics(os.path.join(tmp, str(k), "m.jsonl")) for k in range(side_by_side)]
        return max(r["compute_s"] / r["examples"] for r in per)


def run_cluster(model, n, steps, fp16, bind, connect, coord_prefix=(), worker_prefixes=None,
                coord_extra=(), worker_extra=None, reducers=()):
    """A coordinator with `--workers n` on `bind` and n worker processes that connect to it;
    `worker_extra(k)` gives worker k's further flags; `reducers` is (prefix, endpoint) of each
    reducer process (`worker --reduce-at`), the coordinator then runs with `--reducers`."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [*coord_prefix, os.path.join(BIN, "coordinator"), *common_args(model, n, steps, tmp),
               "--workers", str(n), "--bind", bind, "--register-timeout", "60", *coord_extra]
        if fp16:
            cmd += ["--compress", "fp16"]
        if not bind.startswith("tcp://127."):
            cmd.append("--insecure")
        if reducers:
            cmd += ["--reducers", str(len(reducers) + 1)]
        coordinator = PROCS.start(cmd)
        time.sleep(0.2)
        for r, (prefix, endpoint) in enumerate(reducers):
            PROCS.start([*prefix, os.path.join(BIN, "worker"), "--connect", connect, "--name", f"r{r + 1}",
                         "--reconnect-timeout", "10", "--reduce-at", endpoint])
        for k in range(n):
            prefix = worker_prefixes[k] if worker_prefixes else ()
            PROCS.start([*prefix, os.path.join(BIN, "worker"), "--connect", connect, "--name", f"w{k + 1}",
                         "--reconnect-timeout", "10", *(worker_extra(k) if worker_extra else ())])
        try:
            out, err = coordinator.communicate(timeout=600)
        finally:
            PROCS.stop_all()
        if coordinator.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({coordinator.returncode}):\n{err[-2000:]}")
        return read_metrics(os.path.join(tmp, "m.jsonl"))


# ---------------------------------------------------------------- network namespaces

NS_PREFIX = "descent-sc"
SUBNET = "10.78.0"


class Namespaces:
    def __init__(self, workers, rate):
        self.bridge = f"{NS_PREFIX}-net"
        self.nodes = [f"{NS_PREFIX}-c"] + [f"{NS_PREFIX}-w{k + 1}" for k in range(workers)]
        self.rate = rate

    def sh(self, *cmd):
        subprocess.run(cmd, check=True, capture_output=True, text=True)

    def up(self):
        self.down()
        self.sh("ip", "netns", "add", self.bridge)
        self.sh("ip", "-n", self.bridge, "link", "add", "br0", "type", "bridge")
        self.sh("ip", "-n", self.bridge, "link", "set", "br0", "up")
        for i, ns in enumerate(self.nodes):
            self.sh("ip", "netns", "add", ns)
            self.sh("ip", "-n", ns, "link", "set", "lo", "up")
            port = f"p{i}"
            self.sh("ip", "-n", self.bridge, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
            self.sh("ip", "-n", self.bridge, "link", "set", port, "master", "br0", "up")
            self.sh("ip", "-n", ns, "addr", "add", f"{SUBNET}.{i + 1}/24", "dev", "eth0")
            self.sh("ip", "-n", ns, "link", "set", "eth0", "up")
            # Both directions of each host's link: its eth0 sends, the bridge port delivers to it.
            for where, dev in ((ns, "eth0"), (self.bridge, port)):
                self.sh("ip", "netns", "exec", where, "tc", "qdisc", "add", "dev", dev, "root", "tbf",
                        "rate", self.rate, "burst", "256kb", "latency", "50ms")
        for _ in range(50):
            if subprocess.run(["ip", "netns", "exec", self.nodes[-1], "ping", "-c", "1", "-W", "1", f"{SUBNET}.1"],
                              capture_output=True).returncode == 0:
                break
            time.sleep(0.1)

    def rtt_s(self):
        out = subprocess.run(["ip", "netns", "exec", self.nodes[1], "ping", "-c", "20", "-i", "0.05", "-q", f"{SUBNET}.1"],
                             capture_output=True, text=True).stdout
        m = re.search(r"= [\d.]+/([\d.]+)/", out)
        return float(m.group(1)) / 1000 if m else 0.0

    def down(self):
        for ns in [self.bridge] + self.nodes:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def netns_available():
    if os.geteuid() != 0:
        return "not root (network namespaces need CAP_NET_ADMIN)"
    for tool in ("ip", "tc", "ping"):
        if not shutil.which(tool):
            return f"no `{tool}` command (apt-get install iproute2 iputils-ping)"
    probe = f"{NS_PREFIX}-probe"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None if r.returncode == 0 else f"`ip netns add` failed: {r.stderr.strip()}"


# ---------------------------------------------------------------- validate

def values_moved(r):
    """Values (not bytes) the coordinator sent and received in a step: PARAMS are float32; a
    16-bit gradient is as many values as a 32-bit one, and costs the CPU as much (rounding,
    conversion): on loopback fp16 steps were no faster than fp32 ones, so the fit counts values."""
    return r["bytes_sent"] / 4 + r["bytes_received"] / (2 if r["fp16"] else 4)


def fit(rows):
    """Weighted least squares of (step - slowest compute) = a + gamma * values, each row weighted
    by 1 / its step (relative errors, so the wide model's large steps do not drown the small
    model's). A third term, a_w per worker, came out negative on this host's noise (-1.4 ms a
    worker): it is not fitted, and is 0."""
    X = [(1.0, values_moved(r)) for r in rows]
    y = [r["step_s"] - r["compute_slowest_s"] for r in rows]
    w = [1 / r["step_s"] ** 2 for r in rows]
    s00 = sum(wi for wi in w)
    s01 = sum(wi * x[1] for x, wi in zip(X, w))
    s11 = sum(wi * x[1] ** 2 for x, wi in zip(X, w))
    b0 = sum(wi * v for v, wi in zip(y, w))
    b1 = sum(wi * x[1] * v for x, v, wi in zip(X, y, w))
    det = s00 * s11 - s01 * s01
    return (b0 * s11 - s01 * b1) / det, 0.0, (s00 * b1 - s01 * b0) / det


def validate(args):
    cores = os.cpu_count()
    steps = {"small": args.steps, "wide": args.wide_steps}
    rounds = args.rounds
    say = lambda *a: print(*a, file=sys.stderr, flush=True)

    # 1. compute per example: one in-process run alone, and `cores` side by side (the slowest)
    per = {(m, k): [] for m in MODELS for k in (1, cores)}
    for _ in range(rounds + 1):
        for (m, k) in per:
            per[(m, k)].append(run_in_process(m, steps[m] * 2, k))
    t_ex = {m: statistics.median(per[(m, 1)]) for m in MODELS}
    t_ex_shared = {m: statistics.median(per[(m, cores)]) for m in MODELS}
    say("compute per example (s), alone:", {m: "%.3g" % v for m, v in t_ex.items()},
        f"{cores} side by side:", {m: "%.3g" % v for m, v in t_ex_shared.items()})

    # 2. loopback TCP, N = 1..4, rounds alternated; medians of the rounds
    configs = [(m, n, fp16) for n in (1, 2, 3, 4) for m in MODELS for fp16 in (False, True)]
    loop = {c: [] for c in configs}
    for rnd in range(rounds):
        for (m, n, fp16) in configs:
            port = free_port()
            r = run_cluster(m, n, steps[m], fp16, f"tcp://127.0.0.1:{port}", f"tcp://127.0.0.1:{port}")
            say(f"loopback round {rnd + 1}: {m} n={n} {'fp16' if fp16 else 'fp32'}: step {r['step_s'] * 1e3:.1f} ms, "
                f"slowest compute {r['compute_slowest_s'] * 1e3:.1f} ms, bytes {r['bytes_sent']:.0f}/{r['bytes_received']:.0f}")
            loop[(m, n, fp16)].append(r)

    def merged(key, runs, **extra):
        m, n, fp16 = key
        row = {"where": extra.pop("where"), "model": m, "n": n, "fp16": fp16, "runs": len(runs)}
        for f in ("step_s", "compute_slowest_s", "bytes_sent", "bytes_received"):
            row[f] = statistics.median(r[f] for r in runs)
        row["step_s_runs"] = [r["step_s"] for r in runs]
        row["compute_slowest_s_runs"] = [r["compute_slowest_s"] for r in runs]
        row.update(extra)
        return row

    loop_rows = [merged(c, v, where="loopback") for c, v in loop.items()]
    train = [r for r in loop_rows if r["n"] <= 2]
    params = fit_all({"t_example_s": t_ex, "t_example_shared_s": t_ex_shared, "cores": cores,
                      "per_worker_batch": PER_WORKER_BATCH,
                      "fitted_on": "loopback TCP, n = 1, 2 (both models, fp32 and fp16)",
                      "host": cpu_model(), "date": time.strftime("%Y-%m-%d")}, train)
    say(f"fitted: a = {params['a_s'] * 1e3:.3f} ms, gamma = {params['gamma_s_per_value'] * 1e9:.3f} ns a value, "
        f"d16 = {params['fp16_worker_s_per_value'] * 1e9:.2f} ns a value, kappa = {params['kappa']:.3f}")
    for r in loop_rows:
        r["held_out"] = r["n"] > 2

    # 3. network namespaces, 1 Gbit/s on every link end
    ns_rows = []
    why = netns_available()
    if why:
        say(f"SKIP network namespaces: {why}")
    else:
        nets = Namespaces(2, "1gbit")
        old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
        for s in old:
            signal.signal(s, lambda *_: sys.exit(143))
        try:
            nets.up()
            rtt = nets.rtt_s()
            params["netns_rtt_s"] = rtt
            say(f"namespaces up, 1 Gbit/s tbf on each veth end, ping RTT {rtt * 1e3:.3f} ms")
            configs = [(m, n, fp16) for n in (1, 2) for m in MODELS for fp16 in (False, True)]
            runs = {c: [] for c in configs}
            for rnd in range(rounds):
                for (m, n, fp16) in configs:
                    ex = lambda ns: ("ip", "netns", "exec", ns)
                    r = run_cluster(m, n, steps[m], fp16, f"tcp://{SUBNET}.1:5555", f"tcp://{SUBNET}.1:5555",
                                    coord_prefix=ex(nets.nodes[0]), worker_prefixes=[ex(ns) for ns in nets.nodes[1:]])
                    say(f"netns round {rnd + 1}: {m} n={n} {'fp16' if fp16 else 'fp32'}: step {r['step_s'] * 1e3:.1f} ms, "
                        f"slowest compute {r['compute_slowest_s'] * 1e3:.1f} ms")
                    runs[(m, n, fp16)].append(r)
            for c, v in runs.items():
                row = merged(c, v, where="netns 1 Gbit/s")
                row["held_out"] = True
                ns_rows.append(row)
        finally:
            PROCS.stop_all()
            nets.down()
            for s, h in old.items():
                signal.signal(s, h)

    params["validation"] = loop_rows + ns_rows
    with open(PARAMS_FILE, "w") as f:
        json.dump(params, f, indent=1)
        f.write("\n")
    table = validation_table(params)
    print(table)
    replace_block("validation", table)


def predict_row(p, r, measured_compute=False):
    """The model's step for a validation row: loopback, or the namespaces' 1 Gbit/s links."""
    kw = {"fp16": r["fp16"], "cores": p["cores"]}
    if measured_compute:
        kw["compute_s"] = r["compute_slowest_s"]
    if r["where"].startswith("netns"):
        kw.update(link_bps=1e9, goodput=TBF_GOODPUT, latency_s=p.get("netns_rtt_s", 0) / 2, burst_bytes=256 * 1024)
    return step_time(p, r["model"], r["n"], **kw)


def fit_fp16(rows):
    """d16: the median over the fitted (model, n) pairs of (fp16 compute - fp32 compute) / P."""
    by = {(r["model"], r["n"], r["fp16"]): r for r in rows}
    return statistics.median((by[(m, n, True)]["compute_slowest_s"] - by[(m, n, False)]["compute_slowest_s"])
                             / parameter_count(MODELS[m]) for (m, n, h) in by if h and (m, n, False) in by)


def fit_all(p, train):
    """a, gamma (fit), d16 (fit_fp16), then kappa: the median over the same rows of the measured
    slowest compute over the compute the model gives with kappa = 1."""
    a, a_w, gamma = fit(train)
    p.update(a_s=a, a_worker_s=a_w, gamma_s_per_value=gamma, fp16_worker_s_per_value=fit_fp16(train), kappa=1.0)
    p["kappa"] = statistics.median(
        r["compute_slowest_s"] / step_time(p, r["model"], r["n"], fp16=r["fp16"], cores=p["cores"], parts=True)["compute"]
        for r in train)
    return p


def refit():
    """Fits a, gamma and d16 again to the rows bench/scaling-params.json holds (no runs)."""
    p = json.load(open(PARAMS_FILE))
    train = [r for r in p["validation"] if r["where"] == "loopback" and not r["held_out"]]
    fit_all(p, train)
    for stale in ("beta_s_per_byte",):
        p.pop(stale, None)
    for r in p["validation"]:
        for stale in ("predicted_s", "error"):
            r.pop(stale, None)
    with open(PARAMS_FILE, "w") as f:
        json.dump(p, f, indent=1)
        f.write("\n")
    print(f"a = {p['a_s'] * 1e3:.3f} ms, gamma = {p['gamma_s_per_value'] * 1e9:.3f} ns a value, "
          f"d16 = {p['fp16_worker_s_per_value'] * 1e9:.2f} ns a value, kappa = {p['kappa']:.3f}", file=sys.stderr)
    print(validation_table(p))


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def validation_table(p):
    out = ["| where | model | workers | gradients | measured step ms: median (rounds) | predicted | error | "
           "measured slowest compute ms | predicted from it | error | fitted on it |",
           "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    errors = []
    for r in p["validation"]:
        full, given = predict_row(p, r), predict_row(p, r, measured_compute=True)
        e_full, e_given = full / r["step_s"] - 1, given / r["step_s"] - 1
        if r["held_out"]:
            errors.append((abs(e_full), abs(e_given)))
        out.append("| %s | %s | %d | %s | %.1f (%s) | %.1f | %+.0f%% | %.1f | %.1f | %+.0f%% | %s |" % (
            r["where"], r["model"], r["n"], "fp16" if r["fp16"] else "fp32",
            r["step_s"] * 1e3, ", ".join("%.1f" % (s * 1e3) for s in r["step_s_runs"]), full * 1e3, e_full * 100,
            r["compute_slowest_s"] * 1e3, given * 1e3, e_given * 100, "no" if r["held_out"] else "yes"))
    if errors:
        out.append("")
        out.append("Held-out rows within 15%%: %d of %d from t_ex (largest miss %.0f%%), %d of %d from the measured "
                   "compute (largest miss %.0f%%)." % (
                       sum(a <= 0.15 for a, _ in errors), len(errors), max(a for a, _ in errors) * 100,
                       sum(b <= 0.15 for _, b in errors), len(errors), max(b for _, b in errors) * 100))
    return "\n".join(out)


def parameters_table(p):
    rows = ["| parameter | value | how |", "|---|---:|---|"]
    for m in MODELS:
        rows.append(f"| t_ex, {m} | {p['t_example_s'][m] * 1e6:.2f} µs an example ({PER_WORKER_BATCH} examples: "
                    f"{p['t_example_s'][m] * PER_WORKER_BATCH * 1e3:.1f} ms) | `coordinator train --in-process --threads 1 "
                    f"--batch {PER_WORKER_BATCH}`, the metrics' compute_s / examples |")
    for m in MODELS:
        rows.append(f"| t_ex2, {m} | {p['t_example_shared_s'][m] * 1e6:.2f} µs an example | the same, {p['cores']} runs "
                    "side by side (the slower) |")
    rows.append(f"| a | {p['a_s'] * 1e3:.2f} ms a step | fitted (loopback TCP, 1 and 2 workers) |")
    rows.append(f"| γ | {p['gamma_s_per_value'] * 1e9:.2f} ns a value ({4 / p['gamma_s_per_value'] / 1e9:.2f} GB/s of "
                "float32) | fitted (same runs) |")
    rows.append(f"| d16 | {p['fp16_worker_s_per_value'] * 1e9:.2f} ns a value | fp16 less fp32 slowest compute, "
                "median over the same runs' pairs |")
    rows.append(f"| κ (this machine only) | {p.get('kappa', 1.0):.2f} | the same runs' slowest compute over the model's "
                "with κ = 1, median |")
    if "netns_rtt_s" in p:
        rows.append(f"| λ (namespaces) | {p['netns_rtt_s'] / 2 * 1e6:.0f} µs | half the ping RTT between them |")
    return "\n".join(rows)


def replace_block(name, text):
    begin, end = f"<!-- {name}:begin (written by bench/scaling.py) -->", f"<!-- {name}:end -->"
    try:
        doc = open(DOC).read()
    except OSError:
        return
    if begin not in doc or end not in doc:
        return
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(DOC, "w") as f:
        f.write(head + begin + "\n" + text.rstrip() + "\n" + end + tail)


# ---------------------------------------------------------------- predict

LINKS = [("1 GbE", 1e9), ("10 GbE", 10e9), ("25 GbE", 25e9)]
REDUCERS = [1, 2, 4, 8, 16]
WORKERS = [2 ** k for k in range(9)]


def throughput(p, model, n, **kw):
    return n * PER_WORKER_BATCH / step_time(p, model, n, **kw)


def efficiency(p, model, n, **kw):
    """Scaling efficiency: examples/s of n workers over n times one worker's on the same link
    (one coordinator, direct broadcast, fp32 gradients), so 1 at n = 1 in that configuration."""
    one = throughput(p, model, 1, link_bps=kw.get("link_bps"))
    return throughput(p, model, n, **kw) / (n * one)


def alone(p, model, **kw):
    """One worker's examples/s on a link, as a fraction of its compute alone (no communication)."""
    return throughput(p, model, 1, **kw) * p["t_example_s"][model]


def reach(p, model, bps, fp16, S, tree):
    """The most workers (of 1, 2, 4, ... 256) up to which efficiency stays >= 0.9."""
    last = 0
    for n in WORKERS:
        if efficiency(p, model, n, link_bps=bps, reducers=S, tree=tree, fp16=fp16) < 0.9:
            break
        last = n
    return last


def least_reducers(p, model, bps, fp16, n, tree):
    for S in REDUCERS + [32, 64, 128, 256]:
        if efficiency(p, model, n, link_bps=bps, reducers=S, tree=tree, fp16=fp16) >= 0.9:
            return str(S)
    return ">256"


def first_gain(p, model, bps, better, worse, gain=1.05):
    for n in WORKERS:
        if throughput(p, model, n, link_bps=bps, **better) >= gain * throughput(p, model, n, link_bps=bps, **worse):
            return n
    return None


def crossovers(p):
    out = ["| model | link | gradients | one coordinator holds ≥ 0.9 up to: direct / tree | least S for ≥ 0.9 at "
           "16, 64, 256 workers: direct / tree | fp16 ≥ 5% faster from (S = 1 direct; S = 16 tree) | broadcast tree ≥ 5% "
           "faster from (S = 1; S = 16) |", "|---|---|---|---|---|---|---|"]
    for model in MODELS:
        for name, bps in LINKS:
            for fp16 in (False, True):
                direct, tree = reach(p, model, bps, fp16, 1, False), reach(p, model, bps, fp16, 1, True)
                need = ", ".join(f"{least_reducers(p, model, bps, fp16, n, False)} / {least_reducers(p, model, bps, fp16, n, True)}"
                                 for n in (16, 64, 256))
                f16 = (first_gain(p, model, bps, {"fp16": True}, {}),
                       first_gain(p, model, bps, {"fp16": True, "reducers": 16, "tree": True}, {"reducers": 16, "tree": True}))
                tr = (first_gain(p, model, bps, {"tree": True, "fp16": fp16}, {"fp16": fp16}),
                      first_gain(p, model, bps, {"tree": True, "reducers": 16, "fp16": fp16}, {"reducers": 16, "fp16": fp16}))
                show = lambda v: str(v) if v else "never"
                direct, tree = direct or "none", tree or "none"
                out.append(f"| {model} | {name} | {'fp16' if fp16 else 'fp32'} | {direct} / {tree} | {need} | "
                           + (f"{show(f16[0])}; {show(f16[1])}" if fp16 else "—") + f" | {show(tr[0])}; {show(tr[1])} |")
    return "\n".join(out)


def prediction_tables(p):
    out = []
    for model in MODELS:
        ideal = 1 / p["t_example_s"][model]
        out.append(f"**{model}** ({'-'.join(map(str, MODELS[model]))}, {parameter_count(MODELS[model]):,} parameters; "
                   f"one worker's compute alone: {ideal:,.0f} examples/s; one worker on the link, fp32, as a fraction "
                   "of that: " + ", ".join(f"{name} {alone(p, model, link_bps=bps):.2f}" for name, bps in LINKS)
                   + "). Scaling efficiency (examples/s over n × one worker's on the same link), and the examples/s "
                   "of the best column:\n")
        cols = [(1, False, False), (1, True, False), (4, False, False), (16, False, False), (16, True, False),
                (1, False, True), (1, True, True), (16, True, True)]
        head = ["link", "workers"] + ["S=%d %s %s" % (S, "tree" if t else "direct", "fp16" if h else "fp32") for S, t, h in cols] + ["best examples/s"]
        out.append("| " + " | ".join(head) + " |")
        out.append("|---|---:|" + "---:|" * (len(cols) + 1))
        for name, bps in LINKS:
            for n in WORKERS:
                effs = [efficiency(p, model, n, link_bps=bps, reducers=S, tree=t, fp16=h) for S, t, h in cols]
                best = max(throughput(p, model, n, link_bps=bps, reducers=S, tree=t, fp16=h) for S, t, h in cols)
                out.append(f"| {name} | {n} | " + " | ".join("%.2f" % e for e in effs) + f" | {best:,.0f} |")
        out.append("")
    return "\n".join(out)


COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]


def svg_plot(p, model, fp16, path):
    """Three panels (1, 10, 25 GbE): efficiency against workers (log2), a line per S; solid
    direct broadcast, dashed broadcast tree."""
    W, H, pw, ph, left, top = 960, 360, 270, 240, 60, 50
    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
         'font-family="sans-serif" font-size="12">', f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="15">{model} '
         f'({"-".join(map(str, MODELS[model]))}), {"fp16" if fp16 else "fp32"} gradients, {PER_WORKER_BATCH} '
         'examples a worker: predicted scaling efficiency</text>']
    for i, (name, bps) in enumerate(LINKS):
        x0 = left + i * (pw + 40)
        X = lambda n: x0 + pw * math.log2(n) / 8
        Y = lambda e: top + ph * (1 - min(e, 1.1) / 1.1)
        s.append(f'<rect x="{x0}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
        s.append(f'<text x="{x0 + pw / 2}" y="{top - 8}" text-anchor="middle" font-size="13">{name}</text>')
        for e in (0, 0.25, 0.5, 0.75, 0.9, 1.0):
            s.append(f'<line x1="{x0}" x2="{x0 + pw}" y1="{Y(e):.1f}" y2="{Y(e):.1f}" stroke="{"#c44" if e == 0.9 else "#ddd"}" '
                     f'stroke-dasharray="{"4 3" if e == 0.9 else ""}"/>')
            if i == 0 or e == 0.9:
                s.append(f'<text x="{x0 - 5}" y="{Y(e) + 4:.1f}" text-anchor="end">{e:g}</text>')
        for n in WORKERS:
            s.append(f'<text x="{X(n):.1f}" y="{top + ph + 15}" text-anchor="middle">{n}</text>')
        s.append(f'<text x="{x0 + pw / 2}" y="{top + ph + 32}" text-anchor="middle">workers (log2)</text>')
        for k, S in enumerate(REDUCERS):
            for tree in (False, True):
                pts = " ".join(f"{X(n):.1f},{Y(efficiency(p, model, n, link_bps=bps, reducers=S, tree=tree, fp16=fp16)):.1f}"
                               for n in WORKERS)
                dash = ' stroke-dasharray="6 4"' if tree else ""
                s.append(f'<polyline points="{pts}" fill="none" stroke="{COLORS[k]}" stroke-width="1.8"{dash}/>')
    ly = H - 22
    lx = left
    for k, S in enumerate(REDUCERS):
        s.append(f'<line x1="{lx}" x2="{lx + 24}" y1="{ly}" y2="{ly}" stroke="{COLORS[k]}" stroke-width="2"/>'
                 f'<text x="{lx + 28}" y="{ly + 4}">S = {S}</text>')
        lx += 90
    s.append(f'<line x1="{lx}" x2="{lx + 24}" y1="{ly}" y2="{ly}" stroke="#000" stroke-width="1.8"/>'
             f'<text x="{lx + 28}" y="{ly + 4}">direct broadcast</text>')
    lx += 150
    s.append(f'<line x1="{lx}" x2="{lx + 24}" y1="{ly}" y2="{ly}" stroke="#000" stroke-width="1.8" stroke-dasharray="6 4"/>'
             f'<text x="{lx + 28}" y="{ly + 4}">broadcast tree (fan-out 2)</text>')
    s.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(s) + "\n")


def predict(args):
    try:
        p = json.load(open(PARAMS_FILE))
    except OSError:
        sys.exit(f"no {PARAMS_FILE}: run `python3 bench/scaling.py --validate` first")
    os.makedirs(IMAGES, exist_ok=True)
    for model in MODELS:
        for fp16 in (False, True):
            svg_plot(p, model, fp16, os.path.join(IMAGES, f"scaling-efficiency-{model}-{'fp16' if fp16 else 'fp32'}.svg"))
    text = prediction_tables(p)
    cross = crossovers(p)
    print(text)
    print(cross)
    replace_block("parameters", parameters_table(p))
    if p.get("validation"):
        replace_block("validation", validation_table(p))
    replace_block("predictions", text)
    replace_block("crossovers", cross)


def tree_check(args):
    """The broadcast tree against direct sends on the 1 Gbit/s namespace cluster: a coordinator
    and 2 workers, 784-256-128-10, batch 1,024, Float32 gradients, rounds alternated."""
    why = netns_available()
    if why:
        sys.exit(f"SKIP network namespaces: {why}")
    nets = Namespaces(2, "1gbit")
    results = {"direct": [], "tree": []}
    try:
        nets.up()
        ex = lambda ns: ("ip", "netns", "exec", ns)
        for rnd in range(args.rounds):
            for mode in results:
                relay = (lambda k: ("--relay", f"tcp://{SUBNET}.{k + 2}:5600")) if mode == "tree" else None
                r = run_cluster("small", 2, args.steps, False, f"tcp://{SUBNET}.1:5555", f"tcp://{SUBNET}.1:5555",
                                coord_prefix=ex(nets.nodes[0]), worker_prefixes=[ex(ns) for ns in nets.nodes[1:]],
                                coord_extra=("--broadcast", mode), worker_extra=relay)
                rate = r["examples"] / r["step_s"]
                print(f"round {rnd + 1} {mode}: step {r['step_s'] * 1e3:.1f} ms, {rate:,.0f} examples/s, "
                      f"bytes sent {r['bytes_sent']:,.0f}, slowest compute {r['compute_slowest_s'] * 1e3:.1f} ms",
                      flush=True)
                results[mode].append(rate)
    finally:
        PROCS.stop_all()
        nets.down()
    direct, tree = (statistics.median(results[m]) for m in ("direct", "tree"))
    print(f"median examples/s: direct {direct:,.0f}, tree {tree:,.0f}, tree/direct {tree / direct:.2f}")


def reducers_check(args):
    """Reducers on hosts of their own against one coordinator, on the 1 Gbit/s namespace cluster:
    a coordinator, 2 workers and 2 reducer hosts (used by the reducer rows only), `--model`
    (784-256-128-10 by default), batch 1,024, Float32 gradients, configurations alternated."""
    why = netns_available()
    if why:
        sys.exit(f"SKIP network namespaces: {why}")
    nets = Namespaces(4, "1gbit")
    ex = lambda ns: ("ip", "netns", "exec", ns)
    relay = lambda k: ("--relay", f"tcp://{SUBNET}.{k + 2}:5600")
    reducer_hosts = [(ex(nets.nodes[3]), f"tcp://{SUBNET}.4:5700"), (ex(nets.nodes[4]), f"tcp://{SUBNET}.5:5700")]
    modes = {
        "direct": dict(coord_extra=("--broadcast", "direct")),
        "tree": dict(coord_extra=("--broadcast", "tree"), worker_extra=relay),
        "reducers 3": dict(coord_extra=("--broadcast", "direct"), reducers=reducer_hosts),
        "reducers 3 + tree": dict(coord_extra=("--broadcast", "tree"), worker_extra=relay, reducers=reducer_hosts),
        "reducers 3, broadcast by reducers": dict(coord_extra=("--broadcast", "reducers"), reducers=reducer_hosts),
    }
    results = {m: [] for m in modes}
    try:
        nets.up()
        for rnd in range(args.rounds):
            for mode, extra in modes.items():
                steps = args.steps if args.model == "small" else args.wide_steps
                r = run_cluster(args.model, 2, steps, False, f"tcp://{SUBNET}.1:5555", f"tcp://{SUBNET}.1:5555",
                                coord_prefix=ex(nets.nodes[0]),
                                worker_prefixes=[ex(ns) for ns in nets.nodes[1:3]], **extra)
                rate = r["examples"] / r["step_s"]
                print(f"round {rnd + 1} {mode}: step {r['step_s'] * 1e3:.1f} ms, {rate:,.0f} examples/s, "
                      f"coordinator bytes sent {r['bytes_sent']:,.0f} received {r['bytes_received']:,.0f}, "
                      f"slowest compute {r['compute_slowest_s'] * 1e3:.1f} ms", flush=True)
                results[mode].append(rate)
    finally:
        PROCS.stop_all()
        nets.down()
    base = statistics.median(results["direct"])
    for mode, rates in results.items():
        print(f"median examples/s {mode}: {statistics.median(rates):,.0f} ({statistics.median(rates) / base:.2f}x direct)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--validate", action="store_true", help="measure, fit and check (writes bench/scaling-params.json)")
    parser.add_argument("--predict", action="store_true", help="tables and plots from bench/scaling-params.json")
    parser.add_argument("--refit", action="store_true", help="fit again to the runs bench/scaling-params.json holds")
    parser.add_argument("--tree", action="store_true",
                        help="the broadcast tree against direct sends on the 1 Gbit/s namespace cluster (2 workers)")
    parser.add_argument("--reducers", action="store_true",
                        help="2 reducers on hosts of their own against one coordinator, 1 Gbit/s namespace cluster")
    parser.add_argument("--model", choices=sorted(MODELS), default="small", help="the model --reducers trains")
    parser.add_argument("--steps", type=int, default=60, help="steps of a 784-256-128-10 run")
    parser.add_argument("--wide-steps", type=int, default=12, help="steps of a 784-2048-2048-10 run")
    parser.add_argument("--rounds", type=int, default=2, help="alternated rounds of every configuration (medians)")
    args = parser.parse_args()
    if not (args.validate or args.predict or args.refit or args.tree or args.reducers):
        parser.error("give --validate, --refit, --predict, --tree and/or --reducers")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` ends what was started
    try:
        if args.validate:
            for exe in ("coordinator", "worker"):
                if not os.access(os.path.join(BIN, exe), os.X_OK):
                    sys.exit(f"no {BIN}/{exe}: swift build -c release (or set DESCENT_BIN)")
            validate(args)
        if args.tree:
            tree_check(args)
        if args.reducers:
            reducers_check(args)
        if args.refit:
            refit()
        if args.predict:
            predict(args)
    finally:
        PROCS.stop_all()


if __name__ == "__main__":
    main()
