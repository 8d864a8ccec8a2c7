#!/usr/bin/env python3
"""lanmesh benchmark, side by side with HashiCorp Serf and a NATS cluster (issues 7, 16).

    python3 bench/run.py [--quick] [--reps N] [--only GROUP[,GROUP]] [--systems lanmesh,serf,nats]
                         [--sizes 5,10,20,50,100] [--lanmesh PATH] [--out DIR] [--keep]
                         [--preliminary TEXT] [--render RESULTS_JSON]

Runs lanmesh nodes, Serf agents and nats-servers on 127.0.0.1 only and writes
RESULTS.md, results.json (and scaling.png) into --out (default: bench/ for a
full run; a temporary directory for --quick or --only). Groups: convergence,
latency, memory, idle, failure, throughput, physical, scaling, tree (broadcast
tree vs flood: RMR, throughput, latency; issue 13), catchup (a stopped node
catches up; issue 13), keys (cluster key on vs off; issue 14). Every process
started is killed by its PID when the run ends, also on Ctrl-C, SIGTERM or an
error; every wait is bounded.

    python3 bench/run.py --only scaling --systems lanmesh,serf --sizes 20,100
        the membership issue's rows alone: idle packets and CPU per node
    python3 bench/run.py --only tree,catchup,keys --systems lanmesh
        the broadcast tree's and the cluster key's rows alone (lanmesh only)

--quick: small clusters, one repetition, short windows, Serf's slow rows
skipped; runs in under a minute and is the ctest smoke test (bench.quick).
Serf and NATS are skipped in --quick when not installed; otherwise serf and
nats-server are installed with apt-get when missing.
"""

import argparse
import base64
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

from procs import (BenchError, LmNode, NatsServer, Ports, Registry, SerfAgent,  # noqa: E402
                   HANDLER, tcp_data_segs_out)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
GROUPS = ("convergence", "latency", "memory", "idle", "failure", "throughput", "physical",
          "scaling", "tree", "catchup", "keys")


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
            self.tp_trials, self.tp_precision, self.tp_max_trials = 1, 2.0, 3
            self.serf_tp_grace = 2.0
            self.rtt_iter = 2000
            self.ref_seconds = 0.3
            self.serf_failures = False
            self.sizes = (4,)
            self.scale_lat_count = 10
            # tree vs flood, keys (N=n_big): warm-up and measured batches of the RMR rows
            self.rmr_rate, self.rmr_warm_one, self.rmr_one = 200.0, 5, 20
            self.rmr_warm_all, self.rmr_all = 2, 4   # per sender
            self.keys_node_stamp = True  # the node-stamped pass of the keys rows
            # catch-up: stopped this long while the others send this many
            self.catch_stop, self.catch_count = 2.0, 200
        else:
            self.n_small, self.n_big, self.n_tp = 5, 20, 16
            self.lat_rate, self.lat_count = 10.0, 60
            self.idle_settle, self.idle_window = 3.0, 30.0
            self.tp_duration, self.tp_grace, self.tp_drain = 2.0, 0.5, 20.0
            # three trials per rate, every one must pass; bisection until the
            # passing and the failing rate are within 5 %
            self.tp_trials, self.tp_precision, self.tp_max_trials = 3, 1.05, 45
            self.serf_tp_grace = 3.0
            self.rtt_iter = 20000
            self.ref_seconds = 1.0
            self.serf_failures = True
            self.sizes = (5, 10, 20, 50, 100)
            self.scale_lat_count = 40
            self.rmr_rate, self.rmr_warm_one, self.rmr_one = 200.0, 20, 200
            self.rmr_warm_all, self.rmr_all = 10, 20
            self.keys_node_stamp = True
            self.catch_stop, self.catch_count = 5.0, 1000

    def as_dict(self):
        return dict(self.__dict__)


# -- rows ----------------------------------------------------------------------

SYSTEMS = ("lanmesh", "serf", "nats")
SYSTEM_NAMES = {"lanmesh": "lanmesh", "serf": "Serf", "nats": "NATS"}

# id, label, unit, better ("lower"/"higher"), target (text), target check on lanmesh median
ROWS = [
    ("convergence_small", "Convergence, N={n_small}", "s", "lower", None, None),
    ("convergence_big", "Convergence, N={n_big}", "s", "lower", "< 0.3 s (N=20)", lambda v: v < 0.3),
    ("join_newcomer", "Newcomer joins N={n_big}", "s", "lower", "< 0.05 s", lambda v: v < 0.05),
    ("call_small_p50", "**Latency p50 from the caller's write, N={n_small}**", "ms", "lower", None, None),
    ("call_small_p99", "Latency p99 from the caller's write, N={n_small}", "ms", "lower", None, None),
    ("call_big_p50", "**Latency p50 from the caller's write, N={n_big}**", "ms", "lower",
     "<= NATS (N=20)", None),
    ("call_big_p90", "Latency p90 from the caller's write, N={n_big}", "ms", "lower", None, None),
    ("call_big_p99", "Latency p99 from the caller's write, N={n_big}", "ms", "lower", None, None),
    ("call_big_max", "Latency max from the caller's write, N={n_big}", "ms", "lower", None, None),
    ("latency_small_p50", "Detail: node-stamped latency p50, N={n_small}", "ms", "lower", None, None),
    ("latency_small_p90", "Detail: node-stamped latency p90, N={n_small}", "ms", "lower", None, None),
    ("latency_small_p99", "Detail: node-stamped latency p99, N={n_small}", "ms", "lower", None, None),
    ("latency_small_max", "Detail: node-stamped latency max, N={n_small}", "ms", "lower", None, None),
    ("latency_big_p50", "Detail: node-stamped latency p50, N={n_big}", "ms", "lower", "< 1 ms (N=20)",
     lambda v: v < 1.0),
    ("latency_big_p90", "Detail: node-stamped latency p90, N={n_big}", "ms", "lower", None, None),
    ("latency_big_p99", "Detail: node-stamped latency p99, N={n_big}", "ms", "lower", "< 5 ms (N=20)",
     lambda v: v < 5.0),
    ("latency_big_max", "Detail: node-stamped latency max, N={n_big}", "ms", "lower", None, None),
    ("latency_big_w_p50", "Detail: stdin write to the node's deliver stamp, p50, N={n_big}", "ms",
     "lower", None, None),
    ("latency_big_w_p99", "Detail: stdin write to the node's deliver stamp, p99, N={n_big}", "ms",
     "lower", None, None),
    ("lost", "Lost deliveries (all latency runs; lanmesh also the SIGKILL probes and the tree, "
     "catch-up and keys batches)", "count", "lower", "0", lambda v: v == 0),
    ("duplicates", "Duplicate deliveries (all latency runs; lanmesh also the SIGKILL probes and "
     "the tree, catch-up and keys batches)", "count", "lower", "0", lambda v: v == 0),
    ("out_of_order", "Out-of-order deliveries, per origin, order as sent (the same runs; "
     "tree mode)", "count", "lower", "0", lambda v: v == 0),
    ("sigkill_drop", "SIGKILL: all neighbours dropped it", "s", "lower", "< 0.1 s", lambda v: v < 0.1),
    ("sigkill_whole", "SIGKILL: every survivor receives again", "s", "lower", "< 0.5 s",
     lambda v: v < 0.5),
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
    ("tp_100_one", "Throughput 100 B, one sender, N={n_tp}", "msg/s", "higher",
     ">= 50000 msg/s and >= NATS", lambda v: v >= 50000),
    ("tp_100_all", "Throughput 100 B, all senders, N={n_tp}", "msg/s", "higher",
     ">= 50000 msg/s and >= NATS", lambda v: v >= 50000),
    ("tp_16k_one", "Throughput 16 KiB, one sender, N={n_tp}", "msg/s", "higher", None, None),
    ("tp_16k_all", "Throughput 16 KiB, all senders, N={n_tp}", "msg/s", "higher", None, None),
    ("rmr_100_one", "RMR at that rate, 100 B one sender", "", "lower", None, None),
    ("rmr_100_all", "RMR at that rate, 100 B all senders", "", "lower", None, None),
    ("rmr_16k_one", "RMR at that rate, 16 KiB one sender", "", "lower", None, None),
    ("rmr_16k_all", "RMR at that rate, 16 KiB all senders", "", "lower", None, None),
    # issue 13: the broadcast tree against flooding (tree group)
    ("rmr_tree_one", "**Tree: RMR at steady state, one sender, N={n_big}**", "", "lower", "<= 0.05",
     lambda v: v <= 0.05),
    ("rmr_flood_one", "Flood: RMR at steady state, one sender, N={n_big}", "", "lower", None, None),
    ("rmr_tree_all", "**Tree: RMR at steady state, all senders, N={n_big}**", "", "lower", "<= 0.5",
     lambda v: v <= 0.5),
    ("rmr_flood_all", "Flood: RMR at steady state, all senders, N={n_big}", "", "lower", None, None),
    ("tp_tree_100_one", "**Tree: throughput 100 B, one sender, N={n_tp}**", "msg/s", "higher",
     ">= 2 × flood", None),
    ("tp_flood_100_one", "Flood: throughput 100 B, one sender, N={n_tp}", "msg/s", "higher", None,
     None),
    ("tp_tree_100_all", "**Tree: throughput 100 B, all senders, N={n_tp}**", "msg/s", "higher",
     ">= 2 × flood", None),
    ("tp_flood_100_all", "Flood: throughput 100 B, all senders, N={n_tp}", "msg/s", "higher", None,
     None),
    ("call_tree_p50", "Tree: latency p50 from the caller's write, N={n_big}", "ms", "lower",
     "<= 1.2 × flood", None),
    ("call_flood_p50", "Flood: latency p50 from the caller's write, N={n_big}", "ms", "lower", None,
     None),
    ("call_tree_p99", "Tree: latency p99 from the caller's write, N={n_big}", "ms", "lower",
     "<= 1.2 × flood", None),
    ("call_flood_p99", "Flood: latency p99 from the caller's write, N={n_big}", "ms", "lower", None,
     None),
    ("flood_ooo", "Flood: out-of-order deliveries in the flood runs (flooding keeps no order)",
     "count", "lower", None, None),
    # issue 13: a stopped node catches up (catchup group)
    ("catchup_link", "**Catch-up: re-link to the last of {catch_count} messages delivered "
     "(stopped {catch_stop:g} s, N={n_big})**", "s", "lower", "<= 1 s", lambda v: v <= 1.0),
    ("catchup_cont", "Catch-up: SIGCONT to the last of {catch_count} messages delivered", "s",
     "lower", None, None),
    ("catchup_relink", "Catch-up: SIGCONT to its first new link", "s", "lower", None, None),
    ("catchup_lost", "Catch-up: lost at the stopped node", "count", "lower", "0", lambda v: v == 0),
    ("catchup_dup", "Catch-up: duplicates at the stopped node", "count", "lower", "0",
     lambda v: v == 0),
    ("catchup_ooo", "Catch-up: out of order at the stopped node", "count", "lower", "0",
     lambda v: v == 0),
    # issue 14: cluster key on vs off (keys group)
    ("tp_keys_100_all", "**Keys on: throughput 100 B, all senders, N={n_tp}**", "msg/s", "higher",
     ">= 0.8 × keys off", None),
    ("tp_nokeys_100_all", "Keys off: throughput 100 B, all senders, N={n_tp}", "msg/s", "higher",
     None, None),
    ("call_keys_p50", "**Keys on: latency p50 from the caller's write, N={n_big}**", "ms", "lower",
     "on − off <= 0.1 ms", None),
    ("call_nokeys_p50", "Keys off: latency p50 from the caller's write, N={n_big}", "ms", "lower",
     None, None),
    ("latency_keys_w_p50", "Keys on: detail: stdin write to the node's deliver stamp, p50, "
     "N={n_big}", "ms", "lower", "on − off <= 0.1 ms", None),
    ("latency_nokeys_w_p50", "Keys off: detail: stdin write to the node's deliver stamp, p50, "
     "N={n_big}", "ms", "lower", None, None),
    ("ref_fanout_100", "Limit: fan-out of 100 B to {n_tp_1} loopback sockets, 64 KiB writes",
     "msg/s", "higher", None, None),
    ("ref_fanout_100_1", "Limit: fan-out of 100 B to {n_tp_1} loopback sockets, one write per message",
     "msg/s", "higher", None, None),
    ("ref_fanout_16k", "Limit: fan-out of 16 KiB to {n_tp_1} loopback sockets, 64 KiB writes",
     "msg/s", "higher", None, None),
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
    "out_of_order": "latency",
}
TREE_ROWS = ("rmr_tree_one", "rmr_flood_one", "rmr_tree_all", "rmr_flood_all", "tp_tree_100_one",
             "tp_flood_100_one", "tp_tree_100_all", "tp_flood_100_all", "call_tree_p50",
             "call_flood_p50", "call_tree_p99", "call_flood_p99", "flood_ooo")
CATCHUP_ROWS = ("catchup_link", "catchup_cont", "catchup_relink", "catchup_lost", "catchup_dup",
                "catchup_ooo")
KEYS_ROWS = ("tp_keys_100_all", "tp_nokeys_100_all", "call_keys_p50", "call_nokeys_p50",
             "latency_keys_w_p50", "latency_nokeys_w_p50")
