"""Processes the benchmark starts: a registry that kills every one of them by
PID (also on Ctrl-C, SIGTERM and exceptions), lanmesh nodes and Serf agents.

Standard library only. Every wait is bounded in time.
"""

import json
import os
import signal
import socket
import subprocess
import threading
import time

try:  # resolved once, before any fork
    import ctypes
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (ImportError, OSError, AttributeError):
    _prctl = None


def _child_setup():
    # If the benchmark itself dies (even by SIGKILL), the kernel kills its
    # children too (Linux). New session: a Ctrl-C in the terminal reaches the
    # benchmark only, which then kills what it started.
    if _prctl is not None:
        _prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


# Pipe size asked for each node's stdout: far more than a paused latency
# window prints (60 deliveries of ~200 bytes), so the node never blocks.
PAUSE_PIPE_BYTES = 1 << 20


class BenchError(Exception):
    """The harness could not do what it had to (not a measured result)."""


class Registry:
    def __init__(self):
        self.procs = []
        self.lock = threading.Lock()

    def popen(self, argv, **kw):
        kw.setdefault("preexec_fn", _child_setup)
        kw.setdefault("start_new_session", True)
        p = subprocess.Popen(argv, **kw)
        with self.lock:
            self.procs.append(p)
        return p

    def kill(self, p):
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGKILL)  # works on stopped processes too
            except ProcessLookupError:
                pass
        try:
            p.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            pass

    def kill_all(self):
        with self.lock:
            procs = list(self.procs)
            self.procs = []
        for p in procs:
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for p in procs:
            try:
                p.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                pass
            for f in (p.stdin, p.stdout, p.stderr):
                try:
                    if f:
                        f.close()
                except OSError:
                    pass

    def running(self):
        with self.lock:
            return [p for p in self.procs if p.poll() is None]


