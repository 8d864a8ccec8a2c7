#!/usr/bin/env python3
"""The self-healing overlay with real processes on 127.0.0.1 (discovery on its
own multicast port): after convergence every node keeps the rules (a fallback
link, inbound >= outbound - 1, at least one inbound link, max degree, one link
per pair); the survivors of SIGKILL, SIGSTOP and /quit form one overlay again
and deliver exactly once; churn loses no broadcast among the stable nodes."""

import signal
import sys
import time

from harness import DEFAULT_TIMEOUT, check, check_broadcast, check_exactly_once, poll, run_tests

PORTS = (61900, 61999)
MAX_DEGREE = 8


def args(mport):
    return ["--discovery.enabled=true", "--overlay.manage=true",
            "--discovery.port=%d" % mport, "--overlay.max-degree=%d" % MAX_DEGREE]


def start(h, count, mport):
    nodes = [h.node(extra=args(mport), wait_ready=False) for _ in range(count)]
    for n in nodes:
        n.wait_ready()
    return nodes


def rule_violations(nodes):
    """Reads /peers of every node; returns (violations, views)."""
    ids = {n.id for n in nodes}
    views = {n.id: n.peers() for n in nodes}
    bad = []
    for n in nodes:
        peers = views[n.id]
        names = [p["peer"] for p in peers]
        inn = sum(1 for p in peers if p["dir"] == "in")
        out = len(peers) - inn
        tag = "%s(in %d, out %d)" % (n.name, inn, out)
        if len(set(names)) != len(names):
            bad.append(tag + " two links to one peer")
        if len(nodes) >= 3 and len(peers) < 2:
            bad.append(tag + " no fallback link")
        if len(peers) >= 2 and inn == 0:
            bad.append(tag + " no inbound link")
        if out > inn + 1:
            bad.append(tag + " out > in + 1")
        if len(peers) > MAX_DEGREE:
            bad.append(tag + " over max degree")
        for p in peers:
            if p["peer"] not in ids:
                bad.append(tag + " linked to a node not in the cluster: " + p["peer"])
                continue
            back = [q for q in views[p["peer"]] if q["peer"] == n.id]
            want = "out" if p["dir"] == "in" else "in"
            if not back or back[0]["dir"] != want:
                bad.append(tag + " link to %s not mirrored" % p["peer"][:6])
    # One connected piece.
    seen, todo = set(), [nodes[0].id]
    while todo:
        x = todo.pop()
        if x not in seen:
            seen.add(x)
            todo += [p["peer"] for p in views[x] if p["peer"] in ids]
    if seen != ids:
        bad.append("not connected: %d of %d reachable" % (len(seen), len(ids)))
    return bad, views


def wait_rules(nodes, what, timeout=15.0):
    return poll(lambda: (lambda r: (not r[0], r[0] or r[1]))(rule_violations(nodes)),
                what, timeout)


def settle(nodes):
    """Waits until the broadcast counters of `nodes` stop moving. (wait_quiet's
    exact accounting needs every node alive: frames forwarded to a killed node
    are never counted.)"""
    def counters():
        return [(s["delivered"], s["duplicates"]) for s in (n.stats() for n in nodes)]
    last = [counters()]

    def still():
        now = counters()
        same = now == last[0]
        last[0] = now
        return same, now
    poll(still, "broadcast counters to settle", interval=0.3)


def broadcast_from_all(nodes, tag):
    sent = {}
    for n in nodes:
        payload = "%s from %s" % (tag, n.name)
        sent[check_broadcast(n, [m for m in nodes if m is not n], payload)] = (n, payload)
    return sent


def test_ten_nodes_keep_the_rules(h):
    nodes = start(h, 10, 47211)
    views = wait_rules(nodes, "overlay rules on 10 nodes")
    # /peers shows direction, age and the last heartbeat round trip per link;
    # a link has an RTT once its first heartbeat came back.
    def all_have_rtt():
        peers = [(n.name, p) for n in nodes for p in n.peers()]
        for name, p in peers:
            check(p["dir"] in ("in", "out") and p["age_ms"] >= 0, "%s: %s" % (name, p))
        missing = [(name, p) for name, p in peers if p["rtt_ms"] is None]
        return not missing, missing
    poll(all_have_rtt, "heartbeat round trip on every link")
    for n in nodes:
        for p in n.peers():
            check(p["rtt_ms"] >= 0 and p["heartbeat_ms"] >= 0, "%s: %s" % (n.name, p))
    h.wait_quiet(nodes)
    check_exactly_once(nodes, broadcast_from_all(nodes, "ten"))
    h.stop_all()


