#!/usr/bin/env python3
"""Where the time of a broadcast goes at low rate: N lanmesh nodes on
127.0.0.1 (discovery), first idle, then messages written to the nodes'
stdin in turn at a fixed low rate, as in run.py's latency rows.

    python3 bench/latency_breakdown.py [--nodes 20] [--count 200] [--rate 20]
                                       [--idle 10] [--lanmesh build/lanmesh]

Prints latency (send -> delivery, both timestamps the nodes' own) overall,
by the hop count of the delivering copy, and by arrival rank (the k-th node
to print a message): when ranks are evenly spaced while hop counts hardly
matter, deliveries wait for a core, not for the network. Also the CPU time
and context switches of all nodes (every thread, from /proc) while idle and
while sending, and the difference per delivery per node. The harness parses
nothing while messages are in flight (procs.LmNode.pause_reading).
"""

import argparse
import collections
import glob
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import run  # noqa: E402


def cpu_and_switches(nodes):
    tick = os.sysconf("SC_CLK_TCK")
    cpu, switches = 0.0, 0
    for m in nodes:
        for task in glob.glob("/proc/%d/task/*" % m.pid):
            try:
                with open(task + "/stat") as f:
                    parts = f.read().rsplit(")", 1)[1].split()
                cpu += (int(parts[11]) + int(parts[12])) / tick
                with open(task + "/status") as f:
                    for line in f:
                        if "ctxt_switches" in line:
                            switches += int(line.split()[1])
            except OSError:
                pass
    return cpu, switches


def pct(values, q):
    return run.pct(values, q) if values else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=20)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of idle measurement")
    ap.add_argument("--lanmesh", default="build/lanmesh")
    opts = ap.parse_args()
    if not 2 <= opts.nodes <= 64 or not 1 <= opts.count <= 100000 or not 0 < opts.rate <= 1000:
        ap.error("--nodes 2..64, --count 1..100000, --rate (0, 1000]")

    class Opts:
        lanmesh = opts.lanmesh
        keep = False

    b = run.Bench(Opts(), run.Settings(False, 1))
    try:
        cl = run.LmCluster(b, "lb")
        _, connected = cl.start(opts.nodes)
        if connected is None:
            raise run.BenchError("cluster did not connect")
        nodes = cl.alive()
        run.cl_settle(cl)
        for m in nodes:
            m.pause_reading()
        try:
            c0, s0 = cpu_and_switches(nodes)
            time.sleep(opts.idle)  # the idle window being measured, not a wait for an event
            c1, s1 = cpu_and_switches(nodes)
            sends = []
            t0 = time.monotonic()
            for k in range(opts.count):
                run.sleep_until(t0 + k / opts.rate)
                sender = nodes[k % len(nodes)]
                payload = "lb-%d" % k
                sender.send(payload)
                sends.append((payload, sender))
            busy_s = opts.count / opts.rate
            run.sleep_until(t0 + busy_s + run.LATENCY_QUIET_TAIL)
            c2, s2 = cpu_and_switches(nodes)
        finally:
            for m in nodes:
                m.resume_reading()
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and not all(
                m.delivered(p) for p, snd in sends for m in nodes if m is not snd):
            time.sleep(0.05)
        lat, by_hops, by_rank, lost = [], collections.defaultdict(list), \
            collections.defaultdict(list), 0
        for payload, sender in sends:
            row = []
            for m in nodes:
                if m is sender:
                    continue
                d = m.delivered(payload)
                if not d:
                    lost += 1
                    continue
                ts, msg, hops = d[0][:3]
                sent = sender.sent.get(msg)
                if sent is None:
                    continue
                ms = (ts - sent) / 1000.0
                lat.append(ms)
                by_hops[hops].append(ms)
                row.append(ms)
            for rank, ms in enumerate(sorted(row)):
                by_rank[rank + 1].append(ms)
        print("%d nodes, %d messages at %g/s: %d deliveries, %d lost"
              % (len(nodes), opts.count, opts.rate, len(lat), lost))
        print("latency ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f"
              % (pct(lat, 0.5), pct(lat, 0.9), pct(lat, 0.99), pct(lat, 1.0)))
        print("by hops (p50 ms, n): " + "  ".join(
            "%d: %.2f (%d)" % (h, statistics.median(v), len(v)) for h, v in sorted(by_hops.items())))
        print("by arrival rank (p50 ms): " + " ".join(
            "%.2f" % statistics.median(v) for _, v in sorted(by_rank.items())))
        idle_cpu, idle_sw = (c1 - c0) / opts.idle, (s1 - s0) / opts.idle
        busy_cpu, busy_sw = (c2 - c1) / (busy_s + run.LATENCY_QUIET_TAIL), \
            (s2 - s1) / (busy_s + run.LATENCY_QUIET_TAIL)
        per = max(1, len(lat)) / (busy_s + run.LATENCY_QUIET_TAIL)
        print("idle: %.1f %% of a core per node, %.0f context switches/s per node"
              % (100 * idle_cpu / len(nodes), idle_sw / len(nodes)))
        print("sending: %.1f %% of a core per node; per delivery %.0f us CPU, %.2f context "
              "switches above idle" % (100 * busy_cpu / len(nodes),
                                       1e6 * (busy_cpu - idle_cpu) / per,
                                       (busy_sw - idle_sw) / per))
    finally:
        b.cleanup()


if __name__ == "__main__":
    main()
