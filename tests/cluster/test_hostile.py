#!/usr/bin/env python3
"""Hostile membership input (issue 12), from raw TCP clients that speak the
wire format (tests/cluster/lmwire.py) against real nodes on 127.0.0.1:

- a membership frame before the handshake closes the link and is counted;
- records naming an impossible address are dropped and counted, and never
  reach the member table;
- a record about node X from anyone but X cannot move X's address;
- a flood of fake records into a small table never pushes the node's live
  neighbours out of it, nor its links down;
- a REDIRECT is taken only on a link the node dialed, before its REFUSE:
  on an inbound link it closes the link and is counted, after the REFUSE it
  is ignored, and its entries are never dialed; before the REFUSE they are;
- a HELLO with the reverse flag that the node did not ask for does not
  replace the real link to that node."""

import socket
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

from harness import check, check_broadcast, poll, run_tests  # noqa: E402
from lmwire import (ALIVE, HELLO, HELLO_REVERSE, HELLO_TREE, MEMBERS, REDIRECT, REFUSE, WELCOME,  # noqa: E402
                    Frames, fake_id, frame, hello_body, members_body, reason_body, record,
                    redirect_body)

PORTS = (62100, 62199)


def members_of(node):
    """The node's member table (/members lists the node itself first: left out)."""
    return {m["node"]: m for m in node.members() if m.get("status") != "self"}


def wait_stat(node, pred, what):
    return poll(lambda: (lambda s: (pred(s), s))(node.stats()), what)


def handshake(h, node, cluster=None, node_id=None, flags=HELLO_TREE, port=1):
    """A raw peer that completes the handshake with `node`; returns (sock, frames, id)."""
    s = h.connect(node.port)
    f = Frames(s)
    nid = node_id or fake_id()
    s.sendall(frame(HELLO, hello_body(cluster or h.cluster_name, nid, port=port, flags=flags)))
    got = f.next_of({WELCOME, REFUSE})
    check(got is not None and got[0] == WELCOME, "no WELCOME for the raw peer: %r" % (got,))
    return s, f, nid


def trio(h, ids=None):
    """Three nodes linked in a line, b dialing a and c dialing b: a - b - c."""
    extra = ["--overlay.max-members=16"]
    idx = lambda i: ["--node.id=" + ids[i]] if ids else []
    a = h.node(extra=extra + idx(0))
    b = h.node(peers=[a], extra=extra + idx(1))
    c = h.node(peers=[b], extra=extra + idx(2))
    for n, want in ((a, 1), (b, 2), (c, 1)):
        poll(lambda n=n, want=want: (len(n.peers()) >= want, n.peers()), "%s linked" % n.name)
    return a, b, c


def test_membership_before_the_handshake_is_a_bad_frame(h):
    a, b, c = trio(h)
    before = b.stats()["bad_by_rule"].get("unexpected_frame", 0)
    s = h.connect(b.port)
    s.sendall(frame(MEMBERS, members_body([record(fake_id())])))
    Frames(s).wait_closed()
    s.close()
    wait_stat(b, lambda st: st["bad_by_rule"].get("unexpected_frame", 0) == before + 1,
              "the early MEMBERS counted as unexpected_frame")
    check(len(members_of(b)) == 2, "the member table changed: %s" % members_of(b))
    h.stop_all()


def test_impossible_addresses_are_dropped_and_counted(h):
    a, b, c = trio(h)
    s, f, raw = handshake(h, b)
    bad = [fake_id() for _ in range(3)]
    good = fake_id()
    s.sendall(frame(MEMBERS, members_body([
        record(bad[0], ip="0.0.0.0", port=4000),
        record(bad[1], ip="239.255.77.77", port=4000),
        record(bad[2], ip="255.255.255.255", port=4000),
        record(good, ip="127.0.0.9", port=4000)])))
    st = wait_stat(b, lambda st: st["members_rejected"]["address"] >= 3,
                   "three impossible addresses counted")
    check(st["members_rejected"]["address"] == 3, "rejected: %s" % st["members_rejected"])
    table = members_of(b)
    check(not any("%016x" % x in table for x in bad), "an impossible address got in: %s"
          % sorted(table))
    check("%016x" % good in table, "the good record is missing: %s" % sorted(table))
    s.close()
    h.stop_all()


def test_only_a_member_itself_moves_its_address(h):
    a, b, c = trio(h)
    s, f, raw = handshake(h, b)
    target = c.id
    table = members_of(b)
    check(table[target]["addr"] == c.addr, "b does not know c at %s: %s" % (c.addr, table[target]))
    inc = table[target]["incarnation"]
    before = b.stats()["members_rejected"]["record"]
    # The same incarnation, a newer version, another address.
    s.sendall(frame(MEMBERS, members_body([
        record(int(target, 16), ip="127.0.0.77", port=4242, incarnation=inc, version=99)])))
    wait_stat(b, lambda st: st["members_rejected"]["record"] > before,
              "the address change counted as rejected")
    check(members_of(b)[target]["addr"] == c.addr, "c's address moved: %s"
          % members_of(b)[target])
    # And c is still reachable through b: a broadcast from a reaches c.
    check_broadcast(a, [b, c], "still there")
    s.close()
    h.stop_all()


