#!/usr/bin/env python3
"""Fidelity of the simulator (issue 17): one small scenario, 12 nodes that
start, five broadcasts, one crash (SIGKILL), five more broadcasts, run both
in lanmesh-sim (sim/scenarios/fidelity-12.json) and with real lanmesh
processes on 127.0.0.1. Both must keep the same rules, checked by the same
function on the links each reports (/peers for the real nodes, the
simulator's `links` lines): one overlay; one link per pair, mirrored at the
other end; at least two links per node (three or more nodes); an inbound
link once a node has two; outbound <= inbound + 1; at most the maximum
degree. And the same messages are delivered: every survivor delivers each
of the ten broadcasts once (before the crash: every node then running),
in order, in both.

The simulator's binary comes from the LANMESH_SIM environment variable
(sim/CMakeLists.txt sets it)."""

import json
import os
import signal
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

from harness import check, check_in_order, poll, run_tests  # noqa: E402

PORTS = (63700, 63799)  # above the ephemeral range, as the other tests
MULTICAST_PORT = 47601
MAX_DEGREE = 8  # overlay.max-degree's default, which the simulator's nodes use too
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCENARIO = os.path.join(ROOT, "sim", "scenarios", "fidelity-12.json")


def rule_violations(views):
    """`views`: {node: [(peer, "in"|"out"), ...]} of the running nodes."""
    bad = []
    for n, peers in views.items():
        names = [p for p, _ in peers]
        inn = sum(1 for _, d in peers if d == "in")
        out = len(peers) - inn
        tag = "%s(in %d, out %d)" % (n, inn, out)
        if len(set(names)) != len(names):
            bad.append(tag + " two links to one peer")
        if len(views) >= 3 and len(peers) < 2:
            bad.append(tag + " no fallback link")
        if len(peers) >= 2 and inn == 0:
            bad.append(tag + " no inbound link")
        if out > inn + 1:
            bad.append(tag + " out > in + 1")
        if len(peers) > MAX_DEGREE:
            bad.append(tag + " over max degree")
        for p, d in peers:
            if p not in views:
                bad.append(tag + " linked to a node not running: %s" % p)
                continue
            back = [e for q, e in views[p] if q == n]
            if back != [("out" if d == "in" else "in")]:
                bad.append(tag + " link to %s not mirrored" % p)
    seen, todo = set(), [next(iter(views))]
    while todo:
        x = todo.pop()
        if x not in seen:
            seen.add(x)
            todo += [p for p, _ in views[x] if p in views]
    if seen != set(views):
        bad.append("not one overlay: %d of %d reachable" % (len(seen), len(views)))
    return bad


def simulated():
    """Runs the scenario in the simulator: (rule violations at the end,
    {broadcast index: survivors that delivered it}, survivors, summary)."""
    sim = os.environ.get("LANMESH_SIM")
    check(sim and os.access(sim, os.X_OK), "LANMESH_SIM is not the simulator: %r" % sim)
    out = subprocess.run([sim, SCENARIO, "--quiet"], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    lines = [json.loads(l) for l in out.splitlines()]
    summary = lines[-1]
    check(summary["type"] == "summary", "last line is not the summary: %s" % summary)
    views = {l["node"]: [(p["peer"], p["dir"]) for p in l["peers"]]
             for l in lines if l["type"] == "links"}
    # Per broadcast: delivered by every survivor but its sender (expected:
    # the nodes running at the end, started before it).
    everywhere = {}
    for l in lines:
        if l["type"] == "broadcast":
            others = len(views) - (1 if l["origin"] in views else 0)
            everywhere[l["i"]] = l["reached"] == l["expected"] == others
    return rule_violations(views), everywhere, len(views), summary


def test_the_simulator_and_real_nodes_keep_the_same_rules(h):
    sim_bad, sim_reached, sim_up, summary = simulated()
    check(not sim_bad, "simulator breaks the rules: %s" % sim_bad)
    check(summary["missed"] == 0 and summary["duplicates"] == 0 and summary["gaps"] == 0,
          "simulator: %s" % summary)
    check(sim_up == 11 and summary["components"] == 1, "simulator: %s" % summary)

    extra = ["--discovery.enabled=true", "--overlay.manage=true",
             "--discovery.port=%d" % MULTICAST_PORT]
    nodes = [h.node(extra=extra, wait_ready=False) for _ in range(12)]
    for n in nodes:
        n.wait_ready()

    def real_rules(running):
        def ok():
            views = {n.id: [(p["peer"], p["dir"]) for p in n.peers()] for n in running}
            bad = rule_violations(views)
            return not bad, bad
        poll(ok, "the rules on %d real nodes" % len(running), timeout=20.0)

    real_rules(nodes)
    sender = nodes[0]
    first = ["before the crash %d" % i for i in range(5)]
    for p in first:
        sender.send(p)
    for n in nodes[1:]:
        for p in first:
            n.wait_event("deliver", timeout=15.0, payload=p)
    victim = nodes[5]
    victim.send_signal(signal.SIGKILL)
    victim.wait_exit(5.0)
    survivors = [n for n in nodes if n is not victim]
    real_rules(survivors)
    second = ["after the crash %d" % i for i in range(5)]
    for p in second:
        sender.send(p)
    for n in survivors[1:]:
        for p in second:
            n.wait_event("deliver", timeout=15.0, payload=p)
    # The same messages delivered: each of the ten by every survivor but its
    # sender, once, in order — as in the simulator.
    real_reached = {}
    for i, p in enumerate(first + second):
        got = [n for n in survivors[1:]
               if sum(1 for d in n.deliveries() if d["payload"] == p) == 1]
        real_reached[i] = len(got) == len(survivors) - 1
    for n in survivors[1:]:
        check_in_order(n)
    check(len(sim_reached) == 10 and real_reached == sim_reached,
          "delivered everywhere (message: yes/no): real %s, simulator %s"
          % (real_reached, sim_reached))
    h.stop_all()


if __name__ == "__main__":
    sys.exit(run_tests(__file__, [test_the_simulator_and_real_nodes_keep_the_same_rules],
                       port_range=PORTS))
