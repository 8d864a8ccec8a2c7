#!/usr/bin/env python3
"""Profiles lanmesh under broadcast load: the throughput setup of run.py (N
nodes by discovery on 127.0.0.1, lines written to the senders' stdin at a
fixed rate) with `perf record -g` attached to the first sender and to one
relay node.

    python3 bench/profile.py [--rate 6000] [--size 100] [--mode one|all]
                             [--nodes 16] [--seconds 5] [--out DIR]

Writes DIR/perf-sender.txt, DIR/perf-relay.txt and DIR/perf-all.txt (every
node; perf report flat, by thread name, and with callers) and prints where the run's messages went (delivered, RMR,
drain time) and per-process CPU time of the nodes from /proc.
"""

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import run  # noqa: E402


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None


def thread_cpu(pid):
    """{thread name: cpu seconds} of a process."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                    s = f.read()
                name = s[s.index("(") + 1:s.rindex(")")]
                parts = s.rsplit(")", 1)[1].split()
                out[name + "/" + tid] = (int(parts[11]) + int(parts[12])) / tick
            except (OSError, ValueError):
                pass
    except OSError:
        pass
    return out


def ctx_switches(pid):
    """Voluntary + involuntary context switches of all threads of a process."""
    total = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                    for line in f:
                        if "ctxt_switches" in line:
                            total += int(line.split(":")[1])
            except OSError:
                pass
    except OSError:
        pass
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=6000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--mode", choices=("one", "all"), default="one")
    ap.add_argument("--nodes", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--lanmesh", default=os.path.join(run.REPO, "build", "lanmesh"))
    ap.add_argument("--out", default="/tmp/lanmesh-profile")
    ap.add_argument("--no-perf", action="store_true", help="only the CPU accounting")
    ap.add_argument("--node-arg", action="append", default=[],
                    help="a setting for every node, e.g. --node-arg=--security.keys=[\"KEY\"]")
    opts = ap.parse_args()
    if not 1 <= opts.seconds <= 60 or not 2 <= opts.nodes <= 32:
        ap.error("--seconds 1..60, --nodes 2..32")
    os.makedirs(opts.out, exist_ok=True)

    class O:
        lanmesh = opts.lanmesh
        keep = False
    s = run.Settings(False, 1)
    s.n_tp = opts.nodes
    s.tp_duration = opts.seconds
    b = run.Bench(O, s)
    perf = shutil.which("perf")
    try:
        cl = run.tp_cluster(b, opts.nodes, tuple(opts.node_arg))
        sender, relay = cl.nodes[0], cl.nodes[len(cl.nodes) // 2]
        senders = [sender] if opts.mode == "one" else list(cl.nodes)
        cpu0 = {n.name: cpu_seconds(n.pid) for n in cl.nodes}
        cs0 = {n.name: ctx_switches(n.pid) for n in cl.nodes}
        th0 = {n.name: thread_cpu(n.pid) for n in (sender, relay)}
        perfs = []
        if perf and not opts.no_perf:
            for who, pids in (("sender", str(sender.pid)), ("relay", str(relay.pid)),
                              ("all", ",".join(str(n.pid) for n in cl.nodes))):
                data = os.path.join(opts.out, "perf-%s.data" % who)
                p = b.procs.popen([perf, "record", "-F", "999", "-g", "-o", data, "-p",
                                   pids, "--", "sleep", str(opts.seconds)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                perfs.append((who, data, p))
        t0 = time.monotonic()
        r, drained = run.tp_trial(b, cl, senders, opts.rate, opts.size)
        took = time.monotonic() - t0
        cpu1 = {n.name: cpu_seconds(n.pid) for n in cl.nodes}
        cs1 = {n.name: ctx_switches(n.pid) for n in cl.nodes}
        th1 = {n.name: thread_cpu(n.pid) for n in (sender, relay)}
        for who, data, p in perfs:
            p.wait(timeout=opts.seconds + 30)
        cl.kill()
        print("trial: %s" % {k: v for k, v in r.items()})
        total = sum(cpu1[k] - cpu0[k] for k in cpu0)
        print("CPU seconds of all %d nodes over %.1f s: %.2f (%.2f cores)"
              % (len(cl.nodes), took, total, total / took))
        cs = sum(cs1[k] - cs0[k] for k in cs0)
        if r.get("delivered"):
            frames = r["delivered"] * (1 + (r.get("rmr") or 0))
            print("per delivery: %.1f us CPU, %.1f context switches; per payload frame received: "
                  "%.1f us CPU, %.2f context switches (RMR %.2f)"
                  % (total / r["delivered"] * 1e6, cs / r["delivered"], total / frames * 1e6,
                     cs / frames, r.get("rmr") or 0))
        for who, node in (("sender", sender), ("relay", relay)):
            print("%s %s: %.2f CPU s; by thread:" % (who, node.name, cpu1[node.name] - cpu0[node.name]))
            for t, v in sorted(th1[node.name].items()):
                d = v - th0[node.name].get(t, 0)
                if d > 0.005:
                    print("    %-28s %.2f" % (t, d))
        for who, data, p in perfs:
            txt = os.path.join(opts.out, "perf-%s.txt" % who)
            with open(txt, "w") as f:
                for args in (["--no-children", "--sort", "dso,sym", "-g", "none"],
                             ["--no-children", "--sort", "comm", "-g", "none"],
                             ["--children", "--sort", "sym", "-g", "none"]):
                    f.write("==== perf report %s\n" % " ".join(args))
                    f.flush()
                    subprocess.run([perf, "report", "-i", data, "--stdio", "--percent-limit", "0.7"]
                                   + args, stdout=f, stderr=subprocess.DEVNULL, timeout=300)
            print("perf report: %s" % txt)
    finally:
        b.cleanup()


if __name__ == "__main__":
    main()
