#!/usr/bin/env python3
"""Fallback for tcpref.cpp when no C++ compiler is found (same arguments and
output; Python's own overhead makes it a loose upper bound on the RTT)."""

import json
import socket
import sys
import threading
import time


def pair():
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    c = socket.create_connection(lst.getsockname())
    s, _ = lst.accept()
    lst.close()
    for x in (c, s):
        x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c, s


def recv_full(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            return None
        buf += d
    return buf


def rtt(iterations, size):
    c, s = pair()

    def echo():
        while True:
            d = recv_full(s, size)
            if d is None:
                break
            s.sendall(d)
        s.close()
    t = threading.Thread(target=echo, daemon=True)
    t.start()
    msg = b"x" * size
    us = []
    for i in range(iterations + 100):
        t0 = time.perf_counter()
        c.sendall(msg)
        recv_full(c, size)
        if i >= 100:
            us.append((time.perf_counter() - t0) * 1e6)
    c.close()
    us.sort()
    q = lambda p: us[min(len(us) - 1, int(round(p * (len(us) - 1))))]  # noqa: E731
    return {"mode": "rtt", "size": size, "iterations": iterations, "p50_us": q(0.5),
            "p90_us": q(0.9), "p99_us": q(0.99), "max_us": q(1.0)}


def stream(seconds, size, mode):
    c, s = pair()
    got = [0]

    def reader():
        while True:
            d = s.recv(1 << 20)
            if not d:
                break
            got[0] += len(d)
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    msg = b"x" * size
    writes = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(64):
            c.sendall(msg)
            writes += 1
    c.shutdown(socket.SHUT_WR)
    t.join(10)
    took = time.perf_counter() - t0
    c.close()
    return {"mode": mode, "size": size, "seconds": took, "bytes": got[0],
            "MB_per_s": got[0] / took / 1e6, "writes_per_s": writes / took}


if __name__ == "__main__":
    mode, a, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "rtt":
        r = rtt(int(a), size)
    else:
        r = stream(float(a), size, mode)
    print(json.dumps(r))
