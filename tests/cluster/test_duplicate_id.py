#!/usr/bin/env python3
"""Two nodes claiming one id (issue 15): the newcomer learns it from discovery
within its query window and stops with exit 2, naming the id and the running
node's address; the running node keeps running. A node's own looped-back
multicast is never taken for a clash, and nodes with different ids are not
disturbed. Each test has its own multicast port."""

import sys

sys.dont_write_bytecode = True

from harness import check, poll, run_tests

PORTS = (63200, 63299)
ID = "00000000cafe0015"


def disc(mport, *more):
    return ["--discovery.enabled=true", "--overlay.manage=true",
            "--discovery.port=%d" % mport, "--discovery.interface=127.0.0.1"] + list(more)


# The nodes that run before the newcomer end their query window at once, so
# that they are running nodes when it starts (a node still in its own window
# gives way too). The newcomer keeps the default window (150 ms).
RUNNING = "--discovery.query-window=1"


def newcomer_stops(h, running, mport, *more):
    """Starts a node with `running`'s id; checks it exits 2 naming id and address."""
    n = h.node(extra=disc(mport, "--node.id=" + ID, *more), wait_ready=False, name="dup")
    code = n.wait_exit(10.0)
    check(code == 2, "the newcomer with a taken id exited %s" % code)
    with open(n.stderr_path) as f:
        last = f.read().strip().splitlines()[-1]
    check(ID in last and running.addr in last,
          "last stderr line %r does not name %s and %s" % (last, ID, running.addr))
    return last


def test_newcomer_with_a_taken_id_stops(h):
    mport = 46401
    a = h.node(extra=disc(mport, "--node.id=" + ID, RUNNING))
    b = h.node(extra=disc(mport, RUNNING))
    a.wait_event("peer_up", peer=b.id)
    line = newcomer_stops(h, a, mport)
    print("    newcomer said: %s" % line)
    # The running node is unharmed. (The newcomer may have dialed b before it
    # heard of the clash, and b may have taken that link for a's; the overlay
    # links a and b again.)
    check(a.alive(), "the running node stopped")
    poll(lambda: (any(p["peer"] == ID for p in b.peers()) and
                  any(p["peer"] == b.id for p in a.peers()), None),
         "a and b linked again", timeout=15.0)
    msg = b.broadcast("after the clash")
    a.wait_event("deliver", msg=msg)
    with open(a.log_path) as f:
        check("claims this node's id" in f.read(), "the running node did not log the clash")
    h.stop_all()


def test_a_full_node_still_tells_the_newcomer(h):
    mport = 46402
    # Full after one link: silent in discovery, yet it answers a clash.
    a = h.node(extra=disc(mport, "--node.id=" + ID, RUNNING, "--overlay.max-degree=1",
                          "--overlay.target-degree=1"))
    b = h.node(extra=disc(mport, RUNNING, "--overlay.max-degree=1",
                          "--overlay.target-degree=1"))
    a.wait_event("peer_up", peer=b.id)
    newcomer_stops(h, a, mport, "--overlay.max-degree=1", "--overlay.target-degree=1")
    check(a.alive(), "the running node stopped")
    h.stop_all()


def test_two_started_at_once_both_stop(h):
    mport = 46404
    a = h.node(extra=disc(mport, "--node.id=" + ID, "--discovery.query-window=2000"),
               wait_ready=False, name="first")
    a.wait_ready()
    b = h.node(extra=disc(mport, "--node.id=" + ID), wait_ready=False, name="second")
    for n in (a, b):
        check(n.wait_exit(10.0) == 2, "%s exited %s" % (n.name, n.exit_code))


def test_own_multicast_is_not_a_clash(h):
    mport = 46403
    # Alone with a fixed id through its query window and several announcements.
    a = h.node(extra=disc(mport, "--node.id=" + ID, "--discovery.announce-min=50",
                          "--discovery.announce-max=100"))
    poll(lambda: (a.stats()["discovery_sent"] >= 4, a.stats()["discovery_sent"]),
         "four datagrams sent", timeout=10.0)
    check(a.alive(), "a node stopped on its own multicast")
    # Another node with its own id joins as usual.
    b = h.node(extra=disc(mport))
    b.wait_event("peer_up", peer=ID)
    check(a.alive() and b.alive(), "a node stopped")
    with open(a.log_path) as f:
        check("already used" not in f.read(), "a clash was logged without one")
    h.stop_all()


if __name__ == "__main__":
    sys.exit(run_tests(__file__, [test_newcomer_with_a_taken_id_stops,
                                  test_a_full_node_still_tells_the_newcomer,
                                  test_two_started_at_once_both_stop,
                                  test_own_multicast_is_not_a_clash], PORTS))
