#!/usr/bin/env python3
"""What a delivery costs at a fixed rate, below saturation: one throughput
trial of bench/run.py (16 nodes on 127.0.0.1 by discovery, 100-byte lines at
RATE msg/s for 3 s, from node 0 or from all nodes) and, over the trial, the
CPU time of all nodes divided by the deliveries, the growth of each node's
RSS per message sent, context switches per delivery, and the tree's counters
per delivery. Every process is killed by its PID at the end.

    python3 bench/experiments/cpu_per_delivery.py RATE one|all [lanmesh settings ...]
        [--lanmesh PATH] (default build/lanmesh)

    python3 bench/experiments/cpu_per_delivery.py 60000 one
    python3 bench/experiments/cpu_per_delivery.py 60000 one --broadcast.mode=flood

The throughput search of run.py says where a configuration breaks, and it
moves by +-40 % between runs on this 2-core machine; this says what each
delivery costs while nothing is queued, which repeats within about 10 %.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import run  # noqa: E402
from profile import cpu_seconds, ctx_switches  # noqa: E402  (bench/profile.py)


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def main():
    args = sys.argv[1:]
    lanmesh = os.path.join(os.path.dirname(os.path.dirname(HERE)), "build", "lanmesh")
    if "--lanmesh" in args:
        i = args.index("--lanmesh")
        lanmesh = args[i + 1]
        del args[i:i + 2]
    if len(args) < 2 or args[1] not in ("one", "all"):
        sys.exit(__doc__)
    rate, mode, extra = float(args[0]), args[1], tuple(args[2:])

    class Opts:
        keep = False
    opts = Opts()
    opts.lanmesh = lanmesh
    s = run.Settings(False, 1)
    s.tp_drain = 8.0
    s.tp_duration = 3.0
    b = run.Bench(opts, s)
    keys = ("payloads_in", "duplicates", "ihave_out", "grafts_out", "prunes_out", "fetched")
    try:
        cl = run.tp_cluster(b, s.n_tp, extra)
        senders = [cl.nodes[0]] if mode == "one" else list(cl.nodes)
        pids = [nd.pid for nd in cl.nodes]
        st0 = [(cpu_seconds(p), ctx_switches(p)) for p in pids]
        rss0 = [rss_bytes(p) for p in pids]
        c0 = run.tp_stats(cl.nodes, 10.0)
        r, _ = run.tp_trial(b, cl, senders, rate, 100)
        st1 = [(cpu_seconds(p), ctx_switches(p)) for p in pids]
        rss1 = [rss_bytes(p) for p in pids]
        c1 = run.tp_stats(cl.nodes, 10.0)
        d = r.get("delivered") or 0
        if not d:
            print("nothing delivered:", r)
            return 1
        cpu = sum(b1[0] - a[0] for a, b1 in zip(st0, st1))
        switches = sum(b1[1] - a[1] for a, b1 in zip(st0, st1))
        rss = sum(b1 - a for a, b1 in zip(rss0, rss1)) / len(pids)
        counters = {k: sum(y.get(k, 0) - x.get(k, 0) for x, y in zip(c0, c1)) / d for k in keys}
        print("rate %.0f/s %s sender(s) %s: %s, drain %s s, RMR %.3f"
              % (rate, mode, " ".join(extra) or "(defaults)", "PASS" if r["pass"] else "fail",
                 run.fmt(r["drain_s"]), r.get("rmr") or 0))
        print("  per delivery: %.2f us CPU (all nodes), %.3f context switches"
              % (cpu / d * 1e6, switches / d))
        print("  RSS growth per node per message sent: %.0f B" % (rss / r["sent"]))
        print("  per delivery: " + ", ".join("%s %.3f" % kv for kv in counters.items()))
    finally:
        b.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
