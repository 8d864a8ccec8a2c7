#!/usr/bin/env python3
"""The cluster key (issue 14), with real processes on 127.0.0.1.

A node with another key, a node without a key and a keyless raw client are
never linked to a keyed cluster, and each attempt is counted; a TCP proxy
between two keyed nodes sees no payload in clear, and when it flips a byte
the link closes, is counted and is made again, and nothing is lost; a
recorded handshake replayed is refused; forged, tampered, stale and replayed
announcements are dropped and counted while a good one is taken; a cluster
rotates its key by rolling restarts and at run time without losing a message.

The test computes seals itself (Python's hashlib and hmac), so it checks the
README's description of the primitives, not only lanmesh against itself:
key id = BLAKE2b-128 keyed by the key over "lanmesh key id v1", first 8
bytes; datagram trailer = u64 time (us) | key id | HMAC-SHA-512-256."""

import base64
import hashlib
import hmac
import json
import os
import select
import socket
import struct
import sys
import threading
import time

from harness import (DEFAULT_TIMEOUT, check, check_broadcast, check_exactly_once,
                     check_in_order, poll, run_tests)
from lmwire import HELLO, Frames, announcement, fake_id, frame, hello_body, multicast

PORTS = (63500, 63599)
AUTH1_PREFIX = b"\x00\x00\x00\x35LMSA"  # length 53, magic "LMSA"


# -- keys and seals, computed here ------------------------------------------

def new_key():
    return base64.b64encode(os.urandom(32)).decode()


def key_id(key):
    return hashlib.blake2b(b"lanmesh key id v1", key=base64.b64decode(key),
                           digest_size=16).digest()[:8]


def keys_arg(*keys):
    return "--security.keys=[%s]" % ",".join('"%s"' % k for k in keys)


def seal(datagram, key, time_us=None):
    """The datagram with its cluster-key trailer."""
    t = int(time.time() * 1e6) if time_us is None else time_us
    signed = datagram + struct.pack(">Q", t) + key_id(key)
    mac = hmac.new(base64.b64decode(key), signed, hashlib.sha512).digest()[:32]
    return signed + mac




# -- helpers over nodes -----------------------------------------------------

def peer_ids(node):
    return {p["peer"] for p in node.peers()}


def wait_peers(node, ids, what=None, timeout=DEFAULT_TIMEOUT):
    ids = set(ids)
    poll(lambda: (lambda got: (got == ids, got))(peer_ids(node)),
         what or "%s linked to exactly %s" % (node.name, sorted(ids)), timeout, interval=0.1)


def wait_stat(node, key, at_least, timeout=DEFAULT_TIMEOUT):
    return poll(lambda: (lambda s: (s[key] >= at_least, s))(node.stats()),
                "%s: %s >= %d" % (node.name, key, at_least), timeout, interval=0.1)


