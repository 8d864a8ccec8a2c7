#!/usr/bin/env python3
"""Runs lanmesh-sim experiments and draws their PNGs in docs/ (docs/simulator.md).

  tools/sim_plots.py [--sim build/lanmesh-sim] [--nodes N] [--jobs J]
                     [--only failure,tree_vs_flood,membership,partition]
                     [--fractions 0.1,0.3,...]

Experiments (issue 17):
  failure        HyParView (Leitao et al. 2007) reliability after massive
                 failure: N nodes, 10 %..95 % crash at once; fraction of the
                 survivors reached by the broadcasts after the crash (within
                 the reach window) and time until every survivor is reached
  tree_vs_flood  Plumtree (Leitao et al. 2007): RMR and last-delivery hop of
                 the tree and of flooding, one sender and many
  membership     membership frames per node per second against N, idle and
                 with 1 % churn per minute
  partition      two halves and the heal: time until one overlay again

Each run is `lanmesh-sim sim/scenarios/<base>.json --set ...`; the raw JSON
lines go to docs/sim-data/<experiment>/.
"""
import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCEN = os.path.join(ROOT, "sim", "scenarios")
DOCS = os.path.join(ROOT, "docs")


def run(sim, base, sets, tag, exp):
    out_dir = os.path.join(DOCS, "sim-data", exp)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, tag + ".jsonl")
    if REUSE and os.path.exists(path):
        with open(path) as f:
            return [json.loads(l) for l in f.read().splitlines()]
    cmd = [sim, os.path.join(SCEN, base), "--quiet"]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={json.dumps(v)}"]
    print(" ".join(cmd), file=sys.stderr)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    with open(os.path.join(out_dir, tag + ".jsonl"), "w") as f:
        f.write(out)
    return [json.loads(l) for l in out.splitlines()]


JOBS = 1
REUSE = False  # --reuse: take a run's lines from docs/sim-data/ if there
FRACTIONS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]


def node_sets(n):
    """N nodes; above 1 024 with the node's default member table (1 024)."""
    return {"nodes": n, "max_members": 1024} if n > 1024 else {"nodes": n}


def run_all(sim, base, specs, exp):
    """Runs (sets, tag) specs, JOBS at a time (each run is one process, one
    core); returns their lines in the order given."""
    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        return list(pool.map(lambda st: run(sim, base, st[0], st[1], exp), specs))


def plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as p
    return p


def failure(sim, n):
    """Two crash models: `reset` (the process dies, its kernel resets its
    links: peers learn it within one latency) and `silent` (the host
    vanishes: peers learn it only from silence, overlay.dead-after)."""
    fractions = FRACTIONS
    base = node_sets(n)
    specs = []
    for silent in (False, True):
        kind = "silent" if silent else "reset"
        for f in fractions:
            specs.append((dict(base, events=[
                {"at_s": 25, "what": "broadcast", "count": 10, "over_s": 2, "senders": "one"},
                {"at_s": 30, "what": "crash", "fraction": f, "silent": silent},
                {"at_s": 30.001, "what": "broadcast", "count": 100, "over_s": 20,
                 "senders": "all"}]), f"crash-{kind}-{int(f * 100)}-{n}"))
    outs = iter(run_all(sim, "failure.json", specs, "failure"))
    res = {}
    for silent in (False, True):
        first, recover = [], []
        kind = "silent" if silent else "reset"
        for f in fractions:
            lines = next(outs)
            after = [l for l in lines if l["type"] == "broadcast" and l["t_s"] >= 30]
            fr = [l["reached_within_window"] / l["expected"] if l["expected"] else 1.0
                  for l in after]
            first.append(sum(fr[:10]) / max(1, len(fr[:10])))
            # Time from the crash to the first broadcast from which on every
            # survivor was reached within the window.
            t = None
            for i in range(len(after)):
                if all(x >= 1.0 for x in fr[i:]):
                    t = after[i]["t_s"] - 30
                    break
            recover.append(t if t is not None else float("nan"))
        res[kind] = dict(zip(fractions, zip(first, recover)))
    p = plt()
    fig, ax = p.subplots(1, 2, figsize=(10, 4))
    for kind in ("reset", "silent"):
        ax[0].plot([f * 100 for f in fractions], [res[kind][f][0] * 100 for f in fractions],
                   "o-", label=f"crash: {kind}")
        ax[1].plot([f * 100 for f in fractions], [res[kind][f][1] for f in fractions], "o-",
                   label=f"crash: {kind}")
    ax[0].set_xlabel("nodes crashed at once (%)")
    ax[0].set_ylabel("survivors reached within 1 s (%),\nfirst 10 broadcasts after the crash")
    ax[0].set_ylim(0, 105)
    ax[1].set_xlabel("nodes crashed at once (%)")
    ax[1].set_ylabel("s after the crash until every survivor\nis reached (within 1 s) again")
    for a in ax:
        a.grid(True)
        a.legend()
    fig.suptitle(f"lanmesh-sim: reliability after massive failure, {n} nodes "
                 "(a broadcast every 0.2 s from a random survivor)")
    fig.tight_layout()
    fig.savefig(os.path.join(DOCS, f"sim-failure-{n}.png"), dpi=100)
    return res