ROW_GROUP.update({r: "tree" for r in TREE_ROWS})
ROW_GROUP.update({r: "catchup" for r in CATCHUP_ROWS})
ROW_GROUP.update({r: "keys" for r in KEYS_ROWS})
# Rows only lanmesh has (the other systems' cells are "—").
LM_ONLY = set(TREE_ROWS) | set(CATCHUP_ROWS) | set(KEYS_ROWS) | {"out_of_order"}
# Rows shown as a total over every run ("0 of 8280 (per run: ...)").
COUNT_ROWS = {"lost", "duplicates", "out_of_order", "flood_ooo", "catchup_lost", "catchup_dup",
              "catchup_ooo"}
# Targets relative to another row: id -> (other row, check(median, other median), "ratio"/"diff").
CROSS = {
    "tp_tree_100_one": ("tp_flood_100_one", lambda v, o: v >= 2.0 * o, "ratio"),
    "tp_tree_100_all": ("tp_flood_100_all", lambda v, o: v >= 2.0 * o, "ratio"),
    "call_tree_p50": ("call_flood_p50", lambda v, o: v <= 1.2 * o, "ratio"),
    "call_tree_p99": ("call_flood_p99", lambda v, o: v <= 1.2 * o, "ratio"),
    "tp_keys_100_all": ("tp_nokeys_100_all", lambda v, o: v >= 0.8 * o, "ratio"),
    "call_keys_p50": ("call_nokeys_p50", lambda v, o: v - o <= 0.1, "diff"),
    "latency_keys_w_p50": ("latency_nokeys_w_p50", lambda v, o: v - o <= 0.1, "diff"),
}
REFERENCE = {"ref_tcp_rtt", "ref_tcp_rtt_p99", "ref_tcp_bulk", "ref_tcp_msgs", "ref_fanout_100",
             "ref_fanout_100_1", "ref_fanout_16k"}
# The fan-out limit each throughput row is read against.
TP_LIMIT = {"tp_100_one": "ref_fanout_100", "tp_100_all": "ref_fanout_100",
            "tp_16k_one": "ref_fanout_16k", "tp_16k_all": "ref_fanout_16k"}

_NODE_STAMP_NATS = "NATS stamps nothing: its latency is only measured from the caller (row above)"
_NODE_STAMP_SERF = "Serf: the RPC call to the handler's stamp, as in the row from the caller"
# Rows a system has no equivalent for: the reason is printed in its cell.
NA = {
    "latency_small_p50": {"nats": _NODE_STAMP_NATS}, "latency_small_p90": {"nats": _NODE_STAMP_NATS},
    "latency_small_p99": {"nats": _NODE_STAMP_NATS}, "latency_small_max": {"nats": _NODE_STAMP_NATS},
    "latency_big_p50": {"nats": _NODE_STAMP_NATS}, "latency_big_p90": {"nats": _NODE_STAMP_NATS},
    "latency_big_p99": {"nats": _NODE_STAMP_NATS}, "latency_big_max": {"nats": _NODE_STAMP_NATS},
    "latency_big_w_p50": {"nats": _NODE_STAMP_NATS, "serf": "no stdin: see the row from the caller"},
    "latency_big_w_p99": {"nats": _NODE_STAMP_NATS, "serf": "no stdin: see the row from the caller"},
    "sigstop_drop": {"nats": "not measured: a stopped server is only noticed by missed PINGs "
                             "(ping_interval 2 min, 2 outstanding: about 4-6 min)"},
    "idle_udp": {"nats": "none: NATS uses TCP only"},
    "tp_16k_one": {"serf": "no equivalent: user events carry at most 512 B (9 KiB hard cap)"},
    "tp_16k_all": {"serf": "no equivalent: user events carry at most 512 B (9 KiB hard cap)"},
    "rmr_100_one": {"serf": "—", "nats": "none: each server forwards once to every other "
                                         "(full mesh of routes), no duplicates"},
    "rmr_100_all": {"serf": "—", "nats": "none (full mesh)"},
    "rmr_16k_one": {"serf": "—", "nats": "none (full mesh)"},
    "rmr_16k_all": {"serf": "—", "nats": "none (full mesh)"},
}


def row_group(rid):
    if rid in ROW_GROUP:
        return ROW_GROUP[rid]
    if rid.startswith(("latency", "call_")):
        return "latency"
    if rid.startswith(("tp_", "rmr_")):
        return "throughput"
    return "physical"


class Results:
    def __init__(self):
        self.values = {rid: {x: [] for x in SYSTEMS} for rid, *_ in ROWS}
        self.notes = {rid: [] for rid, *_ in ROWS}
        self.details = {}  # free-form per scenario, for results.json
        self.errors = []
        self.expected = {}  # deliveries expected, per (count row, system)
        self.scaling = []   # one dict per (system, N)
        self.loadavg = []   # (group, loadavg) before each group

    def add(self, rid, system, value):
        self.values[rid][system].append(value)

    def note(self, rid, text):
        if text not in self.notes[rid]:
            self.notes[rid].append(text)

    def detail(self, key, value):
        self.details.setdefault(key, []).append(value)

    def count(self, rid, system, value, expected):
        """One run's count of a COUNT_ROWS row, out of `expected` deliveries."""
        self.add(rid, system, value)
        self.expected[(rid, system)] = self.expected.get((rid, system), 0) + expected


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
        self.nats = None
        self.nats_skip = None
        self.systems = ("lanmesh",)  # systems that run (set in main)
        self.counter = 0
        self._handlers = {}
        self.tp_done = {}  # throughput searches of this run, by their settings (tp_search)
        # The cluster key of the keys group: 32 random bytes, standard base64
        # (what `lanmesh keygen` prints); only ever on the nodes' command lines.
        self.key = base64.b64encode(os.urandom(32)).decode()

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


def components(graph):
    """Sizes of the pieces of a link graph {id: set of peer ids} (a link
    counts when both ends list it)."""
    seen, sizes = set(), []
    for start in graph:
        if start in seen:
            continue
        piece, todo = {start}, [start]
        while todo:
            x = todo.pop()
            for y in graph.get(x, ()):
                if y in graph and x in graph[y] and y not in piece:
                    piece.add(y)
                    todo.append(y)
        seen |= piece
        sizes.append(len(piece))
    return sorted(sizes, reverse=True)


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


def wait_delivered(nodes, sends, timeout):
    """Waits (bounded) until every node but its sender delivered each of
    `sends` [(payload, sender)]; True if they did."""
    deadline = time.monotonic() + timeout
    todo = [(p, m) for p, snd in sends for m in nodes if m is not snd]
    while True:
        todo = [(p, m) for p, m in todo if not m.delivers.get(p)]
        if not todo:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


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
    def __init__(self, b, tag, out_files=False, extra=()):
        self.b = b
        self.extra = tuple(extra)  # more command-line settings for every node
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
        n = LmNode(self.b, self.cluster, self.mport, name, out_file=out, extra=self.extra)
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


# -- NATS clusters -----------------------------------------------------------------

class NatsCluster:
    """One nats-server per node on 127.0.0.1, joined by routes (the first is
    the seed every other one routes to; gossip makes the full mesh), each with
    this node's subscriber (natsclient.Conn, subject "b")."""

    def __init__(self, b, tag):
        self.b = b
        self.tag = tag
        self.name = b.unique(tag)
        self.dir = tempfile.mkdtemp(prefix=tag + "-", dir=b.work)
        self.servers = []
        self.count = 0

    def spawn(self):
        name = "%s-%02d" % (self.tag, self.count)
        self.count += 1
        seed = self.servers[0].cluster_port if self.servers else None
        sv = NatsServer(self.b, name, self.b.ports, self.name, seed_port=seed, dir=self.dir)
        self.servers.append(sv)
        return sv

    def start(self, n, timeout=30.0):
        """Starts n servers at once (the seed first); returns (t0, wall time
        when every server's /routez lists a route to every other, or None)."""
        t0 = time.time()
        for _ in range(n):
            self.spawn()
        deadline = time.monotonic() + timeout
        for sv in self.servers:
            sv.wait_up(max(1.0, deadline - time.monotonic()))
        return t0, self.wait_routes(self.servers, deadline - time.monotonic())

    def wait_routes(self, servers, timeout, exclude=()):
        """Polls /routez (loopback) until each of `servers` has a route to
        every other of them and none to `exclude`; returns the wall time of
        the last one to get there, or None. Servers that are done are not
        polled again."""
        want_ids = {sv.server_id for sv in servers}
        gone = {sv.server_id for sv in exclude}
        deadline = time.monotonic() + max(0.0, timeout)
        done = {}
        while len(done) < len(servers):
            for sv in servers:
                if sv.name in done:
                    continue
                ids = sv.route_ids()
                if ids is not None and (want_ids - {sv.server_id}) <= ids and not (ids & gone):
                    done[sv.name] = time.time()
            if len(done) == len(servers) or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        return max(done.values()) if len(done) == len(servers) else None

    def subscribe(self, timeout=10.0, servers=None):
        """Connects a subscriber to every server, then probes until a message
        from each server reaches every subscriber (interest crosses the routes
        after the SUB). Returns the seconds that took, or None."""
        servers = servers or self.servers
        t0 = time.time()
        for sv in servers:
            if sv.conn is None:
                sv.connect()
                sv.conn.sub("b")
        for sv in servers:
            sv.conn.flush()
        deadline = time.monotonic() + timeout
        k = 0
        while time.monotonic() < deadline:
            ps = []
            for sv in servers:
                p = "%s-sub%d-%s" % (self.tag, k, sv.name)
                sv.conn.pub("b", p)
                ps.append((p, sv))
            k += 1
            until = min(deadline, time.monotonic() + 1.0)
            ok = False
            while time.monotonic() < until:
                ok = all(m.conn.delivered(p) for p, sv in ps for m in servers if m is not sv)
                if ok:
                    break
                time.sleep(0.01)
            if ok:
                return time.time() - t0
        return None

    def alive(self):
        return [sv for sv in self.servers if sv.alive()]

    def kill(self):
        for sv in self.servers:
            sv.kill()


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


def nats_converge(b, res, rid, n, tag, keep=False):
    cl = NatsCluster(b, tag)
    try:
        t0, tc = cl.start(n)
        res.add(rid, "nats", None if tc is None else tc - t0)
        sub = cl.subscribe() if tc is not None else None
        res.detail(rid + "/nats", {"routes_s": None if tc is None else tc - t0,
                                   "subscribers_reached_s": sub})
        if tc is None:
            res.note(rid, "NATS: routes not complete within 30 s in one repetition")
        elif sub is None:
            res.note(rid, "NATS: a message from each server did NOT reach every subscriber")
        log("  nats N=%d routes up in %s s, subscribers reached in %s s more"
            % (n, "%.3f" % (tc - t0) if tc else "-", fmt(sub)))
    except BaseException:
        cl.kill()
        raise
    if not keep:
        cl.kill()
        return None
    return cl


def nats_newcomer(b, res, cl):
    sv = cl.spawn()
    sv.wait_up(10.0)
    tc = cl.wait_routes(cl.alive(), 15.0)
    res.add("join_newcomer", "nats", None if tc is None else tc - sv.spawn_ts)
    log("  nats newcomer: every route up in %s s" % ("%.3f" % (tc - sv.spawn_ts) if tc else "-"))
    if tc is not None:
        cl.subscribe(servers=cl.alive())


