#!/usr/bin/env python3
"""Hardening that holds with or without a cluster key (issue 14), each rule
driven by a raw client that speaks the wire format:

- at most node.max-pending inbound links without a finished handshake;
  beyond that a connection is accepted and closed at once, and counted;
- when file descriptors run out, the accept loop backs off (counted) and
  accepts again once they are back, instead of spinning;
- discovery answers are rate-limited: a flood of queries gets a bounded
  number of answers, the rest counted;
- text output escapes control characters, so a payload cannot forge a line
  or drive the terminal, while jsonl output stays exact."""

import os
import resource
import select
import sys
import time

from harness import DEFAULT_TIMEOUT, check, check_broadcast, poll, run_tests
from lmwire import (BROADCAST, GROUP, HELLO, QUERY, WELCOME, Frames, announcement, broadcast_body,
                    fake_id, frame, hello_body, multicast_socket)

PORTS = (63600, 63699)


def wait_stat(node, key, at_least, timeout=DEFAULT_TIMEOUT):
    return poll(lambda: (lambda s: (s[key] >= at_least, s))(node.stats()),
                "%s: %s >= %d" % (node.name, key, at_least), timeout, interval=0.1)


def closed_within(sock, timeout):
    """True if the peer closes `sock` (EOF or reset) within `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            return False
        try:
            if not sock.recv(4096):
                return True
        except ConnectionResetError:
            return True


def test_pending_handshakes_are_bounded(h):
    n = h.node(extra=["--node.max-pending=4", "--node.handshake-timeout=5000"])
    base = n.stats()["pending_refused"]
    silent = [h.connect(n.port) for _ in range(10)]  # never send a byte
    # Six of them are over the bound: accepted and closed at once.
    wait_stat(n, "pending_refused", base + 6)
    closed = [s for s in silent if closed_within(s, 0.5)]
    check(len(closed) == 6, "%d of 10 silent connections were closed at once, want 6"
          % len(closed))
    # The four pending ones hold their places; once they go, a real peer links.
    for s in silent:
        s.close()
    m = h.node(peers=[n])
    m.wait_event("peer_up")
    check_broadcast(m, [n], "after the silent ones")
    h.stop_all()


def test_accept_backs_off_when_descriptors_run_out(h):
    n = h.node()
    fds = len(os.listdir("/proc/%d/fd" % n.pid))
    # Room for two more descriptors only: the third connection finds none.
    soft, hard = resource.prlimit(n.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(n.pid, resource.RLIMIT_NOFILE, (fds + 2, hard))
    clients = [h.connect(n.port) for _ in range(8)]
    first = wait_stat(n, "accept_backoffs", 1)["accept_backoffs"]
    # Not a spin: while out of descriptors the listener retries every 100 ms
    # (net/tcp_listener.hpp); a spinning one counts thousands a second.
    t0 = time.monotonic()
    later = wait_stat(n, "accept_backoffs", first + 3)["accept_backoffs"]
    took = time.monotonic() - t0
    check(later - first <= took / 0.1 + 3, "%d back-offs in %.2f s: the accept loop spins"
          % (later - first, took))
    for s in clients:
        s.close()
    # Descriptors are back once the silent clients are gone: the node
    # accepts again and a real peer links.
    resource.prlimit(n.pid, resource.RLIMIT_NOFILE, (soft, hard))
    m = h.node(peers=[n])
    m.wait_event("peer_up")
    check_broadcast(m, [n], "accepted again")
    h.stop_all()


def test_a_query_flood_gets_bounded_answers(h):
    mport = 47511
    n = h.node(extra=["--discovery.enabled=true", "--overlay.manage=true",
                      "--discovery.port=%d" % mport, "--discovery.interface=127.0.0.1"])
    c = h.cluster_name.encode()
    socks = []
    try:
        # 200 queriers, each on its own port (one waiting answer per querier
        # address is the other bound).
        for i in range(200):
            s = multicast_socket()
            socks.append(s)
            s.bind(("127.0.0.1", 0))
        base = n.stats()
        start = time.monotonic()
        for s in socks:
            q = announcement(c, fake_id(), PORTS[1], kind=QUERY)
            s.sendto(q, (GROUP, mport))
        st = wait_stat(n, "discovery_answers_limited", base["discovery_answers_limited"] + 1)
        # Collect the answers for a bounded while; they come within a second.
        answers = 0
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            r, _, _ = select.select(socks, [], [], max(0.0, deadline - time.monotonic()))
            for s in r:
                s.recv(2048)
                answers += 1
        took = time.monotonic() - start
        limited = n.stats()["discovery_answers_limited"] - base["discovery_answers_limited"]
        check(answers > 0, "the node answered no query at all")
        # At most 50 answers a second, and never more than 32 waiting.
        check(answers <= 50 * (took + 1), "%d answers in %.1f s: not rate-limited"
              % (answers, took))
        check(answers + limited >= 150, "answered %d and limited %d of 200 queries"
              % (answers, limited))
        check(st["discovery_bad"] == base["discovery_bad"], "queries counted as bad")
    finally:
        for s in socks:
            s.close()
    check(n.alive(), "the node died of the flood")
    h.stop_all()


def test_text_output_escapes_controls(h):
    """A raw peer (no key) floods a payload with a newline, a terminal
    escape, a bell and DEL; the text-mode node prints one escaped line, the
    jsonl node delivers the exact payload."""
    port = PORTS[1] - 1
    text = h.node(port=port, extra=["--console.output=text"], wait_ready=False, name="text")
    text.wait_for(lambda _: [l for l in text.raw_lines if " ready on port %d" % port in l] or None,
                  what="the text node's ready line")
    js = h.node(peers=["127.0.0.1:%d" % port])
    js.wait_event("peer_up")
    s = h.connect(port)
    f = Frames(s)
    me = fake_id()
    s.sendall(frame(HELLO, hello_body(h.cluster_name, me)))
    got = f.next_of(WELCOME)
    check(got is not None, "no WELCOME for the raw peer")
    evil = b"hi\n[0000000000000001] forged line\x1b[2J\x07\x7f\r end"
    s.sendall(frame(BROADCAST, broadcast_body(me, 1, evil)))
    ev = js.wait_event("deliver", origin="%016x" % me)
    check(ev["payload"] == evil.decode(), "jsonl payload not exact: %r" % ev["payload"])
    # The text node printed it: one line, escaped.
    lines = text.wait_for(lambda _: [l for l in text.raw_lines if "forged line" in l] or None,
                          what="the text line")
    check(len(lines) == 1, "the payload became %d lines: %r" % (len(lines), lines))
    line = lines[0]
    for bad in ("\x1b", "\x07", "\x7f", "\r", "\n"):
        check(bad not in line, "the text line holds %r: %r" % (bad, line))
    check("\\n[0000000000000001] forged line\\x1b[2J\\x07\\x7f\\r end" in line,
          "not escaped as documented: %r" % line)
    check(not [l for l in text.raw_lines if l.startswith("[0000000000000001]")],
          "a forged line was printed")
    s.close()
    h.stop_all()


if __name__ == "__main__":
    sys.exit(run_tests(__file__, [test_pending_handshakes_are_bounded,
                                  test_accept_backs_off_when_descriptors_run_out,
                                  test_a_query_flood_gets_bounded_answers,
                                  test_text_output_escapes_controls], PORTS))
