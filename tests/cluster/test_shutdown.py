#!/usr/bin/env python3
"""Clean exits: SIGINT, SIGTERM and /quit each make a node say goodbye to its
peers and exit 0 quickly; stdin reaching EOF does not stop a node."""

import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

from harness import check, check_broadcast, check_exactly_once, run_tests, wait_links

PORTS = (61300, 61399)


def check_goodbye(leaver, neighbours, others=()):
    """Each neighbour reports `leaver` down with reason goodbye, once; nodes in
    `others` report no peer_down at all for it."""
    for n in neighbours:
        ev = n.wait_event("peer_down", peer=leaver.id)
        check(ev["reason"] == "goodbye", "%s: %s left with reason %r, want goodbye"
              % (n.name, leaver.name, ev["reason"]))
        check(len(n.events_of("peer_down", peer=leaver.id)) == 1,
              "%s: several peer_down for %s" % (n.name, leaver.name))
    for n in others:
        check(not n.events_of("peer_down", peer=leaver.id),
              "%s reported non-neighbour %s down" % (n.name, leaver.name))


def timed_exit(node, timeout):
    start = time.monotonic()
    code = node.wait_exit(timeout)
    took = time.monotonic() - start
    if code is None:
        node.kill()
        check(False, "%s still running %.1f s after it was told to stop; killed"
              % (node.name, timeout))
    return code, took


def test_sigint_then_quit(h):
    n0, mid, n2 = h.cluster("line", 3)

    # SIGINT to the middle: exit 0 within 1 s, goodbye to both neighbours.
    mid.send_signal(signal.SIGINT)
    code, took = timed_exit(mid, 1.0)
    check(code == 0, "middle exited %s after SIGINT" % code)
    print("    middle node exited %.3f s after SIGINT" % took)
    check_goodbye(mid, [n0, n2])

    # The ends live on. A new node bridges them (on a port the middle never
    # had, so n2's re-dials of the middle's address cannot reach it).
    top = max(n.port for n in (n0, mid, n2))
    bridge = h.node(peers=[n0, n2], port_range=(top + 1, PORTS[1]), name="bridge")
    wait_links([n0, bridge, n2], [(0, 1), (1, 2)])
    sent = {}
    msg = check_broadcast(n0, [bridge, n2], "over the bridge", hops_for=lambda n: 1 if n is bridge else 2)
    sent[msg] = (n0, "over the bridge")
    h.wait_quiet([n0, bridge, n2])
    check_exactly_once([n0, bridge, n2], sent)

    # /quit on the bridge: exit 0, goodbye to both of its neighbours.
    bridge.send("/quit")
    code, took = timed_exit(bridge, 2.0)
    check(code == 0, "bridge exited %s after /quit" % code)
    print("    bridge exited %.3f s after /quit" % took)
    check_goodbye(bridge, [n0, n2])
    for n in (n0, n2):
        downs = n.events_of("peer_down")
        check(len(downs) == 2, "%s: unexpected peer_down events %s" % (n.name, downs))
    h.stop_all()


def test_quit_end_of_line(h):
    """/quit on an end node: its only neighbour sees goodbye, the far end nothing."""
    n0, n1, n2 = h.cluster("line", 3)
    n2.send("/quit")
    code, took = timed_exit(n2, 2.0)
    check(code == 0, "n2 exited %s after /quit" % code)
    check_goodbye(n2, [n1], others=[n0])
    # The remaining pair still talks.
    msg = check_broadcast(n1, [n0], "after quit", hops_for=lambda n: 1)
    h.wait_quiet([n0, n1])
    check_exactly_once([n0, n1], {msg: (n1, "after quit")})
    h.stop_all(signal.SIGTERM)


def test_stdin_eof_keeps_running(h):
    n0 = h.node()
    daemon = h.node(peers=[n0], stdin=subprocess.DEVNULL, name="daemon")
    wait_links([n0, daemon], [(0, 1)])
    check(daemon.alive(), "node with stdin at EOF exited after linking (code %s)" % daemon.proc.poll())
    msg = check_broadcast(n0, [daemon], "to the daemon", hops_for=lambda n: 1)
    check(daemon.alive(), "node with stdin at EOF exited after a delivery (code %s)"
          % daemon.proc.poll())
    # Still working, not just still there: a second broadcast arrives too.
    msg2 = check_broadcast(n0, [daemon], "to the daemon again", hops_for=lambda n: 1)
    check(daemon.alive(), "daemon died")
    daemon.send_signal(signal.SIGTERM)
    code, took = timed_exit(daemon, 2.0)
    check(code == 0, "daemon exited %s after SIGTERM" % code)
    print("    daemon exited %.3f s after SIGTERM" % took)
    check_goodbye(daemon, [n0])
    check([d["msg"] for d in daemon.deliveries()] == [msg, msg2],
          "daemon deliveries: %s" % daemon.deliveries())
    h.stop_all()


def test_crash_is_not_goodbye(h):
    """Contrast: a killed node says no goodbye; its neighbours notice the reset."""
    n0, mid, n2 = h.cluster("line", 3)
    mid.kill()
    for n in (n0, n2):
        ev = n.wait_event("peer_down", peer=mid.id)
        check(ev["reason"] != "goodbye", "%s: killed node reported as %r" % (n.name, ev["reason"]))
    h.stop_all()


if __name__ == "__main__":
    sys.exit(run_tests(__file__, [test_sigint_then_quit, test_quit_end_of_line,
                                  test_stdin_eof_keeps_running, test_crash_is_not_goodbye],
                       PORTS))
