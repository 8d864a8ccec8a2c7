#!/usr/bin/env python3
"""lanmesh benchmark, side by side with HashiCorp Serf (issue 7).

    python3 bench/run.py [--quick] [--reps N] [--only GROUP[,GROUP]] [--lanmesh PATH] [--out DIR]
                         [--skip-serf] [--keep] [--preliminary TEXT]

Runs lanmesh nodes and Serf agents on 127.0.0.1 only and writes RESULTS.md and
results.json into --out (default: bench/ for a full run; a temporary directory
for --quick or --only). Groups: convergence, latency, memory, idle, failure,
throughput, physical. Every process started is killed by its PID when the run
ends, also on Ctrl-C, SIGTERM or an error; every wait is bounded.

--quick: small clusters, one repetition, short windows, Serf's slow failure
rows skipped; runs in under a minute and is the ctest smoke test (bench.quick).
Without --quick, serf is installed with apt-get when missing.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from procs import BenchError, LmNode, Ports, Registry, SerfAgent, HANDLER  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
GROUPS = ("convergence", "latency", "memory", "idle", "failure", "throughput", "physical")


STOP = []  # set by SIGINT/SIGTERM: even if the KeyboardInterrupt were swallowed, the run stops


def log(msg):
    if STOP and STOP[0] == "pending":
        STOP[0] = "raised"
        raise KeyboardInterrupt(STOP[1])
    sys.stdout.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stdout.flush()


def sleep_until(t):
    d = t - time.monotonic()
    if d > 0:
        time.sleep(d)


# -- settings ------------------------------------------------------------------

class Settings:
    def __init__(self, quick, reps):
        self.quick = quick
        self.reps = reps
        if quick:
            self.n_small, self.n_big, self.n_tp = 3, 5, 4
            self.lat_rate, self.lat_count = 20.0, 12
            self.idle_settle, self.idle_window = 0.5, 2.0
            self.tp_duration, self.tp_grace, self.tp_drain = 0.5, 0.5, 5.0
            self.tp_bisect, self.tp_max_trials = 0, 3
            self.rtt_iter = 2000
            self.ref_seconds = 0.3
            self.serf_failures = False
        else:
            self.n_small, self.n_big, self.n_tp = 5, 20, 16
            self.lat_rate, self.lat_count = 10.0, 60
            self.idle_settle, self.idle_window = 3.0, 30.0
            self.tp_duration, self.tp_grace, self.tp_drain = 3.0, 0.5, 20.0
            self.tp_bisect, self.tp_max_trials = 3, 10
            self.rtt_iter = 20000
            self.ref_seconds = 1.0
            self.serf_failures = True

    def as_dict(self):
        return dict(self.__dict__)


# -- rows ----------------------------------------------------------------------

# id, label, unit, better ("lower"/"higher"), target (text), target check on lanmesh median
ROWS = [
    ("convergence_small", "Convergence, N={n_small}", "s", "lower", None, None),
    ("convergence_big", "Convergence, N={n_big}", "s", "lower", "< 0.3 s (N=20)", lambda v: v < 0.3),
    ("join_newcomer", "Newcomer joins N={n_big}", "s", "lower", "< 0.05 s", lambda v: v < 0.05),
    ("latency_small_p50", "Latency p50, N={n_small}", "ms", "lower", None, None),
    ("latency_small_p90", "Latency p90, N={n_small}", "ms", "lower", None, None),
    ("latency_small_p99", "Latency p99, N={n_small}", "ms", "lower", None, None),
    ("latency_small_max", "Latency max, N={n_small}", "ms", "lower", None, None),
    ("latency_big_p50", "Latency p50, N={n_big}", "ms", "lower", "< 1 ms (N=20)", lambda v: v < 1.0),
    ("latency_big_p90", "Latency p90, N={n_big}", "ms", "lower", None, None),
    ("latency_big_p99", "Latency p99, N={n_big}", "ms", "lower", "< 5 ms (N=20)", lambda v: v < 5.0),
    ("latency_big_max", "Latency max, N={n_big}", "ms", "lower", None, None),
    ("latency_big_w_p50", "Latency p50 from the client's call, N={n_big}", "ms", "lower", None, None),
    ("latency_big_w_p99", "Latency p99 from the client's call, N={n_big}", "ms", "lower", None, None),
    ("lost", "Lost deliveries (all latency runs)", "count", "lower", "0", lambda v: v == 0),
    ("duplicates", "Duplicate deliveries (all latency runs)", "count", "lower", "0",
     lambda v: v == 0),
    ("sigkill_drop", "SIGKILL: all neighbours dropped it", "s", "lower", "< 0.1 s", lambda v: v < 0.1),
    ("sigkill_whole", "SIGKILL: survivors whole again", "s", "lower", "< 0.5 s", lambda v: v < 0.5),
    ("sigstop_drop", "SIGSTOP: all neighbours dropped it", "s", "lower", "< 2 s", lambda v: v < 2.0),
    ("leave_known", "Graceful leave: neighbours know", "s", "lower", "< 0.05 s", lambda v: v < 0.05),
    ("rss_idle", "RSS per node, idle (median of nodes)", "MiB", "lower", "< 8 MiB", lambda v: v < 8.0),
    ("rss_anon_idle", "RSS per node, idle: anonymous part (heap, stacks; the rest is mapped code)",
     "MiB", "lower", None, None),
    ("rss_after", "RSS per node after latency run (median of nodes)", "MiB", "lower", "< 8 MiB",
     lambda v: v < 8.0),
    ("idle_udp", "Idle UDP datagrams sent per node per minute", "1/min", "lower", None, None),
    ("idle_tcp", "Idle TCP messages/frames sent per node per minute", "1/min", "lower", None, None),
    ("idle_total", "Idle packets sent per node per minute, UDP + TCP", "1/min", "lower", None, None),
    ("idle_cpu", "Idle CPU per node", "% of a core", "lower", None, None),
    ("tp_100_one", "Throughput 100 B, one sender, N={n_tp}", "msg/s", "higher", ">= 50000 msg/s",
     lambda v: v >= 50000),
    ("tp_100_all", "Throughput 100 B, all senders, N={n_tp}", "msg/s", "higher", ">= 50000 msg/s",
     lambda v: v >= 50000),
    ("tp_16k_one", "Throughput 16 KiB, one sender, N={n_tp}", "msg/s", "higher", None, None),
    ("tp_16k_all", "Throughput 16 KiB, all senders, N={n_tp}", "msg/s", "higher", None, None),
    ("rmr_100_one", "RMR at that rate, 100 B one sender", "", "lower", None, None),
    ("rmr_100_all", "RMR at that rate, 100 B all senders", "", "lower", None, None),
    ("rmr_16k_one", "RMR at that rate, 16 KiB one sender", "", "lower", None, None),
    ("rmr_16k_all", "RMR at that rate, 16 KiB all senders", "", "lower", None, None),
    ("ref_tcp_rtt", "Reference: loopback TCP round trip, 100 B, p50", "µs", "lower", None, None),
    ("ref_tcp_rtt_p99", "Reference: loopback TCP round trip, 100 B, p99", "µs", "lower", None, None),
    ("ref_tcp_bulk", "Reference: loopback TCP throughput, 64 KiB writes", "MB/s", "higher", None, None),
    ("ref_tcp_msgs", "Reference: loopback TCP, one write per 100 B message", "msg/s", "higher", None,
     None),
]
ROW_GROUP = {
    "convergence_small": "convergence", "convergence_big": "convergence",
    "join_newcomer": "convergence", "lost": "latency", "duplicates": "latency",
    "sigkill_drop": "failure", "sigkill_whole": "failure", "sigstop_drop": "failure",
    "leave_known": "failure", "rss_idle": "memory", "rss_anon_idle": "memory", "rss_after": "memory",
    "idle_udp": "idle", "idle_tcp": "idle", "idle_cpu": "idle", "idle_total": "idle",
}
LANMESH_ONLY = {"tp_100_one", "tp_100_all", "tp_16k_one", "tp_16k_all", "rmr_100_one",
                "rmr_100_all", "rmr_16k_one", "rmr_16k_all"}
REFERENCE = {"ref_tcp_rtt", "ref_tcp_rtt_p99", "ref_tcp_bulk", "ref_tcp_msgs"}


def row_group(rid):
    if rid in ROW_GROUP:
        return ROW_GROUP[rid]
    if rid.startswith("latency"):
        return "latency"
    if rid.startswith(("tp_", "rmr_")):
        return "throughput"
    return "physical"


class Results:
    def __init__(self):
        self.values = {rid: {"lanmesh": [], "serf": []} for rid, *_ in ROWS}
        self.notes = {rid: [] for rid, *_ in ROWS}
        self.details = {}  # free-form per scenario, for results.json
        self.errors = []
        self.expected = {}  # deliveries expected in the latency runs, per system

    def add(self, rid, system, value):
        self.values[rid][system].append(value)

    def note(self, rid, text):
        if text not in self.notes[rid]:
            self.notes[rid].append(text)

    def detail(self, key, value):
        self.details.setdefault(key, []).append(value)


def pct(values, q):
    """Nearest-rank percentile of a non-empty list."""
    v = sorted(values)
    if not v:
        return None
    k = max(0, min(len(v) - 1, int(round(q * (len(v) - 1)))))
    return v[k]


# -- the benchmark context -----------------------------------------------------

class Bench:
    def __init__(self, opts, settings):
        self.opts = opts
        self.s = settings
        self.procs = Registry()
        self.ports = Ports()
        self.work = tempfile.mkdtemp(prefix="lanmesh-bench-")
        shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        self.bulk_dir = tempfile.mkdtemp(prefix="lanmesh-bench-out-", dir=shm)
        self.empty_conf = os.path.join(self.work, "empty.conf")
        with open(self.empty_conf, "w") as f:
            f.write("; empty: the benchmark passes every setting on the command line\n")
        self.lanmesh = os.path.abspath(opts.lanmesh)
        self.serf = None
        self.serf_skip = None
        self.counter = 0
        self._handlers = {}

    def unique(self, tag):
        self.counter += 1
        return "bench-%d-%s-%d" % (os.getpid(), tag, self.counter)

    def serf_handler(self, d):
        if d not in self._handlers:
            path = os.path.join(d, "handler.sh")
            with open(path, "w") as f:
                f.write(HANDLER % {"dir": d})
            os.chmod(path, 0o755)
            self._handlers[d] = path
        return self._handlers[d]

    def cleanup(self):
        self.procs.kill_all()
        shutil.rmtree(self.bulk_dir, ignore_errors=True)
        if not self.opts.keep:
            shutil.rmtree(self.work, ignore_errors=True)


# -- lanmesh clusters ----------------------------------------------------------

def is_connected(ids, half_edges):
    adj = {i: set() for i in ids}
    for a, b in half_edges:
        if (b, a) in half_edges and a in adj and b in adj:
            adj[a].add(b)
    start = next(iter(ids))
    seen, todo = {start}, [start]
    while todo:
        x = todo.pop()
        for y in adj[x]:
            if y not in seen:
                seen.add(y)
                todo.append(y)
    return len(seen) == len(ids)


def connected_ts(nodes):
    """Wall-clock seconds at which the link graph (a link counts once both ends
    printed peer_up, until either printed peer_down) first connected all
    `nodes`, from their events; None if not yet."""
    ids = {n.id for n in nodes}
    evs = []
    for n in nodes:
        with n.cond:
            for e in n.events:
                k = e.get("event")
                if k in ("peer_up", "peer_down"):
                    evs.append((e["ts"], n.id, k, e["peer"]))
    evs.sort()
    half = set()
    for ts, a, k, b in evs:
        if k == "peer_up":
            half.add((a, b))
            if is_connected(ids, half):
                return ts / 1e6
        else:
            half.discard((a, b))
    return None


def wait_connected(nodes, timeout):
    deadline = time.monotonic() + timeout
    while True:
        ts = connected_ts(nodes)
        if ts is not None:
            return ts
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)


def lm_probe_round(nodes, tag, timeout, senders=None):
    """Every sender broadcasts once; waits until every other node delivered all.
    Returns the wall-clock time of the last delivery, or None on timeout."""
    senders = senders or nodes
    payloads = []
    for s in senders:
        p = "%s-%s" % (tag, s.name)
        s.send(p)
        payloads.append((p, s))
    deadline = time.monotonic() + timeout
    last = 0.0
    for p, s in payloads:
        for m in nodes:
            if m is s:
                continue
            try:
                d = m.wait_for(lambda: m.delivers.get(p), max(0.01, deadline - time.monotonic()),
                               "delivery of " + p)
            except BenchError:
                return None
            last = max(last, d[0][0] / 1e6)
    return last


class LmCluster:
    def __init__(self, b, tag, out_files=False):
        self.b = b
        self.tag = tag
        self.cluster = b.unique(tag)
        self.mport = b.ports.get()
        self.nodes = []
        self.out_files = out_files
        self.count = 0

    def spawn(self):
        name = "%s-%d" % (self.tag, self.count)
        self.count += 1
        out = os.path.join(self.b.bulk_dir, name + ".out") if self.out_files else None
        n = LmNode(self.b, self.cluster, self.mport, name, out_file=out)
        self.nodes.append(n)
        return n

    def start(self, n, timeout=15.0):
        """Starts n nodes at once; returns (t0, wall time when connected or None)."""
        t0 = time.time()
        for _ in range(n):
            self.spawn()
        for nd in self.nodes:
            nd.wait_ready(timeout)
        if self.out_files:
            return t0, None
        return t0, wait_connected(self.nodes, timeout)

    def alive(self):
        return [n for n in self.nodes if n.alive()]

    def kill(self):
        for n in self.nodes:
            n.kill()


# -- Serf clusters ---------------------------------------------------------------

class SerfCluster:
    def __init__(self, b, tag):
        self.b = b
        self.tag = tag
        self.dir = tempfile.mkdtemp(prefix=tag + "-", dir=b.work)
        self.agents = []
        self.count = 0

    def spawn(self, join=True):
        name = "%s-%02d" % (self.tag, self.count)
        self.count += 1
        jp = self.agents[0].bind_port if (join and self.agents) else None
        a = SerfAgent(self.b, name, self.b.ports, join_port=jp, dir=self.dir)
        self.agents.append(a)
        return a

    def start(self, n, timeout=20.0):
        """First agent, then (once its RPC answers) the others with -join=first.
        Returns (t0, wall time when every agent lists all n alive, or None)."""
        t0 = time.time()
        first = self.spawn(join=False)
        first.wait_rpc(5.0)
        for _ in range(n - 1):
            self.spawn()
        return t0, self.wait_all_alive(self.agents, {a.name for a in self.agents}, timeout)

    def wait_all_alive(self, agents, names, timeout):
        deadline = time.monotonic() + timeout
        done = {}
        while len(done) < len(agents):
            for a in agents:
                if a.name in done:
                    continue
                try:
                    m = a.members()
                except Exception:  # noqa: BLE001 - agent still starting
                    a.close_rpc()
                    m = None
                if m is not None and all(m.get(x) == "alive" for x in names):
                    done[a.name] = time.time()
            if time.monotonic() > deadline:
                return None
            time.sleep(0.005)
        return max(done.values())

    def wait_status(self, watchers, victim, statuses, timeout):
        """Polls members on every watcher until each shows `victim` in one of
        `statuses`; returns the wall time of the last one, or None."""
        deadline = time.monotonic() + timeout
        done = {}
        while len(done) < len(watchers):
            for a in watchers:
                if a.name in done:
                    continue
                try:
                    m = a.members() or {}
                except Exception:  # noqa: BLE001
                    a.close_rpc()
                    m = {}
                if m.get(victim) in statuses:
                    done[a.name] = time.time()
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)
        return max(done.values())

    def alive(self):
        return [a for a in self.agents if a.alive()]

    def kill(self):
        for a in self.agents:
            a.kill()


# -- scenarios: convergence, newcomer --------------------------------------------

def lm_converge(b, res, rid, n, tag, keep=False):
    cl = LmCluster(b, tag)
    try:
        t0, tc = cl.start(n)
        if tc is None:
            res.note(rid, "lanmesh: not connected within 15 s in one repetition")
            res.add(rid, "lanmesh", None)
        else:
            done = lm_probe_round(cl.nodes, tag + "-cv", 10.0)
            res.add(rid, "lanmesh", tc - t0)
            firsts = [(e["ts"] / 1e6 - t0) if e else None
                      for e in (nd.event_after(0, "peer_up") for nd in cl.nodes)]
            res.detail(rid + "/lanmesh", {
                "linked_s": tc - t0,
                "probe_round_done_s": None if done is None else done - t0,
                "last_ready_s": max(nd.event_after(0, "ready")["ts"] / 1e6 - t0 for nd in cl.nodes),
                "last_first_link_s": max(x for x in firsts if x is not None),
                "log_dir": b.work if b.opts.keep else None})
            if done is None:
                res.note(rid, "lanmesh: a broadcast from each node was NOT delivered everywhere")
        log("  lanmesh N=%d converged in %s s" % (n, "%.3f" % (tc - t0) if tc else "-"))
    except BaseException:
        cl.kill()
        raise
    if not keep:
        cl.kill()
        return None
    return cl


def serf_converge(b, res, rid, n, tag, keep=False):
    cl = SerfCluster(b, tag)
    try:
        t0, tc = cl.start(n)
        res.add(rid, "serf", None if tc is None else tc - t0)
        log("  serf N=%d converged in %s s" % (n, "%.3f" % (tc - t0) if tc else "-"))
    except BaseException:
        cl.kill()
        raise
    if not keep:
        cl.kill()
        return None
    return cl


def lm_newcomer(b, res, cl):
    n = cl.spawn()
    n.wait_ready(10.0)
    tc = wait_connected(cl.alive(), 10.0)
    if tc is None:
        res.add("join_newcomer", "lanmesh", None)
        res.note("join_newcomer", "lanmesh: newcomer not linked within 10 s")
        return
    first = n.wait_event("peer_up", 1.0)
    join = tc - n.spawn_ts
    # Check both directions carry broadcasts.
    ok = lm_probe_round(cl.alive(), "nc", 5.0, senders=[n, cl.nodes[0]])
    res.add("join_newcomer", "lanmesh", join)
    res.detail("join_newcomer/lanmesh", {"joined_s": join,
                                         "ready_s": n.event_after(0, "ready")["ts"] / 1e6 - n.spawn_ts,
                                         "first_peer_up_s": first["ts"] / 1e6 - n.spawn_ts,
                                         "broadcast_both_ways": ok is not None})
    log("  lanmesh newcomer joined in %.3f s (first link %.3f s)"
        % (join, first["ts"] / 1e6 - n.spawn_ts))


def serf_newcomer(b, res, cl):
    a = cl.spawn()
    names = {x.name for x in cl.agents}
    tc = cl.wait_all_alive(cl.alive(), names, 15.0)
    res.add("join_newcomer", "serf", None if tc is None else tc - a.spawn_ts)
    log("  serf newcomer joined in %s s" % ("%.3f" % (tc - a.spawn_ts) if tc else "-"))


# -- scenarios: latency ----------------------------------------------------------

# How long after the last send the harness still keeps quiet: a bound on
# the measured window, not a synchronisation (late deliveries still count).
LATENCY_QUIET_TAIL = 0.5


def lm_latency(b, res, cl, size_key, tag):
    s = b.s
    nodes = cl.alive()
    sends = []
    # Nothing is parsed while messages are in flight (procs.LmNode.pause_reading);
    # the output is read once the last message had time to arrive everywhere.
    for m in nodes:
        m.pause_reading()
    try:
        t0 = time.monotonic()
        for k in range(s.lat_count):
            sleep_until(t0 + k / s.lat_rate)
            snd = nodes[k % len(nodes)]
            p = "%s-%d" % (tag, k)
            wts = time.time()
            snd.send(p)
            sends.append((p, snd, wts))
        sleep_until(t0 + s.lat_count / s.lat_rate + LATENCY_QUIET_TAIL)
    finally:
        for m in nodes:
            m.resume_reading()
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        if all(m.delivers.get(p) for p, snd, _ in sends for m in nodes if m is not snd):
            break
        time.sleep(0.05)
    time.sleep(0.2)  # a late duplicate would show up here
    lat, wlat, lost, dup = [], [], 0, 0
    for p, snd, wts in sends:
        for m in nodes:
            d = m.delivered(p)
            if m is snd:
                dup += len(d)
                continue
            if not d:
                lost += 1
                continue
            dup += len(d) - 1
            ts, msg, _ = d[0]
            sent_ts = snd.sent.get(msg)
            if sent_ts is not None:
                lat.append((ts - sent_ts) / 1000.0)
            wlat.append(ts / 1000.0 - wts * 1000.0)
    record_latency(res, size_key, "lanmesh", lat, lost, dup, len(nodes), wlat,
                   len(sends) * (len(nodes) - 1))


def serf_latency(b, res, cl, size_key, tag):
    s = b.s
    agents = cl.alive()
    sends = []
    t0 = time.monotonic()
    for k in range(s.lat_count):
        sleep_until(t0 + k / s.lat_rate)
        a = agents[k % len(agents)]
        p = "%s-%d" % (tag, k)
        ts = time.time()
        a.rpc().event("b", p.encode(), False)
        sends.append((p, a, ts))
    want = {(p, m.name) for p, a, _ in sends for m in agents if m is not a}
    deadline = time.monotonic() + 8.0
    seen = {}
    while True:
        seen = {}
        for m in agents:
            for ts, name, p in m.events():
                seen.setdefault((p, m.name), []).append(ts)
        if want <= set(seen) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    lat, lost, dup = [], 0, 0
    for p, a, ts in sends:
        for m in agents:
            got = seen.get((p, m.name), [])
            if m is a:
                dup += max(0, len(got) - 1)  # Serf runs the sender's own handler once
                continue
            if not got:
                lost += 1
                continue
            dup += len(got) - 1
            lat.append((min(got) - ts) * 1000.0)
    record_latency(res, size_key, "serf", lat, lost, dup, len(agents), lat,
                   len(sends) * (len(agents) - 1))


def record_latency(res, size_key, system, lat, lost, dup, n, wlat, expected):
    base = "latency_%s_" % size_key
    for q, name in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (1.0, "max")):
        res.add(base + name, system, pct(lat, q) if lat else None)
    if size_key == "big":
        res.add(base + "w_p50", system, pct(wlat, 0.5) if wlat else None)
        res.add(base + "w_p99", system, pct(wlat, 0.99) if wlat else None)
    res.add("lost", system, lost)
    res.add("duplicates", system, dup)
    res.expected[system] = res.expected.get(system, 0) + expected
    res.detail("latency_%s/%s" % (size_key, system),
               {"n": n, "samples": len(lat), "lost": lost, "duplicates": dup,
                "min_ms": min(lat) if lat else None, "mean_ms": statistics.mean(lat) if lat else None,
                "from_call_p50_ms": pct(wlat, 0.5), "from_call_p99_ms": pct(wlat, 0.99),
                "from_call_max_ms": pct(wlat, 1.0), "negative_samples": sum(1 for x in lat if x < 0)})
    log("  %s latency N=%d: p50 %s p99 %s max %s ms, %d samples, lost %d, dup %d"
        % (system, n, fmt(pct(lat, 0.5)), fmt(pct(lat, 0.99)), fmt(pct(lat, 1.0)), len(lat),
           lost, dup))


def fmt(v, digits=3):
    if v is None:
        return "-"
    if isinstance(v, int):
        return str(v)
    if abs(v) >= 1000:
        return "%.0f" % v
    return ("%." + str(digits) + "g") % v


# -- scenarios: idle traffic and memory ----------------------------------------

DUMP_RE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \+0000 UTC\]\[C\] "
                     r"'[^']*memberlist\.(udp|tcp)\.sent': Count: (\d+)")


def serf_dump(agents):
    """SIGUSR1 makes an agent print its in-memory telemetry: every *completed*
    10 s interval of the last minute (the current one is skipped). Returns per
    agent {(kind, interval_start): count} of memberlist.udp.sent / tcp.sent.
    A young agent may not answer the first signal: it is repeated (bounded)."""
    import calendar
    out = {}
    deadline = time.monotonic() + 10.0
    for a in agents:
        d = {}
        text = ""
        while time.monotonic() < deadline and "runtime." not in text:
            off = os.path.getsize(a.out_path)
            a.signal(signal.SIGUSR1)
            until = min(deadline, time.monotonic() + 0.5)
            while time.monotonic() < until:  # a dump prints runtime gauges
                time.sleep(0.02)
                with open(a.out_path, "rb") as f:
                    f.seek(off)
                    text = f.read().decode("utf-8", "replace")
                if "runtime." in text:
                    time.sleep(0.05)  # let the rest of the dump land
                    with open(a.out_path, "rb") as f:
                        f.seek(off)
                        text = f.read().decode("utf-8", "replace")
                    break
        if "runtime." not in text:
            raise BenchError("serf agent %s printed no telemetry on SIGUSR1" % a.name)
        for line in text.splitlines():
            m = DUMP_RE.match(line)
            if m:
                t = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S"))
                d[(m.group(2), t)] = int(m.group(3))
        out[a.name] = d
    return out


def idle_and_memory(b, res, lm, sf, want_idle, want_mem):
    """Idle window over whole 10 s wall-clock intervals (Serf's telemetry
    intervals), the same window for both systems."""
    s = b.s
    time.sleep(s.idle_settle)
    lm_nodes = lm.alive() if lm else []
    sf_agents = sf.alive() if sf else []
    serf_traffic = bool(sf_agents) and not s.quick
    if want_idle:
        if serf_traffic:  # start on a 10 s boundary
            time.sleep(10.0 - time.time() % 10.0 + 0.05)
        ts0 = time.time()
        c0 = {p.pid: cpu_seconds(p.pid) for p in lm_nodes + sf_agents}
        st0 = [n.stats() for n in lm_nodes]
        t0 = time.time()
        sleep_until(time.monotonic() + s.idle_window - (t0 - ts0))
        st1 = [n.stats() for n in lm_nodes]
        t1 = time.time()
        c1 = {p.pid: cpu_seconds(p.pid) for p in lm_nodes + sf_agents}
        for system, procs in (("lanmesh", lm_nodes), ("serf", sf_agents)):
            if procs:
                cpu = sum(c1[p.pid] - c0[p.pid] for p in procs)
                res.add("idle_cpu", system, 100.0 * cpu / (t1 - ts0) / len(procs))
                log("  %s idle CPU per node: %.2f%% of a core"
                    % (system, 100.0 * cpu / (t1 - ts0) / len(procs)))
        if lm_nodes:
            per_min = 60.0 / (t1 - t0) / len(lm_nodes)
            udp = sum(b1["discovery_sent"] - a0["discovery_sent"] for a0, b1 in zip(st0, st1))
            tcp = sum(b1["frames_out"] - a0["frames_out"] for a0, b1 in zip(st0, st1))
            res.add("idle_udp", "lanmesh", udp * per_min)
            res.add("idle_tcp", "lanmesh", tcp * per_min)
            res.add("idle_total", "lanmesh", (udp + tcp) * per_min)
            log("  lanmesh idle per node per minute: %.1f datagrams, %.1f frames"
                % (udp * per_min, tcp * per_min))
        if serf_traffic:
            i0 = int(ts0 // 10 * 10)
            i1 = i0 + int(round(s.idle_window / 10.0)) * 10
            sleep_until(time.monotonic() + max(0.0, i1 - time.time()) + 0.2)
            dumps = serf_dump(sf_agents)
            udp = sum(c for d in dumps.values() for (k, i), c in d.items()
                      if k == "udp" and i0 <= i < i1)
            tcp = sum(c for d in dumps.values() for (k, i), c in d.items()
                      if k == "tcp" and i0 <= i < i1)
            per_min = 60.0 / (i1 - i0) / len(sf_agents)
            res.add("idle_udp", "serf", udp * per_min)
            res.add("idle_tcp", "serf", tcp * per_min)
            res.add("idle_total", "serf", (udp + tcp) * per_min)
            log("  serf idle per node per minute: %.1f UDP packets, %.1f TCP messages"
                % (udp * per_min, tcp * per_min))
        elif sf_agents:
            res.note("idle_udp", "Serf traffic needs whole 10 s telemetry intervals: "
                     "not measured in --quick")
    if want_mem:
        record_rss(res, "rss_idle", lm_nodes, sf_agents)
        record_rss(res, "rss_anon_idle", lm_nodes, sf_agents, field="RssAnon")


def cpu_seconds(pid):
    """utime + stime of a process (all threads), seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def record_rss(res, rid, lm_nodes, sf_agents, field="VmRSS"):
    for system, procs in (("lanmesh", lm_nodes), ("serf", sf_agents)):
        if not procs:
            continue
        r = [x for x in (p.rss(field) for p in procs) if x is not None]
        if r:
            res.add(rid, system, statistics.median(r) / 1024.0)
            res.detail(rid + "/" + system, {"median_mib": statistics.median(r) / 1024.0,
                                            "max_mib": max(r) / 1024.0, "n": len(r)})
            log("  %s %s: median %.1f MiB, max %.1f MiB"
                % (system, rid, statistics.median(r) / 1024.0, max(r) / 1024.0))


