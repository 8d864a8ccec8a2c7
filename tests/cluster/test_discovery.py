#!/usr/bin/env python3
"""Discovery by UDP multicast on the loopback interface: nodes started with no
configured peers find each other and form one overlay; a late node joins; the
first node dials nobody; clusters sharing a group and port stay apart; bad
datagrams are counted and ignored. Each test has its own multicast port."""

import re
import sys
import time

from harness import DEFAULT_TIMEOUT, check, check_broadcast, check_exactly_once, poll, run_tests
from lmwire import announcement, multicast

PORTS = (61600, 61699)


def discovery_args(mport, cluster=None):
    args = ["--discovery.enabled=true", "--overlay.manage=true", "--discovery.port=%d" % mport,
            "--discovery.interface=127.0.0.1"]
    if cluster:
        args.append("--node.cluster=" + cluster)
    return args


def start(h, count, mport, cluster=None, wait_ready=True):
    nodes = [h.node(extra=discovery_args(mport, cluster), wait_ready=False) for _ in range(count)]
    if wait_ready:
        for n in nodes:
            n.wait_ready()
    return nodes


def connected(nodes):
    ids = {n.id for n in nodes}
    graph = {n.id: {p["peer"] for p in n.peers()} for n in nodes}
    seen, todo = set(), [nodes[0].id]
    while todo:
        x = todo.pop()
        if x not in seen:
            seen.add(x)
            todo += [y for y in graph.get(x, ()) if y in ids]
    return graph if seen == ids else None


def wait_connected(nodes, timeout=DEFAULT_TIMEOUT):
    """Waits until every node has a peer_up and the link graph, read from
    /peers of every node, is one connected piece."""
    for n in nodes:
        n.wait_event("peer_up", timeout)
    return poll(lambda: (lambda g: (g is not None, g))(connected(nodes)), "connected overlay",
                timeout, interval=0.1)


def broadcast_from_all(nodes):
    sent = {}
    for i, n in enumerate(nodes):
        payload = "from %s #%d" % (n.name, i)
        msg = check_broadcast(n, [m for m in nodes if m is not n], payload)
        sent[msg] = (n, payload)
    return sent


def test_eight_nodes_form_one_overlay(h):
    nodes = start(h, 8, 47101)
    wait_connected(nodes)
    sent = broadcast_from_all(nodes)
    h.wait_quiet(nodes)
    check_exactly_once(nodes, sent)
    discovered = 0
    for n in nodes:
        s = n.stats()
        check(s["discovery_sent"] > 0 and s["discovery_received"] > 0,
              "%s: no discovery traffic counted: %s" % (n.name, s))
        check(s["links_in"] + s["links_out"] <= 8, "%s over max degree" % n.name)
        check(s["links_in"] + s["links_out"] >= 1, "%s has no link" % n.name)
        # Every outbound link's log line says why it was made: discovered
        # (with the candidate's load), member, invited, reverse, out of reach.
        with open(n.log_path) as f:
            ups = [l for l in f if "[supervisor] peer " in l and " up (out," in l]
        for line in ups:
            check(re.search(r"up \(out, [0-9.:]+\): \S", line),
                  "%s: outbound link without a reason: %s" % (n.name, line.strip()))
        discovered += sum(1 for l in ups if ": discovered " in l and ", load " in l)
    check(discovered > 0, "no link logged as made from discovery")
    h.stop_all()


def test_first_node_dials_nobody_and_late_node_joins(h):
    first = start(h, 1, 47102)[0]
    # The first node's query window passes with no answer: it is the first.
    poll(lambda: ("first node of the cluster" in open(first.log_path).read(), None),
         "first-node conclusion in the log", interval=0.05)
    s = first.stats()
    check(s["dials"] == 0, "first node dialed %d times" % s["dials"])
    check(s["links_in"] + s["links_out"] == 0, "first node has links: %s" % s)
    others = start(h, 3, 47102)
    nodes = [first] + others
    wait_connected(nodes)
    late = start(h, 1, 47102)[0]
    nodes.append(late)
    wait_connected(nodes)
    sent = {}
    msg = check_broadcast(late, nodes[:-1], "late says hi")
    sent[msg] = (late, "late says hi")
    msg = check_broadcast(first, nodes[1:], "first says hi")
    sent[msg] = (first, "first says hi")
    h.wait_quiet(nodes)
    check_exactly_once(nodes, sent)
    h.stop_all()


def test_two_clusters_on_one_group_stay_apart(h):
    red = start(h, 3, 47103, cluster=h.cluster_name + "-red")
    blue = start(h, 3, 47103, cluster=h.cluster_name + "-blue")
    wait_connected(red)
    wait_connected(blue)
    red_ids = {n.id for n in red}
    blue_ids = {n.id for n in blue}
    for group, other in ((red, blue_ids), (blue, red_ids)):
        for n in group:
            peers = {p["peer"] for p in n.peers()}
            check(not (peers & other), "%s linked across clusters: %s" % (n.name, peers & other))
    # Each side heard the other's datagrams and dropped them as foreign.
    check(any(n.stats()["discovery_foreign"] > 0 for n in red + blue),
          "no datagram of the other cluster was counted as foreign")
    msg = check_broadcast(red[0], red[1:], "red only")
    h.wait_quiet(red + blue)
    for n in blue:
        check(not [d for d in n.deliveries() if d["msg"] == msg], "%s got red's message" % n.name)
    h.stop_all()




def test_bad_datagrams_are_counted_and_ignored(h):
    mport = 47104
    nodes = start(h, 3, mport)
    wait_connected(nodes)
    before = [n.stats() for n in nodes]
    good = announcement(h.cluster_name, 0x1234, 9)
    bad = [
        b"GET / HTTP/1.1\r\n\r\n",        # garbage
        good[:10],                        # truncated
        good + b"x" * 2000,               # oversized
        good[:4] + b"\x09" + good[5:],    # other version
    ]
    multicast(mport, bad)
    for n, b in zip(nodes, before):
        poll(lambda n=n, b=b: (n.stats()["discovery_bad"] >= b["discovery_bad"] + len(bad), None),
             "%s counting the bad datagrams" % n.name, interval=0.1)
    # The cluster keeps working, and a newcomer still joins.
    late = start(h, 1, mport)[0]
    nodes.append(late)
    wait_connected(nodes)
    sent = broadcast_from_all([nodes[0], late])
    h.wait_quiet(nodes)
    check_exactly_once(nodes, sent)
    h.stop_all()


if __name__ == "__main__":
    sys.exit(run_tests(__file__, [test_eight_nodes_form_one_overlay,
                                  test_first_node_dials_nobody_and_late_node_joins,
                                  test_two_clusters_on_one_group_stay_apart,
                                  test_bad_datagrams_are_counted_and_ignored], PORTS))
