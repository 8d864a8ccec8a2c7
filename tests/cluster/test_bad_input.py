#!/usr/bin/env python3
"""Hostile and broken TCP clients against the middle node of a line of three.

Each raw client (a socket to 127.0.0.1) must be disconnected within a bounded
time, the middle node's /stats must count it under the right rule, and the
real links must carry on: no real peer ever goes down, and broadcasts keep
arriving exactly once on both sides of the middle node."""

import os
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

from harness import (DEFAULT_TIMEOUT, TestFailure, check, check_broadcast, check_exactly_once,
                     run_tests)

from lmwire import (BROADCAST, HELLO, MAGIC, REFUSE, WELCOME, Frames, broadcast_body, fake_id,  # noqa: E402
                    frame,
                    hello_body, reason_of)

PORTS = (61200, 61299)
HANDSHAKE_MS = 300

def wait_stats(node, pred, what, timeout=DEFAULT_TIMEOUT):
    """Polls /stats until pred(stats); the supervisor counts asynchronously."""
    deadline = time.monotonic() + timeout
    while True:
        s = node.stats()
        if pred(s):
            return s
        if time.monotonic() > deadline:
            raise TestFailure("%s: %s not counted within %.1f s: %s" % (node.name, what, timeout, s))
        time.sleep(0.02)


def rule(stats, name):
    return stats["bad_by_rule"].get(name, 0)