def test_sigkill_one_then_three(h):
    nodes = start(h, 10, 47212)
    wait_rules(nodes, "rules before the kills")
    victim = nodes[3]
    neighbours = [n for n in nodes if victim.id in {p["peer"] for p in n.peers()}]
    victim.kill()
    survivors = [n for n in nodes if n is not victim]
    for n in neighbours:
        ev = n.wait_event("peer_down", peer=victim.id)
        check(ev["reason"] in ("reset", "timeout"), "%s: reason %s" % (n.name, ev["reason"]))
    wait_rules(survivors, "rules after one kill")
    sent = broadcast_from_all(survivors, "after one")
    for v in (survivors[1], survivors[4], survivors[7]):
        v.kill()
    survivors = [n for n in survivors if n.alive()]
    check(len(survivors) == 6, "six survivors")
    wait_rules(survivors, "rules after three kills")
    sent.update(broadcast_from_all(survivors, "after three"))
    settle(survivors)
    check_exactly_once(survivors, {m: v for m, v in sent.items() if v[0] in survivors})
    h.stop_all()


def test_sigstop_then_sigcont(h):
    nodes = start(h, 6, 47213)
    wait_rules(nodes, "rules before SIGSTOP")
    frozen = nodes[2]
    neighbours = [n for n in nodes if frozen.id in {p["peer"] for p in n.peers()}]
    frozen.send_signal(signal.SIGSTOP)
    try:
        for n in neighbours:
            ev = n.wait_event("peer_down", peer=frozen.id)
            check(ev["reason"] == "timeout", "%s dropped the stopped node: %s" % (n.name, ev))
        others = [n for n in nodes if n is not frozen]
        wait_rules(others, "rules without the stopped node")
        sent = broadcast_from_all(others[:2], "while stopped")
    finally:
        frozen.send_signal(signal.SIGCONT)
    # It finds its links gone, re-links from what it knows, and delivers again.
    mark = frozen.mark()
    frozen.wait_event("peer_up", after=mark)
    wait_rules(nodes, "rules after SIGCONT")
    msg = check_broadcast(nodes[0], nodes[1:], "after SIGCONT")
    sent[msg] = (nodes[0], "after SIGCONT")
    # Not wait_quiet: the stopped node's links died with frames on them
    # (sent to it, or by it on waking before it saw them closed), which no
    # one processes, so its exact accounting never closes (seen once in CI:
    # 40 forwarded, 38 processed).
    settle(nodes)
    for m, (snd, payload) in sent.items():
        for n in nodes:
            if n is frozen or n is snd:
                continue
            check(len([d for d in n.deliveries() if d["msg"] == m]) == 1,
                  "%s: %s not delivered once" % (n.name, payload))
    check(len([d for d in frozen.deliveries() if d["msg"] == msg]) == 1,
          "the resumed node did not deliver the new broadcast once")
    h.stop_all()


def test_quit_says_goodbye_and_neighbours_relink(h):
    nodes = start(h, 6, 47214)
    wait_rules(nodes, "rules before /quit")
    leaver = nodes[1]
    neighbours = [n for n in nodes if leaver.id in {p["peer"] for p in n.peers()}]
    leaver.send("/quit")
    check(leaver.wait_exit(2.0) == 0, "/quit did not exit 0 in time")
    for n in neighbours:
        ev = n.wait_event("peer_down", peer=leaver.id)
        check(ev["reason"] == "goodbye", "%s: reason %s" % (n.name, ev["reason"]))
    rest = [n for n in nodes if n is not leaver]
    wait_rules(rest, "rules after /quit")
    h.wait_quiet(rest)
    check_exactly_once(rest, broadcast_from_all(rest, "after quit"))
    h.stop_all()


def test_churn_loses_nothing_among_stable_nodes(h):
    mport = 47215
    stable = start(h, 4, mport)
    churners = start(h, 4, mport)
    wait_rules(stable + churners, "rules before churn")
    sent = {}
    for rnd in range(3):
        # Broadcasts while all are linked: the stable nodes must get them all.
        for n in stable:
            payload = "round %d from %s" % (rnd, n.name)
            msg = n.broadcast(payload)
            sent[msg] = (n, payload)
        victim = churners.pop(0)
        victim.kill()
        churners.append(start(h, 1, mport)[0])
        wait_rules(stable + churners, "rules after churn round %d" % rnd)
    for msg, (snd, payload) in sent.items():
        for n in stable:
            if n is not snd:
                n.wait_event("deliver", msg=msg)
    settle(stable + churners)
    check_exactly_once(stable, sent)
    h.stop_all()


if __name__ == "__main__":
    sys.exit(run_tests(__file__, [test_ten_nodes_keep_the_rules, test_sigkill_one_then_three,
                                  test_sigstop_then_sigcont,
                                  test_quit_says_goodbye_and_neighbours_relink,
                                  test_churn_loses_nothing_among_stable_nodes], PORTS))