def nats_failures(b, res, cl, tag):
    time.sleep(0.5)
    servers = cl.alive()
    victim = servers[len(servers) // 2]
    survivors = [sv for sv in servers if sv is not victim]
    t_kill = time.time()
    victim.signal(signal.SIGKILL)
    probes, whole, k = [], None, 0
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and whole is None:
        snd = survivors[k % len(survivors)]
        p = "%s-kp%d" % (tag, k)
        snd.conn.pub("b", p)
        probes.append((p, snd))
        k += 1
        time.sleep(0.02)
        for p, snd in probes:
            if all(m.conn.delivered(p) for m in survivors if m is not snd):
                whole = True
                break
    time.sleep(0.05)
    best = None
    for p, snd in probes:
        ds = [m.conn.delivered(p) for m in survivors if m is not snd]
        if all(ds):
            t = max(d[0] for d in ds) - t_kill
            best = t if best is None else min(best, t)
    tr = cl.wait_routes(survivors, 10.0, exclude=[victim])
    victim.kill()
    drop = None if tr is None else tr - t_kill
    res.add("sigkill_drop", "nats", drop)
    res.add("sigkill_whole", "nats", best)
    res.detail("sigkill/nats", {"probes": len(probes)})
    log("  nats SIGKILL: every route to it gone in %s s, every survivor receives in %s s"
        % (fmt(drop), fmt(best)))
    # Graceful shutdown (SIGINT): the server closes its routes.
    servers = cl.alive()
    victim = servers[-1]
    survivors = [sv for sv in servers if sv is not victim]
    t_int = time.time()
    victim.signal(signal.SIGINT)
    tr = cl.wait_routes(survivors, 10.0, exclude=[victim])
    res.add("leave_known", "nats", None if tr is None else tr - t_int)
    log("  nats leave: every route to it gone in %s s" % fmt(None if tr is None else tr - t_int))


# -- scenarios: latency ----------------------------------------------------------

# How long after the last send the harness still keeps quiet: a bound on
# the measured window, not a synchronisation (late deliveries still count).
LATENCY_QUIET_TAIL = 0.5


def lm_count(nodes, sends):
    """Lost, duplicate and out-of-order deliveries of `sends` [(payload,
    sender node), in the order the harness wrote them] on `nodes` (which all
    ran through the batch). A delivery is out of order when a message its
    origin sent later was delivered before it on that node (each origin's
    order as the harness wrote its lines; a lost message is not also counted
    out of order). Returns (lost, dup, ooo, expected deliveries)."""
    index, per = {}, {}
    for p, snd in sends:
        k = per.get(id(snd), 0)
        per[id(snd)] = k + 1
        index[p] = (id(snd), k)
    lost = dup = ooo = 0
    for m in nodes:
        got, top = {}, {}
        for p in m.delivery_order():
            x = index.get(p)
            if x is None:
                continue
            got[p] = got.get(p, 0) + 1
            if got[p] > 1:
                continue
            o, k = x
            if k < top.get(o, -1):
                ooo += 1
            else:
                top[o] = k
        for p, snd in sends:
            c = got.get(p, 0)
            if m is snd:
                dup += c  # a node never delivers its own message
            elif c == 0:
                lost += 1
            else:
                dup += c - 1
    return lost, dup, ooo, len(sends) * (len(nodes) - 1)


def lm_latency(b, res, cl, size_key, tag, stamp="node", count=None, record=True, raw=False):
    """stamp="node": the harness reads nothing while messages are in flight
    and the rows are the node's own stamps (deliver.ts - sent.ts, and
    deliver.ts - the harness's stdin write). stamp="call": the readers run and
    a delivery is stamped when the harness reads its line from the node's
    stdout (the caller's write to the receiver's read, as for NATS).
    raw=True: nothing recorded; returns a dict of the samples and counts."""
    s = b.s
    count = count or s.lat_count
    nodes = cl.alive()
    sends = []
    paused = stamp == "node"
    if paused:  # Nothing is parsed while messages are in flight.
        for m in nodes:
            m.pause_reading()
    try:
        t0 = time.monotonic()
        for k in range(count):
            sleep_until(t0 + k / s.lat_rate)
            snd = nodes[k % len(nodes)]
            p = "%s-%d" % (tag, k)
            wts = time.time()
            snd.send(p)
            sends.append((p, snd, wts))
        sleep_until(t0 + count / s.lat_rate + LATENCY_QUIET_TAIL)
    finally:
        if paused:
            for m in nodes:
                m.resume_reading()
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        if all(m.delivers.get(p) for p, snd, _ in sends for m in nodes if m is not snd):
            break
        time.sleep(0.05)
    time.sleep(0.2)  # a late duplicate would show up here
    lat, wlat, hlat, lost, dup = [], [], [], 0, 0
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
            ts, msg, _, hts = d[0]
            sent_ts = snd.sent.get(msg)
            if sent_ts is not None:
                lat.append((ts - sent_ts) / 1000.0)
            wlat.append(ts / 1000.0 - wts * 1000.0)
            hlat.append((hts - wts) * 1000.0)
    expected = len(sends) * (len(nodes) - 1)
    _, _, ooo, _ = lm_count(nodes, [(p, snd) for p, snd, _ in sends])
    if raw:
        return {"call": hlat, "node": lat, "write": wlat, "lost": lost, "dup": dup, "ooo": ooo,
                "expected": expected, "n": len(nodes)}
    if not record:
        return hlat, lost, dup
    if paused:
        record_latency(res, size_key, "lanmesh", lat, lost, dup, len(nodes), wlat, expected)
    else:
        record_call(res, size_key, "lanmesh", hlat, lost, dup, len(nodes), expected)
    res.count("out_of_order", "lanmesh", ooo, expected)
    if ooo:
        log("  lanmesh: %d deliveries out of order" % ooo)
    return hlat, lost, dup


def record_call(res, size_key, system, lat, lost, dup, n, expected, count_loss=True):
    """Rows of the latency from the caller's write to the receiver's read."""
    for q, name in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (1.0, "max")):
        rid = "call_%s_%s" % (size_key, name)
        if rid in res.values:
            res.add(rid, system, pct(lat, q) if lat else None)
    if count_loss:
        res.count("lost", system, lost, expected)
        res.count("duplicates", system, dup, expected)
    res.detail("call_%s/%s" % (size_key, system),
               {"n": n, "samples": len(lat), "lost": lost, "duplicates": dup,
                "p50_ms": pct(lat, 0.5), "p99_ms": pct(lat, 0.99), "max_ms": pct(lat, 1.0),
                "min_ms": min(lat) if lat else None})
    log("  %s latency from the caller N=%d: p50 %s p99 %s max %s ms, %d samples, lost %d, dup %d"
        % (system, n, fmt(pct(lat, 0.5)), fmt(pct(lat, 0.99)), fmt(pct(lat, 1.0)), len(lat),
           lost, dup))


def nats_latency(b, res, cl, size_key, tag, count=None, record=True):
    """From just before PUB on the sender's socket to the receiving
    subscriber's recv() (its reader thread stamps the bytes)."""
    s = b.s
    count = count or s.lat_count
    servers = cl.alive()
    sends = []
    t0 = time.monotonic()
    for k in range(count):
        sleep_until(t0 + k / s.lat_rate)
        snd = servers[k % len(servers)]
        p = "%s-%d" % (tag, k)
        wts = time.time()
        snd.conn.pub("b", p)
        sends.append((p, snd, wts))
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        if all(m.conn.delivered(p) for p, snd, _ in sends for m in servers if m is not snd):
            break
        time.sleep(0.05)
    time.sleep(0.2)
    lat, lost, dup = [], 0, 0
    for p, snd, wts in sends:
        for m in servers:
            d = m.conn.delivered(p)
            if m is snd:
                dup += len(d)
                continue
            if not d:
                lost += 1
                continue
            dup += len(d) - 1
            lat.append((d[0] - wts) * 1000.0)
    if record:
        record_call(res, size_key, "nats", lat, lost, dup, len(servers),
                    len(sends) * (len(servers) - 1))
    return lat, lost, dup


def serf_latency(b, res, cl, size_key, tag, count=None, record=True):
    s = b.s
    count = count or s.lat_count
    agents = cl.alive()
    sends = []
    t0 = time.monotonic()
    for k in range(count):
        sleep_until(t0 + k / s.lat_rate)
        a = agents[k % len(agents)]
        p = "%s-%d" % (tag, k)
        ts = time.time()
        a.rpc().event("b", p.encode(), False)
        sends.append((p, a, ts))
    want = {(p, m.name) for p, a, _ in sends for m in agents if m is not a}
    deadline = time.monotonic() + (8.0 if len(agents) <= 20 else 20.0)
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
    if not record:
        return lat, lost, dup
    record_latency(res, size_key, "serf", lat, lost, dup, len(agents), lat,
                   len(sends) * (len(agents) - 1))
    record_call(res, size_key, "serf", lat, lost, dup, len(agents), 0, count_loss=False)
    return lat, lost, dup


def record_latency(res, size_key, system, lat, lost, dup, n, wlat, expected):
    base = "latency_%s_" % size_key
    for q, name in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (1.0, "max")):
        res.add(base + name, system, pct(lat, q) if lat else None)
    if size_key == "big" and system == "lanmesh":
        res.add(base + "w_p50", system, pct(wlat, 0.5) if wlat else None)
        res.add(base + "w_p99", system, pct(wlat, 0.99) if wlat else None)
    res.count("lost", system, lost, expected)
    res.count("duplicates", system, dup, expected)
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


# lanmesh's /stats counters of UDP datagrams sent: discovery (multicast) and,
# since the membership rewrite, UDP probes. A counter a build lacks counts 0.
LM_UDP_SENT = ("discovery_sent", "udp_sent")


