#!/usr/bin/env python3
"""The control socket and the client subcommands (issue 15) against running
nodes: members, send (TEXT and -), stats, monitor, topology (JSON and PNG),
leave; socket and folder permissions; several sockets in the default folder;
no node; garbage, overlong lines, silent and vanishing clients cost the node
only that connection.

Every node's control socket lives in the test's own folder (the harness sets
XDG_RUNTIME_DIR), so the default-folder rules are tested without touching the
user's."""

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time

sys.dont_write_bytecode = True

from harness import (DEFAULT_TIMEOUT, _RawProc, _die_with_parent, check, harness_env, poll,
                     run_tests)

PORTS = (63000, 63099)
CLIENT_TIMEOUT = 20.0


def client(h, node, *args, input=None, timeout=CLIENT_TIMEOUT):
    """`lanmesh ARGS --control=<node's socket>`; returns (code, stdout text, stderr text)."""
    argv = list(args)
    if node is not None:
        argv.append("--control=" + node.ready["control"])
    code, out, err = h.spawn_raw(argv, input=input, timeout=timeout)
    return code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def client_json(h, node, *args, **kw):
    code, out, err = client(h, node, *(list(args) + ["--json"]), **kw)
    check(code == 0, "%s: exit %d, stderr %r" % (args, code, err))
    return json.loads(out)