def test_bad_clients(h):
    nodes = h.cluster("line", 3, extra_for=lambda i: ["--node.handshake-timeout=%d" % HANDSHAKE_MS]
                      if i == 1 else [])
    n0, mid, n2 = nodes
    mid_id = int(mid.id, 16)
    real_peers = {n0.id, n2.id}
    sent = {}
    rounds = [0]

    def still_delivering():
        # Alternate ends: traffic crosses the middle node after every attack.
        i = rounds[0]
        rounds[0] += 1
        sender, others = (n0, [mid, n2]) if i % 2 == 0 else (n2, [mid, n0])
        payload = "after attack %d from %s" % (i, sender.name)
        msg = check_broadcast(sender, others, payload,
                              hops_for=lambda n: nodes.distance(sender, n))
        sent[msg] = (sender, payload)

    expected = {}  # rule -> count the middle node must show

    def expect_rule(name, what):
        expected[name] = expected.get(name, 0) + 1
        want = dict(expected)
        wait_stats(mid, lambda s: all(rule(s, r) >= c for r, c in want.items()), what)

    def client():
        s = h.connect(mid.port)
        return s, Frames(s)

    # (a) an HTTP request: "GET " read as a length is far over the limit.
    s, f = client()
    s.sendall(b"GET / HTTP/1.1\r\n\r\n")
    f.wait_closed()
    s.close()
    expect_rule("length_over_limit", "HTTP request")
    still_delivering()

    # (b) a header announcing a 4 GiB frame: refused before any allocation.
    s, f = client()
    s.sendall(struct.pack(">IB", 0xFFFFFFF0, BROADCAST))
    f.wait_closed()
    s.close()
    expect_rule("length_over_limit", "length 0xFFFFFFF0")
    still_delivering()

    # (c) a valid hello from another cluster: REFUSE naming the cluster, then close.
    s, f = client()
    s.sendall(frame(HELLO, hello_body(h.cluster_name + "-other", fake_id())))
    got = f.next()
    check(got is not None and got[0] == REFUSE, "wrong cluster: expected REFUSE, got %r" % (got,))
    check("cluster" in reason_of(got[1]), "refuse reason %r does not mention cluster"
          % reason_of(got[1]))
    f.wait_closed()
    s.close()
    wait_stats(mid, lambda st: st["refused"] >= 1, "wrong-cluster refusal")
    still_delivering()

    # (d) a hello carrying the middle node's own id: REFUSE naming self.
    s, f = client()
    s.sendall(frame(HELLO, hello_body(h.cluster_name, mid_id)))
    got = f.next()
    check(got is not None and got[0] == REFUSE, "own id: expected REFUSE, got %r" % (got,))
    check("self" in reason_of(got[1]), "refuse reason %r does not mention self"
          % reason_of(got[1]))
    f.wait_closed()
    s.close()
    wait_stats(mid, lambda st: st["refused"] >= 2, "own-id refusal")
    still_delivering()

    # (e) connect and say nothing: dropped after the handshake timeout.
    s, f = client()
    took = f.wait_closed()
    s.close()
    check(took >= 0.8 * HANDSHAKE_MS / 1000.0,
          "silent client dropped after %.3f s, before the %d ms handshake timeout"
          % (took, HANDSHAKE_MS))
    expect_rule("handshake_timeout", "silent client")
    wait_stats(mid, lambda st: st["handshake_timeouts"] >= 1, "handshake_timeouts")
    still_delivering()

    # (f) a proper handshake, then a frame of unknown type 99.
    fid = fake_id()
    mark = mid.mark()
    s, f = client()
    s.sendall(frame(HELLO, hello_body(h.cluster_name, fid)))
    got = f.next_of(WELCOME)
    check(got is not None, "right cluster: no WELCOME before close")
    s.sendall(frame(99))
    f.wait_closed()
    s.close()
    expect_rule("unknown_type", "frame type 99")
    up = mid.wait_event("peer_up", after=mark, peer="%016x" % fid)
    down = mid.wait_event("peer_down", after=mark, peer="%016x" % fid)
    check("unknown_type" in down["reason"], "fake peer went down for %r" % down["reason"])
    still_delivering()

    # (g) a truncated frame, then the client closes: the server closes too.
    before = mid.stats()
    s, f = client()
    s.sendall(struct.pack(">IB", 20, BROADCAST) + b"abc")
    s.shutdown(socket.SHUT_WR)
    f.wait_closed()
    s.close()
    wait_stats(mid, lambda st: st["bad_frames"] > before["bad_frames"],
               "stream ending mid-frame counted")
    expect_rule("truncated_body", "stream ending mid-frame")
    still_delivering()

    # (g2) a truncated frame, then silence: the handshake timeout still applies.
    s, f = client()
    s.sendall(struct.pack(">IB", 20, HELLO) + b"abc")
    took = f.wait_closed()
    s.close()
    check(took >= 0.8 * HANDSHAKE_MS / 1000.0, "truncated hello dropped after %.3f s" % took)
    expect_rule("handshake_timeout", "truncated hello left hanging")
    still_delivering()

    # (h) a complete frame whose hello body stops after the magic.
    s, f = client()
    s.sendall(frame(HELLO, struct.pack(">I", MAGIC)))
    f.wait_closed()
    s.close()
    expect_rule("truncated_body", "hello cut after the magic")

    # (i) a zero length, (j) a bad magic, (k) a broadcast before any hello.
    s, f = client()
    s.sendall(struct.pack(">I", 0) + b"\x01")
    f.wait_closed()
    s.close()
    expect_rule("zero_length", "zero-length frame")

    s, f = client()
    s.sendall(frame(HELLO, hello_body(h.cluster_name, fake_id(), magic=0xDEADBEEF)))
    f.wait_closed()
    s.close()
    expect_rule("bad_magic", "bad magic")

    s, f = client()
    s.sendall(frame(BROADCAST, broadcast_body(fake_id(), 1, b"sneaky")))
    f.wait_closed()
    s.close()
    expect_rule("unexpected_frame", "broadcast before hello")
    check(not any(d["payload"] == "sneaky" for n in nodes for d in n.deliveries()),
          "a broadcast sent before the handshake was delivered")
    still_delivering()

    # The middle node's counters match the attacks exactly.
    stats = mid.stats()
    frame_rules = {r: c for r, c in expected.items() if r != "handshake_timeout"}
    for r, c in frame_rules.items():
        check(rule(stats, r) == c, "bad_by_rule[%s] = %d, want %d: %s" % (r, rule(stats, r), c, stats))
    check(stats["bad_frames"] == sum(frame_rules.values()),
          "bad_frames = %d, want %d: %s" % (stats["bad_frames"], sum(frame_rules.values()), stats))
    check(stats["handshake_timeouts"] >= expected["handshake_timeout"], "stats: %s" % stats)
    check(stats["refused"] >= 2, "refused = %d, want >= 2" % stats["refused"])
    check(stats["links_in"] + stats["links_out"] == 2, "middle links: %s" % stats)

    # Finally a broadcast from each end, and everything exactly once.
    for sender in (n0, n2):
        payload = "final from %s" % sender.name
        msg = check_broadcast(sender, nodes.others(sender), payload,
                              hops_for=lambda n: nodes.distance(sender, n))
        sent[msg] = (sender, payload)
    h.wait_quiet(nodes)
    check_exactly_once(nodes, sent)

    # The real links never went down, on either side.
    for n in nodes:
        downs = [e for e in n.events_of("peer_down") if e["peer"] in real_peers | {mid.id}]
        check(not downs, "%s saw a real peer go down: %s" % (n.name, downs))
        check(not n.events_of("error"), "%s printed errors: %s" % (n.name, n.events_of("error")))
    check({p["peer"] for p in mid.peers()} == real_peers, "middle node's peers changed")
    h.stop_all()