def test_fake_records_never_push_neighbours_out(h):
    a, b, c = trio(h)
    s, f, raw = handshake(h, b)
    fakes = [record(fake_id(), ip="127.0.0.%d" % (1 + i % 200), port=5000 + i)
             for i in range(2000)]
    for i in range(0, len(fakes), 64):
        s.sendall(frame(MEMBERS, members_body(fakes[i:i + 64])))
    wait_stat(b, lambda st: st["members_evicted"] >= 1900, "fake members evicted")
    table = members_of(b)
    check(len(table) <= 16, "the table grew past its bound: %d" % len(table))
    for n in (a, c):
        check(n.id in table and table[n.id]["linked"] and table[n.id]["state"] == "alive",
              "neighbour %s pushed out: %s" % (n.name, table.get(n.id)))
    check({p["peer"] for p in b.peers()} >= {a.id, c.id}, "b lost a link: %s" % b.peers())
    check_broadcast(a, [b, c], "after the flood")
    s.close()
    h.stop_all()


def listener():
    """A listening socket on 127.0.0.1 (a raw "node" others might dial)."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    return ls


def accepts_within(ls, timeout):
    ls.settimeout(timeout)
    try:
        conn, _ = ls.accept()
        conn.close()
        return True
    except socket.timeout:
        return False


def test_redirect_only_on_a_dialed_link_before_its_refuse(h):
    # The bait: a port that must never be dialed (on bad REDIRECTs) and one
    # that must (on the good one).
    bait, good = listener(), listener()
    bait_port, good_port = bait.getsockname()[1], good.getsockname()[1]
    a = h.node(extra=["--overlay.manage=true"])
    # (1) A REDIRECT on an inbound link: closed, counted, not taken.
    s, f, raw = handshake(h, a)
    s.sendall(frame(REDIRECT, redirect_body([(fake_id(), "127.0.0.1", bait_port)])))
    f.wait_closed()
    s.close()
    wait_stat(a, lambda st: st["redirects_rejected"] >= 1, "redirect on an inbound link")
    wait_stat(a, lambda st: st["bad_by_rule"].get("unexpected_frame", 0) >= 1,
              "counted as a bad frame")
    # (2) A node dials a raw "full" peer: REFUSE first, then a REDIRECT:
    # ignored. (3) Another raw full peer: REDIRECT, then REFUSE: taken.
    for order in ("refuse-first", "redirect-first"):
        srv = listener()
        b = h.node(peers=["127.0.0.1:%d" % srv.getsockname()[1]],
                   extra=["--overlay.manage=true"], name="dialer-" + order)
        srv.settimeout(10.0)
        conn, _ = srv.accept()
        fr = Frames(conn)
        got = fr.next_of({HELLO})
        check(got is not None, "%s: no HELLO from the dialer" % order)
        target = bait_port if order == "refuse-first" else good_port
        entries = redirect_body([(fake_id(), "127.0.0.1", target)])
        if order == "refuse-first":
            conn.sendall(frame(REFUSE, reason_body("full")) + frame(REDIRECT, entries))
        else:
            conn.sendall(frame(REDIRECT, entries) + frame(REFUSE, reason_body("full")))
        fr.wait_closed()
        conn.close()
        srv.close()
        if order == "redirect-first":
            check(accepts_within(good, 10.0), "the redirect before the REFUSE was not taken")
        else:
            wait_stat(b, lambda st: st["redirects_rejected"] >= 1,
                      "the redirect after the REFUSE counted")
    check(not accepts_within(bait, 0.5), "a rejected REDIRECT's entry was dialed")
    bait.close()
    good.close()
    h.stop_all()


def test_unasked_reverse_flag_does_not_replace_a_real_link(h):
    # b dialed a, and b's id is the smaller: of two links between them, b's
    # wins the tie-break. A raw client claims to be a, with the reverse flag
    # (as if b had asked a to turn the link around): b never asked, so this
    # is only a second link to a, which loses, and b's real link stays.
    # (That a raw client can claim a's id at all is what the cluster key is
    # for.)
    a, b, c = trio(h, ids=["f000000000000001", "1000000000000002", "2000000000000003"])
    real = [p for p in b.peers() if p["peer"] == a.id]
    check(real and real[0]["dir"] == "out", "b did not dial a: %s" % b.peers())
    s = h.connect(b.port)
    fr = Frames(s)
    s.sendall(frame(HELLO, hello_body(h.cluster_name, int(a.id, 16), port=1,
                                      flags=HELLO_REVERSE | HELLO_TREE)))
    fr.wait_closed(10.0)
    s.close()
    now = [p for p in b.peers() if p["peer"] == a.id]
    check(now and now[0]["dir"] == "out" and now[0]["age_ms"] >= real[0]["age_ms"],
          "b's link to a was replaced: %s" % now)
    check(b.events_of("peer_down", peer=a.id) == [], "b's link to a went down")
    check_broadcast(c, [a, b], "a still reached")
    h.stop_all()


if __name__ == "__main__":
    sys.exit(run_tests(__file__, [test_membership_before_the_handshake_is_a_bad_frame,
                                  test_impossible_addresses_are_dropped_and_counted,
                                  test_only_a_member_itself_moves_its_address,
                                  test_fake_records_never_push_neighbours_out,
                                  test_redirect_only_on_a_dialed_link_before_its_refuse,
                                  test_unasked_reverse_flag_does_not_replace_a_real_link],
                       PORTS))
