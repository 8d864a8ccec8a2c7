"""lanmesh's wire format (version 4) for tests that speak it with a raw socket.

Encoders for the frames a hostile or broken peer sends, a bounded frame
reader, and decoders for what a node answers. Mirrors net/wire.hpp; the
C++ side is the definition, and tests/net/wire_test.cpp pins its layout."""

import os
import socket
import struct
import time

from harness import DEFAULT_TIMEOUT, TestFailure

MAGIC = 0x4C4D5348
VERSION = 4
(HELLO, WELCOME, REFUSE, BROADCAST, PING, GOODBYE, MEMBERS, REVERSE, REDIRECT,
 TOPO_QUERY, TOPO_REPLY, SYNC, PROBE_REQ, PROBE_ACK) = (1, 2, 3, 4, 5, 7, 8, 9, 10, 11,
                                                        12, 13, 14, 15)
IHAVE, GRAFT, PRUNE, IWANT, NOTHAVE, STREAMS = 16, 17, 18, 19, 20, 21
HELLO_REVERSE, HELLO_CALLBACK, HELLO_TREE = 1, 2, 4
ALIVE, UNREACHABLE, DEAD, LEFT = 0, 1, 2, 3
CLOSE_TIMEOUT = 5.0  # a bad client must be dropped within this

# Discovery datagrams (net/announce.hpp): magic "LMSD", version 1.
ANNOUNCE_MAGIC = 0x4C4D5344
ANNOUNCE, QUERY, ANSWER = 1, 2, 3
GROUP = "239.255.77.77"


def announcement(cluster, node, port, kind=ANNOUNCE, capacity=5, links_in=0, links_out=0):
    """One unsealed discovery datagram."""
    c = cluster.encode() if isinstance(cluster, str) else cluster
    return (struct.pack(">IBBB", ANNOUNCE_MAGIC, 1, kind, len(c)) + c
            + struct.pack(">QHHHH", node, port, links_in, links_out, capacity))


def multicast_socket():
    """A UDP socket that multicasts on the loopback interface only."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    return s


def multicast(port, datagrams):
    """Sends each datagram to the group, on the loopback interface only."""
    s = multicast_socket()
    try:
        for d in datagrams:
            s.sendto(d, (GROUP, port))
    finally:
        s.close()


def frame(ftype, body=b""):
    return struct.pack(">IB", 1 + len(body), ftype) + body


def hello_body(cluster, node_id, port=1, magic=MAGIC, version=VERSION, flags=HELLO_TREE,
               incarnation=1, record_version=0, probe_port=0, links_in=0, links_out=0,
               capacity=8):
    c = cluster.encode()
    return (struct.pack(">IHB", magic, version, len(c)) + c
            + struct.pack(">QQIHHBHHH", node_id, incarnation, record_version, port,
                          probe_port, flags, links_in, links_out, capacity))


def broadcast_body(origin, seq, payload=b"", epoch=1, hops=0):
    """A BROADCAST body: origin, epoch, seq, hops, payload."""
    return struct.pack(">QQQH", origin, epoch, seq, hops) + payload


def ip_of(text):
    return struct.unpack(">I", socket.inet_aton(text))[0]


def record(node, ip="127.0.0.1", port=1, incarnation=1, version=0, state=ALIVE,
           probe_port=0, links_in=0, links_out=0, capacity=8, hops=0):
    """One member record (36 bytes)."""
    return struct.pack(">QQIBBIHHHHH", node, incarnation, version, state, hops,
                       ip_of(ip) if isinstance(ip, str) else ip, port, probe_port,
                       links_in, links_out, capacity)


def members_body(records, flags=0):
    return struct.pack(">BB", flags, len(records)) + b"".join(records)


def decode_members(body):
    flags, count = struct.unpack(">BB", body[:2])
    out = []
    for i in range(count):
        f = struct.unpack(">QQIBBIHHHHH", body[2 + 36 * i:2 + 36 * (i + 1)])
        out.append(dict(node=f[0], incarnation=f[1], version=f[2], state=f[3], hops=f[4],
                        ip=socket.inet_ntoa(struct.pack(">I", f[5])), port=f[6],
                        probe_port=f[7], links_in=f[8], links_out=f[9], capacity=f[10]))
    return flags, out


def redirect_body(entries):
    """entries: (node, ip text, port)."""
    return struct.pack(">B", len(entries)) + b"".join(
        struct.pack(">QIH", n, ip_of(ip), port) for n, ip, port in entries)


def decode_redirect(body):
    (count,) = struct.unpack(">B", body[:1])
    return [struct.unpack(">QIH", body[1 + 14 * i:1 + 14 * (i + 1)]) for i in range(count)]


def ping_body(nonce=1, echo=0, delay_us=0, links_in=0, links_out=0, capacity=8):
    return struct.pack(">QQIHHH", nonce, echo, delay_us, links_in, links_out, capacity)


def reason_of(body):
    (n,) = struct.unpack(">H", body[:2])
    return body[2:2 + n].decode("utf-8", "replace")


def reason_body(text):
    b = text.encode()
    return struct.pack(">H", len(b)) + b


def fake_id():
    return struct.unpack(">Q", os.urandom(8))[0] | 1


class Frames:
    """Reads frames from a raw socket, every read bounded in time."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.closed = False

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TestFailure("socket read timed out")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TestFailure("socket read timed out")
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
        self.buf += data

    def next(self, timeout=DEFAULT_TIMEOUT):
        """Returns (type, body) of the next frame, or None if the peer closed."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 5:
                length, ftype = struct.unpack(">IB", self.buf[:5])
                if len(self.buf) >= 4 + length:
                    body = self.buf[5:4 + length]
                    self.buf = self.buf[4 + length:]
                    return ftype, body
            if self.closed:
                return None
            self._fill(deadline)

    def next_of(self, want, timeout=DEFAULT_TIMEOUT):
        """Skips other frames until one of type `want` (or a set of types), or close."""
        wanted = want if isinstance(want, (set, frozenset, tuple)) else {want}
        deadline = time.monotonic() + timeout
        while True:
            f = self.next(max(0.0, deadline - time.monotonic()))
            if f is None or f[0] in wanted:
                return f

    def wait_closed(self, timeout=CLOSE_TIMEOUT):
        """Reads and drops everything until the server closes; returns the time it took."""
        start = time.monotonic()
        deadline = start + timeout
        while not self.closed:
            try:
                self._fill(deadline)
            except TestFailure:
                raise TestFailure("server kept the connection open for %.1f s" % timeout)
            self.buf = b""
        return time.monotonic() - start
