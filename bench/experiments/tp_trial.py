#!/usr/bin/env python3
"""One throughput trial of bench/run.py, with every node's tree counters.

    python3 bench/experiments/tp_trial.py RATE one|all [lanmesh settings ...]
        [--lanmesh PATH] (default build/lanmesh)

16 nodes on 127.0.0.1 (discovery), 100-byte lines at RATE msg/s for 2 s
(from node 0, or from all nodes in turn), 8 s to drain; prints the trial
and, per node, the deltas of delivered, duplicates, gaps, gap_messages,
iwants, grafts and fetched, then the deliveries 5 s later (a gap is a loss:
they do not grow). Every process is killed by its PID at the end.

    python3 bench/experiments/tp_trial.py 4000 all
    python3 bench/experiments/tp_trial.py 40000 all --broadcast.mode=flood
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import run  # noqa: E402


def main():
    args = sys.argv[1:]
    lanmesh = os.path.join(os.path.dirname(os.path.dirname(HERE)), "build", "lanmesh")
    if "--lanmesh" in args:
        i = args.index("--lanmesh")
        lanmesh = args[i + 1]
        del args[i:i + 2]
    rate, mode, extra = float(args[0]), args[1], tuple(args[2:])

    class Opts:
        keep = False
    opts = Opts()
    opts.lanmesh = lanmesh
    s = run.Settings(False, 1)
    s.tp_drain = 8.0
    b = run.Bench(opts, s)
    keys = ("delivered", "duplicates", "gaps", "gap_messages", "iwants_out", "grafts_out",
            "fetched")
    try:
        cl = run.tp_cluster(b, s.n_tp, extra)
        senders = [cl.nodes[0]] if mode == "one" else list(cl.nodes)
        before = run.tp_stats(cl.nodes, 10.0)
        r, _ = run.tp_trial(b, cl, senders, rate, 100)
        after = run.tp_stats(cl.nodes, 10.0)
        print({k: r.get(k) for k in ("rate", "achieved", "sent", "delivered", "expected",
                                     "drain_s", "pass", "rmr", "gaps", "gap_messages")})
        for nd, a, b0 in zip(cl.nodes, after, before):
            print(nd.name, {k: a.get(k, 0) - b0.get(k, 0) for k in keys},
                  "links", a.get("router_links"))
        time.sleep(5.0)
        later = run.tp_stats(cl.nodes, 10.0)
        print("delivered 5 s later:", [a["delivered"] - b0["delivered"]
                                        for a, b0 in zip(later, before)])
    finally:
        b.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
