#!/usr/bin/env python3
"""The metrics endpoint (issue 15): GET /metrics in the Prometheus text format
with the names the issue lists, values that move with traffic, 404/405/400
for anything else, and clients that are slow, silent, oversized or too many
cannot stall the node (it keeps delivering and answering)."""

import re
import select
import socket
import sys
import time

sys.dont_write_bytecode = True

from harness import DEFAULT_TIMEOUT, check, poll, run_tests

PORTS = (63100, 63199)
METRICS_PORT = 63190  # the test's own (TCP ports of nodes come from PORTS' lower part)
NODE_PORTS = (63100, 63149)

NAMES = ["lanmesh_links", "lanmesh_members", "lanmesh_sent_total", "lanmesh_delivered_total",
         "lanmesh_duplicates_total", "lanmesh_bad_frames_total", "lanmesh_dials_total",
         "lanmesh_link_rtt_seconds", "lanmesh_stdout_dropped_bytes_total"]
SAMPLE = re.compile(r'^([a-z_]+)(\{[^}]*\})? (\S+)$')


def http(port, request, timeout=DEFAULT_TIMEOUT):
    """Sends raw `request` bytes to 127.0.0.1:port; returns (status, headers, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(request)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    check(lines and lines[0].startswith("HTTP/1.1 "), "not an HTTP answer: %r" % data[:200])
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in
               (l.split(":", 1) for l in lines[1:] if ":" in l)}
    return status, headers, body


def get(port, path="/metrics"):
    return http(port, ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path).encode())


def scrape(port):
    """{(name, labels): value} of GET /metrics; checks status and type."""
    status, headers, body = get(port)
    check(status == 200, "GET /metrics: %d %r" % (status, body[:200]))
    check(headers.get("content-type", "").startswith("text/plain; version=0.0.4"),
          "content type %r" % headers.get("content-type"))
    out = {}
    for line in body.decode().splitlines():
        if line.startswith("#"):
            check(re.match(r"^# (HELP|TYPE) lanmesh_\w+ ", line), "bad comment %r" % line)
            continue
        m = SAMPLE.match(line)
        check(m, "not a sample line: %r" % line)
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def metrics_node(h, peers=(), port=METRICS_PORT):
    return h.node(peers=peers, port_range=NODE_PORTS,
                  extra=["--metrics.listen=127.0.0.1:%d" % port])


def test_names_and_values_that_move(h):
    a = metrics_node(h)
    check(a.ready.get("metrics") == "127.0.0.1:%d" % METRICS_PORT,
          "ready event: %s" % a.ready)
    b = h.node(peers=[a], port_range=NODE_PORTS)
    a.wait_event("peer_up", peer=b.id)
    b.wait_event("peer_up", peer=a.id)
    m0 = scrape(METRICS_PORT)
    names = {n for n, _ in m0}
    for name in NAMES:
        check(any(n == name or n.startswith(name + "_") for n in names),
              "%s missing; have %s" % (name, sorted(names)))
    check(m0[("lanmesh_links", '{dir="in"}')] == 1 and m0[("lanmesh_links", '{dir="out"}')] == 0,
          "links: %s" % {k: v for k, v in m0.items() if k[0] == "lanmesh_links"})
    check(("lanmesh_bad_frames_total", '{rule="bad_magic"}') in m0, "no bad_magic series")
    # Values move: one sent by a, two delivered from b, heartbeats measured.
    a.broadcast("from a")
    b.wait_event("deliver", payload="from a")
    for text in ("from b 1", "from b 2"):
        b.broadcast(text)
        a.wait_event("deliver", payload=text)

    def moved():
        m = scrape(METRICS_PORT)
        ok = (m[("lanmesh_sent_total", "")] == m0[("lanmesh_sent_total", "")] + 1 and
              m[("lanmesh_delivered_total", "")] == m0[("lanmesh_delivered_total", "")] + 2 and
              m[("lanmesh_link_rtt_seconds_count", "")] > m0[("lanmesh_link_rtt_seconds_count", "")]
              and m[("lanmesh_members", "")] == 1)
        return ok, m
    m1 = poll(moved, "counters to move", timeout=10.0)
    buckets = sorted(((float(l[5:-2]) if "+Inf" not in l else float("inf")), v)
                     for (n, l), v in m1.items() if n == "lanmesh_link_rtt_seconds_bucket")
    check(buckets[-1][0] == float("inf") and
          buckets[-1][1] == m1[("lanmesh_link_rtt_seconds_count", "")],
          "+Inf bucket differs from the count: %s" % buckets)
    check(all(x[1] <= y[1] for x, y in zip(buckets, buckets[1:])), "buckets not cumulative")
    h.stop_all()


def test_other_requests(h):
    a = metrics_node(h)
    check(get(METRICS_PORT, "/")[0] == 404, "GET / is not 404")
    check(get(METRICS_PORT, "/metricsx")[0] == 404, "GET /metricsx is not 404")
    status, headers, _ = http(METRICS_PORT, b"POST /metrics HTTP/1.1\r\nHost: x\r\n"
                                            b"Content-Length: 2\r\n\r\nhi")
    check(status == 405 and "GET" in headers.get("allow", ""), "POST: %d %s" % (status, headers))
    check(http(METRICS_PORT, b"DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 405, "DELETE")
    check(http(METRICS_PORT, b"\x16\x03\x01garbage\r\n\r\n")[0] == 400, "garbage is not 400")
    big = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 20000 + b"\r\n\r\n"
    try:
        status = http(METRICS_PORT, big)[0]
        check(status == 400, "a 20 kB header got %d" % status)
    except (ConnectionResetError, BrokenPipeError):
        pass  # closed while we sent: refused as well
    check(scrape(METRICS_PORT)[("lanmesh_links", '{dir="in"}')] == 0, "still serving")
    h.stop_all()


def test_slow_and_many_clients_do_not_stall_the_node(h):
    a = metrics_node(h)
    b = h.node(peers=[a], port_range=NODE_PORTS)
    a.wait_event("peer_up", peer=b.id)
    b.wait_event("peer_up", peer=a.id)
    # A slowloris: half a request, never finished.
    slow = h.connect(METRICS_PORT, timeout=15.0)
    slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    # Others are served meanwhile, and the node delivers.
    scrape(METRICS_PORT)
    b.broadcast("during the slow one")
    a.wait_event("deliver", payload="during the slow one")
    # Many idle connections: beyond the bound, new ones are closed at once.
    idle = [h.connect(METRICS_PORT, timeout=15.0) for _ in range(24)]
    closed = set()
    deadline = time.monotonic() + DEFAULT_TIMEOUT
    while len(closed) < 24 - 16 and time.monotonic() < deadline:
        ready, _, _ = select.select([s for s in idle if s not in closed], [], [], 0.5)
        for s in ready:
            try:
                data = s.recv(1)
            except ConnectionResetError:
                data = b""
            check(data == b"", "an idle connection got data %r" % data)
            closed.add(s)
    check(len(closed) >= 24 - 16, "only %d of 24 idle connections were turned away" % len(closed))
    b.broadcast("during the crowd")
    a.wait_event("deliver", payload="during the crowd")
    check(a.stats()["links_in"] == 1, "control plane stalled")
    # The slow one is dropped after the read timeout (5 s), without an answer.
    slow.settimeout(15.0)
    check(slow.recv(1) == b"", "the slow client got an answer")
    for s in idle:
        s.close()
    # Once they are gone, scrapes work again.
    poll(lambda: (get(METRICS_PORT)[0] == 200, None), "a scrape after the crowd", timeout=10.0,
         interval=0.5)
    h.stop_all()


def test_port_in_use(h):
    port = METRICS_PORT + 1  # not one the other tests left in TIME_WAIT
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    h.sockets.append(s)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(1)
    code, out, err = h.spawn_raw(h.base_args("busy") + ["--node.port=0",
                                                        "--node.port-range=%d-%d" % NODE_PORTS,
                                                        "--metrics.listen=127.0.0.1:%d" % port])
    check(code == 1, "metrics port in use: exit %d" % code)
    check("metrics.listen" in err.decode(), "stderr does not name metrics.listen: %r" % err)


if __name__ == "__main__":
    sys.exit(run_tests(__file__, [test_names_and_values_that_move, test_other_requests,
                                  test_slow_and_many_clients_do_not_stall_the_node,
                                  test_port_in_use], PORTS))