def read_file(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def client_json(h, node, *args):
    code, out, err = h.spawn_raw(list(args) + ["--json", "--control=" + node.ready["control"]],
                                 timeout=20.0)
    return code, out.decode(), err.decode()


class Proxy:
    """A TCP proxy on 127.0.0.1 that records both directions of each
    connection and can flip one byte of the next chunk going to the target.
    Threads only; every socket is closed by `close()`."""

    def __init__(self, port, target_port):
        self.target_port = target_port
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(8)
        self.port = port
        self.lock = threading.Lock()
        self.conns = []  # dicts: up (to target) and down (to dialer) bytes
        self.flip = False
        self.flipped = 0
        self.socks = []
        self.closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closing:
            try:
                c, _ = self.listener.accept()
            except OSError:
                return
            try:
                t = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                c.close()
                continue
            rec = {"up": bytearray(), "down": bytearray()}
            with self.lock:
                self.conns.append(rec)
                self.socks += [c, t]
            threading.Thread(target=self._pump, args=(c, t, rec["up"], True), daemon=True).start()
            threading.Thread(target=self._pump, args=(t, c, rec["down"], False),
                             daemon=True).start()

    def _pump(self, src, dst, record, upstream):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            data = bytearray(data)
            with self.lock:
                record += data
                if upstream and self.flip:
                    # The last byte: inside a record's tag (or its
                    # ciphertext, if the chunk ends mid-record).
                    data[-1] ^= 0x01
                    self.flip = False
                    self.flipped += 1
            try:
                dst.sendall(bytes(data))
            except OSError:
                break
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.closing = True
        self.listener.close()
        with self.lock:
            for s in self.socks:
                try:
                    s.close()
                except OSError:
                    pass


# -- tests ------------------------------------------------------------------

def test_outsiders_are_never_linked(h):
    k, other = new_key(), new_key()
    a = h.node(extra=[keys_arg(k)])
    b = h.node(peers=[a], extra=[keys_arg(k)])
    wait_peers(a, {b.id})
    wait_peers(b, {a.id})
    check(a.stats()["keyed"] is True, "a keyed node says keyed=false")
    base = a.stats()["auth_failures"]

    wrong = h.node(peers=[a], extra=[keys_arg(other)], name="wrong_key")
    keyless = h.node(peers=[a], name="keyless")
    # A raw client that speaks the plain wire format: HELLO first.
    s = h.connect(a.port)
    f = Frames(s)
    s.sendall(frame(HELLO, hello_body(h.cluster_name, fake_id())))
    f.wait_closed()
    s.close()
    wait_stat(a, "auth_failures", base + 3)

    check(peer_ids(a) == {b.id}, "the keyed node linked an outsider: %s" % a.peers())
    check(peer_ids(b) == {a.id}, "b linked an outsider: %s" % b.peers())
    check(not wrong.peers() and not keyless.peers(), "an outsider has links: %s %s"
          % (wrong.peers(), keyless.peers()))
    # Nothing crosses: a keyed broadcast reaches b and no outsider.
    msg = check_broadcast(a, [b], "keyed only")
    keyless.send("from the outside")
    wrong.send("from the other cluster")
    msg2 = check_broadcast(b, [a], "keyed again")
    for n in (wrong, keyless):
        check(not n.deliveries(), "%s delivered %s" % (n.name, n.deliveries()))
    for n in (a, b):
        check(all(d["payload"] in ("keyed only", "keyed again") for d in n.deliveries()),
              "%s delivered an outsider's line: %s" % (n.name, n.deliveries()))
    h.wait_quiet([a, b])
    check_exactly_once([a, b], {msg: (a, "keyed only"), msg2: (b, "keyed again")})

    # The log names the foreign key by its id and the peer by its address,
    # and never holds a key.
    log = read_file(a.log_path)
    check(key_id(other).hex() in log, "a's log does not name the other key's id %s"
          % key_id(other).hex())
    check("authentication failed" in log and "127.0.0.1:" in log,
          "a's log has no authentication failure with the peer's address")
    for n in (a, b, wrong, keyless):
        for text in (read_file(n.log_path), read_file(n.stderr_path)):
            check(k not in text and other not in text, "%s logged a key" % n.name)
    # Keyless nodes say once that anyone may join; keyed ones say nothing.
    warn = "no cluster key"
    check(read_file(keyless.stderr_path).count(warn) == 1,
          "the keyless node did not warn exactly once: %r" % read_file(keyless.stderr_path))
    check(warn not in read_file(a.stderr_path), "a keyed node warned of no key")
    h.stop_all()


def test_proxy_sees_no_clear_text_and_a_flipped_byte_relinks(h):
    k = new_key()
    b = h.node(extra=[keys_arg(k)])
    proxy = Proxy(PORTS[1] - 1, b.port)
    try:
        a = h.node(peers=["127.0.0.1:%d" % proxy.port], extra=[keys_arg(k)])
        a.wait_event("peer_up")
        b.wait_event("peer_up")
        secret = "SECRET-%s" % os.urandom(6).hex()
        sent = {}
        for n, other in ((a, b), (b, a)):
            payload = "%s from %s" % (secret, n.name)
            sent[check_broadcast(n, [other], payload)] = (n, payload)
        with proxy.lock:
            first = bytes(proxy.conns[0]["up"]), bytes(proxy.conns[0]["down"])
        check(first[0].startswith(AUTH1_PREFIX), "the dialer's first bytes are not AUTH1: %r"
              % first[0][:16])
        check(first[0][9:17] == key_id(k), "AUTH1 does not name the key's id")
        for direction in first:
            for clear in (secret.encode(), h.cluster_name.encode(), b"LMSH", b"from a"):
                check(clear not in direction, "the proxy saw %r in clear" % clear)

        # Tamper with the next chunk a sends to b: b must close the link,
        # count it, and a re-dials; the message in the tampered chunk is
        # caught up, once.
        base = b.stats()["auth_failures"]
        mark_a, mark_b = a.mark(), b.mark()
        proxy.flip = True
        payload = "%s after the flip" % secret
        sent[a.broadcast(payload)] = (a, payload)
        wait_stat(b, "auth_failures", base + 1)
        check(proxy.flipped == 1, "the proxy flipped %d bytes" % proxy.flipped)
        b.wait_event("peer_down", after=mark_b, peer=a.id)
        b.wait_event("peer_up", after=mark_b, peer=a.id)
        a.wait_event("peer_up", after=mark_a, peer=b.id)
        b.wait_event("deliver", payload=payload)
        payload = "%s after the relink" % secret
        sent[check_broadcast(a, [b], payload)] = (a, payload)
        # No wait_quiet: the tampered record took frames with it. Each
        # origin's stream is delivered in order, so once these last ones
        # arrive everything before them did or never will.
        for n, other in ((a, b), (b, a)):
            payload = "%s last from %s" % (secret, n.name)
            sent[check_broadcast(n, [other], payload)] = (n, payload)
        check_exactly_once([a, b], sent)
        with proxy.lock:
            check(len(proxy.conns) >= 2, "the link was not made again through the proxy")
            recorded = bytes(proxy.conns[0]["up"])
        check("record failed its check" in read_file(b.log_path),
              "b's log does not say why the link closed")

        # A recorded handshake (and what followed it) replayed to b: b's
        # fresh nonce makes the old proof worthless.
        base = b.stats()["auth_failures"]
        mark_b = b.mark()
        s = h.connect(b.port)
        fr = Frames(s)
        s.sendall(recorded)
        fr.wait_closed()
        s.close()
        wait_stat(b, "auth_failures", base + 1)
        check(peer_ids(b) == {a.id}, "b's links changed after the replay: %s" % b.peers())
        check(not [e for e in b.events[mark_b:] if e.get("event") == "peer_down"],
              "the replay took the real link down")
        check("replayed handshake" in read_file(b.log_path), "b's log does not name the replay")
        h.stop_all()
    finally:
        proxy.close()


def test_forged_announcements_are_dropped(h):
    k, other = new_key(), new_key()
    mport = 47501
    n = h.node(extra=[keys_arg(k), "--discovery.enabled=true", "--overlay.manage=true",
                      "--discovery.port=%d" % mport, "--discovery.interface=127.0.0.1"])
    # Two listeners stand for announced nodes: the forged announcements name
    # `trap`, the good one names `bait`. The node dials what it takes.
    trap, bait = (socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(2))
    h.sockets += [trap, bait]
    for s, port in ((trap, PORTS[1] - 3), (bait, PORTS[1] - 2)):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(4)
    forger, honest = fake_id(), fake_id()
    forged = announcement(h.cluster_name, forger, PORTS[1] - 3)
    good_sealed = seal(announcement(h.cluster_name, forger, PORTS[1] - 3), k)
    tampered = bytearray(good_sealed)
    tampered[len(forged) - 9] ^= 0x01  # a byte of the node id under the seal
    bad = [
        forged,                                                           # not sealed
        seal(forged, other),                                              # another key
        bytes(tampered),                                                  # tampered
        seal(forged, k, int((time.time() - 120) * 1e6)),                  # stale
        seal(forged, k, int((time.time() + 120) * 1e6)),                  # from the future
        good_sealed[:-1],                                                 # cut short
    ]
    base = n.stats()["discovery_bad"]
    multicast(mport, bad)
    wait_stat(n, "discovery_bad", base + len(bad))

    # Positive control: the same announcement, sealed right and fresh, is
    # taken, and the node dials the node it names.
    good = seal(announcement(h.cluster_name, honest, PORTS[1] - 2), k)
    multicast(mport, [good])
    ready, _, _ = select.select([bait], [], [], DEFAULT_TIMEOUT)
    check(ready, "the node did not dial the node of a good sealed announcement")
    c, _ = bait.accept()
    h.sockets.append(c)
    c.settimeout(DEFAULT_TIMEOUT)
    got = b""
    while len(got) < 17:
        chunk = c.recv(64)
        if not chunk:
            break
        got += chunk
    check(got.startswith(AUTH1_PREFIX) and got[9:17] == key_id(k),
          "the node's dial does not start with AUTH1 under its key: %r" % got[:17])
    r, _, _ = select.select([trap], [], [], 0)
    check(not r, "the node dialed the address of a forged announcement")

    # The good announcement replayed: not newer than the last from its node.
    base = n.stats()["discovery_bad"]
    multicast(mport, [good])
    wait_stat(n, "discovery_bad", base + 1)
    check(n.stats()["discovery_bad"] == base + 1, "more than the replay was dropped")
    h.stop_all()


def node_at(h, port, keys, name, peers=()):
    return h.node(port=port, peers=peers, extra=[keys_arg(*keys)], name=name)


def test_rotation_by_rolling_restarts_loses_nothing(h):
    """[K1] -> [K1,K2] -> [K2,K1] -> [K2], one node restarted at a time, in a
    triangle; while a node is down the other two keep talking, and after each
    restart every node reaches every other."""
    k1, k2 = new_key(), new_key()
    ports = {"a": PORTS[0] + 1, "b": PORTS[0] + 2, "c": PORTS[0] + 3}
    peers_of = {"a": [], "b": ["127.0.0.1:%d" % ports["a"]],
                "c": ["127.0.0.1:%d" % ports["a"], "127.0.0.1:%d" % ports["b"]]}
    nodes = {x: node_at(h, ports[x], [k1], x + "0", peers_of[x]) for x in "abc"}

    def wait_triangle():
        for x, n in nodes.items():
            wait_peers(n, {m.id for y, m in nodes.items() if y != x})

    wait_triangle()
    sent = {}  # msg -> (sender, payload, the nodes up all along since it was sent)
    step = 0
    for keys in ([k1, k2], [k2, k1], [k2]):
        for x in "abc":
            step += 1
            stay = [y for y in "abc" if y != x]
            check(nodes[x].stop() == 0, "%s did not stop cleanly" % nodes[x].name)
            # While x is down, the two others still talk.
            s, r = nodes[stay[0]], nodes[stay[1]]
            for i in range(3):
                payload = "step %d while %s is down #%d" % (step, x, i)
                sent[check_broadcast(s, [r], payload)] = (s, payload)
            nodes[x] = node_at(h, ports[x], keys, "%s%d" % (x, step), peers_of[x])
            wait_triangle()
            for y in "abc":
                payload = "step %d from %s" % (step, y)
                others = [nodes[z] for z in "abc" if z != y]
                sent[check_broadcast(nodes[y], others, payload)] = (nodes[y], payload)
    # No wait_quiet: stopped nodes took their counters with them. The last
    # round above reached everyone, and each stream is delivered in order.
    live = list(nodes.values())
    # Exactly once over what each live node could have seen: the messages
    # sent since it started, by a node other than itself.
    for n in live:
        check_in_order(n)
        mine = {m for m, (s, p) in sent.items() if s is n}
        for d in n.deliveries():
            check(d["msg"] not in mine, "%s delivered its own message" % n.name)
        ids = [d["msg"] for d in n.deliveries()]
        check(len(ids) == len(set(ids)), "%s delivered a message twice" % n.name)
    # A node that still has only the retired key is now an outsider.
    base = nodes["a"].stats()["auth_failures"]
    old = h.node(peers=[nodes["a"]], extra=[keys_arg(k1)], name="retired")
    wait_stat(nodes["a"], "auth_failures", base + 1)
    check(not old.peers(), "a node with the retired key linked: %s" % old.peers())
    h.stop_all()


def test_runtime_keyring_commands(h):
    """`lanmesh keys install|use|remove` move a running cluster to a new key:
    links already up stay, new links use the new key, the old key is refused."""
    k1, k2 = new_key(), new_key()
    a = h.node(extra=[keys_arg(k1)])
    b = h.node(peers=[a], extra=[keys_arg(k1)])
    wait_peers(a, {b.id})
    for n in (a, b):
        code, out, err = client_json(h, n, "keys", "install", k2)
        check(code == 0, "keys install: exit %d %r" % (code, err))
        listed = json.loads(out)["keys"]
        check([x["id"] for x in listed] == [key_id(k1).hex(), key_id(k2).hex()],
              "keys after install: %s" % listed)
        check(listed[0]["primary"] and not listed[1]["primary"], "primary moved on install")
        check(k2 not in out and k1 not in out, "a reply shows a key")
    for n in (a, b):
        code, out, err = client_json(h, n, "keys", "use", key_id(k2).hex())
        check(code == 0, "keys use: exit %d %r" % (code, err))
        # The primary cannot be removed.
        code, out, err = client_json(h, n, "keys", "remove", k2)
        check(code == 1, "removing the primary key: exit %d, want 1" % code)
        code, out, err = client_json(h, n, "keys", "remove", k1)
        check(code == 0, "keys remove: exit %d %r" % (code, err))
        listed = json.loads(out)["keys"]
        check(listed == [{"id": key_id(k2).hex(), "primary": True}], "keys after remove: %s"
              % listed)
    code, out, err = client_json(h, a, "keys", "install", "not a key")
    check(code == 1 and "not a key" in (out + err), "installing garbage: exit %d %r %r"
          % (code, out, err))
    check(not a.events_of("peer_down"), "the link up before the change went down")
    # A newcomer with only the new key links to both; one with the old is refused.
    c = h.node(peers=[a, b], extra=[keys_arg(k2)])
    wait_peers(c, {a.id, b.id})
    base = a.stats()["auth_failures"]
    old = h.node(peers=[a], extra=[keys_arg(k1)], name="old_key")
    wait_stat(a, "auth_failures", base + 1)
    check(not old.peers(), "a node with the removed key linked: %s" % old.peers())
    sent = {}
    for n in (a, b, c):
        payload = "after the change from %s" % n.name
        sent[check_broadcast(n, [m for m in (a, b, c) if m is not n], payload)] = (n, payload)
    h.wait_quiet([a, b, c])
    check_exactly_once([a, b, c], sent)
    h.stop_all()


if __name__ == "__main__":
    sys.exit(run_tests(__file__, [test_outsiders_are_never_linked,
                                  test_proxy_sees_no_clear_text_and_a_flipped_byte_relinks,
                                  test_forged_announcements_are_dropped,
                                  test_rotation_by_rolling_restarts_loses_nothing,
                                  test_runtime_keyring_commands], PORTS))
