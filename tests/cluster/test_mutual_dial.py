#!/usr/bin/env python3
"""Two nodes on fixed ports that list each other in node.peers, started at the
same instant, dial each other simultaneously. Exactly one link must survive,
both ends must agree on its direction, and traffic must flow once each way.

Started back to back, the second node's first dial often completes before the
first node re-dials, and then only one link is ever made. The forced rounds make
both dials cross for sure: the first node is frozen (SIGSTOP) after its first
dial failed, the second dials it (the kernel completes the TCP handshake from
the listen backlog), and on SIGCONT the first node's overdue re-dial and its
accept of the second's link run at once."""

import signal
import socket
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

from harness import DEFAULT_TIMEOUT, TestFailure, check, check_broadcast, check_exactly_once, run_tests

PORTS = (61100, 61199)
ROUNDS = 5
SETTLE_TIMEOUT = 5.0  # bounded wait for a duplicate link to be retired


def port_free(port):
    # lanmesh listens with SO_REUSEADDR; so does this probe.
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def fixed_pair(round_no):
    """Two free fixed ports of this script's range for `round_no`.

    The range overlaps the kernel's ephemeral ports, so a port can be busy with
    some other socket's local end; the pair then moves on within the range."""
    lo, hi = PORTS
    port = lo + 2 * round_no
    while port + 1 <= hi:
        if port_free(port) and port_free(port + 1):
            return port, port + 1
        port += 4 * ROUNDS
    raise TestFailure("no free fixed port pair in %d-%d" % PORTS)


def established_to(ports):
    """ESTABLISHED IPv4 sockets on 127.0.0.1 whose local port is in `ports`:
    the accepting end of every TCP connection made to those listeners."""
    found = []
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            ip, port = local.split(":")
            if state == "01" and ip == "0100007F" and int(port, 16) in ports:
                found.append((int(port, 16), int(remote.split(":")[1], 16)))
    return found


def wait_one_tcp_connection(pa, pb):
    """The losing TCP connection of a crossed dial must really be closed, not
    just dropped from the link table: poll the kernel's socket table."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        conns = established_to({pa, pb})
        if len(conns) == 1:
            return conns
        if time.monotonic() > deadline:
            raise TestFailure("%d TCP connections between the pair after %.1f s: %s"
                              % (len(conns), SETTLE_TIMEOUT, conns))
        time.sleep(0.05)


def peers_key(peers):
    return sorted((p["peer"], p["addr"], p["dir"]) for p in peers)


def settle(a, b):
    """Polls /peers on both until each shows exactly one peer and two polls in
    a row are identical. Returns the last two peer lists."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    last = None
    while True:
        now = (a.peers(), b.peers())
        key = (peers_key(now[0]), peers_key(now[1]))
        if len(now[0]) == 1 and len(now[1]) == 1 and key == last:
            return now
        last = key
        if time.monotonic() > deadline:
            raise TestFailure("peers did not settle within %.1f s: %s / %s"
                              % (SETTLE_TIMEOUT, now[0], now[1]))
        # Give a duplicate link time to be retired (linger is 500 ms) before
        # asking again.
        time.sleep(0.1)


def start_together(h, round_no, pa, pb):
    # Start both processes before waiting for either: they dial at once.
    a = h.node(port=pa, peers=["127.0.0.1:%d" % pb], name="r%da" % round_no, wait_ready=False)
    b = h.node(port=pb, peers=["127.0.0.1:%d" % pa], name="r%db" % round_no, wait_ready=False)
    a.wait_ready()
    b.wait_ready()
    return a, b


def poll_stats(node, pred, what):
    deadline = time.monotonic() + DEFAULT_TIMEOUT
    while True:
        s = node.stats()
        if pred(s):
            return s
        check(time.monotonic() < deadline, "%s: no %s within %.1f s: %s"
              % (node.name, what, DEFAULT_TIMEOUT, s))
        time.sleep(0.01)


REDIAL_MIN_MS = 20