# -- scenarios: failures -------------------------------------------------------

def lm_most_linked(nodes):
    peers = {n: n.peers() for n in nodes}
    victim = max(nodes, key=lambda n: len(peers[n]))
    neigh = [n for n in nodes if n is not victim and victim.id in peers[n]]
    return victim, neigh


def lm_wait_dropped(victim, neigh, marks, t_sig, timeout):
    last, reasons = 0.0, []
    deadline = time.monotonic() + timeout
    for n in neigh:
        try:
            e = n.wait_event("peer_down", max(0.01, deadline - time.monotonic()),
                             after=marks[n], peer=victim.id)
        except BenchError:
            return None, reasons
        last = max(last, e["ts"] / 1e6)
        reasons.append(e["reason"])
    return last - t_sig, reasons


def lm_failures(b, res, cl, tag):
    time.sleep(0.5)
    # SIGKILL the most linked node; probe from the survivors meanwhile.
    nodes = cl.alive()
    victim, neigh = lm_most_linked(nodes)
    survivors = [n for n in nodes if n is not victim]
    marks = {n: n.mark() for n in survivors}
    t_kill = time.time()
    victim.signal(signal.SIGKILL)
    probes = []
    deadline = time.monotonic() + 5.0
    k = 0
    whole = None
    while time.monotonic() < deadline and whole is None:
        snd = survivors[k % len(survivors)]
        p = "%s-kp%d" % (tag, k)
        snd.send(p)
        probes.append((p, snd))
        k += 1
        time.sleep(0.02)
        for p, snd in probes:
            if all(m.delivers.get(p) for m in survivors if m is not snd):
                whole = True
                break
    time.sleep(0.05)
    best, partitioned = None, False
    for p, snd in probes:
        ds = [m.delivered(p) for m in survivors if m is not snd]
        if all(ds):
            t = max(d[0][0] for d in ds) / 1e6 - t_kill
            best = t if best is None else min(best, t)
        elif best is None:
            partitioned = True
    drop, reasons = lm_wait_dropped(victim, neigh, marks, t_kill, 10.0)
    res.add("sigkill_drop", "lanmesh", drop)
    res.add("sigkill_whole", "lanmesh", best)
    res.detail("sigkill/lanmesh", {"neighbours": len(neigh), "reasons": reasons,
                                   "partitioned_after_kill": partitioned, "probes": len(probes)})
    log("  lanmesh SIGKILL (%d neighbours): dropped in %s s, whole in %s s%s"
        % (len(neigh), fmt(drop), fmt(best), " (was partitioned)" if partitioned else ""))
    cl_settle(cl)
    # SIGSTOP the most linked survivor.
    nodes = cl.alive()
    victim, neigh = lm_most_linked(nodes)
    marks = {n: n.mark() for n in nodes}
    t_stop = time.time()
    victim.signal(signal.SIGSTOP)
    drop, reasons = lm_wait_dropped(victim, neigh, marks, t_stop, 10.0)
    victim.kill()
    res.add("sigstop_drop", "lanmesh", drop)
    res.detail("sigstop/lanmesh", {"neighbours": len(neigh), "reasons": reasons})
    log("  lanmesh SIGSTOP (%d neighbours): dropped in %s s" % (len(neigh), fmt(drop)))
    cl_settle(cl)
    # Graceful leave (SIGINT: goodbye on every link).
    nodes = cl.alive()
    victim, neigh = lm_most_linked(nodes)
    marks = {n: n.mark() for n in nodes}
    t_int = time.time()
    victim.signal(signal.SIGINT)
    drop, reasons = lm_wait_dropped(victim, neigh, marks, t_int, 5.0)
    res.add("leave_known", "lanmesh", drop)
    res.detail("leave/lanmesh", {"neighbours": len(neigh), "reasons": reasons})
    log("  lanmesh leave (%d neighbours): known in %s s" % (len(neigh), fmt(drop)))


