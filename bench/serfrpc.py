"""A minimal client for the Serf agent's RPC (msgpack over TCP), standard library only.

Only what the benchmark needs: handshake, members, event, leave. Every call is
bounded by the socket timeout. The RPC protocol: each request is a msgpack
header {"Command", "Seq"} optionally followed by a msgpack body; each response
is a header {"Seq", "Error"} followed by a body for commands that have one.
"""

import socket
import struct


# -- msgpack (the subset Serf's RPC uses) ------------------------------------

def pack(obj):
    out = bytearray()
    _pack(obj, out)
    return bytes(out)


def _pack(o, out):
    if o is None:
        out.append(0xC0)
    elif o is True:
        out.append(0xC3)
    elif o is False:
        out.append(0xC2)
    elif isinstance(o, int):
        if 0 <= o < 0x80:
            out.append(o)
        elif -32 <= o < 0:
            out.append(o & 0xFF)
        elif 0 <= o < 1 << 64:
            out.append(0xCF)
            out += struct.pack(">Q", o)
        else:
            out.append(0xD3)
            out += struct.pack(">q", o)
    elif isinstance(o, str):
        b = o.encode("utf-8")
        n = len(b)
        if n < 32:
            out.append(0xA0 | n)
        elif n < 256:
            out += bytes((0xD9, n))
        elif n < 65536:
            out.append(0xDA)
            out += struct.pack(">H", n)
        else:
            out.append(0xDB)
            out += struct.pack(">I", n)
        out += b
    elif isinstance(o, (bytes, bytearray)):
        n = len(o)
        if n < 256:
            out += bytes((0xC4, n))
        elif n < 65536:
            out.append(0xC5)
            out += struct.pack(">H", n)
        else:
            out.append(0xC6)
            out += struct.pack(">I", n)
        out += o
    elif isinstance(o, (list, tuple)):
        n = len(o)
        if n < 16:
            out.append(0x90 | n)
        else:
            out.append(0xDC)
            out += struct.pack(">H", n)
        for x in o:
            _pack(x, out)
    elif isinstance(o, dict):
        n = len(o)
        if n < 16:
            out.append(0x80 | n)
        else:
            out.append(0xDE)
            out += struct.pack(">H", n)
        for k, v in o.items():
            _pack(k, out)
            _pack(v, out)
    else:
        raise TypeError("cannot pack %r" % type(o))


class _NeedMore(Exception):
    pass


class Unpacker:
    """Incremental decoder: feed bytes, take whole objects."""

    def __init__(self):
        self.buf = b""
        self.pos = 0

    def feed(self, data):
        self.buf = self.buf[self.pos:] + data
        self.pos = 0

    def next(self):
        """Returns the next whole object, or raises _NeedMore."""
        start = self.pos
        try:
            return self._obj()
        except _NeedMore:
            self.pos = start
            raise

    def _take(self, n):
        if self.pos + n > len(self.buf):
            raise _NeedMore()
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def _obj(self):
        t = self._take(1)[0]
        if t < 0x80:
            return t
        if t >= 0xE0:
            return t - 0x100
        if 0x80 <= t <= 0x8F:
            return self._map(t & 0x0F)
        if 0x90 <= t <= 0x9F:
            return [self._obj() for _ in range(t & 0x0F)]
        if 0xA0 <= t <= 0xBF:
            return self._take(t & 0x1F).decode("utf-8", "replace")
        simple = {0xC0: None, 0xC2: False, 0xC3: True}
        if t in simple:
            return simple[t]
        if t in (0xC4, 0xC5, 0xC6):
            n = self._len({0xC4: 1, 0xC5: 2, 0xC6: 4}[t])
            return self._take(n)
        if t in (0xCA, 0xCB):
            return struct.unpack(">f" if t == 0xCA else ">d", self._take(4 if t == 0xCA else 8))[0]
        ints = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q",
                0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q"}
        if t in ints:
            fmt = ints[t]
            return struct.unpack(fmt, self._take(struct.calcsize(fmt)))[0]
        if t in (0xD9, 0xDA, 0xDB):
            n = self._len({0xD9: 1, 0xDA: 2, 0xDB: 4}[t])
            return self._take(n).decode("utf-8", "replace")
        if t in (0xDC, 0xDD):
            n = self._len(2 if t == 0xDC else 4)
            return [self._obj() for _ in range(n)]
        if t in (0xDE, 0xDF):
            return self._map(self._len(2 if t == 0xDE else 4))
        if t in (0xD4, 0xD5, 0xD6, 0xD7, 0xD8):  # fixext: skip
            self._take(1 + {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}[t])
            return None
        if t in (0xC7, 0xC8, 0xC9):  # ext: skip
            n = self._len({0xC7: 1, 0xC8: 2, 0xC9: 4}[t])
            self._take(1 + n)
            return None
        raise ValueError("msgpack type 0x%02x not supported" % t)

    def _len(self, size):
        return int.from_bytes(self._take(size), "big")

    def _map(self, n):
        d = {}
        for _ in range(n):
            k = self._obj()
            d[k] = self._obj()
        return d


# -- the RPC client ----------------------------------------------------------

class RPCError(Exception):
    pass


class Client:
    def __init__(self, host, port, timeout=2.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.unpacker = Unpacker()
        self.seq = 0
        try:
            self._call("handshake", {"Version": 1}, body=False)
        except BaseException:
            self.sock.close()
            raise

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _read_obj(self):
        while True:
            try:
                return self.unpacker.next()
            except _NeedMore:
                data = self.sock.recv(65536)
                if not data:
                    raise RPCError("connection closed by agent")
                self.unpacker.feed(data)

    def _call(self, command, args=None, body=False):
        seq = self.seq
        self.seq += 1
        msg = pack({"Command": command, "Seq": seq})
        if args is not None:
            msg += pack(args)
        self.sock.sendall(msg)
        header = self._read_obj()
        if not isinstance(header, dict) or header.get("Seq") != seq:
            raise RPCError("unexpected response header %r" % (header,))
        if header.get("Error"):
            raise RPCError("%s: %s" % (command, header["Error"]))
        return self._read_obj() if body else None

    def members(self):
        """[{Name, Addr, Port, Status, ...}] as the agent sees them."""
        return self._call("members", None, body=True).get("Members") or []

    def event(self, name, payload, coalesce=False):
        self._call("event", {"Name": name, "Payload": payload, "Coalesce": coalesce})

    def leave(self):
        self._call("leave")
