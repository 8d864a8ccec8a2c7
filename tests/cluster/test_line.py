#!/usr/bin/env python3
"""A line of real lanmesh processes linked through node.peers: broadcasts from
both ends and from the middle reach every other node exactly once, with hops
equal to the distance along the line."""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

from harness import poll, check, check_broadcast, check_exactly_once, run_tests

PORTS = (61000, 61099)


def broadcasts_along_line(h, count):
    c = h.cluster("line", count)  # waits for every peer_up, checks /peers
    sent = {}
    for i in sorted({0, count // 2, count - 1}):
        sender = c[i]
        payload = "line%d from n%d" % (count, i)
        msg = check_broadcast(sender, c.others(sender), payload,
                              hops_for=lambda n, i=i: c.distance(i, n))
        sent[msg] = (sender, payload)
    h.wait_quiet(c)
    check_exactly_once(c, sent)
    # A line has no cycle: nothing ever arrives twice. The counters are
    # mirrored from the I/O thread one by one, so a read may come between
    # two of them: ask until `delivered` shows every delivery seen above.
    stats = []
    for n in c:
        want = len([m for m, (snd, _) in sent.items() if snd is not n])
        stats.append(poll(lambda n=n, want=want: (lambda st: (st["delivered"] >= want, st))(
            n.stats()), "%s counting its deliveries" % n.name, interval=0.05))
    for n, s in zip(c, stats):
        check(s["duplicates"] == 0, "%s counted %d duplicates on a line" % (n.name, s["duplicates"]))
        check(s["sent"] == sum(1 for snd, _ in sent.values() if snd is n),
              "%s: sent=%d" % (n.name, s["sent"]))
        check(s["delivered"] == len([m for m, (snd, _) in sent.items() if snd is not n]),
              "%s: delivered=%d" % (n.name, s["delivered"]))
    for n in c:
        check(not n.events_of("peer_down"), "%s saw peer_down: %s" % (n.name, n.events_of("peer_down")))
    h.stop_all()


def test_line_of_4(h):
    broadcasts_along_line(h, 4)


def test_line_of_6(h):
    broadcasts_along_line(h, 6)


def test_payload_with_slash_and_unicode(h):
    """`//text` broadcasts "/text"; non-ASCII text arrives unchanged."""
    c = h.cluster("line", 4)
    sent = {}
    msg = c[0].broadcast("//slash")
    sent[msg] = (c[0], "/slash")
    for n in c.others(c[0]):
        ev = n.wait_event("deliver", msg=msg)
        check(ev["payload"] == "/slash", "%s got %r" % (n.name, ev["payload"]))
    text = "grüße ✓ \"quoted\" \\ tab\t"
    msg = check_broadcast(c[3], c.others(c[3]), text)
    sent[msg] = (c[3], text)
    h.wait_quiet(c)
    check_exactly_once(c, sent)
    h.stop_all()


def test_binary_payload(h):
    """Bytes that are not text arrive intact, and stdout stays valid UTF-8 JSON."""
    c = h.cluster("line", 4)
    sent = {}
    # Control characters and bytes that are not UTF-8 come out as \u00XX.
    raw = b"bin \x01\x1f \x7f \xff\xfe \xe2\x9c\x93 end"
    want = "bin \x01\x1f \x7f \xff\xfe \u2713 end"
    msg = c[0].broadcast(raw)
    for n in c.others(c[0]):
        ev = n.wait_event("deliver", msg=msg)
        check(ev["payload"] == want, "%s got %r, want %r" % (n.name, ev["payload"], want))
    sent[msg] = (c[0], want)
    # Overlong and surrogate sequences are not UTF-8 either.
    raw = b"overlong \xc0\xaf surrogate \xed\xa0\x80 end"
    msg = c[3].broadcast(raw)
    for n in c.others(c[3]):
        got = n.wait_event("deliver", msg=msg)["payload"]
    sent[msg] = (c[3], got)
    h.wait_quiet(c)
    check_exactly_once(c, sent)
    bad = [(n.name, n.bad_utf8) for n in c if n.bad_utf8]
    check(not bad, "deliver events that are not valid UTF-8 (hence not JSON): %s" % bad[:1])
    h.stop_all()


if __name__ == "__main__":
    sys.exit(run_tests(__file__, [test_line_of_4, test_line_of_6,
                                  test_payload_with_slash_and_unicode, test_binary_payload],
                       PORTS))