def start_crossing(h, round_no, pa, pb):
    a = h.node(port=pa, peers=["127.0.0.1:%d" % pb], name="x%da" % round_no,
               extra=["--node.redial-min=%d" % REDIAL_MIN_MS])
    # a's first dial fails (b is not up yet); its re-dial is then due soon.
    poll_stats(a, lambda s: s["dial_failures"] >= 1, "failed first dial")
    failed_at = time.monotonic()
    a.send_signal(signal.SIGSTOP)
    try:
        b = h.node(port=pb, peers=["127.0.0.1:%d" % pa], name="x%db" % round_no)
        # b's dial of the frozen a connects through a's listen backlog.
        poll_stats(b, lambda s: s["dials"] - s["dial_failures"] >= 1, "connected dial")
        # The re-dial of a must be overdue when it wakes, so that it fires
        # before a has registered b's link (which would cancel it).
        overdue = failed_at + 3 * REDIAL_MIN_MS / 1000.0 - time.monotonic()
        if overdue > 0:
            time.sleep(overdue)
    finally:
        a.send_signal(signal.SIGCONT)
    return a, b


def one_round(h, round_no, directions, start):
    pa, pb = fixed_pair(round_no)
    a, b = start(h, round_no, pa, pb)
    check((a.port, b.port) == (pa, pb), "ports %s/%s, want %s/%s" % (a.port, b.port, pa, pb))
    a.wait_event("peer_up", peer=b.id)
    b.wait_event("peer_up", peer=a.id)
    pa_list, pb_list = settle(a, b)
    la, lb = pa_list[0], pb_list[0]
    check(la["peer"] == b.id and lb["peer"] == a.id,
          "links point elsewhere: %s / %s" % (la, lb))
    check(la["addr"] == "127.0.0.1:%d" % pb and lb["addr"] == "127.0.0.1:%d" % pa,
          "peer addresses %s / %s are not the listening ports" % (la["addr"], lb["addr"]))
    check({la["dir"], lb["dir"]} == {"in", "out"},
          "directions disagree: %s says %s, %s says %s" % (a.name, la["dir"], b.name, lb["dir"]))
    conns = wait_one_tcp_connection(pa, pb)
    # The one connection was made to the listener of whichever node says "in".
    check(conns[0][0] == (pa if la["dir"] == "in" else pb),
          "the open TCP connection %s does not match the link directions" % conns)
    stats = [a.stats(), b.stats()]
    for n, s in zip((a, b), stats):
        check(s["links_in"] + s["links_out"] == 1, "%s stats: %s" % (n.name, s))
    # Did both dials connect? Then two links existed and the one dialed by the
    # smaller id must have won (DESIGN.md, link_table.hpp).
    crossed = all(s["dials"] - s["dial_failures"] >= 1 for s in stats)
    dialer = a if la["dir"] == "out" else b
    smaller = a if int(a.id, 16) < int(b.id, 16) else b
    if crossed:
        check(dialer is smaller, "both dialed; surviving link dialed by %s, not by the "
              "smaller id %s" % (dialer.id, smaller.id))
        check(sum(s["refused"] for s in stats) >= 1,
              "both dialed, yet no side counted the duplicate: %s" % stats)
    directions.append("%s%s" % (la["dir"], "*" if crossed else ""))
    for n, other in ((a, b), (b, a)):
        ups = n.events_of("peer_up", peer=other.id)
        downs = n.events_of("peer_down", peer=other.id)
        check(len(ups) - len(downs) == 1, "%s: %d peer_up, %d peer_down for %s"
              % (n.name, len(ups), len(downs), other.name))
        # The surviving peer never looks down to the user.
        check(not downs, "round %d: %s (id %s) reported the surviving peer down: %s"
              % (round_no, n.name, n.id, downs))
        others = [e for e in n.events_of("peer_up") + n.events_of("peer_down")
                  if e["peer"] != other.id]
        check(not others, "%s: events about unknown peers: %s" % (n.name, others))
    sent = {}
    for sender, receiver in ((a, b), (b, a)):
        payload = "round %d from %s" % (round_no, sender.name)
        msg = check_broadcast(sender, [receiver], payload, hops_for=lambda n: 1)
        sent[msg] = (sender, payload)
    h.wait_quiet([a, b])
    check_exactly_once([a, b], sent)
    h.stop_all()


def test_simultaneous_start(h):
    directions = []
    for r in range(ROUNDS):
        one_round(h, r, directions, start_together)
    print("    link direction at the first node per round (* = both dials connected): %s"
          % directions)


def test_forced_crossing_dials(h):
    directions = []
    for r in range(ROUNDS):
        one_round(h, ROUNDS + r, directions, start_crossing)
    print("    link direction at the first node per round (* = both dials connected): %s"
          % directions)
    check(any(d.endswith("*") for d in directions),
          "no round made both dials connect; the duplicate rule was never exercised")


if __name__ == "__main__":
    sys.exit(run_tests(__file__, [test_simultaneous_start, test_forced_crossing_dials], PORTS))