def cl_settle(cl, quiet=0.3, timeout=3.0):
    """Waits until no node printed peer_up/peer_down for `quiet` s (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = 0.0
        for n in cl.alive():
            with n.cond:
                for e in reversed(n.events):
                    if e.get("event") in ("peer_up", "peer_down"):
                        last = max(last, e["ts"] / 1e6)
                        break
        if time.time() - last > quiet:
            return
        time.sleep(0.05)


def serf_failures(b, res, cl, tag):
    time.sleep(0.5)
    agents = cl.alive()
    victim = agents[len(agents) // 2]
    survivors = [a for a in agents if a is not victim]
    victim.close_rpc()
    t_kill = time.time()
    victim.signal(signal.SIGKILL)
    # Probe events every 250 ms while polling membership.
    probes, done, whole = [], {}, None
    deadline = time.monotonic() + 20.0
    next_probe = time.monotonic()
    k = 0
    while time.monotonic() < deadline and (len(done) < len(survivors) or whole is None):
        now = time.monotonic()
        if whole is None and now >= next_probe and now < deadline - 5.0:
            snd = survivors[k % len(survivors)]
            p = "%s-kp%d" % (tag, k)
            t = time.time()
            snd.rpc().event("b", p.encode(), False)
            probes.append((p, snd, t))
            k += 1
            next_probe = now + 0.25
            seen = {}
            for m in survivors:
                for ts, name, pl in m.events():
                    seen.setdefault(pl, {})[m.name] = ts
            for p, snd, t in probes:
                got = seen.get(p, {})
                if all(m.name in got for m in survivors if m is not snd):
                    whole = max(got[m.name] for m in survivors if m is not snd) - t_kill
                    break
        for a in survivors:
            if a.name not in done:
                try:
                    st = (a.members() or {}).get(victim.name)
                except Exception:  # noqa: BLE001
                    a.close_rpc()
                    st = None
                if st == "failed":
                    done[a.name] = time.time()
        time.sleep(0.02)
    drop = max(done.values()) - t_kill if len(done) == len(survivors) else None
    res.add("sigkill_drop", "serf", drop)
    res.add("sigkill_whole", "serf", whole)
    log("  serf SIGKILL: all show failed in %s s, whole in %s s" % (fmt(drop), fmt(whole)))
    # SIGSTOP.
    agents = cl.alive()
    victim = agents[len(agents) // 3]
    victim.close_rpc()
    watchers = [a for a in agents if a is not victim]
    t_stop = time.time()
    victim.signal(signal.SIGSTOP)
    t = cl.wait_status(watchers, victim.name, ("failed",), 25.0)
    victim.kill()
    res.add("sigstop_drop", "serf", None if t is None else t - t_stop)
    log("  serf SIGSTOP: all show failed in %s s" % fmt(None if t is None else t - t_stop))
    # Graceful leave by SIGINT.
    agents = cl.alive()
    victim = agents[-1]
    victim.close_rpc()
    watchers = [a for a in agents if a is not victim]
    t_int = time.time()
    victim.signal(signal.SIGINT)
    t = cl.wait_status(watchers, victim.name, ("left",), 15.0)
    res.add("leave_known", "serf", None if t is None else t - t_int)
    log("  serf leave: all show left in %s s" % fmt(None if t is None else t - t_int))


# -- throughput (lanmesh only) -------------------------------------------------

def tp_stats(nodes, timeout):
    offs = [n.stats_request() for n in nodes]
    return [n.read_stats_from(o, timeout) for n, o in zip(nodes, offs)]


def tp_cluster(b, n):
    cl = LmCluster(b, "tp", out_files=True)
    cl.start(n)
    # Connected? Poll /peers (file mode) until the graph is one piece.
    deadline = time.monotonic() + 15.0
    while True:
        graph = {}
        for nd in cl.nodes:
            off = os.path.getsize(nd.out_file)
            nd.send("/peers")
            ev = nd._scan_file_for(b'{"event":"peers"', off, 5.0)
            graph[nd.id] = {p["peer"] for p in ev["peers"]}
        half = {(a, x) for a, ps in graph.items() for x in ps}
        if is_connected(set(graph), half):
            break
        if time.monotonic() > deadline:
            raise BenchError("throughput cluster of %d not connected within 15 s" % n)
        time.sleep(0.1)
    return cl


def tp_trial(b, cl, senders, rate, size):
    s = b.s
    nodes = cl.nodes
    for nd in nodes:
        nd.truncate_out()
    before = tp_stats(nodes, 10.0)
    line = b"x" * size + b"\n"
    written = [0] * len(senders)
    total = 0
    cursor = 0
    t0 = time.monotonic()
    end = t0 + s.tp_duration
    tick = 0.005
    nxt = t0
    while True:
        now = time.monotonic()
        if now >= end:
            break
        due = min(int(rate * (now - t0)) + 1, int(rate * s.tp_duration)) - total
        if due > 0:
            share = [0] * len(senders)
            for i in range(due):
                share[(cursor + i) % len(senders)] += 1
            cursor = (cursor + due) % len(senders)
            for j, k in enumerate(share):
                if k:
                    senders[j].send_raw(line * k)
                    written[j] += k
            total += due
        nxt += tick
        sleep_until(nxt)
    t_end = time.monotonic()
    achieved = total / (t_end - t0)
    by_node = {id(nd): 0 for nd in nodes}
    for snd, w in zip(senders, written):
        by_node[id(snd)] = w
    expect = [total - by_node[id(nd)] for nd in nodes]
    t_done, after = None, None
    while True:
        left = t_end + s.tp_drain - time.monotonic()
        try:
            after = tp_stats(nodes, max(1.0, left))
        except BenchError:
            after = None
            break
        got = [a["delivered"] - b0["delivered"] for a, b0 in zip(after, before)]
        if all(g >= e for g, e in zip(got, expect)):
            t_done = time.monotonic()
            break
        if time.monotonic() > t_end + s.tp_drain:
            break
        time.sleep(0.05)
    r = {"rate": rate, "achieved": achieved, "sent": total, "drain_s": None, "pass": False}
    if after is not None:
        dlv = sum(a["delivered"] - b0["delivered"] for a, b0 in zip(after, before))
        dups = sum(a["duplicates"] - b0["duplicates"] for a, b0 in zip(after, before))
        sent = sum(a["sent"] - b0["sent"] for a, b0 in zip(after, before))
        r.update({"delivered": dlv, "expected": sum(expect), "router_sent": sent,
                  "rmr": (dlv + dups) / dlv - 1 if dlv else None,
                  "over_delivered": any(a["delivered"] - b0["delivered"] > e
                                        for a, b0, e in zip(after, before, expect))})
    if t_done is not None:
        r["drain_s"] = t_done - t_end
        r["pass"] = (r["drain_s"] <= s.tp_grace and achieved >= 0.95 * rate
                     and r.get("router_sent") == total and not r.get("over_delivered"))
    log("    rate %7.0f/s: achieved %7.0f/s, %s, drain %s s, RMR %s"
        % (rate, achieved, "PASS" if r["pass"] else "fail", fmt(r["drain_s"]), fmt(r.get("rmr"))))
    return r, t_done is not None


def tp_search(b, res, size, mode, rid, rmr_id):
    s = b.s
    if size == 100:
        r0, rmax = (2000.0 if not s.quick else 1000.0), 200000.0
    else:
        r0, rmax = (250.0 if not s.quick else 100.0), 16000.0
    cl = tp_cluster(b, s.n_tp)
    trials = []

    def run(rate):
        nonlocal cl
        senders = [cl.nodes[0]] if mode == "one" else list(cl.nodes)
        r, drained = tp_trial(b, cl, senders, rate, size)
        trials.append(r)
        if not drained:  # a backlog is left: start over with a fresh cluster
            cl.kill()
            cl = tp_cluster(b, s.n_tp)
        return r["pass"]

    try:
        best, fail = None, None
        rate = r0
        while len(trials) < s.tp_max_trials and rate <= rmax:
            if run(rate):
                best = rate
                rate *= 2
            else:
                fail = rate
                break
        if best is None and fail is not None:
            rate = fail / 2
            while len(trials) < s.tp_max_trials and rate >= 50:
                if run(rate):
                    best = rate
                    break
                fail = rate
                rate /= 2
        for _ in range(s.tp_bisect):
            if best is None or fail is None or len(trials) >= s.tp_max_trials or fail / best < 1.15:
                break
            mid = (best * fail) ** 0.5
            if run(mid):
                best = mid
            else:
                fail = mid
    finally:
        cl.kill()
    res.add(rid, "lanmesh", best)
    passed = [t for t in trials if t["pass"] and t["rate"] == best]
    res.add(rmr_id, "lanmesh", passed[0]["rmr"] if passed else None)
    res.detail(rid, {"trials": trials, "best": best, "first_fail": fail, "size": size,
                     "mode": mode, "n": s.n_tp})
    log("  throughput %d B %s sender(s): %s msg/s" % (size, mode, fmt(best)))


# -- physical reference ----------------------------------------------------------

def physical(b, res):
    s = b.s
    exe = os.path.join(b.work, "tcpref")
    src = os.path.join(HERE, "tcpref.cpp")
    cxx = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    built = False
    if cxx:
        r = subprocess.run([cxx, "-O2", "-std=c++17", "-pthread", "-o", exe, src],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        built = r.returncode == 0
    runner = [exe] if built else [sys.executable, os.path.join(HERE, "tcpref.py")]
    if not built:
        res.note("ref_tcp_rtt", "C++ compiler unavailable: Python fallback (slower)")

    def go(*args):
        p = b.procs.popen(runner + [str(a) for a in args], stdout=subprocess.PIPE)
        out, _ = p.communicate(timeout=60)
        return json.loads(out)

    rtt = go("rtt", s.rtt_iter, 100)
    bulk = go("bulk", s.ref_seconds, 65536)
    msgs = go("msgs", s.ref_seconds, 100)
    res.add("ref_tcp_rtt", "lanmesh", rtt["p50_us"])
    res.add("ref_tcp_rtt_p99", "lanmesh", rtt["p99_us"])
    res.add("ref_tcp_bulk", "lanmesh", bulk["MB_per_s"])
    res.add("ref_tcp_msgs", "lanmesh", msgs["writes_per_s"])
    res.detail("physical", {"rtt": rtt, "bulk": bulk, "msgs": msgs,
                            "program": "tcpref.cpp" if built else "tcpref.py"})
    log("  TCP RTT p50 %.1f us p99 %.1f us; bulk %.0f MB/s; 100 B writes %.0f/s"
        % (rtt["p50_us"], rtt["p99_us"], bulk["MB_per_s"], msgs["writes_per_s"]))


# -- orchestration -----------------------------------------------------------------

def run_rep(b, res, rep, want):
    s = b.s
    serf = b.serf is not None
    big_needed = any(want(g) for g in ("convergence", "latency", "memory", "idle", "failure"))
    if big_needed:
        log("rep %d: N=%d" % (rep + 1, s.n_big))
        # Serf first: the lanmesh nodes then converge beside idle Serf agents,
        # and every Serf row after the idle window runs with lanmesh stopped.
        sf, lm = None, None
        try:
            if serf:
                sf = serf_converge(b, res, "convergence_big", s.n_big, "sf%d" % rep, keep=True)
            lm = lm_converge(b, res, "convergence_big", s.n_big, "lm%d" % rep, keep=True)
            if want("idle") or want("memory"):
                idle_and_memory(b, res, lm, sf, want("idle"), want("memory"))
            if want("latency") or want("memory"):
                lm_latency(b, res, lm, "big", "lmL%d" % rep)
                if want("memory"):
                    record_rss(res, "rss_after", lm.alive(), [])
            if want("convergence"):
                lm_newcomer(b, res, lm)
            if want("failure"):
                lm_failures(b, res, lm, "lmF%d" % rep)
            lm.kill()
            if sf:
                if want("latency") or want("memory"):
                    serf_latency(b, res, sf, "big", "sfL%d" % rep)
                    if want("memory"):
                        record_rss(res, "rss_after", [], sf.alive())
                if want("convergence"):
                    serf_newcomer(b, res, sf)
                if want("failure") and s.serf_failures:
                    serf_failures(b, res, sf, "sfF%d" % rep)
        finally:
            if lm:
                lm.kill()
            if sf:
                sf.kill()
    if want("convergence") or want("latency"):
        log("rep %d: N=%d" % (rep + 1, s.n_small))
        lm = lm_converge(b, res, "convergence_small", s.n_small, "lms%d" % rep, keep=True)
        try:
            if want("latency"):
                lm_latency(b, res, lm, "small", "lmS%d" % rep)
        finally:
            lm.kill()
        if serf:
            sf = serf_converge(b, res, "convergence_small", s.n_small, "sfs%d" % rep, keep=True)
            try:
                if want("latency"):
                    serf_latency(b, res, sf, "small", "sfS%d" % rep)
            finally:
                sf.kill()


def ensure_serf(quick, skip):
    if skip:
        return None, "skipped (--skip-serf)"
    path = shutil.which("serf")
    if path:
        return path, None
    if quick:
        return None, "serf not installed: Serf columns skipped in --quick (the full run installs it)"
    log("serf not found: apt-get install -y serf")
    cmd = ["apt-get", "install", "-y", "serf"]
    if os.geteuid() != 0:
        cmd = ["sudo", "-n"] + cmd
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = subprocess.run(cmd, env=env, timeout=900)
    if r.returncode != 0:
        subprocess.run(cmd[:-3] + ["update"], env=env, timeout=900)
        subprocess.run(cmd, env=env, timeout=900)
    path = shutil.which("serf")
    if not path:
        raise BenchError("serf could not be installed (apt-get install -y serf)")
    return path, None


def machine_info():
    info = {"cores": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version()}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    info["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info["loadavg_start"] = os.getloadavg()
    return info


def summarize(res, b, want):
    rows = []
    for rid, label, unit, better, target, check in ROWS:
        label = label.format(**b.s.as_dict())
        g = row_group(rid)
        row = {"id": rid, "label": label, "unit": unit, "better": better, "target": target,
               "group": g, "notes": list(res.notes[rid])}
        if not want(g):
            row["status"] = "not run (--only)"
        for system in ("lanmesh", "serf"):
            vals = res.values[rid][system]
            nums = [v for v in vals if v is not None]
            if system == "serf" and (rid in LANMESH_ONLY or rid in REFERENCE):
                row[system] = None
                continue
            if system == "serf" and b.serf is None:
                row[system] = {"skipped": b.serf_skip}
                continue
            if system == "serf" and rid in ROW_GROUP and ROW_GROUP[rid] == "failure" \
                    and not b.s.serf_failures:
                row[system] = {"skipped": "Serf failure detection takes ~7-9 s: skipped in --quick"}
                continue
            d = {"values": vals, "reps": len(vals), "missing": len(vals) - len(nums)}
            if nums:
                if rid in ("lost", "duplicates"):
                    d.update(median=statistics.median(nums), min=min(nums), max=max(nums),
                             total=sum(nums), expected=res.expected.get(system))
                else:
                    d.update(median=statistics.median(nums), min=min(nums), max=max(nums))
            row[system] = d
        lm, sf = row.get("lanmesh") or {}, row.get("serf") or {}
        key = "total" if rid in ("lost", "duplicates") else "median"
        if lm.get(key) is not None and sf.get(key) not in (None, 0):
            row["ratio"] = lm[key] / sf[key]
        else:
            row["ratio"] = None
        if check and lm.get(key) is not None:
            row["meets_target"] = bool(check(lm[key])) and lm.get("missing", 0) == 0
        else:
            row["meets_target"] = None
        rows.append(row)
    return rows


def cell(d, key="median", unit=""):
    if d is None:
        return "—"
    if "skipped" in d:
        return "skipped"
    if d.get(key) is None:
        return "n/a" if not d.get("values") else "not reached"
    if key == "total":
        return "%s of %s (per run: %s)" % (fmt(d["total"]), d.get("expected"),
                                          ", ".join(fmt(v) for v in d["values"]))
    s = fmt(d[key])
    if d.get("reps", 0) > 1 and d.get("min") != d.get("max"):
        s += " [%s–%s]" % (fmt(d["min"]), fmt(d["max"]))
    if d.get("missing"):
        s += " (%d rep(s) not reached)" % d["missing"]
    return s


def write_outputs(out, meta, rows, res):
    os.makedirs(out, exist_ok=True)
    doc = {"meta": meta, "rows": rows, "details": res.details, "errors": res.errors}
    jpath = os.path.join(out, "results.json")
    with open(jpath + ".tmp", "w") as f:
        json.dump(doc, f, indent=1, default=str)
    os.replace(jpath + ".tmp", jpath)
    render(out, doc)
    return jpath


def render(out, doc):
    """Writes RESULTS.md in `out` from a results.json document."""
    meta, rows, errors = doc["meta"], doc["rows"], doc["errors"]
    s = meta["settings"]
    L = []
    L.append("# lanmesh benchmark results (issue 7)")
    L.append("")
    if meta.get("preliminary"):
        L.append("**Preliminary:** %s" % meta["preliminary"])
        L.append("")
    L.append("- Date: %s" % meta["date"])
    L.append("- Command: `%s`" % meta["command"])
    m = meta["machine"]
    L.append("- Machine: %s cores (%s), %s GiB memory, Linux %s; load average at start %s, at end %s"
             % (m.get("cores"), m.get("cpu", "?"), m.get("memory_gib"), m.get("kernel"),
                " ".join("%.2f" % x for x in m.get("loadavg_start", ())),
                " ".join("%.2f" % x for x in m.get("loadavg_end", ()))))
    L.append("- lanmesh: `%s` (commit %s); Serf: %s" % (meta["lanmesh"], meta["commit"], meta["serf"]))
    L.append("- Repetitions: %d; clusters of N=%d and N=%d (throughput N=%d); latency runs: %d "
             "broadcasts at %.0f/s per repetition; everything on 127.0.0.1"
             % (s["reps"], s["n_small"], s["n_big"], s["n_tp"], s["lat_count"], s["lat_rate"]))
    L.append("- Cells: median over repetitions [min–max]; ratio = lanmesh median / Serf median "
             "(below 1: lanmesh lower). Machine-readable: `results.json` next to this file.")
    L.append("")
    L.append("| Row | Unit | lanmesh | Serf | lanmesh/Serf | Target | Met |")
    L.append("|---|---|---|---|---|---|---|")
    for r in rows:
        key = "total" if r["id"] in ("lost", "duplicates") else "median"
        if r.get("status"):
            L.append("| %s | %s | %s | | | %s | |" % (r["label"], r["unit"], r["status"],
                                                   r["target"] or ""))
            continue
        met = {True: "yes", False: "**no**", None: ""}[r["meets_target"]]
        L.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            r["label"], r["unit"], cell(r["lanmesh"], key), cell(r["serf"], key),
            fmt(r["ratio"]) if r["ratio"] is not None else "", r["target"] or "", met))
    L.append("")
    notes = [(r["label"], n) for r in rows for n in r["notes"]]
    if notes:
        L.append("Notes from the run:")
        L.append("")
        for label, n in notes:
            L.append("- %s: %s" % (label, n))
        L.append("")
    if errors:
        L.append("Errors (harness):")
        L.append("")
        for e in errors:
            L.append("- %s" % e.splitlines()[-1])
        L.append("")
    findings = os.path.join(HERE, "FINDINGS.md")
    if os.path.exists(findings):
        rel = os.path.relpath(findings, out)
        L.append("Where lanmesh misses a target, what limits it (profiles, evidence): "
                 "[%s](%s)." % (os.path.basename(findings), rel))
        L.append("")
    L.append(METHOD)
    with open(os.path.join(out, "RESULTS.md"), "w") as f:
        f.write("\n".join(L) + "\n")


METHOD = """## How each row is measured