def test_oversized_broadcast_from_peer(h):
    """A handshaken client sends a broadcast one byte over max-payload."""
    n0, n1 = h.cluster("line", 2, extra_for=lambda i: ["--node.max-payload=100"])
    s = h.connect(n0.port)
    f = Frames(s)
    s.sendall(frame(HELLO, hello_body(h.cluster_name, fake_id())))
    check(f.next_of(WELCOME) is not None, "no WELCOME")
    origin = fake_id()
    s.sendall(frame(BROADCAST, broadcast_body(origin, 1, b"x" * 100)))  # at the limit: fine
    s.sendall(frame(BROADCAST, broadcast_body(origin, 2, b"y" * 101)))
    f.wait_closed()
    s.close()
    wait_stats(n0, lambda st: rule(st, "length_over_limit") == 1, "oversized broadcast")
    n1.wait_event("deliver", payload="x" * 100)
    check(not any(d["payload"].startswith("y") for n in (n0, n1) for d in n.deliveries()),
          "the oversized broadcast was delivered")
    # The broadcast plane has let go of the closed link (else n1's next
    # message is also written to it, and lost with it, which wait_quiet
    # would count as still in flight).
    wait_stats(n0, lambda st: st["relay_links"] == 1, "the closed link gone from the plane")
    msg = check_broadcast(n1, [n0], "still fine", hops_for=lambda n: 1)
    h.wait_quiet([n0, n1], injected=1)
    check_exactly_once([n0, n1], {msg: (n1, "still fine")})
    check(not n0.events_of("peer_down", peer=n1.id) and not n1.events_of("peer_down"),
          "the real link went down")
    h.stop_all()


def test_small_max_payload_still_links(h):
    """node.max-payload bounds broadcasts; hello and goodbye frames must still fit."""
    extra = ["--node.max-payload=16"]
    n0 = h.node(extra=extra)
    n1 = h.node(peers=[n0], extra=extra)
    # Either the link comes up, or n0 rejects n1's hello as a bad frame.
    deadline = time.monotonic() + DEFAULT_TIMEOUT
    while True:
        if n0.events_of("peer_up", peer=n1.id) and n1.events_of("peer_up", peer=n0.id):
            break
        s = n0.stats()
        check(not rule(s, "length_over_limit"),
              "with node.max-payload=16 the hello was over the frame limit: %s" % s["bad_by_rule"])
        check(time.monotonic() < deadline, "neither linked nor refused within %.1f s"
              % DEFAULT_TIMEOUT)
        time.sleep(0.05)
    msg = check_broadcast(n0, [n1], "x" * 16, hops_for=lambda n: 1)
    h.wait_quiet([n0, n1])
    check_exactly_once([n0, n1], {msg: (n0, "x" * 16)})
    h.stop_all()


if __name__ == "__main__":
    sys.exit(run_tests(__file__, [test_bad_clients, test_oversized_broadcast_from_peer,
                                  test_small_max_payload_still_links], PORTS))
