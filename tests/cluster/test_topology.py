#!/usr/bin/env python3
"""/topology: one node gathers every node's links and load over the overlay
(answers come back along the query's path) and writes one JSON document;
nodes that do not answer in time are marked as such."""

import json
import os
import signal
import sys
import time

from harness import check, run_tests
from test_overlay import start, wait_rules

PORTS = (62000, 62099)


def snapshot(node, path):
    mark = node.mark()
    node.send("/topology " + path)
    ev = node.wait_event("topology", after=mark, timeout=15.0)
    with open(path) as f:
        doc = json.load(f)
    check(doc["nodes"] == ev["nodes"] and doc["edges"] == ev["edges"],
          "file and event differ")
    return doc


def stopped_state(node, timeout=2.0):
    """Waits (bounded) until `node`'s process shows as stopped in /proc;
    returns the state line seen last."""
    deadline = time.monotonic() + timeout
    state = "?"
    while time.monotonic() < deadline:
        with open("/proc/%d/status" % node.pid) as f:
            state = next((l.strip() for l in f if l.startswith("State:")), "?")
        if "stopped" in state:
            break
        time.sleep(0.001)
    return state


def test_thirty_nodes(h):
    nodes = start(h, 30, 47221)
    wait_rules(nodes, "rules on 30 nodes", timeout=30.0)
    # The overlay manager may still move a link while we look: compare the
    # snapshot with /peers read just before and just after it, and retry
    # (bounded) until both readings agree.
    def edges_now():
        out = set()
        for n in nodes:
            for p in n.peers():
                out.add((n.id, p["peer"]) if p["dir"] == "out" else (p["peer"], n.id))
        return out
    for attempt in range(5):
        before = edges_now()
        doc = snapshot(nodes[5], os.path.join(h.dir, "topo.json"))
        want = edges_now()
        if before == want:
            break
    check(before == want, "the overlay never held still around a snapshot")
    ids = {n.id for n in nodes}
    got = {n["node"]: n for n in doc["nodes"]}
    check(set(got) == ids, "snapshot nodes differ: %s" % (set(got) ^ ids))
    check(all(n["answered"] for n in got.values()), "not every node answered")
    check(doc["took_ms"] < 15000, "took %s ms" % doc["took_ms"])
    # Edges (dialer -> acceptor) are exactly the links /peers shows.
    edges = {(e["from"], e["to"]) for e in doc["edges"]}
    check(edges == want, "edges differ: %s" % (edges ^ want))
    for node_id, n in got.items():
        out = sum(1 for a, b in edges if a == node_id)
        inn = sum(1 for a, b in edges if b == node_id)
        check((n["links_in"], n["links_out"]) == (inn, out), "%s: load differs" % node_id)
        check(n["addr"].startswith("127.0.0.1:"), "%s: addr %r" % (node_id, n["addr"]))
    h.stop_all()


def test_dead_node_is_forgotten_and_a_stopped_one_unanswered(h):
    nodes = start(h, 6, 47222)
    wait_rules(nodes, "rules on 6 nodes")
    victim = nodes[4]
    victim.kill()
    rest = [n for n in nodes if n is not victim]
    wait_rules(rest, "rules after the kill")
    # Its port refused: the cluster knows it is dead and no longer lists it.
    rest[0].wait_event("member", node=victim.id, state="dead")
    doc = snapshot(rest[0], os.path.join(h.dir, "after.json"))
    got = {n["node"]: n for n in doc["nodes"]}
    check(victim.id not in got, "the killed node is still listed: %s" % got.get(victim.id))
    check(set(got) == {n.id for n in rest}, "snapshot nodes differ: %s" % sorted(got))
    check(all(got[n.id]["answered"] for n in rest), "a live node did not answer")
    check(not any(victim.id in (e["from"], e["to"]) for e in doc["edges"]),
          "an edge to the killed node remains")
    # A node stopped just now is still a member, and does not answer.
    stopped = rest[-1]
    stopped.send_signal(signal.SIGSTOP)
    state = stopped_state(stopped)
    try:
        doc = snapshot(rest[0], os.path.join(h.dir, "stopped.json"))
    finally:
        stopped.send_signal(signal.SIGCONT)
    got = {n["node"]: n for n in doc["nodes"]}
    check(stopped.id in got and not got[stopped.id]["answered"],
          "the stopped node is not marked unanswered: %s (its state: %s)"
          % (got.get(stopped.id), state))
    h.stop_all()


if __name__ == "__main__":
    sys.exit(run_tests(__file__, [test_thirty_nodes,
                                  test_dead_node_is_forgotten_and_a_stopped_one_unanswered],
                       PORTS))