def idle_measure(b, lm_nodes, sf_agents, nt_servers, window):
    """One idle window for whichever systems are given (they idle side by
    side). Returns {system: {"cpu": % of a core per node, "udp", "tcp",
    "total": per node per minute}}. Serf needs whole 10 s telemetry intervals
    (the window is aligned to them and a multiple of 10 s)."""
    s = b.s
    serf_traffic = bool(sf_agents) and window >= 10.0
    if serf_traffic:  # start on a 10 s boundary
        window = max(10.0, round(window / 10.0) * 10.0)
        time.sleep(10.0 - time.time() % 10.0 + 0.05)
    out = {}
    ts0 = time.time()
    procs = list(lm_nodes) + list(sf_agents) + list(nt_servers)
    c0 = {p.pid: cpu_seconds(p.pid) for p in procs}
    n0 = tcp_data_segs_out([sv.pid for sv in nt_servers]) if nt_servers else {}
    st0 = [n.stats() for n in lm_nodes]
    t0 = time.time()
    sleep_until(time.monotonic() + window - (t0 - ts0))
    st1 = [n.stats() for n in lm_nodes]
    n1 = tcp_data_segs_out([sv.pid for sv in nt_servers]) if nt_servers else {}
    t1 = time.time()
    c1 = {p.pid: cpu_seconds(p.pid) for p in procs}
    for system, ps in (("lanmesh", lm_nodes), ("serf", sf_agents), ("nats", nt_servers)):
        if ps:
            cpu = sum(c1[p.pid] - c0[p.pid] for p in ps)
            out[system] = {"cpu": 100.0 * cpu / (t1 - ts0) / len(ps)}
    if lm_nodes:
        per_min = 60.0 / (t1 - t0) / len(lm_nodes)
        udp = sum(b1.get(k, 0) - a0.get(k, 0) for a0, b1 in zip(st0, st1) for k in LM_UDP_SENT)
        tcp = sum(b1["frames_out"] - a0["frames_out"] for a0, b1 in zip(st0, st1))
        out["lanmesh"].update(udp=udp * per_min, tcp=tcp * per_min, total=(udp + tcp) * per_min)
    if nt_servers:
        per_min = 60.0 / (t1 - ts0) / len(nt_servers)
        tcp = sum(n1.get(sv.pid, 0) - n0.get(sv.pid, 0) for sv in nt_servers)
        out["nats"].update(udp=None, tcp=tcp * per_min, total=tcp * per_min)
    if serf_traffic:
        i0 = int(ts0 // 10 * 10)
        i1 = i0 + int(round(window / 10.0)) * 10
        sleep_until(time.monotonic() + max(0.0, i1 - time.time()) + 0.2)
        dumps = serf_dump(sf_agents)
        udp = sum(c for d in dumps.values() for (k, i), c in d.items() if k == "udp" and i0 <= i < i1)
        tcp = sum(c for d in dumps.values() for (k, i), c in d.items() if k == "tcp" and i0 <= i < i1)
        per_min = 60.0 / (i1 - i0) / len(sf_agents)
        out["serf"].update(udp=udp * per_min, tcp=tcp * per_min, total=(udp + tcp) * per_min)
    return out


def idle_and_memory(b, res, lm, sf, nt, want_idle, want_mem):
    """Idle window over whole 10 s wall-clock intervals (Serf's telemetry
    intervals), the same window for every system."""
    s = b.s
    time.sleep(s.idle_settle)
    lm_nodes = lm.alive() if lm else []
    sf_agents = sf.alive() if sf else []
    nt_servers = nt.alive() if nt else []
    if want_idle:
        window = s.idle_window if not s.quick else min(s.idle_window, 2.0)
        out = idle_measure(b, lm_nodes, sf_agents, nt_servers, window)
        if sf_agents and window < 10.0:
            res.note("idle_udp", "Serf traffic needs whole 10 s telemetry intervals: "
                     "not measured in --quick")
        for system, d in out.items():
            if d.get("cpu") is not None:
                res.add("idle_cpu", system, d["cpu"])
            for k in ("udp", "tcp", "total"):
                if k in d and d[k] is not None:
                    res.add("idle_" + k, system, d[k])
            log("  %s idle per node: CPU %s %% of a core, per minute %s datagrams, %s TCP"
                % (system, fmt(d.get("cpu")), fmt(d.get("udp")), fmt(d.get("tcp"))))
    if want_mem:
        record_rss(res, "rss_idle", lm_nodes, sf_agents, nt_servers)
        record_rss(res, "rss_anon_idle", lm_nodes, sf_agents, nt_servers, field="RssAnon")


def cpu_seconds(pid):
    """utime + stime of a process (all threads), seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def rss_median(procs, field="VmRSS"):
    r = [x for x in (p.rss(field) for p in procs) if x is not None]
    return (statistics.median(r) / 1024.0, max(r) / 1024.0, len(r)) if r else (None, None, 0)


def record_rss(res, rid, lm_nodes, sf_agents, nt_servers=(), field="VmRSS"):
    for system, procs in (("lanmesh", lm_nodes), ("serf", sf_agents), ("nats", nt_servers)):
        if not procs:
            continue
        med, mx, n = rss_median(procs, field)
        if med is not None:
            res.add(rid, system, med)
            res.detail(rid + "/" + system, {"median_mib": med, "max_mib": mx, "n": n})
            log("  %s %s: median %.1f MiB, max %.1f MiB" % (system, rid, med, mx))


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
    # Churn: every probe sent after the kill must still reach every survivor,
    # once, in its sender's order (bounded wait; a late duplicate shows in 0.2 s).
    wait_delivered(survivors, probes, 5.0)
    time.sleep(0.2)
    lost, dup, ooo, expected = lm_count(survivors, probes)
    res.count("lost", "lanmesh", lost, expected)
    res.count("duplicates", "lanmesh", dup, expected)
    res.count("out_of_order", "lanmesh", ooo, expected)
    res.detail("sigkill/lanmesh", {"neighbours": len(neigh), "reasons": reasons,
                                   "partitioned_after_kill": partitioned, "probes": len(probes),
                                   "lost": lost, "duplicates": dup, "out_of_order": ooo})
    log("  lanmesh SIGKILL (%d neighbours): dropped in %s s, whole in %s s%s; probes: lost %d, "
        "dup %d, out of order %d of %d" % (len(neigh), fmt(drop), fmt(best),
                                           " (was partitioned)" if partitioned else "",
                                           lost, dup, ooo, expected))
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


# -- broadcast tree vs flood, catch-up, cluster key (lanmesh only; issues 13, 14) --

FLOOD = ("--broadcast.mode=flood",)


def keys_args(b):
    return ('--security.keys=["%s"]' % b.key,)


def redact(extra):
    """The settings as text for logs and results.json: never the key."""
    return [re.sub(r"(--security\.keys=).*", r'\1["KEY"]', x) for x in extra]


def extra_text(extra):
    return " ".join(redact(extra))


def lm_check_config(stats, extra):
    """Raises unless every node's /stats shows the broadcast mode and the key
    state `extra` asks for (a setting that did not take must not pass as a
    measurement of it)."""
    mode = "flood" if "--broadcast.mode=flood" in extra else "tree"
    keyed = any(x.startswith("--security.keys=") for x in extra)
    for st in stats:
        if st.get("broadcast_mode") != mode or bool(st.get("keyed")) != keyed:
            raise BenchError("node %s runs broadcast_mode=%s keyed=%s; asked for %s, keyed=%s"
                             % (st.get("node"), st.get("broadcast_mode"), st.get("keyed"), mode,
                                keyed))


def lm_batch(nodes, senders, each, rate, tag, timeout):
    """Every sender broadcasts `each` messages, in turn, at `rate` in total;
    then waits (bounded) until every other node delivered all of them.
    Returns (sends [(payload, sender)] in the order written, all delivered)."""
    sends = []
    total = each * len(senders)
    t0 = time.monotonic()
    for k in range(total):
        sleep_until(t0 + k / rate)
        snd = senders[k % len(senders)]
        p = "%s-%d" % (tag, k)
        snd.send(p)
        sends.append((p, snd))
    return sends, wait_delivered(nodes, sends, timeout)


def lm_quiet_stats(nodes, quiet, timeout=5.0):
    """Every node's /stats once the sum of payload frames received stopped
    moving (two reads `quiet` s apart agree; bounded by `timeout`)."""
    deadline = time.monotonic() + timeout
    prev = None
    while True:
        st = [n.stats() for n in nodes]
        cur = sum(x.get("payloads_in", 0) for x in st)
        if cur == prev or time.monotonic() > deadline:
            return st
        prev = cur
        time.sleep(quiet)


STAT_DELTAS = ("payloads_in", "delivered", "duplicates", "ihave_out", "grafts_out", "prunes_out",
               "iwants_out", "fetched", "gaps", "gap_messages", "frames_out")


def stat_delta(before, after):
    return {k: sum(a.get(k, 0) - b0.get(k, 0) for a, b0 in zip(after, before))
            for k in STAT_DELTAS}


def lm_steady_rmr(b, cl, senders, tag):
    """RMR once the trees settled: a warm-up batch from the senders, wait for
    the counters to stop moving, then the measured batch; RMR = payload frames
    received over the measured batch / (messages × (N−1)) − 1. Returns (rmr,
    detail, sends of both batches)."""
    s = b.s
    nodes = cl.alive()
    one = len(senders) == 1
    quiet = 0.2 if s.quick else 0.5
    warm, ok_w = lm_batch(nodes, senders, s.rmr_warm_one if one else s.rmr_warm_all, s.rmr_rate,
                          tag + "w", 10.0)
    before = lm_quiet_stats(nodes, quiet)
    sends, ok = lm_batch(nodes, senders, s.rmr_one if one else s.rmr_all, s.rmr_rate, tag + "m",
                         10.0)
    after = lm_quiet_stats(nodes, quiet)
    d = stat_delta(before, after)
    m = len(sends)
    rmr = d["payloads_in"] / float(m * (len(nodes) - 1)) - 1.0
    det = {"n": len(nodes), "senders": len(senders), "warm_up": len(warm), "messages": m,
           "all_delivered": ok_w and ok, "rate": s.rmr_rate, "rmr": rmr, "counters": d}
    return rmr, det, warm + sends


def lm_mode_cluster(b, res, rep, name, extra, want):
    """One N=n_big cluster of one configuration ("tree": the default, "flood",
    "keys": tree with a cluster key): steady-state RMR (tree group), latency
    from the caller, and for the keys comparison the node-stamped pass; lost,
    duplicate and out-of-order deliveries of every batch."""
    s = b.s
    tag = "%s%d" % (name, rep)
    cl = LmCluster(b, tag, extra=extra)
    try:
        t0, tc = cl.start(s.n_big)
        if tc is None:
            raise BenchError("%s cluster of %d not connected within 15 s" % (name, s.n_big))
        nodes = cl.nodes
        lm_check_config([n.stats() for n in nodes], extra)
        if lm_probe_round(nodes, tag + "-cv", 10.0) is None:
            raise BenchError("%s cluster: a broadcast from each node was not delivered everywhere"
                             % name)
        counts = []  # (lost, dup, ooo, expected) per batch
        tree_rows = want("tree") and name in ("tree", "flood")
        if tree_rows:
            for who, senders in (("one", [nodes[0]]), ("all", list(nodes))):
                rmr, det, sends = lm_steady_rmr(b, cl, senders, "%s-r%s" % (tag, who))
                c = lm_count(nodes, sends)
                counts.append(c)
                det.update(lost=c[0], duplicates=c[1], out_of_order=c[2])
                res.add("rmr_%s_%s" % (name, who), "lanmesh", rmr)
                res.detail("rmr_%s_%s/lanmesh" % (name, who), det)
                log("  %s N=%d RMR at steady state, %s sender(s): %.3f (%d messages; %s; lost %d, "
                    "dup %d, out of order %d)" % (name, len(nodes), who, rmr, det["messages"],
                                                  ", ".join("%s %d" % kv for kv in
                                                            sorted(det["counters"].items())),
                                                  c[0], c[1], c[2]))
        call = lm_latency(b, None, cl, "big", tag + "C", stamp="call", raw=True)
        counts.append((call["lost"], call["dup"], call["ooo"], call["expected"]))
        p50, p99 = pct(call["call"], 0.5), pct(call["call"], 0.99)
        if tree_rows:
            res.add("call_%s_p50" % name, "lanmesh", p50)
            res.add("call_%s_p99" % name, "lanmesh", p99)
        if want("keys") and name in ("tree", "keys"):
            res.add("call_%s_p50" % ("keys" if name == "keys" else "nokeys"), "lanmesh", p50)
        node = None
        if want("keys") and name in ("tree", "keys") and s.keys_node_stamp:
            node = lm_latency(b, None, cl, "big", tag + "L", stamp="node", raw=True)
            counts.append((node["lost"], node["dup"], node["ooo"], node["expected"]))
            res.add("latency_%s_w_p50" % ("keys" if name == "keys" else "nokeys"), "lanmesh",
                    pct(node["write"], 0.5))
        res.detail("modes/%s" % name, {
            "rep": rep, "n": len(nodes), "extra": redact(extra),
            "call_p50_ms": p50, "call_p99_ms": p99, "call_samples": len(call["call"]),
            "node_stamped_p50_ms": pct(node["node"], 0.5) if node else None,
            "write_to_deliver_p50_ms": pct(node["write"], 0.5) if node else None,
            "write_to_deliver_p99_ms": pct(node["write"], 0.99) if node else None,
            "counts": counts, "rss_mib": rss_median(nodes)[0]})
        lost = sum(c[0] for c in counts)
        dup = sum(c[1] for c in counts)
        ooo = sum(c[2] for c in counts)
        expected = sum(c[3] for c in counts)
        res.count("lost", "lanmesh", lost, expected)
        res.count("duplicates", "lanmesh", dup, expected)
        res.count("flood_ooo" if name == "flood" else "out_of_order", "lanmesh", ooo, expected)
        log("  %s N=%d latency from the caller: p50 %s p99 %s ms%s; lost %d, dup %d, out of order "
            "%d of %d" % (name, len(nodes), fmt(p50), fmt(p99),
                          "; stdin write to deliver stamp p50 %s ms" % fmt(pct(node["write"], 0.5))
                          if node else "", lost, dup, ooo, expected))
    finally:
        cl.kill()


def mode_rep(b, res, rep, want):
    """One repetition of the tree and keys groups: a fresh cluster per
    configuration, one at a time; the order turns every repetition so that
    neither configuration always runs first."""
    configs = [("tree", ())]
    if want("tree"):
        configs.append(("flood", FLOOD))
    if want("keys"):
        configs.append(("keys", keys_args(b)))
    k = rep % len(configs)
    configs = configs[k:] + configs[:k]
    for name, extra in configs:
        res.loadavg.append(("rep %d %s N=%d" % (rep + 1, name, b.s.n_big), os.getloadavg()))
        lm_mode_cluster(b, res, rep, name, extra, want)
        time.sleep(0.2 if b.s.quick else 1.0)  # let the last cluster's sockets go


def lm_catchup(b, res, rep):
    """A node SIGSTOPped while the others send catch_count messages spread
    over catch_stop s (its neighbours drop its links meanwhile); after SIGCONT
    it must deliver all of them, in order, once. Times from the nodes' own
    deliver/peer_up stamps (wall clock) and the harness's clock at SIGCONT."""
    s = b.s
    tag = "cu%d" % rep
    cl = LmCluster(b, tag)
    try:
        t0, tc = cl.start(s.n_big)
        if tc is None:
            raise BenchError("catch-up cluster of %d not connected within 15 s" % s.n_big)
        nodes = cl.nodes
        if lm_probe_round(nodes, tag + "-cv", 10.0) is None:
            raise BenchError("catch-up cluster: a broadcast from each node was not delivered "
                             "everywhere")
        victim = nodes[len(nodes) // 2]
        others = [n for n in nodes if n is not victim]
        # every origin's stream exists on every node before the stop
        warm, _ = lm_batch(nodes, others, 2, 200.0, tag + "w", 10.0)
        cl_settle(cl)
        st0 = victim.stats()
        links_before = len(victim.peers())
        mark = victim.mark()
        marks = {n: n.mark() for n in others}
        t_stop = time.time()
        victim.signal(signal.SIGSTOP)
        sends = []
        tm = time.monotonic()
        try:
            for k in range(s.catch_count):
                sleep_until(tm + k * s.catch_stop / s.catch_count)
                snd = others[k % len(others)]
                p = "%s-m%d" % (tag, k)
                snd.send(p)
                sends.append((p, snd))
            sleep_until(tm + s.catch_stop)
        finally:
            t_cont = time.time()
            victim.signal(signal.SIGCONT)
        dropped = sum(1 for n in others if n.event_after(marks[n], "peer_down", peer=victim.id))
        mine = {p for p, _ in sends}
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            if all(victim.delivers.get(p) for p in mine):
                break
            time.sleep(0.02)
        ok_others = wait_delivered(others, sends, 5.0)
        time.sleep(0.3)  # a late duplicate would show up here
        last = None
        for p in mine:
            d = victim.delivered(p)
            if d:
                last = max(last or 0, d[0][0] / 1e6)
        with victim.cond:
            ups = [e for e in victim.events[mark:] if e.get("event") == "peer_up"]
            downs = [e for e in victim.events[mark:] if e.get("event") == "peer_down"]
            gaps = [e for e in victim.events[mark:] if e.get("event") == "gap"]
        t_link = ups[0]["ts"] / 1e6 if ups else None
        lost, dup, ooo, _ = lm_count([victim], sends)  # it sent none of them
        st1 = victim.stats()
        all_counts = lm_count(nodes, sends)
        res.count("lost", "lanmesh", all_counts[0], all_counts[3])
        res.count("duplicates", "lanmesh", all_counts[1], all_counts[3])
        res.count("out_of_order", "lanmesh", all_counts[2], all_counts[3])
        res.count("catchup_lost", "lanmesh", lost, len(sends))
        res.count("catchup_dup", "lanmesh", dup, len(sends))
        res.count("catchup_ooo", "lanmesh", ooo, len(sends))
        complete = lost == 0
        res.add("catchup_cont", "lanmesh", last - t_cont if complete and last else None)
        # Linked again: its first new link after the stop; if it never lost
        # every link (no peer_up), it was linked at SIGCONT.
        linked = t_link if t_link is not None else t_cont
        res.add("catchup_link", "lanmesh", last - linked if complete and last else None)
        res.add("catchup_relink", "lanmesh", None if t_link is None else t_link - t_cont)
        if not complete:
            res.note("catchup_link", "lanmesh: the stopped node did not deliver %d of %d within "
                     "10 s of SIGCONT (rep %d)" % (lost, len(sends), rep + 1))
        if t_link is None:
            res.note("catchup_relink", "lanmesh: no new link after SIGCONT (rep %d): it kept a "
                     "link; re-link = SIGCONT" % (rep + 1))
        res.detail("catchup/lanmesh", {
            "rep": rep, "n": len(nodes), "stopped_s": t_cont - t_stop, "messages": len(sends),
            "links_before": links_before, "neighbours_dropped_it": dropped,
            "relink_after_cont_s": None if t_link is None else t_link - t_cont,
            "first_peer_down_after_cont_s": (downs[0]["ts"] / 1e6 - t_cont) if downs else None,
            "peer_ups": len(ups), "peer_downs": len(downs), "gap_events": gaps[:5],
            "last_delivery_after_cont_s": None if last is None else last - t_cont,
            "lost": lost, "duplicates": dup, "out_of_order": ooo,
            "others_all_delivered": ok_others, "others_counts": lm_count(others, sends),
            "victim_counters": {k: st1.get(k, 0) - st0.get(k, 0) for k in STAT_DELTAS}})
        log("  catch-up N=%d: stopped %.1f s (%d of %d neighbours dropped it) while %d messages "
            "were sent; re-linked %s s after SIGCONT, last delivered %s s after SIGCONT (%s s "
            "after the re-link); lost %d, dup %d, out of order %d; fetched %d, gaps %d"
            % (len(nodes), t_cont - t_stop, dropped, links_before, len(sends),
               fmt(None if t_link is None else t_link - t_cont),
               fmt(None if last is None else last - t_cont),
               fmt(None if last is None else last - linked), lost, dup, ooo,
               st1.get("fetched", 0) - st0.get("fetched", 0), st1.get("gaps", 0) - st0.get("gaps", 0)))
    finally:
        cl.kill()


# -- throughput (lanmesh only) -------------------------------------------------

def tp_stats(nodes, timeout):
    offs = [n.stats_request() for n in nodes]
    return [n.read_stats_from(o, timeout) for n, o in zip(nodes, offs)]


def tp_cluster(b, n, extra=()):
    """n nodes by discovery, stdout to tmpfs files, connected (polls /peers
    until the link graph is one piece). One more fresh cluster if the first
    is not connected within 15 s (seen once on a loaded machine); the
    stragglers of the first are logged."""
    for attempt in (1, 2):
        cl = LmCluster(b, "tp", out_files=True, extra=extra)
        cl.start(n)
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
                lm_check_config(tp_stats(cl.nodes, 10.0), extra)
                return cl
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        lonely = sorted(len(ps) for ps in graph.values())
        one_way = sorted((a, x) for a, x in half if (x, a) not in half)
        log("    throughput cluster of %d (%s) not connected within 15 s (attempt %d; links per "
            "node %s; pieces %s; links listed by one end only %s; log dir %s)"
            % (n, extra_text(extra) or "defaults", attempt, lonely, components(graph),
               one_way[:6], b.work))
        cl.kill()
    raise BenchError("throughput cluster of %d not connected within 15 s, twice" % n)


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
        gaps = sum(a.get("gaps", 0) - b0.get("gaps", 0) for a, b0 in zip(after, before))
        gap_msgs = sum(a.get("gap_messages", 0) - b0.get("gap_messages", 0)
                       for a, b0 in zip(after, before))
        r.update({"gaps": gaps, "gap_messages": gap_msgs})  # given up by the tree: lost
        r.update({"delivered": dlv, "expected": sum(expect), "router_sent": sent,
                  "rmr": (dlv + dups) / dlv - 1 if dlv else None,
                  "over_delivered": any(a["delivered"] - b0["delivered"] > e
                                        for a, b0, e in zip(after, before, expect))})
    if t_done is not None:
        r["drain_s"] = t_done - t_end
        r["pass"] = (r["drain_s"] <= s.tp_grace and achieved >= 0.95 * rate
                     and r.get("router_sent") == total and not r.get("over_delivered"))
    log("    rate %7.0f/s: achieved %7.0f/s, %s, drain %s s, RMR %s%s"
        % (rate, achieved, "PASS" if r["pass"] else "fail", fmt(r["drain_s"]), fmt(r.get("rmr")),
           "; %d gap(s) reported, %d messages given up" % (r["gaps"], r["gap_messages"])
           if r.get("gaps") else ""))
    return r, t_done is not None


class LmTp:
    """lanmesh throughput: N nodes by discovery, stdout to tmpfs files."""
    system = "lanmesh"

    def __init__(self, b, mode, size, extra=()):
        self.b, self.mode, self.size, self.extra = b, mode, size, tuple(extra)
        self.cl = tp_cluster(b, b.s.n_tp, self.extra)

    def trial(self, rate):
        senders = [self.cl.nodes[0]] if self.mode == "one" else list(self.cl.nodes)
        r, drained = tp_trial(self.b, self.cl, senders, rate, self.size)
        if not drained:  # a backlog is left: start over with a fresh cluster
            self.cl.kill()
            self.cl = tp_cluster(self.b, self.b.s.n_tp, self.extra)
        return r

    def close(self):
        self.cl.kill()


class LineProc:
    """A child speaking one JSON line per answer; every read is bounded."""

    def __init__(self, b, argv):
        self.b = b
        self.err = open(os.path.join(b.work, "natstp.stderr"), "ab")
        self.p = b.procs.popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=self.err)
        self.buf = b""

    def kill(self):
        self.b.procs.kill(self.p)
        for f in (self.p.stdin, self.p.stdout, self.err):
            try:
                f.close()
            except OSError:
                pass

    def send(self, obj):
        self.p.stdin.write((json.dumps(obj) + "\n").encode())
        self.p.stdin.flush()

    def read(self, timeout):
        import select
        deadline = time.monotonic() + timeout
        fd = self.p.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError("no answer from %s within %.1f s" % (self.p.args[1], timeout))
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise BenchError("%s exited (%s)" % (self.p.args[1], self.p.poll()))
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)