- **Convergence**: N nodes started at once (Serf: the first agent, then, once its
  RPC answers, the other N−1 with `-join=` the first). From the first spawn until
  lanmesh's link graph connects all N (a link counts once both ends printed
  `peer_up`; times from the events' `ts`), then checked by one broadcast from
  every node delivered everywhere; Serf: until `members` (RPC, polled every
  5 ms) on every agent lists all N `alive`.
- **Newcomer**: one more node/agent started into the running N=20 cluster; from
  its spawn until the graph including it is connected (Serf: every agent lists
  it alive). A broadcast each way is checked for lanmesh.
- **Latency**: broadcasts at a low fixed rate from the nodes in turn. lanmesh:
  `deliver.ts − sent.ts` per receiver (both wall clock, one machine; `sent.ts` is
  printed after the router took the message). The harness parses no node's
  output while messages are in flight (it waits in the pipes, read 0.5 s after
  the last send), so its own CPU does not delay the nodes'. Serf: user event
  through the RPC (`Coalesce=false`), from just before the RPC call until the
  event handler's `$EPOCHREALTIME` (bash, first line of the handler; includes
  Serf's fork/exec; the handler writes to a file read afterwards).
  Lost = a receiver never delivered it (5 s bound, Serf 8 s); duplicate = a
  receiver delivered it more than once (or the sender delivered its own).
