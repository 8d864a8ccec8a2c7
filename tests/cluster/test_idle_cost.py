#!/usr/bin/env python3
"""What an idle cluster costs per node must not grow with the cluster
(issue 12): real nodes on 127.0.0.1 with discovery on their own multicast
port, 15 of them and then 60; once the overlay holds still, count what every
node sends in a quiet window (TCP frames, probe datagrams and discovery
datagrams, from /stats). The mean per node at 60 may be at most 1.3 times
the mean at 15. No link may go down in the window, and the window only
counts if no link changed in it (it is retried, bounded, until one holds
still). The counts are printed for the notes; bench/ measures them properly."""

import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

from harness import check, poll, run_tests  # noqa: E402
from test_overlay import start, wait_rules  # noqa: E402

PORTS = (62200, 62399)
WINDOW = 15.0  # seconds: about 12 heartbeats a link
TRIES = 4


def sent(stats):
    return stats["frames_out"] + stats.get("udp_sent", 0) + stats["discovery_sent"]


def links(nodes):
    return {(n.id, p["peer"]) for n in nodes for p in n.peers()}


def quiet_window(nodes):
    """Sent per node per minute over a window in which no link changed."""
    for attempt in range(TRIES):
        before_links = links(nodes)
        before = {n.id: sent(n.stats()) for n in nodes}
        t0 = time.monotonic()
        marks = {n.id: n.mark() for n in nodes}
        # The window is what is measured: nothing to wait for but time.
        time.sleep(WINDOW)
        after = {n.id: sent(n.stats()) for n in nodes}
        took = time.monotonic() - t0
        downs = [e for n in nodes for e in n.events[marks[n.id]:] if e["event"] == "peer_down"]
        if links(nodes) == before_links and not downs:
            per_node = sum(after[i] - before[i] for i in before) / len(nodes)
            return per_node * 60.0 / took
        print("window %d: links changed (%d down), again" % (attempt + 1, len(downs)))
    check(False, "the overlay of %d nodes never held still for %.0f s" % (len(nodes), WINDOW))


def cost_at(h, count, mport):
    nodes = start(h, count, mport)
    wait_rules(nodes, "rules on %d nodes" % count, timeout=60.0)
    cost = quiet_window(nodes)
    degree = len(links(nodes)) / len(nodes)
    print("idle: %d nodes send %.0f packets per node per minute (mean degree %.1f)"
          % (count, cost, degree))
    h.stop_all()
    return cost


def test_idle_cost_per_node_does_not_grow_with_the_cluster(h):
    small = cost_at(h, 15, 47311)
    large = cost_at(h, 60, 47312)
    check(large <= 1.3 * small, "idle cost per node grew from %.0f (15 nodes) to %.0f "
          "(60 nodes) packets a minute: more than 1.3 x" % (small, large))
    # And it is a heartbeat's worth, not a flood's: well under a packet a
    # second per link even at 60 nodes.
    check(large < 400, "%.0f packets per node per minute at 60 nodes" % large)


if __name__ == "__main__":
    sys.exit(run_tests(__file__, [test_idle_cost_per_node_does_not_grow_with_the_cluster],
                       PORTS))