class NatsTp:
    """NATS throughput: n_tp servers, each node's client a process of its own
    (natsclient.py tp PORT: subscribes, publishes its share of the rate when
    it is a sender, counts the MSGs it receives)."""
    system = "nats"

    def __init__(self, b, mode, size):
        self.b, self.mode, self.size = b, mode, size
        self.cl = None
        self.procs = []
        self.start()

    def start(self):
        b = self.b
        self.cl = NatsCluster(b, "ntp")
        _, tc = self.cl.start(b.s.n_tp)
        if tc is None:
            raise BenchError("NATS throughput cluster: routes not complete within 30 s")
        self.procs = [LineProc(b, [sys.executable, os.path.join(HERE, "natsclient.py"), "tp",
                                   str(sv.port)]) for sv in self.cl.servers]
        for p in self.procs:
            p.read(15.0)
        # interest must have crossed every route: a short warm-up until all receive
        for _ in range(20):
            r = self.trial(400.0, duration=0.1, warm=True)
            if r["pass"]:
                return
        raise BenchError("NATS throughput cluster: warm-up messages not delivered everywhere")

    def counts(self):
        for p in self.procs:
            p.send({"cmd": "count"})
        ans = [p.read(10.0) for p in self.procs]
        return {"recv": [a["recv"][0] for a in ans], "closed": [a["closed"][0] for a in ans],
                "errors": [a["errors"][0] for a in ans]}

    def trial(self, rate, duration=None, warm=False):
        s = self.b.s
        duration = duration or s.tp_duration
        n = len(self.cl.servers)
        senders = [0] if self.mode == "one" else list(range(n))
        c0 = self.counts()["recv"]
        for i in senders:
            self.procs[i].send({"cmd": "trial", "rate": rate / len(senders), "duration": duration,
                                "size": self.size, "senders": [0]})
        answers = {i: self.procs[i].read(duration + s.tp_drain + 10.0) for i in senders}
        t_end = time.monotonic() - (time.time() - max(a["t_end"] for a in answers.values()))
        sent = [answers[i]["sent"][0] if i in answers else 0 for i in range(n)]
        achieved = sum(a["achieved"] for a in answers.values())
        total = sum(sent)
        expect = [total - sent[i] for i in range(n)]
        t_done, c = None, None
        while True:
            c = self.counts()
            got = [x - y for x, y in zip(c["recv"], c0)]
            if all(g >= e for g, e in zip(got, expect)):
                t_done = time.monotonic()
                break
            if any(c["closed"]) or time.monotonic() > t_end + (0.5 if warm else s.tp_drain):
                break
            time.sleep(0.02)
        got = [x - y for x, y in zip(c["recv"], c0)]
        r = {"rate": rate, "achieved": achieved, "sent": total,
             "delivered": sum(got), "expected": sum(expect), "drain_s": None, "pass": False,
             "closed": sum(1 for x in c["closed"] if x), "errors": [e for e in c["errors"] if e]}
        if t_done is not None:
            r["drain_s"] = max(0.0, t_done - t_end)
            r["pass"] = (r["drain_s"] <= s.tp_grace and (warm or achieved >= 0.95 * rate)
                         and not r["closed"] and all(g == e for g, e in zip(got, expect)))
        if not warm:
            log("    rate %7.0f/s: achieved %7.0f/s, %s, drain %s s%s"
                % (rate, achieved, "PASS" if r["pass"] else "fail", fmt(r["drain_s"]),
                   " (%d connection(s) closed by the server)" % r["closed"] if r["closed"] else ""))
            if t_done is None or r["closed"]:
                self.close()
                self.start()
        return r

    def close(self):
        for p in self.procs:
            try:
                p.send({"cmd": "quit"})
            except OSError:
                pass
        for p in self.procs:
            p.kill()
        self.procs = []
        self.cl.kill()


class SerfTp:
    """Serf throughput: user events through the RPC at a fixed rate (one RPC
    call per event, round-robin over the senders), counted in each agent's
    handler file. Every agent's handler runs for every event, its own too."""
    system = "serf"

    def __init__(self, b, mode, size):
        self.b, self.mode, self.size = b, mode, size
        self.k = 0
        self.start()

    def start(self):
        self.cl = SerfCluster(self.b, "stp")
        _, tc = self.cl.start(self.b.s.n_tp)
        if tc is None:
            raise BenchError("Serf throughput cluster not converged within 20 s")
        for a in self.cl.agents:
            a.wait_rpc(5.0)

    def trial(self, rate):
        s = self.b.s
        self.k += 1
        tag = "tp%d-" % self.k
        agents = self.cl.agents
        senders = [agents[0]] if self.mode == "one" else list(agents)
        total = int(rate * s.tp_duration)
        t0 = time.monotonic()
        for i in range(total):
            sleep_until(t0 + i / rate)
            p = tag + str(i)
            p = (p + "-" + "x" * self.size)[:self.size]
            try:
                senders[i % len(senders)].rpc().event("b", p.encode(), False)
            except Exception as e:  # noqa: BLE001 - the agent refused (queue full)
                log("    serf RPC event failed: %s" % e)
                break
        t_end = time.monotonic()
        achieved = total / max(t_end - t0, s.tp_duration)
        t_done, counts = None, []
        while True:
            counts = [sum(1 for _, _, pl in a.events() if pl.startswith(tag)) for a in agents]
            if all(c >= total for c in counts):
                t_done = time.monotonic()
                break
            if time.monotonic() > t_end + s.serf_tp_grace + 2.0:
                break
            time.sleep(0.1)
        r = {"rate": rate, "achieved": achieved, "sent": total, "delivered": sum(counts),
             "expected": total * len(agents), "drain_s": None, "pass": False}
        if t_done is not None:
            r["drain_s"] = t_done - t_end
            r["pass"] = r["drain_s"] <= s.serf_tp_grace and achieved >= 0.95 * rate
        log("    rate %7.1f/s: achieved %7.1f/s, %s, drain %s s, delivered %d of %d"
            % (rate, achieved, "PASS" if r["pass"] else "fail", fmt(r["drain_s"]),
               r["delivered"], r["expected"]))
        if t_done is None:
            time.sleep(s.serf_tp_grace)  # let the backlog go before the next rate
        return r

    def close(self):
        self.cl.kill()


TP_START = {  # (first rate, lowest, highest) per system and size
    ("lanmesh", 100): (16000.0, 250.0, 400000.0), ("lanmesh", 16384): (1000.0, 25.0, 32000.0),
    ("nats", 100): (16000.0, 250.0, 800000.0), ("nats", 16384): (1000.0, 25.0, 32000.0),
    ("serf", 100): (50.0, 2.0, 5000.0),
}
TP_START_QUICK = {("lanmesh", 100): 1000.0, ("lanmesh", 16384): 100.0,
                  ("nats", 100): 1000.0, ("nats", 16384): 100.0, ("serf", 100): 20.0}


