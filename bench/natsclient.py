#!/usr/bin/env python3
"""A plain-socket NATS client for the lanmesh benchmark (standard library only).

Speaks just enough of the NATS text protocol: INFO (read and ignored),
CONNECT, SUB, PUB, MSG, PING/PONG, +OK/-ERR. Every socket has a timeout and
connects to 127.0.0.1 only.

Two uses:

* `Conn` (imported by run.py): one connection per node, a reader thread that
  timestamps every MSG with time.time() when its bytes come out of recv()
  (the harness's stamp of the delivery), and `pub` for the caller's write.

* `python3 natsclient.py tp PORT [PORT ...]` (a process of its own, started
  by run.py for throughput, one per node so that the subscribers read on
  both cores like the servers): one connection per port, each subscribed to
  the throughput subject; stdin commands, one JSON answer per line on stdout:
    {"cmd":"trial","rate":R,"duration":D,"size":S,"senders":[i,...]}
        publishes R msg/s in total (round-robin over the senders' own
        connections) for D s from a 5 ms tick while receiving; answers
        {"sent":[per conn],"achieved":msg/s,"t_end":wall time}
    {"cmd":"count"}   answers {"recv":[MSGs per conn],"errors":[...],"closed":[...]}
    {"cmd":"quit"}
  MSGs are counted by their header (`MSG t 1 S\\r\\n`) in the byte stream,
  never parsed one by one, so the counter keeps up with the servers.
  Connections use echo=false: a node does not receive its own messages, like
  a lanmesh node.
"""

import json
import os
import select
import socket
import sys
import threading
import time

HOST = "127.0.0.1"


class NatsError(Exception):
    pass


def _connect_line(name, echo):
    return ("CONNECT " + json.dumps({
        "verbose": False, "pedantic": False, "echo": bool(echo), "name": name,
        "lang": "python-bench", "version": "1", "protocol": 1}) + "\r\n").encode()


def _handshake(sock, name, echo, timeout):
    """Reads INFO, sends CONNECT and PING, waits for PONG (bounded)."""
    sock.settimeout(timeout)
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\r\n" not in buf:
        if time.monotonic() > deadline:
            raise NatsError("no INFO")
        chunk = sock.recv(65536)
        if not chunk:
            raise NatsError("closed before INFO")
        buf += chunk
    line, buf = buf.split(b"\r\n", 1)
    if not line.startswith(b"INFO "):
        raise NatsError("expected INFO, got %r" % line[:40])
    info = json.loads(line[5:])
    sock.sendall(_connect_line(name, echo) + b"PING\r\n")
    while b"PONG\r\n" not in buf:
        if time.monotonic() > deadline:
            raise NatsError("no PONG after CONNECT")
        if b"-ERR" in buf:
            raise NatsError("server refused: %r" % buf[:200])
        chunk = sock.recv(65536)
        if not chunk:
            raise NatsError("closed after CONNECT")
        buf += chunk
    rest = buf.split(b"PONG\r\n", 1)[1]
    return info, rest


