#!/usr/bin/env python3
"""Ring, star and full mesh of 5 nodes: a broadcast from every node is delivered
exactly once by every other node. Where the shape has cycles (ring, mesh) the
duplicate filter must have dropped copies, yet no node delivers twice."""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

from harness import check, check_broadcast, check_exactly_once, run_tests

PORTS = (61500, 61599)
N = 5


def every_node_broadcasts(h, shape):
    c = h.cluster(shape, N)  # waits for every peer_up, checks /peers
    sent = {}
    for i, sender in enumerate(c):
        payload = "%s from n%d" % (shape, i)
        # On a tree the path is unique, so the hop count is known.
        hops = (lambda n, i=i: c.distance(i, n)) if shape == "star" else None
        msg = check_broadcast(sender, c.others(sender), payload, hops_for=hops)
        sent[msg] = (sender, payload)
    stats = h.wait_quiet(c)
    check_exactly_once(c, sent)
    duplicates = sum(s["duplicates"] for s in stats)
    for n, s in zip(c, stats):
        check(s["delivered"] == N - 1, "%s delivered=%d, want %d" % (n.name, s["delivered"], N - 1))
        check(s["sent"] == 1, "%s sent=%d" % (n.name, s["sent"]))
    if shape in ("ring", "mesh"):
        check(duplicates > 0, "%s: no node counted a duplicate; dedup never exercised" % shape)
    else:
        check(duplicates == 0, "star: %d duplicates on a tree" % duplicates)
    print("    %s: %d duplicates dropped in total" % (shape, duplicates))
    for n in c:
        check(not n.events_of("peer_down"), "%s saw peer_down: %s" % (n.name, n.events_of("peer_down")))
    h.stop_all()


def test_ring(h):
    every_node_broadcasts(h, "ring")


def test_star(h):
    every_node_broadcasts(h, "star")


def test_mesh(h):
    every_node_broadcasts(h, "mesh")


if __name__ == "__main__":
    sys.exit(run_tests(__file__, [test_ring, test_star, test_mesh], PORTS))