def tp_search(b, res, system, size, mode, rid, rmr_id, extra=()):
    """The highest rate at which every message is delivered everywhere: each
    rate is tried up to tp_trials times and passes only if every trial does;
    rates double (or halve) until the outcome changes, then geometric
    bisection until the passing and the failing rate are within tp_precision.
    lanmesh's `extra` settings (--broadcast.mode, --security.keys) are part
    of the search's identity: rows of the same settings in one run share one
    search (the second row says so in results.json)."""
    s = b.s
    key = (system, size, mode, tuple(extra))
    done = b.tp_done.get(key)
    if done is not None:
        best, rm, first_rid, det = done
        res.add(rid, system, best)
        if rmr_id and system == "lanmesh":
            res.add(rmr_id, system, rm)
        res.detail(rid + "/" + system, dict(det, same_search_as=first_rid))
        log("  throughput %s %d B %s sender(s)%s: %s msg/s (the search of %s)"
            % (system, size, mode, " " + extra_text(extra) if extra else "", fmt(best), first_rid))
        return
    r0, rmin, rmax = TP_START[(system, size)]
    if s.quick:
        r0 = TP_START_QUICK[(system, size)]
    if system == "lanmesh":
        runner = LmTp(b, mode, size, extra)
    else:
        runner = {"nats": NatsTp, "serf": SerfTp}[system](b, mode, size)
    t_search = time.monotonic()
    points = []
    ntrials = [0]

    def point(rate):
        trials = []
        for _ in range(s.tp_trials):
            if ntrials[0] >= s.tp_max_trials:
                break
            r = runner.trial(rate)
            ntrials[0] += 1
            trials.append(r)
            if not r["pass"]:
                break
        ok = len(trials) == s.tp_trials and all(t["pass"] for t in trials)
        points.append({"rate": rate, "pass": ok, "trials": trials})
        return ok

    try:
        best, fail = None, None
        rate = r0
        if point(rate):
            best = rate
            while ntrials[0] < s.tp_max_trials and rate * 2 <= rmax:
                rate *= 2
                if point(rate):
                    best = rate
                else:
                    fail = rate
                    break
        else:
            fail = rate
            while ntrials[0] < s.tp_max_trials and rate / 2 >= rmin:
                rate /= 2
                if point(rate):
                    best = rate
                    break
                fail = rate
        while (best is not None and fail is not None and fail / best > s.tp_precision
               and ntrials[0] < s.tp_max_trials):
            mid = (best * fail) ** 0.5
            if point(mid):
                best = mid
            else:
                fail = mid
    finally:
        runner.close()
    res.add(rid, system, best)
    at_best = [p for p in points if p["rate"] == best and p["pass"]]
    rm = [t.get("rmr") for p in at_best for t in p["trials"] if t.get("rmr") is not None]
    rm = statistics.median(rm) if rm else None
    if rmr_id and system == "lanmesh":
        res.add(rmr_id, system, rm)
    at_fail = [p for p in points if p["rate"] == fail]
    spread = None
    if best is not None:
        dr = [t["drain_s"] for t in at_best[0]["trials"]] if at_best else []
        ach = [t["achieved"] for t in at_best[0]["trials"]] if at_best else []
        spread = {"trials_at_best": len(dr), "drain_s": [min(dr), max(dr)] if dr else None,
                  "achieved": [min(ach), max(ach)] if ach else None}
    if fail is not None and at_fail:
        t = at_fail[-1]["trials"]
        spread = dict(spread or {}, first_fail=fail, fail_passed=sum(1 for x in t if x["pass"]),
                      fail_tried=len(t))
    det = {"points": points, "best": best, "first_fail": fail, "size": size, "mode": mode,
           "n": s.n_tp, "trials": ntrials[0], "spread": spread, "extra": redact(extra),
           "limit_hit": ntrials[0] >= s.tp_max_trials,
           "search_s": round(time.monotonic() - t_search, 1)}
    res.detail(rid + "/" + system, det)
    b.tp_done[key] = (best, rm, rid, det)
    if ntrials[0] >= s.tp_max_trials:
        res.note(rid, "%s: stopped at the bound of %d trials" % (SYSTEM_NAMES[system],
                                                                  s.tp_max_trials))
    log("  throughput %s %d B %s sender(s)%s: %s msg/s (first failing rate %s; %d trials, %.0f s)"
        % (system, size, mode, " " + extra_text(extra) if extra else "", fmt(best), fmt(fail),
           ntrials[0], time.monotonic() - t_search))


# -- physical reference ----------------------------------------------------------