def tree_vs_flood(sim, n):
    rows = {}
    tag = "" if n == 1000 else f"-{n}"
    specs, keys = [], []
    senders_all = ("one", 10, "all")
    for mode in ("tree", "flood"):
        for senders in senders_all:
            sets = dict(node_sets(n), mode=mode, events=[
                {"at_s": 25, "what": "broadcast", "count": 100, "over_s": 10,
                 "senders": senders}])
            specs.append((sets, f"{mode}-{senders}-{n}"))
            keys.append((mode, senders))
    for key, lines in zip(keys, run_all(sim, "tree-vs-flood.json", specs, "tree_vs_flood")):
        s = lines[-1]
        rows[key] = (s["rmr"], s["ldh_avg"], s["ldh_max"], s["missed"])
    p = plt()
    fig, ax = p.subplots(1, 2, figsize=(10, 4))
    labels = ["one sender", "10 senders", "a random sender\nper message"]
    for i, mode in enumerate(("tree", "flood")):
        ax[0].bar([x + i * 0.4 for x in range(3)],
                  [rows[(mode, s)][0] for s in senders_all], 0.4, label=mode)
        ax[1].bar([x + i * 0.4 for x in range(3)],
                  [rows[(mode, s)][1] for s in senders_all], 0.4, label=mode)
    for a, t in zip(ax, ("RMR", "last-delivery hop (avg)")):
        a.set_xticks([0.2, 1.2, 2.2])
        a.set_xticklabels(labels)
        a.set_title(t)
        a.legend()
        a.grid(True, axis="y")
    fig.suptitle(f"lanmesh-sim: tree vs flood, {n} nodes, 100 broadcasts")
    fig.tight_layout()
    fig.savefig(os.path.join(DOCS, f"sim-tree-vs-flood{tag}.png"), dpi=100)
    return rows


def membership(sim, n):
    """Membership frames and records per node per second, idle (60-120 s)
    and with 1 % of the nodes replaced per minute (from 40 s on), for N up to
    `n` (the sizes of the list below that do not exceed it)."""
    sizes = [x for x in (100, 300, 1000, 3000, 10000) if x <= n]
    rows = {}
    specs, keys = [], []
    for mode in ("idle", "churn"):
        for size in sizes:
            sets = node_sets(size)
            if mode == "churn":
                sets["events"] = [{"at_s": 40, "what": "churn", "fraction": 0.01,
                                   "until_s": 120}]
            specs.append((sets, f"{mode}-{size}"))
            keys.append((mode, size))
    for key, lines in zip(keys, run_all(sim, "membership-cost.json", specs, "membership")):
        iv = [l for l in lines if l["type"] == "interval" and l["t_s"] > 60]
        f = lambda k: sum(l["frames_per_node_s"][k] for l in iv) / max(1, len(iv))
        rows[key] = {"records": f("member_records"), "frames": f("members") + f("sync")}
    p = plt()
    fig, ax = p.subplots(1, 2, figsize=(10, 4))
    for mode in ("idle", "churn"):
        ax[0].plot(sizes, [rows[(mode, x)]["records"] for x in sizes], "o-", label=mode)
        ax[1].plot(sizes, [rows[(mode, x)]["frames"] for x in sizes], "o-", label=mode)
    for a, t in zip(ax, ("member records received / node / s",
                         "MEMBERS + SYNC frames / node / s")):
        a.axvline(1024, color="grey", linestyle=":",
                  label="1 024: the table holds part\nof the cluster above")
        a.set_xscale("log")
        a.set_xlabel("nodes")
        a.set_title(t)
        a.grid(True)
        a.legend()
    fig.suptitle("lanmesh-sim: membership cost, idle and 1 %/min churn (60-120 s)")
    fig.tight_layout()
    fig.savefig(os.path.join(DOCS, "sim-membership.png"), dpi=100)
    return rows


def partition(sim, n):
    """Two halves from 35 s to 50 s, then the heal: components per second and
    the time from the heal until one overlay again."""
    sets = node_sets(n)
    lines = run(sim, "partition.json", sets, f"partition-{n}", "partition")
    iv = [l for l in lines if l["type"] == "interval"]
    healed = next((l["t_s"] - 50 for l in iv if l["t_s"] >= 50 and l["components"] == 1
                   and l["largest_component"] == l["up"]), float("nan"))
    p = plt()
    fig, ax = p.subplots(figsize=(6, 4))
    ax.plot([l["t_s"] for l in iv], [l["components"] for l in iv], "-")
    ax.axvspan(35, 50, alpha=0.2, label="partition")
    ax.set_xlabel("s")
    ax.set_ylabel("overlay components")
    ax.set_title(f"lanmesh-sim: partition of {n} nodes in two and heal\n"
                 f"one overlay again {healed:.0f} s after the heal (1 s samples)")
    ax.grid(True)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(DOCS, "sim-partition.png" if n == 1000 else f"sim-partition-{n}.png"),
                dpi=100)
    return healed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sim", default=os.path.join(ROOT, "build", "lanmesh-sim"))
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--only", default="failure,tree_vs_flood,membership,partition")
    ap.add_argument("--jobs", type=int, default=1, help="runs at once (one core each)")
    ap.add_argument("--reuse", action="store_true",
                    help="take runs already in docs/sim-data/ instead of running them")
    ap.add_argument("--fractions", help="crash fractions of `failure`, e.g. 0.1,0.5,0.9")
    a = ap.parse_args()
    global JOBS, FRACTIONS, REUSE
    JOBS = a.jobs
    REUSE = a.reuse
    if a.fractions:
        FRACTIONS = [float(x) for x in a.fractions.split(",")]
    for e in a.only.split(","):
        print(e, globals()[e](a.sim, a.nodes))


if __name__ == "__main__":
    main()