def start_monitor(h, node):
    """`lanmesh monitor --json` as a process of its own; returns (proc, lines
    reader). Registered with the harness, so it is killed by PID at the end."""
    proc = subprocess.Popen([h.lanmesh, "monitor", "--json", "--control=" + node.ready["control"]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            cwd=h.dir, env=harness_env(h), preexec_fn=_die_with_parent)
    h.nodes.append(_RawProc(proc))
    return proc


def read_json_line(proc, timeout=DEFAULT_TIMEOUT):
    """The next stdout line of `proc` as JSON, bounded in time."""
    import select
    deadline = time.monotonic() + timeout
    fd = proc.stdout.fileno()
    buf = getattr(proc, "_buf", b"")
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        check(left > 0, "no line from the monitor within %.1f s" % timeout)
        r, _, _ = select.select([fd], [], [], left)
        if r:
            chunk = os.read(fd, 65536)
            check(chunk != b"", "the monitor closed its output (exit %s)" % proc.poll())
            buf += chunk
    line, _, rest = buf.partition(b"\n")
    proc._buf = rest
    return json.loads(line)


def wait_monitor_event(proc, kind, timeout=DEFAULT_TIMEOUT, **match):
    deadline = time.monotonic() + timeout
    while True:
        ev = read_json_line(proc, max(0.1, deadline - time.monotonic()))
        if ev.get("event") == kind and all(ev.get(k) == v for k, v in match.items()):
            return ev


def test_every_subcommand(h):
    c = h.cluster("line", 3)
    a, b, z = c[0], c[1], c[2]
    for n in c:
        check(n.ready.get("control", "").endswith("/%d.sock" % n.port),
              "%s: ready event has no default control path: %s" % (n.name, n.ready))

    # members: every node, once membership news went round.
    def all_known():
        doc = client_json(h, a, "members")
        got = {m["node"] for m in doc["members"]}
        return got == {n.id for n in c}, doc
    doc = poll(all_known, "3 members on %s" % a.name, timeout=15.0)
    check(doc["members"][0]["node"] == a.id and doc["members"][0]["status"] == "self",
          "members does not list the node itself first: %s" % doc["members"][0])
    linked = {m["node"] for m in doc["members"] if m["status"] == "linked"}
    check(linked == {b.id}, "%s linked to %s, want only %s" % (a.name, linked, b.id))
    code, text, err = client(h, a, "members")
    check(code == 0 and all(n.id in text for n in c), "members as text: %r %r" % (text, err))

    # send TEXT: delivered everywhere else.
    code, text, err = client(h, b, "send", "hello", "from", "b")
    check(code == 0, "send: exit %d, %r" % (code, err))
    msg = text.split()[-1]
    check(msg.startswith(b.id), "send printed %r, not a msg id of %s" % (text, b.id))
    for n in (a, z):
        ev = n.wait_event("deliver", msg=msg)
        check(ev["payload"] == "hello from b", "%s delivered %r" % (n.name, ev["payload"]))

    # send -: each line of stdin.
    lines = ["line one", "", "line two"]
    code, text, err = client(h, z, "send", "-", "--json", input="\n".join(lines).encode() + b"\n")
    check(code == 0, "send -: exit %d, %r" % (code, err))
    replies = [json.loads(l) for l in text.splitlines()]
    check(len(replies) == 2 and all(r["event"] == "sent" for r in replies),
          "send - answered %r" % replies)
    for r, payload in zip(replies, ["line one", "line two"]):
        for n in (a, b):
            ev = n.wait_event("deliver", msg=r["msg"])
            check(ev["payload"] == payload, "%s delivered %r for %r" % (n.name, ev, payload))

    # stats: the counters of that node.
    st = client_json(h, z, "stats")
    check(st["event"] == "stats" and st["node"] == z.id, "stats of %s: %s" % (z.name, st))
    check(st["sent"] == 2 and st["links_out"] == 1, "stats of %s: sent %s links_out %s"
          % (z.name, st["sent"], st["links_out"]))

    # monitor: sees a delivery as it happens.
    mon = start_monitor(h, z)
    first = read_json_line(mon)
    check(first.get("event") == "monitor" and first.get("node") == z.id,
          "monitor began with %s" % first)
    code, text, err = client(h, a, "send", "watched")
    check(code == 0, "send: %r" % err)
    ev = wait_monitor_event(mon, "deliver", payload="watched")
    check(ev["origin"] == a.id and ev["msg"] == text.split()[-1], "monitor saw %s" % ev)
    os.kill(mon.pid, signal.SIGINT)
    check(mon.wait(timeout=5.0) == 0, "monitor exit %s after Ctrl+C" % mon.returncode)

    # topology: JSON and PNG.
    jpath, ppath = os.path.join(h.dir, "topo.json"), os.path.join(h.dir, "topo.png")
    code, text, err = client(h, b, "topology", "--json", jpath, "--png", ppath, timeout=60.0)
    check(code == 0, "topology: exit %d, %r %r" % (code, text, err))
    with open(jpath) as f:
        topo = json.load(f)
    check({n["node"] for n in topo["nodes"] if n["answered"]} == {n.id for n in c},
          "topology nodes: %s" % topo["nodes"])
    check({(e["from"], e["to"]) for e in topo["edges"]} == {(b.id, a.id), (z.id, b.id)},
          "topology edges: %s" % topo["edges"])
    with open(ppath, "rb") as f:
        check(f.read(8) == b"\x89PNG\r\n\x1a\n", "topology --png wrote no PNG")

    # leave: exit 0 once the node said goodbye; its peer reports it.
    mark = b.mark()
    code, text, err = client(h, z, "leave")
    check(code == 0, "leave: exit %d, %r" % (code, err))
    check(z.wait_exit(5.0) == 0, "%s after leave: exit %s" % (z.name, z.exit_code))
    b.wait_event("peer_down", after=mark, peer=z.id, reason="goodbye")
    check(not os.path.exists(z.ready["control"]), "the socket of a node that left remains")
    h.stop_all()


def test_socket_and_folder_permissions(h):
    n = h.node()
    path = n.ready["control"]
    folder = os.path.dirname(path)
    check(folder == os.path.join(h.dir, "lanmesh-%d" % os.getuid()),
          "default folder %s, want XDG_RUNTIME_DIR/lanmesh-UID" % folder)
    st = os.stat(path)
    check(stat.S_ISSOCK(st.st_mode), "%s is not a socket" % path)
    check(stat.S_IMODE(st.st_mode) == 0o600, "socket mode %o, want 600" % stat.S_IMODE(st.st_mode))
    check(stat.S_IMODE(os.stat(folder).st_mode) == 0o700,
          "folder mode %o, want 700" % stat.S_IMODE(os.stat(folder).st_mode))
    # A configured path: its new folder is made 0700 too.
    custom = os.path.join(h.dir, "new", "x.sock")
    m = h.node(extra=["--control.socket=" + custom])
    check(m.ready["control"] == custom, "ready says %s, want %s" % (m.ready["control"], custom))
    check(stat.S_IMODE(os.stat(custom).st_mode) == 0o600, "custom socket mode")
    check(stat.S_IMODE(os.stat(os.path.dirname(custom)).st_mode) == 0o700, "custom folder mode")
    # The same path for a second node: refused (status 1), the first keeps it.
    code, out, err = h.spawn_raw(h.base_args("dup") + ["--node.port=0", "--node.port-range=%d-%d" % PORTS,
                                                       "--control.socket=" + custom])
    check(code == 1 and custom in err.decode(), "second node on %s: exit %d %r" % (custom, code, err))
    check(client_json(h, m, "stats")["node"] == m.id, "the first node lost its socket")
    h.stop_all()
    check(not os.path.exists(path) and not os.path.exists(custom), "sockets left after exit")


def test_default_socket_choice(h):
    a = h.node()
    # One node: found without --control.
    code, out, err = client(h, None, "stats", "--json")
    check(code == 0 and json.loads(out)["node"] == a.id, "one socket: %d %r" % (code, err))
    # Two: listed, exit 2.
    b = h.node()
    code, out, err = client(h, None, "members")
    check(code == 2, "two sockets: exit %d" % code)
    for n in (a, b):
        check(n.ready["control"] in err, "the list does not name %s: %r" % (n.ready["control"], err))
    # A node killed hard leaves a stale socket, which does not count.
    b.kill()
    check(os.path.exists(b.ready["control"]), "expected a stale socket")
    code, out, err = client(h, None, "stats", "--json")
    check(code == 0 and json.loads(out)["node"] == a.id, "stale socket counted: %d %r" % (code, err))
    # None: exit 2, naming where it looked.
    h.stop_all()
    code, out, err = client(h, None, "members")
    check(code == 2 and os.path.join(h.dir, "lanmesh-%d" % os.getuid()) in err,
          "no node: exit %d %r" % (code, err))
    missing = os.path.join(h.dir, "missing.sock")
    code, out, err = client(h, None, "members", "--control=" + missing)
    check(code == 2 and missing in err, "missing socket: exit %d %r" % (code, err))
    check(len(err.strip().splitlines()) == 1, "want one line: %r" % err)


def raw_socket(h, node, timeout=DEFAULT_TIMEOUT):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(node.ready["control"])
    h.sockets.append(s)
    return s


def read_until_eof(s, limit=1 << 20):
    data = b""
    while len(data) < limit:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk
    raise AssertionError("no end of stream after %d bytes" % limit)


def read_line(s):
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(1)
        check(chunk != b"", "connection closed before a whole line: %r" % data)
        data += chunk
    return json.loads(data)


def test_garbage_costs_only_that_connection(h):
    a = h.node(extra=["--node.max-payload=16"])
    b = h.node(peers=[a])
    a.wait_event("peer_up", peer=b.id)
    # Not JSON: an error, then the connection is closed.
    s = raw_socket(h, a)
    s.sendall(b"\x00\xffgarbage{\n")
    reply = json.loads(read_until_eof(s).splitlines()[0])
    check(reply["ok"] is False and reply["event"] == "error", "garbage answered %s" % reply)
    # JSON but not a request; deeply nested; an overlong line.
    for bad in (b"[1,2,3]\n", b'{"cmd":7}\n', b"[" * 100000 + b"\n"):
        s = raw_socket(h, a)
        s.sendall(bad)
        data = read_until_eof(s)
        check(b'"ok":false' in data, "%r... answered %r" % (bad[:20], data[:200]))
    s = raw_socket(h, a)
    try:
        s.sendall(b"x" * (2 << 20))  # no newline, over the 1 MiB bound
    except (BrokenPipeError, ConnectionResetError):
        pass  # closed while we wrote: as good as an answer
    else:
        data = read_until_eof(s)
        check(b"longer than" in data, "overlong request answered %r" % data[:200])
    # An unknown command is refused, and the connection carries on.
    s = raw_socket(h, a)
    s.sendall(b'{"cmd":"nope"}\n{"cmd":"stats"}\n')
    r1, r2 = read_line(s), read_line(s)
    check(r1["ok"] is False and "nope" in r1["message"], "unknown command answered %s" % r1)
    check(r2["ok"] is True and r2["event"] == "stats", "then stats answered %s" % r2)
    s.close()
    # A refusal by the node is exit status 1.
    code, out, err = client(h, a, "send", "longer than sixteen bytes")
    check(code == 1 and "max-payload" in err, "over max-payload: exit %d %r" % (code, err))
    # A monitor that vanishes while deliveries stream to it.
    s = raw_socket(h, a)
    s.sendall(b'{"cmd":"monitor"}\n')
    check(read_line(s)["event"] == "monitor", "no monitor reply")
    for i in range(20):
        b.send("burst %d" % i)
    a.wait_event("deliver", payload="burst 0")
    s.close()  # mid-stream
    for i in range(20):
        a.wait_event("deliver", payload="burst %d" % i)
    # A client that connects and says nothing is closed after 10 s.
    s = raw_socket(h, a, timeout=20.0)
    check(read_until_eof(s) == b"", "a silent client got data")
    # Through all of it, the node kept working.
    code, out, err = client(h, a, "send", "still here")
    check(code == 0, "after the garbage: exit %d %r" % (code, err))
    b.wait_event("deliver", payload="still here")
    check(a.alive(), "the node died")
    h.stop_all()


if __name__ == "__main__":
    sys.exit(run_tests(__file__, [test_every_subcommand, test_socket_and_folder_permissions,
                                  test_default_socket_choice, test_garbage_costs_only_that_connection],
                       PORTS))