def physical(b, res):
    s = b.s
    # The CMake target `tcpref` (next to the lanmesh binary); else compiled here.
    exe = os.path.join(os.path.dirname(b.lanmesh), "tcpref")
    src = os.path.join(HERE, "tcpref.cpp")
    built = os.access(exe, os.X_OK) and os.path.getmtime(exe) >= os.path.getmtime(src)
    if not built:
        exe = os.path.join(b.work, "tcpref")
        cxx = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
        if cxx:
            r = subprocess.run([cxx, "-O2", "-std=c++17", "-pthread", "-o", exe, src],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
            built = r.returncode == 0
    runner = [exe] if built else [sys.executable, os.path.join(HERE, "tcpref.py")]
    if not built:
        res.note("ref_tcp_rtt", "C++ compiler unavailable: Python fallback (slower, no fan-out)")

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
    fan = {}
    if built:
        n = s.n_tp
        for key, size, batch in (("ref_fanout_100", 100, 655), ("ref_fanout_100_1", 100, 1),
                                 ("ref_fanout_16k", 16384, 4)):
            f = go("fanout", s.ref_seconds, size, n, batch)
            fan[key] = f
            res.add(key, "lanmesh", f["msgs_per_s"])
            log("  fan-out %d B to %d sockets, %d per write: %.0f msg/s (%.0f MB/s delivered)"
                % (size, n - 1, batch, f["msgs_per_s"], f["MB_per_s_delivered"]))
    res.detail("physical", {"rtt": rtt, "bulk": bulk, "msgs": msgs, "fanout": fan,
                            "program": "tcpref.cpp" if built else "tcpref.py"})
    log("  TCP RTT p50 %.1f us p99 %.1f us; bulk %.0f MB/s; 100 B writes %.0f/s"
        % (rtt["p50_us"], rtt["p99_us"], bulk["MB_per_s"], msgs["writes_per_s"]))


# -- scaling curves ---------------------------------------------------------------

def scale_point(b, system, n):
    """One cluster of n nodes of one system: convergence, then an idle window
    (CPU, packets), RSS, then latency from the caller; always stopped."""
    s = b.s
    big = n >= 50
    row = {"system": system, "n": n, "loadavg_before": os.getloadavg()}
    tag = "sc%s%d" % (system[0], n)
    cl = None
    try:
        if system == "lanmesh":
            cl = LmCluster(b, tag)
            t0, tc = cl.start(n, timeout=60.0 if big else 20.0)
            row["convergence_s"] = None if tc is None else tc - t0
            if tc is not None:
                done = lm_probe_round(cl.nodes, tag + "-cv", 20.0)
                row["probe_round_ok"] = done is not None
            procs = dict(lm=cl.alive(), sf=[], nt=[])
        elif system == "serf":
            cl = SerfCluster(b, tag)
            t0, tc = cl.start(n, timeout=60.0 if big else 20.0)
            row["convergence_s"] = None if tc is None else tc - t0
            procs = dict(lm=[], sf=cl.alive(), nt=[])
        else:
            cl = NatsCluster(b, tag)
            t0, tc = cl.start(n, timeout=120.0 if big else 30.0)
            row["convergence_s"] = None if tc is None else tc - t0
            if tc is not None:
                row["subscribers_reached_s"] = cl.subscribe(timeout=30.0)
            procs = dict(lm=[], sf=[], nt=cl.alive())
        log("  %s N=%d: converged in %s s" % (system, n, fmt(row["convergence_s"])))
        if row["convergence_s"] is None:
            return row
        time.sleep(s.idle_settle)
        idle = idle_measure(b, procs["lm"], procs["sf"], procs["nt"], s.idle_window)[system]
        row.update({"idle_cpu": idle.get("cpu"), "idle_total_per_min": idle.get("total"),
                    "idle_udp_per_min": idle.get("udp"), "idle_tcp_per_min": idle.get("tcp")})
        every = procs["lm"] + procs["sf"] + procs["nt"]
        row["rss_mib"], row["rss_max_mib"], _ = rss_median(every)
        row["rss_anon_mib"], _, _ = rss_median(every, "RssAnon")
        if system == "lanmesh":
            lat, lost, dup = lm_latency(b, None, cl, "scale", tag + "L", stamp="call",
                                        count=s.scale_lat_count, record=False)
        elif system == "serf":
            lat, lost, dup = serf_latency(b, None, cl, "scale", tag + "L",
                                          count=s.scale_lat_count, record=False)
        else:
            lat, lost, dup = nats_latency(b, None, cl, "scale", tag + "L",
                                          count=s.scale_lat_count, record=False)
        row.update({"latency_p50_ms": pct(lat, 0.5), "latency_p99_ms": pct(lat, 0.99),
                    "latency_samples": len(lat), "lost": lost, "duplicates": dup})
        log("  %s N=%d: idle CPU %s %%, %s packets/min per node, RSS %s MiB, latency p50 %s "
            "p99 %s ms (lost %d)" % (system, n, fmt(row["idle_cpu"]),
                                     fmt(row["idle_total_per_min"]), fmt(row["rss_mib"]),
                                     fmt(row["latency_p50_ms"]), fmt(row["latency_p99_ms"]), lost))
        return row
    finally:
        if cl is not None:
            cl.kill()
        row["loadavg_after"] = os.getloadavg()


# A full mesh of 100 nats-servers did not form within 60 s on this 2-core
# machine (every new route is gossiped to every server; load average ~250,
# "Readloop processing time: 13 s" in the seed's log). NATS's own advice is
# a cluster of a few servers, so by default its curve stops here; an
# explicit --sizes runs it anyway (120 s bound on the routes).
NATS_MAX_DEFAULT = 50
NATS_MAX_WHY = ("not run by default: a full mesh of 100 servers did not form within 60 s on "
                "this machine (pass --sizes to try)")


def scaling(b, res):
    """One system at a time, sizes in increasing order; each point is a fresh
    cluster, stopped (every PID) before the next."""
    for system in b.systems:
        for n in b.sizes:
            if STOP and STOP[0] == "pending":
                raise KeyboardInterrupt(STOP[1])
            if system == "nats" and n > NATS_MAX_DEFAULT and not b.sizes_given:
                res.scaling.append({"system": system, "n": n, "error": NATS_MAX_WHY})
                continue
            try:
                row = scale_point(b, system, n)
            except (BenchError, OSError, ValueError, KeyError, TypeError) as e:
                res.errors.append("scaling %s N=%d: %s" % (system, n, "".join(
                    traceback.format_exception(type(e), e, e.__traceback__))))
                log("  ERROR in scaling %s N=%d: %s" % (system, n, e))
                b.procs.kill_all()
                row = {"system": system, "n": n, "error": str(e)}
            res.scaling.append(row)
            time.sleep(0.2 if b.s.quick else 1.0)  # let the sockets of the last cluster go


def plot_scaling(out, jpath):
    """scaling.png next to results.json, drawn by bench/plot_scaling.py with
    the first Python that has matplotlib (Debian's python3-matplotlib is for
    /usr/bin/python3). Returns the file name, or None."""
    script = os.path.join(HERE, "plot_scaling.py")
    for py in dict.fromkeys([sys.executable, "/usr/bin/python3"]):
        if not os.access(py, os.X_OK):
            continue
        try:
            r = subprocess.run([py, script, jpath, "-o", os.path.join(out, "scaling.png")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if r.returncode == 0:
            return "scaling.png"
    return None


# -- orchestration -----------------------------------------------------------------

def run_rep(b, res, rep, want):
    s = b.s
    serf = "serf" in b.systems
    nats = "nats" in b.systems
    big_needed = any(want(g) for g in ("convergence", "latency", "memory", "idle", "failure"))
    if big_needed:
        log("rep %d: N=%d (load average %s)" % (rep + 1, s.n_big, loadavg_text()))
        res.loadavg.append(("rep %d N=%d" % (rep + 1, s.n_big), os.getloadavg()))
        # Serf and NATS first: the lanmesh nodes then converge beside the idle
        # others, all three idle side by side, and every row after the idle
        # window runs with one system alone.
        sf, nt, lm = None, None, None
        try:
            if serf:
                sf = serf_converge(b, res, "convergence_big", s.n_big, "sf%d" % rep, keep=True)
            if nats:
                nt = nats_converge(b, res, "convergence_big", s.n_big, "nt%d" % rep, keep=True)
            lm = lm_converge(b, res, "convergence_big", s.n_big, "lm%d" % rep, keep=True)
            if want("idle") or want("memory"):
                idle_and_memory(b, res, lm, sf, nt, want("idle"), want("memory"))
            if want("latency") or want("memory"):
                lm_latency(b, res, lm, "big", "lmL%d" % rep, stamp="node")
                lm_latency(b, res, lm, "big", "lmC%d" % rep, stamp="call")
                if want("memory"):
                    record_rss(res, "rss_after", lm.alive(), [])
            if want("convergence"):
                lm_newcomer(b, res, lm)
            if want("failure"):
                lm_failures(b, res, lm, "lmF%d" % rep)
            lm.kill()
            if nt:
                if want("latency") or want("memory"):
                    nats_latency(b, res, nt, "big", "ntL%d" % rep)
                    if want("memory"):
                        record_rss(res, "rss_after", [], [], nt.alive())
                if want("convergence"):
                    nats_newcomer(b, res, nt)
                if want("failure"):
                    nats_failures(b, res, nt, "ntF%d" % rep)
                nt.kill()
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
            for c in (lm, nt, sf):
                if c:
                    c.kill()
    if want("convergence") or want("latency"):
        log("rep %d: N=%d" % (rep + 1, s.n_small))
        lm = lm_converge(b, res, "convergence_small", s.n_small, "lms%d" % rep, keep=True)
        try:
            if want("latency"):
                lm_latency(b, res, lm, "small", "lmS%d" % rep, stamp="node")
                lm_latency(b, res, lm, "small", "lmT%d" % rep, stamp="call")
        finally:
            lm.kill()
        if nats:
            nt = nats_converge(b, res, "convergence_small", s.n_small, "nts%d" % rep, keep=True)
            try:
                if want("latency"):
                    nats_latency(b, res, nt, "small", "ntS%d" % rep)
            finally:
                nt.kill()
        if serf:
            sf = serf_converge(b, res, "convergence_small", s.n_small, "sfs%d" % rep, keep=True)
            try:
                if want("latency"):
                    serf_latency(b, res, sf, "small", "sfS%d" % rep)
            finally:
                sf.kill()


def loadavg_text():
    return " ".join("%.2f" % x for x in os.getloadavg())


def apt_install(pkg, binary):
    log("%s not found: apt-get install -y %s" % (binary, pkg))
    cmd = ["apt-get", "install", "-y", pkg]
    if os.geteuid() != 0:
        cmd = ["sudo", "-n"] + cmd
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = subprocess.run(cmd, env=env, timeout=900)
    if r.returncode != 0:
        subprocess.run(cmd[:-3] + ["update"], env=env, timeout=900)
        subprocess.run(cmd, env=env, timeout=900)
    return shutil.which(binary) or (os.path.exists("/usr/sbin/" + binary) and "/usr/sbin/" + binary)


def ensure_tool(binary, pkg, quick, wanted):
    """(path, None) or (None, reason). Installed with apt-get when missing,
    except in --quick, which skips the system instead."""
    if not wanted:
        return None, "skipped (--systems)"
    path = shutil.which(binary) or (os.path.exists("/usr/sbin/" + binary) and "/usr/sbin/" + binary)
    if path:
        return path, None
    if quick:
        return None, ("%s not installed: skipped in --quick (the full run installs %s)"
                      % (binary, pkg))
    path = apt_install(pkg, binary)
    if not path:
        raise BenchError("%s could not be installed (apt-get install -y %s)" % (binary, pkg))
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
    fmtargs = dict(b.s.as_dict(), n_tp_1=b.s.n_tp - 1)
    for rid, label, unit, better, target, check in ROWS:
        label = label.format(**fmtargs)
        g = row_group(rid)
        row = {"id": rid, "label": label, "unit": unit, "better": better, "target": target,
               "group": g, "notes": list(res.notes[rid])}
        if not want(g) and not any(res.values[rid][x] for x in SYSTEMS):
            row["status"] = "not run (--only)"
        for system in SYSTEMS:
            vals = res.values[rid][system]
            nums = [v for v in vals if v is not None]
            if (rid in REFERENCE or rid in LM_ONLY) and system != "lanmesh":
                row[system] = None
                continue
            if system in NA.get(rid, {}):
                row[system] = {"na": NA[rid][system]}
                continue
            skip = {"serf": b.serf_skip, "nats": b.nats_skip}.get(system)
            if skip:
                row[system] = {"skipped": skip}
                continue
            if system == "serf" and g == "failure" and not b.s.serf_failures:
                row[system] = {"skipped": "Serf failure detection takes ~7-9 s: skipped in --quick"}
                continue
            if g == "throughput" and (system not in b.tp_systems or (
                    "16k" in rid and 16384 not in b.tp_sizes)):
                row[system] = {"skipped": "not run"}
                continue
            d = {"values": vals, "reps": len(vals), "missing": len(vals) - len(nums)}
            if nums:
                if rid in COUNT_ROWS:
                    d.update(median=statistics.median(nums), min=min(nums), max=max(nums),
                             total=sum(nums), expected=res.expected.get((rid, system)))
                else:
                    d.update(median=statistics.median(nums), min=min(nums), max=max(nums))
            if rid.startswith("tp_"):
                det = res.details.get(rid + "/" + system)
                if det:
                    d["spread"] = det[-1].get("spread")
                lim = res.values.get(TP_LIMIT.get(rid), {}).get("lanmesh")
                lim = [x for x in (lim or []) if x]
                if lim and nums:
                    d["pct_of_limit"] = 100.0 * statistics.median(nums) / statistics.median(lim)
            row[system] = d
        key = "total" if rid in COUNT_ROWS else "median"
        lm = row.get("lanmesh") or {}
        for other in ("serf", "nats"):
            o = row.get(other) or {}
            row["ratio_" + other] = (lm[key] / o[key] if lm.get(key) is not None
                                     and o.get(key) not in (None, 0) else None)
        row["ratio"] = row["ratio_serf"]
        if check and lm.get(key) is not None:
            ok = bool(check(lm[key])) and lm.get("missing", 0) == 0
        else:
            ok = None
        nt = row.get("nats") or {}
        if rid in ("tp_100_one", "tp_100_all", "call_big_p50") and lm.get(key) is not None \
                and nt.get(key) is not None:
            vs = lm[key] >= nt[key] if rid.startswith("tp_") else lm[key] <= nt[key]
            ok = vs if ok is None else (ok and vs)
        row["meets_target"] = ok
        rows.append(row)
    by_id = {r["id"]: r for r in rows}
    for rid, (other, check, kind) in CROSS.items():
        r, o = by_id[rid], by_id[other]
        lm, lo = r.get("lanmesh") or {}, o.get("lanmesh") or {}
        v, w = lm.get("median"), lo.get("median")
        if v is None or w is None:
            continue
        r["vs"] = {"row": other, kind: (v / w if w else None) if kind == "ratio" else v - w}
        r["meets_target"] = bool(check(v, w)) and not lm.get("missing") and not lo.get("missing")
    return rows


FOOTNOTES = None  # reasons of the "n/a" cells while render() runs


def cell(d, key="median", unit=""):
    if d is None:
        return "—"
    if "skipped" in d:
        return "skipped"
    if "na" in d:
        if FOOTNOTES is None:
            return d["na"]
        if d["na"] not in FOOTNOTES:
            FOOTNOTES.append(d["na"])
        return "n/a [%d]" % (FOOTNOTES.index(d["na"]) + 1)
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
    sp = d.get("spread")
    if sp:
        bits = []
        if sp.get("trials_at_best"):
            bits.append("%d/%d passed" % (sp["trials_at_best"], sp["trials_at_best"]))
        if sp.get("first_fail"):
            bits.append("%s: %d of %d passed" % (fmt(sp["first_fail"]), sp["fail_passed"],
                                                 sp["fail_tried"]))
        if sp.get("drain_s"):
            bits.append("drain %s–%s s" % (fmt(sp["drain_s"][0], 2), fmt(sp["drain_s"][1], 2)))
        if bits:
            s += " (%s)" % "; ".join(bits)
    if d.get("pct_of_limit") is not None:
        s += "; %s %% of the limit" % fmt(d["pct_of_limit"], 2)
    return s


def write_outputs(out, meta, rows, res):
    os.makedirs(out, exist_ok=True)
    doc = {"meta": meta, "rows": rows, "scaling": res.scaling, "scaling_plot": None,
           "loadavg_by_group": res.loadavg, "details": res.details, "errors": res.errors}
    jpath = os.path.join(out, "results.json")
    for _ in range(2):  # written again once the plot exists
        with open(jpath + ".tmp", "w") as f:
            json.dump(doc, f, indent=1, default=str)
        os.replace(jpath + ".tmp", jpath)
        if doc["scaling_plot"] or not res.scaling:
            break
        doc["scaling_plot"] = plot_scaling(out, jpath)
        if not doc["scaling_plot"]:
            break
    render(out, doc)
    return jpath


SCALE_COLS = [("convergence_s", "convergence s"), ("latency_p50_ms", "latency p50 ms"),
              ("latency_p99_ms", "latency p99 ms"), ("idle_cpu", "idle CPU % of a core"),
              ("idle_total_per_min", "idle packets/min"), ("rss_mib", "RSS MiB")]


def render(out, doc):
    """Writes RESULTS.md in `out` from a results.json document."""
    global FOOTNOTES
    FOOTNOTES = []
    meta, rows, errors = doc["meta"], doc["rows"], doc["errors"]
    s = meta["settings"]
    L = []
    L.append("# lanmesh benchmark results: lanmesh, Serf and NATS side by side (issues 7, 16)")
    L.append("")
    if meta.get("preliminary"):
        L.append("**%s**" % meta["preliminary"])
        L.append("")
    L.append("- Date: %s; wall time of the run: %s s" % (meta["date"], meta.get("duration_s")))
    L.append("- Command: `%s`" % meta["command"])
    m = meta["machine"]
    L.append("- Machine: %s cores (%s), %s GiB memory, Linux %s; load average at start %s, at end %s"
             % (m.get("cores"), m.get("cpu", "?"), m.get("memory_gib"), m.get("kernel"),
                " ".join("%.2f" % x for x in m.get("loadavg_start", ())),
                " ".join("%.2f" % x for x in m.get("loadavg_end", ()))))
    la = doc.get("loadavg_by_group") or []
    if la:
        L.append("- Load average (1, 5, 15 min) before each group: " + "; ".join(
            "%s: %s" % (g, " ".join("%.2f" % x for x in v)) for g, v in la))
    L.append("- lanmesh: `%s` (harness commit %s; lanmesh sources last changed in %s); Serf: %s; "
             "NATS: %s" % (meta["lanmesh"], meta["commit"], meta.get("lanmesh_commit", "?"),
                           meta["serf"], meta.get("nats")))
    L.append("- Repetitions: %d; clusters of N=%d and N=%d (throughput N=%d); latency runs: %d "
             "broadcasts at %.0f/s per repetition; everything on 127.0.0.1"
             % (s["reps"], s["n_small"], s["n_big"], s["n_tp"], s["lat_count"], s["lat_rate"]))
    L.append("- Cells: median over repetitions [min–max]; ratios = lanmesh median / the other's "
             "median (below 1: lanmesh lower). Bold rows are the headline. "
             "Machine-readable: `results.json` next to this file.")
    L.append("")
    L.append("| Row | Unit | lanmesh | Serf | NATS | lanmesh/Serf | lanmesh/NATS | Target | Met |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        key = "total" if r["id"] in COUNT_ROWS else "median"
        if r.get("status"):
            L.append("| %s | %s | %s | | | | | %s | |" % (r["label"], r["unit"], r["status"],
                                                         r["target"] or ""))
            continue
        met = {True: "yes", False: "**no**", None: ""}[r["meets_target"]]
        target = r["target"] or ""
        vs = r.get("vs")
        if vs and vs.get("ratio") is not None:
            target += " (here %s ×)" % fmt(vs["ratio"])
        elif vs and vs.get("diff") is not None:
            target += " (here %s%s)" % ("+" if vs["diff"] >= 0 else "", fmt(vs["diff"]))
        L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["label"], r["unit"], cell(r["lanmesh"], key), cell(r.get("serf"), key),
            cell(r.get("nats"), key),
            fmt(r["ratio_serf"]) if r.get("ratio_serf") is not None else "",
            fmt(r["ratio_nats"]) if r.get("ratio_nats") is not None else "",
            target, met))
    if FOOTNOTES:
        L.append("n/a: " + "; ".join("[%d] %s" % (i + 1, t) for i, t in enumerate(FOOTNOTES)) + ".")
    L.append("")
    sc = doc.get("scaling") or []
    if sc:
        L.append("## Scaling (one system at a time, a fresh cluster per N)")
        L.append("")
        if doc.get("scaling_plot"):
            L.append("![scaling curves](%s)" % doc["scaling_plot"])
            L.append("")
        L.append("| System | N | " + " | ".join(c for _, c in SCALE_COLS)
                 + " | lost | load before |")
        L.append("|---|---|" + "---|" * len(SCALE_COLS) + "---|---|")
        for r in sc:
            if r.get("error"):
                e = r["error"] if r["error"].startswith("not run") else "error: " + r["error"]
                L.append("| %s | %d | %s |" % (SYSTEM_NAMES[r["system"]], r["n"],
                                              e[:160].replace("|", "/")))
                continue
            L.append("| %s | %d | %s | %s | %s |" % (
                SYSTEM_NAMES[r["system"]], r["n"],
                " | ".join(fmt(r.get(k)) for k, _ in SCALE_COLS),
                fmt(r.get("lost")),
                " ".join("%.1f" % x for x in (r.get("loadavg_before") or ())[:1])))
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
            L.append("- %s" % e.strip().splitlines()[-1])
        L.append("")
    findings = os.path.join(HERE, "FINDINGS.md")
    if os.path.exists(findings):
        rel = os.path.relpath(findings, out)
        L.append("What limits each system (profiles, evidence): [%s](%s)."
                 % (os.path.basename(findings), rel))
        L.append("")
    L.append(METHOD)
    with open(os.path.join(out, "RESULTS.md"), "w") as f:
        f.write("\n".join(L) + "\n")


METHOD = """## How each row is measured

- **Systems**: lanmesh nodes (discovery on 127.0.0.1, stdin/stdout jsonl); Serf
  agents (lan profile, `-join=` the first, a bash event handler per agent); NATS:
  one `nats-server` per node on 127.0.0.1 (client, route and monitoring ports on
  loopback; the first server is the seed, the others `--routes` to it and learn
  the rest, a full mesh of routes; default settings otherwise), each node's
  application a subscriber over a plain socket (`bench/natsclient.py`: CONNECT
  with echo off, SUB, PUB, MSG of the text protocol).
- **Convergence**: N nodes started at once (Serf: the first agent, then, once its
  RPC answers, the other N−1). lanmesh: until its link graph connects all N (a
  link counts once both ends printed `peer_up`; times from the events' `ts`),
  then checked by one broadcast from every node delivered everywhere. Serf:
  until `members` (RPC, polled every 5 ms) on every agent lists all N `alive`.
  NATS: until every server's `/routez` (monitoring port, polled) lists a route
  to every other server; the time until a message from every server reaches
  every subscriber is in results.json.
- **Newcomer**: one more node started into the running N=20 cluster, until the
  graph including it is connected (Serf: every agent lists it alive; NATS:
  every server has a route to it and it to every server).
- **Latency from the caller's write (headline)**: broadcasts at a low fixed
  rate from the nodes in turn, the same way for all three: from the harness's
  clock just before the caller's write (lanmesh: the line written to the
  sender's stdin; Serf: the RPC `event` call, `Coalesce=false`; NATS: `PUB` on
  the sender's socket) to the receiver's reading it: lanmesh: the harness's
  clock when its reader thread reads the `deliver` line from the receiving
  node's stdout pipe (one reader thread per node); NATS: when the
  subscriber's reader thread gets the MSG out of `recv()` (one per node);
  Serf: the handler's `$EPOCHREALTIME` (bash, first line; includes Serf's
  fork/exec of the handler). All in one harness process on the same 2 cores.
- **Detail rows (node-stamped)**: lanmesh `deliver.ts − sent.ts` (both the
  node's wall clock; `sent.ts` is taken after the router took the message, so
  it reads low) and stdin write → `deliver.ts`; measured in a separate pass in
  which the harness parses no node's output while messages are in flight (it
  waits in the pipes, read 0.5 s after the last send). Serf's detail rows
  repeat its only measurement; NATS stamps nothing.
  Lost = a receiver never delivered it (5 s bound, Serf 8 s); duplicate = a
  receiver delivered it more than once (or the sender delivered its own).
- **SIGKILL**: lanmesh: the node with the most links is killed; dropped = the
  last `peer_down` among its neighbours. Serf: every other agent lists it
  `failed`. NATS: every surviving server's `/routez` has no route to it.
  Receives again = from the kill until the first probe broadcast (one every
  20 ms from the survivors in turn; Serf every 250 ms) delivered on every
  survivor (harness stamps for NATS).
- **SIGSTOP**: same, node stopped (never resumed); not measured for NATS (a
  stopped server is noticed by missed PINGs only, minutes). **Leave**: SIGINT
  (lanmesh: goodbye on every link; Serf: graceful leave; NATS: shutdown closes
  its routes), until every neighbour printed `peer_down` (Serf: every agent
  lists it `left`; NATS: no server has a route to it).
- **RSS**: `VmRSS` from `/proc/PID/status`, median over the nodes (NATS: the
  servers; the subscribers are part of the harness); idle after convergence
  plus the idle window, and again after the latency run. The `RssAnon` row is
  the part each process has to itself (the rest is mapped code shared by all).
- **Idle traffic and CPU**: the three clusters up and idle side by side, after
  a settle time, over a window of whole 10 s intervals. CPU: utime + stime from
  `/proc/PID/stat`. lanmesh: deltas of `discovery_sent` (UDP datagrams) and
  `frames_out` (TCP frames) from `/stats`. Serf: deltas of its telemetry
  counters `memberlist.udp.sent` and `memberlist.tcp.sent` (SIGUSR1 dump of the
  in-memory sink, 10 s intervals). NATS: the kernel's `data_segs_out` (TCP
  segments that carried data) summed over each server's sockets (`ss -tinp`),
  routes and its subscriber's connection; NATS sends no UDP.
- **Throughput**: N=16 nodes; messages offered at a fixed rate for a fixed
  time (lanmesh: lines written to the senders' stdin, stdout to a tmpfs file,
  deliveries counted from `/stats`; NATS: PUBs from each sender's client
  process, every node's client a process of its own counting the MSGs it
  receives; Serf: one RPC `event` call per message, counted in the handler
  files). A rate passes when every node received every message of the others
  within the grace time after sending ends (0.5 s; Serf 3 s), nothing was
  lost or duplicated, and the senders achieved ≥ 95 % of the rate (NATS pushes
  back on a publisher it cannot keep up with). Each rate is tried three times
  and passes only if all three do; rates double (or halve) until the outcome
  changes, then geometric bisection until the passing and the failing rate are
  within 5 %. The cell shows the highest passing rate, the trials there, the
  first failing rate with how many of its trials passed, and the drain times.
  RMR (lanmesh) = (delivered + duplicates) / delivered − 1.
- **Out of order** (lanmesh): on each receiver, per origin, a delivery is out
  of order when a message that origin's line was written *later* (the order
  the harness wrote them to that sender's stdin) was delivered before it; a
  lost message is not also counted. Lost, duplicate and out-of-order are
  counted for every lanmesh batch whose output is parsed: the latency runs,
  the probes sent after the SIGKILL (churn: every survivor must get every
  probe, once, in order; 5 s bound), the tree/keys batches (flood's order
  separately: flooding promises none) and the catch-up batch. The throughput
  trials count deliveries from `/stats` only, plus the gaps the tree reported.
- **Tree vs flood** (tree group): each repetition starts a fresh N=20
  cluster per configuration, one after another (tree: the default; flood:
  `--broadcast.mode=flood`; keys group: tree with `--security.keys`), the
  order turned every repetition; every node's `/stats` must show the mode and
  key state asked for. RMR at steady state: a warm-up batch (one sender: 20
  messages; all senders: 10 each) at 200 msg/s in total, until every node
  delivered it and the sum of `payloads_in` (payload frames received) stopped
  moving (two reads 0.5 s apart, 5 s bound); then the measured batch (200
  messages; all senders: 20 each, in turn) the same way; RMR = Δ payloads_in
  over all nodes / (messages × (N−1)) − 1. Latency from the caller as in the
  latency rows (60 broadcasts at 10/s) on the same cluster. Throughput: the
  search of the throughput rows (N=16) with the node settings; tree and
  flood are searched back to back; searches of the same settings run once
  per run and are shared by their rows (tree one/all = the throughput rows'
  100 B one/all; keys off = tree all senders), results.json says which.
  Targets relative to another row show the ratio (or difference) in the
  Target column.
- **Catch-up** (catchup group): N=20; every other node sends 2 messages
  (each stream exists everywhere), then the middle node is SIGSTOPped for
  5 s while the 19 others send 1 000 messages in turn, evenly spread over
  the 5 s; then SIGCONT. Re-link = the stopped node's first `peer_up` after
  the stop (its own stamp; if it kept a link, SIGCONT); last delivery = its
  `deliver` stamp of the last of the 1 000 (10 s bound); lost, duplicate and
  out-of-order counted at it (the others' counts are in the rows above).
- **Keys** (keys group): a key of 32 random bytes (standard base64, as
  `lanmesh keygen`) per run, `--security.keys=["KEY"]` on every node (the
  key appears in no output). Latency from the caller, and in a separate pass
  the node-stamped stdin write to `deliver` (harness reads nothing while
  messages are in flight), keys on against the keys-off tree cluster of the
  same repetition; throughput of 100 B from all senders, keys on and off.
- **Limit**: `tcpref fanout` (bench/tcpref.cpp, CMake target `tcpref`), in the
  same run: one thread writes each message to N−1 = 15 loopback TCP sockets,
  655 messages (64 KiB) per write() or one write per message, one thread reads
  them all back (epoll). "% of the limit" in a throughput cell = its rate /
  the batched fan-out rate of the same size: the messages per second this
  machine can hand to 15 receivers at all.
- **Reference**: `tcpref` also measures a 100-byte ping-pong over one loopback
  TCP connection (TCP_NODELAY), bulk writes of 64 KiB, one write per 100-byte
  message.
- **Scaling**: for each system alone (the others stopped), for each N a fresh
  cluster: convergence as above, then the idle window (CPU, packets per node),
  RSS, then latency from the caller (40 broadcasts at 10/s); every process is
  killed before the next N. The load average before each point is in the table.
- **Load**: the machine is shared (other engineers build and test on the same
  2 cores); the load average before each group is listed at the top.
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small and short; the ctest smoke test")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 3; --quick 1)")
    ap.add_argument("--only", default=None, help="comma-separated groups: " + ",".join(GROUPS))
    ap.add_argument("--lanmesh", default=os.path.join(REPO, "build", "lanmesh"))
    ap.add_argument("--out", default=None, help="directory for RESULTS.md and results.json")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    ap.add_argument("--skip-serf", action="store_true", help="no Serf (same as leaving it out of "
                    "--systems)")
    ap.add_argument("--systems", default="lanmesh,serf,nats",
                    help="comma-separated systems to run beside lanmesh: lanmesh,serf,nats")
    ap.add_argument("--sizes", default=None,
                    help="cluster sizes of the scaling group (default 5,10,20,50,100; --quick 3,5)")
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
    systems = set(opts.systems.split(",")) | {"lanmesh"}
    if systems - set(SYSTEMS):
        ap.error("unknown system(s): %s" % ", ".join(sorted(systems - set(SYSTEMS))))
    if opts.skip_serf:
        systems.discard("serf")
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
    try:
        b.sizes = tuple(sorted(int(x) for x in opts.sizes.split(","))) if opts.sizes \
            else settings.sizes
        b.sizes_given = bool(opts.sizes)
    except ValueError:
        ap.error("--sizes: comma-separated integers")
    if any(n < 2 or n > 200 for n in b.sizes):
        ap.error("--sizes: each between 2 and 200")
    b.tp_systems, b.tp_sizes = (), ()
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
    try:  # the last commit that changed lanmesh itself (its sources and config)
        meta["lanmesh_commit"] = subprocess.run(
            ["git", "-C", REPO, "log", "-1", "--format=%h", "--", "actors", "net", "main", "config"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=10).stdout.decode().strip()
    except (OSError, subprocess.TimeoutExpired):
        meta["lanmesh_commit"] = "?"
    interrupted = False
    try:
        b.serf, b.serf_skip = ensure_tool("serf", "serf", opts.quick, "serf" in systems)
        if b.serf:
            v = subprocess.run([b.serf, "version"], stdout=subprocess.PIPE, timeout=10)
            meta["serf"] = v.stdout.decode().splitlines()[0].strip() + " (lan profile)"
        else:
            meta["serf"] = b.serf_skip
        b.nats, b.nats_skip = ensure_tool("nats-server", "nats-server", opts.quick,
                                          "nats" in systems)
        if b.nats:
            v = subprocess.run([b.nats, "--version"], stdout=subprocess.PIPE, timeout=10)
            meta["nats"] = v.stdout.decode().strip() + " (default settings, one server per node)"
        else:
            meta["nats"] = b.nats_skip
        b.systems = tuple(x for x in SYSTEMS if x in systems and
                          (x == "lanmesh" or (x == "serf" and b.serf) or (x == "nats" and b.nats)))
        # Serf's throughput search needs seconds per rate: not in --quick
        b.tp_systems = tuple(x for x in b.systems if not (opts.quick and x == "serf"))
        b.tp_sizes = (100,) if opts.quick else (100, 16384)
        log("work dir %s; results to %s; systems %s" % (b.work, out, ",".join(b.systems)))
        steps = []
        if want("physical"):
            steps.append(("physical reference", lambda: physical(b, res)))
        if any(want(g) for g in ("convergence", "latency", "memory", "idle", "failure")):
            for rep in range(reps):
                steps.append(("repetition %d" % (rep + 1),
                              lambda rep=rep: run_rep(b, res, rep, want)))
        if want("tree") or want("keys"):
            for rep in range(reps):
                steps.append(("repetition %d of tree/keys, N=%d" % (rep + 1, settings.n_big),
                              lambda rep=rep: mode_rep(b, res, rep, want)))
        if want("catchup"):
            for rep in range(reps):
                steps.append(("catch-up rep %d N=%d" % (rep + 1, settings.n_big),
                              lambda rep=rep: lm_catchup(b, res, rep)))
        # Throughput searches of the same settings are run once and shared by
        # their rows (b.tp_done): tree 100 B one/all is also the throughput
        # group's tp_100_one/tp_100_all and keys-off is tree all senders. Tree
        # and flood (keys off and on) run back to back, under the same load.
        tp_new = []
        if want("tree"):
            tp_new += [(100, "one", "tp_tree_100_one", ()), (100, "one", "tp_flood_100_one", FLOOD),
                       (100, "all", "tp_tree_100_all", ()), (100, "all", "tp_flood_100_all", FLOOD)]
        if want("keys"):
            tp_new += [(100, "all", "tp_nokeys_100_all", ()),
                       (100, "all", "tp_keys_100_all", keys_args(b))]
        for size, mode, rid, extra in tp_new:
            steps.append(("throughput lanmesh %d B %s%s" % (size, mode, " " + extra_text(extra)
                                                           if extra else ""),
                          lambda a=(size, mode, rid, extra): tp_search(
                              b, res, "lanmesh", a[0], a[1], a[2], None, a[3])))
        if want("throughput"):
            for system in b.tp_systems:
                for size, mode, rid, rmr in ((100, "one", "tp_100_one", "rmr_100_one"),
                                             (100, "all", "tp_100_all", "rmr_100_all"),
                                             (16384, "one", "tp_16k_one", "rmr_16k_one"),
                                             (16384, "all", "tp_16k_all", "rmr_16k_all")):
                    if system in NA.get(rid, {}) or size not in b.tp_sizes:
                        continue
                    steps.append(("throughput %s %d B %s" % (system, size, mode),
                                  lambda a=(system, size, mode, rid, rmr): tp_search(b, res, *a)))
        if want("scaling"):
            steps.append(("scaling N=%s" % ",".join(map(str, b.sizes)), lambda: scaling(b, res)))
        for name, fn in steps:
            if STOP and STOP[0] == "pending":
                raise KeyboardInterrupt(STOP[1])
            log("%s (load average %s)" % (name, loadavg_text()))
            if not name.startswith("repetition"):
                res.loadavg.append((name, os.getloadavg()))
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