def rss_kib(pid, field="VmRSS"):
    """VmRSS (or another size field of /proc/PID/status) in KiB, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class Ports:
    """Ports asked from the kernel (127.0.0.1:0), each handed out once per run.
    A port is free for both TCP and UDP when returned."""

    def __init__(self):
        self.used = set()

    def get(self):
        for _ in range(200):
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                t.bind(("127.0.0.1", 0))
                port = t.getsockname()[1]
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
            finally:
                t.close()
                u.close()
            if port not in self.used:
                self.used.add(port)
                return port
        raise BenchError("no free port found")


def write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


# -- lanmesh -----------------------------------------------------------------

class LmNode:
    """One lanmesh process with discovery on 127.0.0.1.

    stdout is either a pipe parsed by a reader thread (events, deliveries by
    payload, sent ts by msg id) or, for throughput runs, an append-only file
    that is scanned only for /stats answers.
    """

    def __init__(self, bench, cluster, mport, name, out_file=None, extra=()):
        self.bench = bench
        self.name = name
        self.log_path = os.path.join(bench.work, name + ".log")
        argv = [bench.lanmesh, "--config-file=" + bench.empty_conf,
                "--console.output=jsonl", "--node.listen=127.0.0.1",
                "--node.cluster=" + cluster, "--discovery.enabled=true",
                "--discovery.port=%d" % mport, "--discovery.interface=127.0.0.1",
                "--log.level=warn", "--log.file=" + self.log_path] + list(extra)
        self.cond = threading.Condition()
        self.events = []      # every parsed event except deliveries
        self.delivers = {}    # payload -> [(node ts µs, msg, hops, harness read time s)]
        self.sent = {}        # msg -> ts
        self.order = []       # payload of every delivery, in the order the node printed them
        self.eof = False
        self.out_file = out_file
        self.id = None
        self.port = None
        self._err = open(os.path.join(bench.work, name + ".stderr"), "wb")
        if out_file:
            self._out = open(out_file, "ab")  # O_APPEND: truncating between trials is safe
            stdout = self._out
        else:
            self._out = None
            stdout = subprocess.PIPE
        self.spawn_ts = time.time()
        self.proc = bench.procs.popen(argv, stdin=subprocess.PIPE, stdout=stdout,
                                      stderr=self._err, cwd=bench.work)
        self.pid = self.proc.pid
        self.stdin_fd = self.proc.stdin.fileno()
        self._may_read = threading.Event()
        self._may_read.set()
        if not out_file:
            try:  # room for what the node prints while reading is paused
                import fcntl
                fcntl.fcntl(self.proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, PAUSE_PIPE_BYTES)
            except (ImportError, AttributeError, OSError):
                pass
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()

    def __repr__(self):
        return "<lanmesh %s pid %d>" % (self.name, self.pid)

    def pause_reading(self):
        """Stops parsing stdout (the node's output waits in the pipe) so that
        the harness takes no CPU from the nodes while latency is measured: on
        2 cores, 20 reader threads parsing a delivery each added their own
        time to the nodes'. Timestamps are the node's own, so reading later
        changes no measurement. At most one line is read after this call."""
        self._may_read.clear()

    def resume_reading(self):
        self._may_read.set()

    def _read(self):
        out = self.proc.stdout
        while True:
            self._may_read.wait()
            try:
                raw = out.readline()
            except (ValueError, OSError):  # closed by cleanup while waiting
                break
            hts = time.time()  # the harness's stamp of reading this line
            if not raw:
                break
            try:
                ev = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(ev, dict):
                continue
            with self.cond:
                kind = ev.get("event")
                if kind == "deliver":
                    self.delivers.setdefault(ev.get("payload"), []).append(
                        (ev["ts"], ev["msg"], ev.get("hops"), hts))
                    self.order.append(ev.get("payload"))
                else:
                    if kind == "sent":
                        self.sent[ev["msg"]] = ev["ts"]
                    self.events.append(ev)
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def wait_for(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                r = pred()
                if r:
                    return r
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    raise BenchError("%s: no %s within %.1f s (exit %s)"
                                     % (self.name, what, timeout, self.proc.poll()))
                self.cond.wait(min(left, 0.5))

    def mark(self):
        with self.cond:
            return len(self.events)

    def event_after(self, mark, kind, **match):
        for e in self.events[mark:]:
            if e.get("event") == kind and all(e.get(k) == v for k, v in match.items()):
                return e
        return None

    def wait_event(self, kind, timeout, after=0, **match):
        return self.wait_for(lambda: self.event_after(after, kind, **match), timeout, kind)

    def wait_ready(self, timeout):
        if self.out_file:
            ev = self._scan_file_for(b'{"event":"ready"', 0, timeout)
        else:
            ev = self.wait_event("ready", timeout)
        self.id = ev["node"]
        self.port = ev["port"]
        return ev

    def send(self, line):
        data = line if isinstance(line, bytes) else line.encode()
        write_all(self.stdin_fd, data + b"\n")

    def send_raw(self, data):
        write_all(self.stdin_fd, data)

    def delivered(self, payload):
        with self.cond:
            return list(self.delivers.get(payload, ()))

    def delivery_order(self):
        """Payloads in the order this node delivered them (pipe mode)."""
        with self.cond:
            return list(self.order)

    def stats(self, timeout=10.0):
        if self.out_file:
            start = os.path.getsize(self.out_file)
            self.send("/stats")
            return self._scan_file_for(b'{"event":"stats"', start, timeout)
        m = self.mark()
        self.send("/stats")
        return self.wait_event("stats", timeout, after=m)

    def peers(self, timeout=10.0):
        m = self.mark()
        self.send("/peers")
        return [p["peer"] for p in self.wait_event("peers", timeout, after=m)["peers"]]

    # file mode ---------------------------------------------------------------

    def stats_request(self):
        """File mode: asks for /stats; returns the offset to scan from."""
        start = os.path.getsize(self.out_file)
        self.send("/stats")
        return start

    def _scan_file_for(self, prefix, offset, timeout):
        deadline = time.monotonic() + timeout
        tail = b""
        with open(self.out_file, "rb") as f:
            f.seek(offset)
            while True:
                chunk = f.read(8 << 20)
                if chunk:
                    buf = tail + chunk
                    i = buf.find(prefix)
                    if i >= 0:
                        j = buf.find(b"\n", i)
                        while j < 0:
                            more = f.read(1 << 16)
                            if not more:
                                if time.monotonic() > deadline:
                                    raise BenchError("%s: truncated line" % self.name)
                                time.sleep(0.005)
                                continue
                            buf += more
                            j = buf.find(b"\n", i)
                        return json.loads(buf[i:j])
                    tail = buf[-len(prefix):]
                    continue
                if self.proc.poll() is not None:
                    raise BenchError("%s exited (%s)" % (self.name, self.proc.returncode))
                if time.monotonic() > deadline:
                    raise BenchError("%s: no %r within %.1f s" % (self.name, prefix, timeout))
                time.sleep(0.01)

    def read_stats_from(self, offset, timeout):
        return self._scan_file_for(b'{"event":"stats"', offset, timeout)

    def truncate_out(self):
        if self.out_file:
            os.truncate(self.out_file, 0)

    # lifetime ----------------------------------------------------------------

    def signal(self, signo):
        if self.proc.poll() is None:
            os.kill(self.pid, signo)

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        self.bench.procs.kill(self.proc)
        for f in (self._err, self._out):
            if f:
                f.close()

    def rss(self, field="VmRSS"):
        return rss_kib(self.pid, field)


# -- Serf --------------------------------------------------------------------

HANDLER = r"""#!/bin/bash
# Serf event handler of the lanmesh benchmark: time first, then one line per
# user event ("ts name payload") into this agent's own file.
t=$EPOCHREALTIME
if [ "$SERF_EVENT" = user ]; then
  IFS= read -r p
  echo "$t $SERF_USER_EVENT $p" >> "%(dir)s/ev.$SERF_SELF_NAME"
else
  while IFS= read -r _; do :; done
fi
"""


class SerfAgent:
    def __init__(self, bench, name, ports, join_port=None, dir=None):
        self.bench = bench
        self.name = name
        self.bind_port = ports.get()
        self.rpc_port = ports.get()
        self.dir = dir
        self.ev_path = os.path.join(dir, "ev." + name)
        self.out_path = os.path.join(dir, name + ".out")
        argv = [bench.serf, "agent", "-node=" + name,
                "-bind=127.0.0.1:%d" % self.bind_port,
                "-rpc-addr=127.0.0.1:%d" % self.rpc_port,
                "-event-handler=" + bench.serf_handler(dir), "-log-level=warn"]
        if join_port:
            argv.append("-join=127.0.0.1:%d" % join_port)
        self._out = open(self.out_path, "wb")
        self.spawn_ts = time.time()
        self.proc = bench.procs.popen(argv, stdin=subprocess.DEVNULL, stdout=self._out,
                                      stderr=subprocess.STDOUT, cwd=dir)
        self.pid = self.proc.pid
        self.client = None

    def __repr__(self):
        return "<serf %s pid %d>" % (self.name, self.pid)

    def rpc(self, connect_timeout=0.25, timeout=2.0):
        """The RPC client, connected on first use; None while the agent is not
        listening or does not answer the handshake within `connect_timeout`
        (short, so that polling many agents is not held up by one)."""
        if self.client is None:
            from serfrpc import Client, RPCError
            try:
                c = Client("127.0.0.1", self.rpc_port, timeout=connect_timeout)
            except (ConnectionRefusedError, ConnectionResetError, socket.timeout, RPCError):
                return None
            c.sock.settimeout(timeout)
            self.client = c
        return self.client

    def wait_rpc(self, timeout):
        deadline = time.monotonic() + timeout
        while self.rpc() is None:
            if self.proc.poll() is not None:
                raise BenchError("serf agent %s exited (%s); see %s"
                                 % (self.name, self.proc.returncode, self.out_path))
            if time.monotonic() > deadline:
                raise BenchError("serf agent %s: RPC not up within %.1f s" % (self.name, timeout))
            time.sleep(0.005)
        return self.client

    def members(self):
        c = self.rpc()
        if c is None:
            return None
        return {m["Name"]: m["Status"] for m in c.members()}

    def events(self):
        """[(ts, name, payload)] from this agent's handler file."""
        out = []
        try:
            with open(self.ev_path) as f:
                for line in f:
                    parts = line.rstrip("\n").split(" ", 2)
                    if len(parts) == 3:
                        try:
                            out.append((float(parts[0]), parts[1], parts[2]))
                        except ValueError:
                            pass
        except OSError:
            pass
        return out

    def close_rpc(self):
        if self.client:
            self.client.close()
            self.client = None

    def signal(self, signo):
        if self.proc.poll() is None:
            os.kill(self.pid, signo)

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        self.close_rpc()
        self.bench.procs.kill(self.proc)
        self._out.close()

    def rss(self, field="VmRSS"):
        return rss_kib(self.pid, field)


# -- NATS ----------------------------------------------------------------------

class NatsServer:
    """One nats-server on 127.0.0.1: client port, cluster (route) port and
    monitoring port, all loopback. The first server of a cluster has no
    --routes; the others route to it and learn the rest by gossip (full mesh)."""

    def __init__(self, bench, name, ports, cluster_name, seed_port=None, dir=None):
        self.bench = bench
        self.name = name
        self.port = ports.get()
        self.cluster_port = ports.get()
        self.http_port = ports.get()
        self.dir = dir
        self.out_path = os.path.join(dir, name + ".out")
        argv = [bench.nats, "-a", "127.0.0.1", "-p", str(self.port), "-m", str(self.http_port),
                "-n", name, "--cluster", "nats://127.0.0.1:%d" % self.cluster_port,
                "--cluster_name", cluster_name, "--no_advertise=true"]
        if seed_port:
            argv += ["--routes", "nats://127.0.0.1:%d" % seed_port]
        self._out = open(self.out_path, "wb")
        self.spawn_ts = time.time()
        self.proc = bench.procs.popen(argv, stdin=subprocess.DEVNULL, stdout=self._out,
                                      stderr=subprocess.STDOUT, cwd=dir)
        self.pid = self.proc.pid
        self.server_id = None
        self.conn = None  # natsclient.Conn of this node's subscriber

    def __repr__(self):
        return "<nats %s pid %d>" % (self.name, self.pid)

    def monitor(self, path, timeout=1.0):
        """JSON of a monitoring endpoint (/varz, /routez, ...) or None."""
        import urllib.request
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.http_port, path),
                                        timeout=timeout) as r:
                return json.loads(r.read())
        except (OSError, ValueError):
            return None

    def wait_up(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            v = self.monitor("/varz", timeout=0.5)
            if v and v.get("server_id"):
                self.server_id = v["server_id"]
                return v
            if self.proc.poll() is not None:
                raise BenchError("nats-server %s exited (%s); see %s"
                                 % (self.name, self.proc.returncode, self.out_path))
            if time.monotonic() > deadline:
                raise BenchError("nats-server %s: monitoring not up within %.1f s"
                                 % (self.name, timeout))
            time.sleep(0.01)

    def route_ids(self):
        """server_ids this server has a route to, or None."""
        r = self.monitor("/routez")
        if r is None:
            return None
        return {x.get("remote_id") for x in r.get("routes") or ()}

    def connect(self, timeout=5.0):
        from natsclient import Conn
        self.conn = Conn(self.port, self.name, echo=False, timeout=timeout)
        return self.conn

    def signal(self, signo):
        if self.proc.poll() is None:
            os.kill(self.pid, signo)

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        if self.conn:
            self.conn.close()
            self.conn = None
        self.bench.procs.kill(self.proc)
        self._out.close()

    def rss(self, field="VmRSS"):
        return rss_kib(self.pid, field)


def tcp_data_segs_out(pids):
    """{pid: sum of data_segs_out over its established TCP sockets} from
    `ss -tinp` (the kernel's per-socket count of segments that carried data:
    what the process wrote, as TCP sent it)."""
    import re
    out = subprocess.run(["ss", "-tinpH", "state", "established"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, timeout=30).stdout.decode("utf-8", "replace")
    want = set(pids)
    tot = {p: 0 for p in want}
    cur = []
    for line in out.split("\n"):
        if line and not line[0].isspace():  # a socket's line; its info line follows
            cur = [p for p in (int(x) for x in re.findall(r"pid=(\d+)", line)) if p in want]
        m = re.search(r"data_segs_out:(\d+)", line)
        if m and cur:
            tot[cur[0]] += int(m.group(1))
    return tot