- **SIGKILL**: the node with the most links is killed. Dropped = the last
  `peer_down` among its neighbours (Serf: every other agent lists it `failed`).
  Whole = from the kill until the first probe broadcast (one every 20 ms from the
  survivors in turn; Serf every 250 ms) delivered on every survivor.
- **SIGSTOP**: same, node stopped (never resumed). **Leave**: SIGINT (lanmesh:
  goodbye on every link; Serf: graceful leave), until every neighbour printed
  `peer_down` (Serf: every agent lists it `left`).
- **RSS**: `VmRSS` from `/proc/PID/status`, median over the nodes; idle after
  convergence plus the idle window, and again after the latency run. Most of
  a lanmesh node's RSS is mapped code of its shared libraries (CAF,
  libstdc++, spdlog), the same pages in every node; the `RssAnon` row is the
  part each node has to itself.
- **Idle traffic**: both clusters up and idle side by side, after a settle
  time, over a measured window. lanmesh: deltas of `discovery_sent` (UDP
  datagrams) and `frames_out` (TCP frames: heartbeats) from `/stats`. Serf:
  deltas of its own telemetry counters `memberlist.udp.sent` and
  `memberlist.tcp.sent` (number of packets / stream messages; dumped by SIGUSR1
  from the agent's in-memory sink, 10 s intervals).
- **Throughput** (lanmesh only): N=16 nodes by discovery; lines written to the
  senders' stdin at a fixed rate for a fixed duration (stdout to a tmpfs file);
  a rate passes when every node's `delivered` (from `/stats`) reaches every
  message of the others within the grace time after sending ends, the router
  `sent` all of them, and the writer achieved ≥95% of the rate. Rates double
  until a failure, then bisect. RMR = (delivered + duplicates) / delivered − 1
  summed over the nodes = payload frames received per delivery − 1 (the issue's
  copies/(N−1) − 1).
- **Reference**: `tcpref.cpp` in the same run: 100-byte ping-pong over one
  loopback TCP connection (TCP_NODELAY), bulk writes of 64 KiB, and one write per
  100-byte message.
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small and short; the ctest smoke test")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 3; --quick 1)")
    ap.add_argument("--only", default=None, help="comma-separated groups: " + ",".join(GROUPS))
    ap.add_argument("--lanmesh", default=os.path.join(REPO, "build", "lanmesh"))
    ap.add_argument("--out", default=None, help="directory for RESULTS.md and results.json")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    ap.add_argument("--skip-serf", action="store_true", help="lanmesh only (Serf columns skipped)")
    ap.add_argument("--preliminary", default=None, help="a note printed at the top of RESULTS.md")
    ap.add_argument("--render", metavar="RESULTS_JSON",
                    help="only rewrite RESULTS.md next to this results.json (no measurement)")
    opts = ap.parse_args()
    if opts.render:
        with open(opts.render) as f:
            render(os.path.dirname(os.path.abspath(opts.render)), json.load(f))
        return 0
    only = set(opts.only.split(",")) if opts.only else set(GROUPS)
    bad = only - set(GROUPS)
    if bad:
        ap.error("unknown group(s): %s" % ", ".join(sorted(bad)))
    reps = opts.reps if opts.reps is not None else (1 if opts.quick else 3)
    if reps < 1 or reps > 20:
        ap.error("--reps must be 1..20")
    if not os.access(opts.lanmesh, os.X_OK):
        print("lanmesh binary not found: %s (build it, or pass --lanmesh)" % opts.lanmesh)
        return 2
    out = opts.out or (HERE if not opts.quick and not opts.only
                       else tempfile.mkdtemp(prefix="lanmesh-bench-results-"))

    def on_term(signo, frame):
        STOP[:] = ["pending", "signal %d" % signo]
        raise KeyboardInterrupt("signal %d" % signo)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)  # also when started with SIGINT ignored (`cmd &`)

    settings = Settings(opts.quick, reps)
    b = Bench(opts, settings)
    res = Results()
    want = lambda g: g in only  # noqa: E731
    started = time.monotonic()
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([os.path.basename(sys.executable)] +
                            [os.path.relpath(sys.argv[0], REPO) if os.path.isabs(sys.argv[0])
                             else sys.argv[0]] + sys.argv[1:]),
        "machine": machine_info(), "quick": opts.quick, "settings": settings.as_dict(),
        "groups": sorted(only), "lanmesh": os.path.relpath(b.lanmesh, REPO)
        if b.lanmesh.startswith(REPO) else b.lanmesh, "preliminary": opts.preliminary,
    }
    try:
        meta["commit"] = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        timeout=10).stdout.decode().strip() or "?"
    except (OSError, subprocess.TimeoutExpired):
        meta["commit"] = "?"
    interrupted = False
    try:
        b.serf, b.serf_skip = ensure_serf(opts.quick, opts.skip_serf)
        if b.serf:
            v = subprocess.run([b.serf, "version"], stdout=subprocess.PIPE, timeout=10)
            meta["serf"] = v.stdout.decode().splitlines()[0].strip() + " (lan profile)"
        else:
            meta["serf"] = b.serf_skip
        log("work dir %s; results to %s" % (b.work, out))
        steps = []
        if want("physical"):
            steps.append(("physical reference", lambda: physical(b, res)))
        for rep in range(reps):
            steps.append(("repetition %d" % (rep + 1), lambda rep=rep: run_rep(b, res, rep, want)))
        if want("throughput"):
            for size, mode, rid, rmr in ((100, "one", "tp_100_one", "rmr_100_one"),
                                         (100, "all", "tp_100_all", "rmr_100_all"),
                                         (16384, "one", "tp_16k_one", "rmr_16k_one"),
                                         (16384, "all", "tp_16k_all", "rmr_16k_all")):
                steps.append(("throughput %d B %s" % (size, mode),
                              lambda a=(size, mode, rid, rmr): tp_search(b, res, *a)))
        for name, fn in steps:
            if STOP and STOP[0] == "pending":
                raise KeyboardInterrupt(STOP[1])
            log(name)
            try:
                fn()
            except (BenchError, OSError, ValueError, KeyError, TypeError) as e:
                res.errors.append("%s: %s" % (name, "".join(
                    traceback.format_exception(type(e), e, e.__traceback__))))
                log("  ERROR in %s: %s" % (name, e))
                b.procs.kill_all()
    except KeyboardInterrupt:
        STOP[:] = ["handled", ""]
        interrupted = True
        res.errors.append("interrupted")
        log("interrupted: stopping every process started")
    except BenchError as e:
        res.errors.append(str(e))
        log("ERROR: %s" % e)
    finally:
        b.cleanup()
    left = b.procs.running()
    meta["machine"]["loadavg_end"] = os.getloadavg()
    meta["duration_s"] = round(time.monotonic() - started, 1)
    rows = summarize(res, b, want)
    jpath = write_outputs(out, meta, rows, res)
    # Self-check (what the ctest smoke test relies on): the JSON parses and has every row.
    with open(jpath) as f:
        doc = json.load(f)
    ids = {r["id"] for r in doc["rows"]}
    missing = [rid for rid, *_ in ROWS if rid not in ids]
    log("wrote %s and RESULTS.md in %.0f s" % (jpath, meta["duration_s"]))
    if missing:
        log("MISSING ROWS: %s" % missing)
    if left:
        log("PROCESSES LEFT RUNNING: %s" % [p.pid for p in left])
    if doc["errors"]:
        log("%d error(s); see results.json" % len(doc["errors"]))
    return 1 if (missing or left or doc["errors"] or interrupted) else 0


if __name__ == "__main__":
    sys.exit(main())