class Conn:
    """One client connection with a reader thread that records deliveries:
    payload (str) -> [time.time() at recv]."""

    def __init__(self, port, name, echo=False, timeout=5.0):
        self.port = port
        self.name = name
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.info, self._pending = _handshake(self.sock, name, echo, timeout)
        self.sock.settimeout(None)
        self.lock = threading.Lock()    # writers: pub, PONG
        self.cond = threading.Condition()
        self.delivers = {}
        self.pongs = 0
        self.errors = []
        self.closed = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _send(self, data):
        with self.lock:
            self.sock.sendall(data)

    def sub(self, subject, sid=1):
        self._send(("SUB %s %d\r\n" % (subject, sid)).encode())

    def pub(self, subject, payload):
        p = payload if isinstance(payload, bytes) else payload.encode()
        self._send(b"PUB %s %d\r\n%s\r\n" % (subject.encode(), len(p), p))

    def flush(self, timeout=5.0):
        """PING and wait for its PONG: the server processed what came before."""
        with self.cond:
            want = self.pongs + 1
        self._send(b"PING\r\n")
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.pongs < want:
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise NatsError("%s: no PONG within %.1f s" % (self.name, timeout))
                self.cond.wait(min(left, 0.5))

    def delivered(self, payload):
        with self.cond:
            return list(self.delivers.get(payload, ()))

    def _read(self):
        buf = bytearray(self._pending)
        need = None  # (subject, nbytes) of a MSG whose payload is awaited
        while True:
            ts = time.time()
            # Parse what is buffered.
            while True:
                if need is not None:
                    subj, n = need
                    if len(buf) < n + 2:
                        break
                    payload = bytes(buf[:n]).decode("utf-8", "replace")
                    del buf[:n + 2]
                    need = None
                    with self.cond:
                        self.delivers.setdefault(payload, []).append(ts)
                        self.cond.notify_all()
                    continue
                i = buf.find(b"\r\n")
                if i < 0:
                    break
                line = bytes(buf[:i])
                del buf[:i + 2]
                if line.startswith(b"MSG "):
                    parts = line.split()
                    need = (parts[1], int(parts[-1]))
                elif line == b"PING":
                    try:
                        self._send(b"PONG\r\n")
                    except OSError:
                        pass
                elif line == b"PONG":
                    with self.cond:
                        self.pongs += 1
                        self.cond.notify_all()
                elif line.startswith(b"-ERR"):
                    with self.cond:
                        self.errors.append(line.decode("utf-8", "replace"))
                # INFO updates and +OK are ignored
            try:
                chunk = self.sock.recv(1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        self._reader.join(timeout=2.0)


# -- throughput process --------------------------------------------------------

SUBJECT = b"t"


class TpConn:
    def __init__(self, port, idx):
        self.sock = socket.create_connection((HOST, port), timeout=5.0)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _, rest = _handshake(self.sock, "tp-%d" % idx, False, 5.0)
        self.sock.sendall(b"SUB t 1\r\nPING\r\n")
        self.sock.settimeout(5.0)
        got = rest
        deadline = time.monotonic() + 5.0
        while b"PONG\r\n" not in got:
            if time.monotonic() > deadline:
                raise NatsError("no PONG after SUB")
            got += self.sock.recv(65536)
        self.sock.setblocking(False)
        self.out = bytearray()   # PUBs not yet handed to the kernel
        self.msgs = 0            # MSGs received
        self.pub_bytes = 0       # PUB bytes handed to the kernel
        self.tail = b""
        self.rbuf = bytearray(1 << 20)
        self.view = memoryview(self.rbuf)
        self.errors = []
        self.closed = False

    def fileno(self):
        return self.sock.fileno()


def _tp_main(ports):
    conns = [TpConn(p, i) for i, p in enumerate(ports)]
    print(json.dumps({"ready": True, "n": len(conns)}), flush=True)
    stdin = sys.stdin.buffer
    os.set_blocking(stdin.fileno(), False)
    inbuf = b""
    trial = None  # dict while publishing
    hdr = None
    msg_size = None
    pub_unit = b""
    pattern = b"MSG t 1 "
    while True:
        now = time.monotonic()
        if trial is not None:
            if now >= trial["end"]:
                # everything queued must still reach the kernel; report once drained
                if all(not c.out or c.closed for c in conns):
                    unit = len(pub_unit)
                    sent = [(c.pub_bytes - b0) // unit for c, b0 in zip(conns, trial["b0"])]
                    last = trial["last_sent"] or trial["end"]
                    # achieved: messages handed to the kernel per second of the
                    # trial, counting the time the last queued PUB took to go out
                    print(json.dumps({"sent": sent,
                                      "achieved": sum(sent) / max(last - trial["t0"],
                                                                  trial["duration"]),
                                      "t_end": time.time(),
                                      "write_lag_s": max(0.0, last - trial["end"])}),
                          flush=True)
                    trial = None
            else:
                due = min(int(trial["rate"] * (now - trial["t0"])) + 1, trial["total"]) - trial["done"]
                if due > 0:
                    snd = trial["senders"]
                    share = [0] * len(snd)
                    for k in range(due):
                        share[(trial["cursor"] + k) % len(snd)] += 1
                    trial["cursor"] = (trial["cursor"] + due) % len(snd)
                    for j, k in enumerate(share):
                        if k:
                            c = conns[snd[j]]
                            c.out += pub_unit * k
                    trial["done"] += due
        rl = [c for c in conns if not c.closed] + [stdin]
        wl = [c for c in conns if c.out and not c.closed]
        if trial is not None and now < trial["end"]:
            timeout = max(0.0, min(0.005, trial["end"] - now))
        else:
            timeout = 0.05
        r, w, _ = select.select(rl, wl, [], timeout)
        for c in w:
            try:
                n = c.sock.send(c.out)
            except BlockingIOError:
                continue
            except OSError as e:
                c.errors.append(str(e))
                c.closed = True
                continue
            del c.out[:n]
            c.pub_bytes += n
            if trial is not None and not c.out:
                trial["last_sent"] = time.monotonic()
        for c in r:
            if c is stdin:
                try:
                    data = os.read(stdin.fileno(), 65536)
                except BlockingIOError:
                    continue
                if not data:
                    return 0
                inbuf += data
                while b"\n" in inbuf:
                    line, inbuf = inbuf.split(b"\n", 1)
                    if not line.strip():
                        continue
                    cmd = json.loads(line)
                    if cmd["cmd"] == "quit":
                        return 0
                    if cmd["cmd"] == "count":
                        print(json.dumps({"recv": [c.msgs for c in conns],
                                          "errors": [c.errors[-3:] for c in conns],
                                          "closed": [c.closed for c in conns]}), flush=True)
                    elif cmd["cmd"] == "trial":
                        msg_size = int(cmd["size"])
                        hdr = b"PUB t %d\r\n" % msg_size
                        pub_unit = hdr + b"x" * msg_size + b"\r\n"
                        pattern = b"MSG t 1 %d\r\n" % msg_size
                        t0 = time.monotonic()
                        trial = {"rate": float(cmd["rate"]), "duration": float(cmd["duration"]),
                                 "t0": t0, "end": t0 + float(cmd["duration"]),
                                 "total": int(float(cmd["rate"]) * float(cmd["duration"])),
                                 "done": 0, "cursor": 0, "senders": list(cmd["senders"]),
                                 "b0": [c.pub_bytes for c in conns],
                                 "last_sent": None}
                continue
            # recv_into one buffer, the last bytes of the previous read kept
            # in front of it, so that a header cut in two is still counted
            k = len(c.tail)
            c.rbuf[:k] = c.tail
            try:
                n = c.sock.recv_into(c.view[k:])
            except BlockingIOError:
                continue
            except OSError as e:
                c.errors.append(str(e))
                c.closed = True
                continue
            if not n:
                c.closed = True
                continue
            end = k + n
            c.msgs += c.rbuf.count(pattern, 0, end)
            if c.rbuf.find(b"PING\r\n", 0, end) >= 0:
                # the tail of c.out is always a whole message: the PONG goes
                # there, and its bytes are not counted as PUB bytes
                c.out += b"PONG\r\n"
                c.pub_bytes -= 6
            i = c.rbuf.find(b"-ERR", 0, end)
            if i >= 0:
                c.errors.append(bytes(c.rbuf[i:min(end, i + 80)]).decode("utf-8", "replace"))
            keep = min(end, len(pattern) - 1)
            c.tail = bytes(c.rbuf[end - keep:end])


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "tp":
        sys.exit(_tp_main([int(p) for p in sys.argv[2:]]))
    sys.stderr.write(__doc__)
    sys.exit(2)
