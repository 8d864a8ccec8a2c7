#!/usr/bin/env python3
"""Local lanmesh cluster launcher: K nodes on 127.0.0.1, driven from the shell.

    tools/cluster.py start 5 --dir /tmp/c          # 5 nodes, own cluster name and multicast port
    tools/cluster.py wait --dir /tmp/c             # until they form one overlay
    tools/cluster.py send 0 hello --dir /tmp/c     # node n0 broadcasts "hello"
    tools/cluster.py snapshot /tmp/c/t.json --dir /tmp/c [--from-peers]
    tools/cluster.py kill 3 --dir /tmp/c           # SIGKILL n3 (also: stop, cont, restart)
    tools/cluster.py status --dir /tmp/c
    tools/cluster.py down --dir /tmp/c             # SIGINT all, SIGKILL leftovers
    tools/cluster.py demo --out docs               # the README demo (12 nodes, kill two)

Every node I runs with --console.output=jsonl; its stdout goes to DIR/nI.jsonl,
its log to DIR/nI.log, its stderr to DIR/nI.stderr, and its stdin comes from the
FIFO DIR/nI.in, so later commands (or `echo /peers > DIR/nI.in`) can type into
it. The node holds its FIFO open for writing too, so it never sees EOF. PIDs,
ids and ports are kept in DIR/cluster.json; every signal is sent by PID after
checking the process is still the one started (its start time in /proc).
kill/stop/cont/restart/down are also appended to DIR/markers.jsonl
({"ts": MICROS, "action", "node", "label"}), which draw_timeline.py reads.

Nodes listen and multicast on 127.0.0.1 only. Each node keeps its id (random
at `start`) across `restart`. Every wait is bounded.

Exit status: 0 done, 1 a step failed (a node did not start, a wait timed out,
no snapshot), 2 bad usage (no cluster in DIR, unknown node, node not running).
"""

import argparse
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lanmesh_tools import Fail, ToolParser, main_guard  # noqa: E402

PROG = "cluster.py"
TOOLS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TOOLS)
STATE = "cluster.json"
MARKERS = "markers.jsonl"
DEFAULT_MAX_DEGREE = 8  # lanmesh's overlay.max-degree default


def now_us():
    return int(time.time() * 1_000_000)


def say(message):
    print(message, flush=True)


# -- processes, by PID ---------------------------------------------------------

def proc_stat(pid):
    """(state letter, start time in clock ticks) of `pid`, or None if there is none."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()  # fields 3.. (comm may hold spaces)
    return fields[0], int(fields[19])  # state (3), starttime (22)


def node_state(node):
    """'running', 'stopped' or 'dead' (gone, a zombie, or the PID now someone else's)."""
    pid = node.get("pid")
    if not pid:
        return "dead"
    st = proc_stat(pid)
    if st is None or st[1] != node.get("start_time") or st[0] in "ZXx":
        return "dead"
    return "stopped" if st[0] in "Tt" else "running"


def signal_node(node, signo):
    """Sends `signo` to the node's PID if it is still that node; True if sent."""
    if node_state(node) == "dead":
        return False
    try:
        os.kill(node["pid"], signo)
    except ProcessLookupError:
        return False
    return True


def wait_until(predicate, timeout, interval=0.02):
    """Polls `predicate` until it is truthy or `timeout` s pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# -- the cluster folder ----------------------------------------------------------

class Cluster:
    """DIR/cluster.json and the files of each node."""

    def __init__(self, folder):
        self.dir = os.path.abspath(folder)
        self.state_path = os.path.join(self.dir, STATE)
        self.state = None

    def load(self):
        try:
            with open(self.state_path) as f:
                self.state = json.load(f)
        except FileNotFoundError:
            raise Fail("no cluster in %s (no %s; run `start` first)" % (self.dir, STATE))
        except (OSError, ValueError) as e:
            raise Fail("cannot read %s: %s" % (self.state_path, e))
        return self

    def save(self):
        tmp = self.state_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.state, f, indent=1)
            f.write("\n")
        os.replace(tmp, self.state_path)

    @property
    def nodes(self):
        return self.state["nodes"]

    def path(self, node, ext):
        return os.path.join(self.dir, "%s.%s" % (node["name"], ext))

    def node(self, ref):
        """The node named by `ref`: an index (3) or a name (n3)."""
        text = str(ref)
        index = text[1:] if text.startswith("n") else text
        if index.isdigit() and int(index) < len(self.nodes):
            return self.nodes[int(index)]
        raise Fail("no node %s in this cluster (nodes n0-n%d)" % (ref, len(self.nodes) - 1))

    def offset(self, node):
        """Bytes of the node's stdout so far: where the answer to the next command starts."""
        try:
            return os.path.getsize(self.path(node, "jsonl"))
        except OSError:
            return 0

    def mark(self, action, node=None, ts=None):
        label = action + (" " + node["name"] if node else "")
        entry = {"ts": ts or now_us(), "action": action, "node": node["name"] if node else None,
                 "label": label}
        with open(os.path.join(self.dir, MARKERS), "a") as f:
            f.write(json.dumps(entry) + "\n")

    # -- starting ------------------------------------------------------------------

    def argv(self, node):
        s = self.state
        args = [s["lanmesh"], "--config-file=" + s["config"],
                "--console.output=jsonl",
                "--node.cluster=" + s["cluster"],
                "--node.id=" + node["id"],
                "--node.listen=127.0.0.1",
                "--discovery.enabled=true",
                "--discovery.interface=127.0.0.1",
                "--discovery.port=%d" % s["discovery_port"],
                "--log.file=" + self.path(node, "log"),
                # `lanmesh members --control=DIR/nI.sock` talks to node I.
                "--control.socket=" + self.path(node, "sock")]
        if s.get("port_range"):
            args.append("--node.port-range=" + s["port_range"])
        return args + list(s.get("node_args", []))

    def spawn(self, node):
        """Starts the node's process, detached from this one; returns the stdout offset."""
        fifo = self.path(node, "in")
        if not os.path.exists(fifo):
            os.mkfifo(fifo, 0o600)
        out_path = self.path(node, "jsonl")
        offset = self.offset(node)
        # O_RDWR: opening does not block, and the node itself holds a writer,
        # so a `send` that opens, writes and closes never gives it EOF.
        fd_in = os.open(fifo, os.O_RDWR)
        try:
            with open(out_path, "ab") as out, open(self.path(node, "stderr"), "ab") as err:
                proc = subprocess.Popen(self.argv(node), stdin=fd_in, stdout=out, stderr=err,
                                        cwd=self.dir, start_new_session=True)
        finally:
            os.close(fd_in)
        st = proc_stat(proc.pid)
        node.update(pid=proc.pid, start_time=st[1] if st else None, port=None)
        proc.returncode = 0  # we never wait for it: keep Popen's destructor quiet
        return offset

    def wait_ready(self, node, offset, timeout):
        """Waits for the node's ready event after `offset`; records its port."""
        def ready():
            if node_state(node) == "dead":
                return "dead"
            return find_event(self.path(node, "jsonl"), offset, "ready")[0]
        ev = wait_until(ready, timeout)
        if ev == "dead" or not ev:
            tail = tail_text(self.path(node, "stderr")) or tail_text(self.path(node, "log"))
            why = "exited" if ev == "dead" else "printed no ready event within %.0f s" % timeout
            raise Fail("node %s %s%s" % (node["name"], why, (": " + tail) if tail else ""), 1)
        if ev.get("node") != node["id"]:
            raise Fail("node %s is ready as %s, started with id %s"
                       % (node["name"], ev.get("node"), node["id"]), 1)
        node["port"] = ev["port"]
        return ev

    # -- typing into nodes -----------------------------------------------------

    def send(self, node, line, timeout=2.0):
        """Writes one line into the node's FIFO (bounded if the pipe is full)."""
        if node_state(node) == "dead":
            raise Fail("node %s is not running" % node["name"])
        data = line.encode("utf-8") + b"\n"
        try:
            fd = os.open(self.path(node, "in"), os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:  # ENXIO: nobody reads the FIFO
            raise Fail("node %s does not read its stdin (%s)" % (node["name"], e.strerror))
        try:
            deadline = time.monotonic() + timeout
            while data:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([], [fd], [], left)[1]:
                    raise Fail("node %s: stdin full for %.1f s (is it stopped?)"
                               % (node["name"], timeout), 1)
                try:
                    data = data[os.write(fd, data):]
                except BlockingIOError:
                    pass
                except BrokenPipeError:  # it died after we opened the FIFO
                    raise Fail("node %s stopped reading its stdin" % node["name"])
        finally:
            os.close(fd)

    def ask(self, nodes, command, kind, timeout):
        """Types `command` into each node; returns {name: event of `kind`} of those
        that answered within `timeout` s (stopped nodes do not)."""
        offsets = {}
        for n in nodes:
            offset = self.offset(n)
            try:
                self.send(n, command)
                offsets[n["name"]] = offset
            except Fail:
                pass  # died meanwhile: it does not answer
        answers = {}

        def collect():
            for n in nodes:
                name = n["name"]
                if name in offsets and name not in answers:
                    ev = find_event(self.path(n, "jsonl"), offsets[name], kind)[0]
                    if ev:
                        answers[name] = ev
            return len(answers) == len(offsets)
        wait_until(collect, timeout)
        return answers


def find_event(path, offset, kind, also=()):
    """First complete JSON line after byte `offset` of `path` whose event is
    `kind` (or in `also`); returns (event or None, offset scanned up to)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return None, offset
    end = data.rfind(b"\n") + 1  # a line without its newline is still being written
    for raw in data[:end].splitlines():
        try:
            ev = json.loads(raw.decode("utf-8", "replace"))
        except ValueError:
            continue
        if isinstance(ev, dict) and (ev.get("event") == kind or ev.get("event") in also):
            return ev, offset + end
    return None, offset + end


def tail_text(path, lines=3):
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


# -- snapshots -------------------------------------------------------------------

def peers_snapshot(c, timeout):
    """A topology snapshot in /topology's format, built from /peers of every node.

    Nodes that are alive but did not answer within `timeout` s, and peers that
    answered nodes link to but that did not answer, are listed with
    "answered": false. rtt_ms is null: /peers does not report it.
    """
    started, ts = time.monotonic(), now_us()
    alive = [n for n in c.nodes if node_state(n) != "dead"]
    answers = c.ask(alive, "/peers", "peers", timeout)
    took_ms = (time.monotonic() - started) * 1000
    capacity = c.state.get("max_degree")
    nodes, edges, reported = {}, {}, {}
    for n in c.nodes:
        ev = answers.get(n["name"])
        if not ev:
            continue
        peers = ev.get("peers", [])
        nodes[ev["node"]] = {
            "node": ev["node"], "addr": "127.0.0.1:%d" % n["port"] if n.get("port") else None,
            "links_in": sum(1 for p in peers if p.get("dir") == "in"),
            "links_out": sum(1 for p in peers if p.get("dir") == "out"),
            "capacity": capacity, "answered": True}
        for p in peers:
            pair = (ev["node"], p["peer"]) if p.get("dir") == "out" else (p["peer"], ev["node"])
            edges.setdefault(pair, {"from": pair[0], "to": pair[1], "rtt_ms": None})
            reported.setdefault(pair, set()).add(ev["node"])
    for n in alive:  # alive, but silent: stopped, or too slow
        if n["id"] not in nodes:
            nodes[n["id"]] = {"node": n["id"], "answered": False,
                              "addr": "127.0.0.1:%d" % n["port"] if n.get("port") else None}
    for n in answers.values():
        for p in n.get("peers", []):
            nodes.setdefault(p["peer"], {"node": p["peer"], "addr": p.get("addr"),
                                         "answered": False})
    asker = next((answers[n["name"]]["node"] for n in c.nodes if n["name"] in answers), None)
    doc = {"event": "topology", "node": asker, "ts": ts, "took_ms": round(took_ms, 3),
           "source": "peers", "nodes": list(nodes.values()), "edges": list(edges.values())}
    return doc, reported


def write_json(path, doc):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def overlay_problems(c, doc, reported):
    """Why the running nodes do not (yet) form one healed overlay; [] when they do."""
    running = {n["id"]: n["name"] for n in c.nodes if node_state(n) == "running"}
    answered = {n["node"] for n in doc["nodes"] if n.get("answered")}
    problems = ["%s did not answer" % name for i, name in running.items() if i not in answered]
    adjacency = {i: set() for i in running}
    for e in doc["edges"]:
        a, b = e["from"], e["to"]
        if a not in running or b not in running:
            dead = b if a in running else a
            problems.append("a link to %s, which is not running" % dead[:8])
            continue
        if reported[(a, b)] != {a, b}:
            problems.append("link %s->%s seen by one end only" % (running[a], running[b]))
        adjacency[a].add(b)
        adjacency[b].add(a)
    if running:
        seen, todo = set(), [next(iter(running))]
        while todo:
            i = todo.pop()
            if i not in seen:
                seen.add(i)
                todo.extend(adjacency[i] - seen)
        if len(seen) < len(running):
            problems.append("%d of %d running nodes not reachable from %s"
                            % (len(running) - len(seen), len(running), running[next(iter(running))]))
    return problems


def wait_overlay(c, timeout, stable=0.0, quiet=False):
    """Polls /peers until the running nodes form one overlay whose links have
    not changed for `stable` seconds; returns the last snapshot."""
    deadline = time.monotonic() + timeout
    links, since = None, None
    while True:
        doc, reported = peers_snapshot(c, min(2.0, max(0.2, deadline - time.monotonic())))
        problems = overlay_problems(c, doc, reported)
        now_links = sorted((e["from"], e["to"]) for e in doc["edges"])
        if problems or now_links != links:
            links, since = now_links, time.monotonic()
        if not problems and time.monotonic() - since >= stable:
            if not quiet:
                say("overlay: %d running nodes, %d links, connected%s"
                    % (sum(1 for n in doc["nodes"] if n.get("answered")), len(doc["edges"]),
                       ", unchanged for %.1f s" % stable if stable else ""))
            return doc
        if time.monotonic() >= deadline:
            why = problems[:5] or ["links still changing"]
            raise Fail("no single stable overlay within %.0f s: %s" % (timeout, "; ".join(why)), 1)
        time.sleep(0.2)  # no event tells us the overlay changed: poll


def topology_snapshot(c, path, node, timeout):
    """Types `/topology PATH` into `node` and waits for the file; returns the document."""
    path = os.path.abspath(path)
    if os.path.exists(path):
        os.remove(path)  # so that an old file is not taken for the answer
    offset = c.offset(node)
    c.send(node, "/topology " + path)
    state = {"offset": offset}

    def done():
        ev, state["offset"] = find_event(c.path(node, "jsonl"), state["offset"], "error")
        if ev:
            return ("error", ev.get("message", ""))
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError):
            return None  # not there, or still being written
        return ("doc", doc) if isinstance(doc, dict) and "nodes" in doc else None
    result = wait_until(done, timeout)
    if not result:
        raise Fail("%s wrote no %s within %.0f s: this lanmesh may not have /topology yet "
                   "(pass --from-peers to build the snapshot from /peers instead)" % (node["name"], path, timeout), 1)
    kind, value = result
    if kind == "error":
        hint = " (pass --from-peers to build the snapshot from /peers instead)" if "unknown command" in value else ""
        raise Fail("%s answered /topology with an error: %s%s" % (node["name"], value, hint), 1)
    return value


def pick_asker(c, ref):
    if ref is not None:
        node = c.node(ref)
        if node_state(node) != "running":
            raise Fail("node %s is %s" % (node["name"], node_state(node)))
        return node
    for n in c.nodes:
        if node_state(n) == "running":
            return n
    raise Fail("no node is running")


def take_snapshot(c, path, from_peers, asker_ref=None, timeout=10.0):
    if from_peers:
        doc, _ = peers_snapshot(c, min(timeout, 3.0))
        if not any(n.get("answered") for n in doc["nodes"]):
            raise Fail("no node answered /peers", 1)
        write_json(path, doc)
    else:
        doc = topology_snapshot(c, path, pick_asker(c, asker_ref), timeout)
    answered = sum(1 for n in doc["nodes"] if n.get("answered"))
    say("snapshot %s: %d nodes (%d answered), %d links"
        % (path, len(doc["nodes"]), answered, len(doc["edges"])))
    return doc


# -- commands ------------------------------------------------------------------

def default_lanmesh():
    built = os.path.join(REPO, "build", "lanmesh")
    return built if os.access(built, os.X_OK) else shutil.which("lanmesh")


def cmd_start(opts):
    c = Cluster(opts.dir)
    if opts.count < 1 or opts.count > 200:
        raise Fail("count must be 1-200")
    lanmesh = opts.lanmesh or default_lanmesh()
    if not lanmesh or not os.access(lanmesh, os.X_OK):
        raise Fail("no lanmesh binary (build it, or pass --lanmesh PATH)")
    if os.path.exists(c.state_path):
        old = Cluster(opts.dir).load()
        alive = [n["name"] for n in old.nodes if node_state(n) != "dead"]
        if alive:
            raise Fail("%s already runs %s: `down` it first" % (c.dir, ", ".join(alive)))
    os.makedirs(c.dir, exist_ok=True)
    for name in os.listdir(c.dir):  # the previous run's files
        stem, ext = os.path.splitext(name)
        if (stem[:1] == "n" and stem[1:].isdigit() and ext in (".jsonl", ".log", ".stderr", ".in")) \
                or name == MARKERS:
            os.remove(os.path.join(c.dir, name))
    config = os.path.abspath(opts.config) if opts.config else os.path.join(c.dir, "empty.conf")
    if not opts.config:
        with open(config, "w") as f:
            f.write("; empty: cluster.py passes every setting on the command line\n")
    max_degree = DEFAULT_MAX_DEGREE if not opts.config else None
    for arg in opts.node_arg:
        if arg.startswith("--overlay.max-degree="):
            max_degree = int(arg.split("=", 1)[1])
    rng = random.SystemRandom()
    c.state = {
        "lanmesh": os.path.abspath(lanmesh),
        "cluster": opts.cluster or "lc-%06x" % rng.getrandbits(24),
        "discovery_port": opts.discovery_port or rng.randrange(47400, 48000),
        "port_range": opts.port_range, "config": config, "node_args": opts.node_arg,
        "max_degree": max_degree, "started_ts": now_us(),
        "nodes": [{"name": "n%d" % i, "id": "%016x" % rng.randrange(1, 1 << 64), "pid": None,
                   "start_time": None, "port": None} for i in range(opts.count)],
    }
    c.save()
    try:
        for n in c.nodes:  # one after another, as people start nodes
            offset = c.spawn(n)
            c.save()
            c.wait_ready(n, offset, opts.timeout)
            c.save()
            say("%s pid %d id %s port %d" % (n["name"], n["pid"], n["id"], n["port"]))
    except Fail:
        down(c, 5.0, quiet=True)
        raise
    say("cluster %s: %d nodes, discovery port %d, files in %s"
        % (c.state["cluster"], len(c.nodes), c.state["discovery_port"], c.dir))
    return 0


def cmd_status(opts):
    c = Cluster(opts.dir).load()
    rows = [{"name": n["name"], "pid": n["pid"], "state": node_state(n), "id": n["id"],
             "port": n["port"]} for n in c.nodes]
    if opts.json:
        print(json.dumps({"cluster": c.state["cluster"], "dir": c.dir,
                          "discovery_port": c.state["discovery_port"], "nodes": rows}))
        return 0
    say("cluster %s, discovery port %d, %s" % (c.state["cluster"], c.state["discovery_port"], c.dir))
    for r in rows:
        say("%-4s pid %-8s %-8s id %s port %s" % (r["name"], r["pid"], r["state"], r["id"], r["port"]))
    return 0


def cmd_signal(opts):
    c = Cluster(opts.dir).load()
    node = c.node(opts.node)
    state = node_state(node)
    if state == "dead":
        raise Fail("node %s is not running" % node["name"])
    signo, want = {"kill": (signal.SIGKILL, "dead"), "stop": (signal.SIGSTOP, "stopped"),
                   "cont": (signal.SIGCONT, "running")}[opts.command]
    c.mark(opts.command, node)
    signal_node(node, signo)
    if wait_until(lambda: node_state(node) == want, 5.0) is not True:
        raise Fail("node %s is still %s" % (node["name"], node_state(node)), 1)
    say("%s %s (pid %d): %s" % (opts.command, node["name"], node["pid"], want))
    return 0


def restart(c, node, timeout):
    if node_state(node) != "dead":
        signal_node(node, signal.SIGINT)
        signal_node(node, signal.SIGCONT)
        if not wait_until(lambda: node_state(node) == "dead", 5.0):
            signal_node(node, signal.SIGKILL)
            wait_until(lambda: node_state(node) == "dead", 2.0)
    c.mark("restart", node)
    offset = c.spawn(node)
    c.save()
    c.wait_ready(node, offset, timeout)
    c.save()
    say("restart %s: pid %d port %d" % (node["name"], node["pid"], node["port"]))


def cmd_restart(opts):
    c = Cluster(opts.dir).load()
    restart(c, c.node(opts.node), opts.timeout)
    return 0


def cmd_send(opts):
    c = Cluster(opts.dir).load()
    node = c.node(opts.node)
    line = " ".join(opts.line)
    if "\n" in line or "\r" in line:
        raise Fail("LINE must be one line (no newline)")
    offset = c.offset(node)
    c.send(node, line)
    if line.startswith("/") and not line.startswith("//") or opts.no_wait:
        return 0
    ev = wait_until(lambda: find_event(c.path(node, "jsonl"), offset, "sent", ("error",))[0], 5.0)
    if not ev:
        raise Fail("node %s printed no sent event within 5 s" % node["name"], 1)
    if ev.get("event") == "error":
        raise Fail("node %s: %s" % (node["name"], ev.get("message")), 1)
    say(ev["msg"])
    return 0


def cmd_snapshot(opts):
    c = Cluster(opts.dir).load()
    take_snapshot(c, opts.file, opts.from_peers, opts.node, opts.timeout)
    return 0


def cmd_wait(opts):
    wait_overlay(Cluster(opts.dir).load(), opts.timeout, opts.stable)
    return 0


def down(c, timeout, quiet=False):
    """SIGINT (and SIGCONT) every live node, wait, SIGKILL leftovers; all by PID."""
    alive = [n for n in c.nodes if node_state(n) != "dead"]
    if alive:
        c.mark("down")
    for n in alive:
        signal_node(n, signal.SIGINT)
        signal_node(n, signal.SIGCONT)  # a stopped node handles SIGINT once it runs
    wait_until(lambda: all(node_state(n) == "dead" for n in alive), timeout)
    killed = [n for n in alive if signal_node(n, signal.SIGKILL)]
    wait_until(lambda: all(node_state(n) == "dead" for n in killed), 2.0)
    left = [n["name"] for n in alive if node_state(n) != "dead"]
    if not quiet:
        say("down: %d node(s) stopped by SIGINT, %d killed%s"
            % (len(alive) - len(killed), len(killed), ", still running: " + " ".join(left) if left else ""))
    if left:
        raise Fail("still running after SIGKILL: %s" % " ".join(left), 1)
    return killed


def cmd_down(opts):
    down(Cluster(opts.dir).load(), opts.timeout)
    return 0


# -- demo ----------------------------------------------------------------------

class Traffic(threading.Thread):
    """Broadcasts a numbered line from a random running node every `interval` s."""

    def __init__(self, c, interval=0.05):
        super().__init__(daemon=True)
        self.c, self.interval, self.stopped, self.count = c, interval, threading.Event(), 0
        self.rng = random.Random(7)

    def run(self):
        while not self.stopped.wait(self.interval):
            running = [n for n in self.c.nodes if node_state(n) == "running"]
            if running:
                n = self.rng.choice(running)
                try:
                    self.c.send(n, "demo line %d from %s" % (self.count, n["name"]), timeout=0.2)
                    self.count += 1
                except Fail:
                    pass  # the node died in between

    def stop(self):
        self.stopped.set()
        self.join(timeout=5)


def run_tool(script, args):
    cmd = [sys.executable, os.path.join(TOOLS, script)] + args
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    sys.stdout.write(done.stdout.decode("utf-8", "replace"))
    if done.returncode != 0:
        raise Fail("%s failed: %s" % (script, done.stderr.decode("utf-8", "replace").strip()), 1)


def cmd_demo(opts):
    if not 2 <= opts.nodes <= 60 or not 1 <= opts.kill < opts.nodes:
        raise Fail("demo needs 2-60 nodes and to kill at least one and fewer than all")
    folder = opts.dir or tempfile.mkdtemp(prefix="lanmesh-demo-")
    out = os.path.abspath(opts.out)
    os.makedirs(out, exist_ok=True)
    say("demo: %d nodes, files in %s, pictures in %s" % (opts.nodes, folder, out))
    start = argparse.Namespace(dir=folder, count=opts.nodes, cluster=opts.cluster,
                               discovery_port=opts.discovery_port, port_range=opts.port_range,
                               lanmesh=opts.lanmesh, config=None, node_arg=opts.node_arg,
                               timeout=10.0)
    cmd_start(start)
    c = Cluster(folder).load()
    traffic = Traffic(c)
    try:
        wait_overlay(c, 20.0, stable=1.0)
        traffic.start()
        time.sleep(2.0)  # traffic on the whole overlay before the kill
        before = os.path.join(folder, "topology-before.json")
        doc = take_snapshot(c, before, opts.from_peers)
        # kill the most loaded nodes: the overlay has the most to repair
        load = {n["node"]: (n.get("links_in") or 0) + (n.get("links_out") or 0)
                for n in doc["nodes"]}
        victims = sorted(c.nodes, key=lambda n: (-load.get(n["id"], 0), n["name"]))[:opts.kill]
        for n in victims:
            c.mark("kill", n)
            signal_node(n, signal.SIGKILL)
            say("kill %s (pid %d, %d links)" % (n["name"], n["pid"], load.get(n["id"], 0)))
        if not wait_until(lambda: all(node_state(n) == "dead" for n in victims), 5.0):
            raise Fail("killed nodes did not die", 1)
        healed = time.monotonic()
        wait_overlay(c, 30.0, stable=3.0)
        say("healed: one overlay again, links unchanged for the last 3 s of %.1f s"
            % (time.monotonic() - healed))
        after = os.path.join(folder, "topology-after.json")
        take_snapshot(c, after, opts.from_peers)
        restart(c, victims[0], 10.0)
        wait_overlay(c, 30.0, stable=2.0)
    finally:
        traffic.stop()
        down(c, 5.0)
    say("demo: %d lines broadcast" % traffic.count)
    run_tool("draw_topology.py", [before, os.path.join(out, "topology-before.png"),
                                  "--title", "before: %d nodes" % opts.nodes])
    run_tool("draw_topology.py", [after, os.path.join(out, "topology-after.png"),
                                  "--title", "after killing %s"
                                  % " and ".join(n["name"] for n in victims)])
    streams = [c.path(n, "jsonl") for n in c.nodes]
    run_tool("draw_timeline.py", streams + ["--markers", os.path.join(folder, MARKERS),
                                            "-o", os.path.join(out, "timeline.png")])
    say("demo: done; run data kept in %s" % folder)
    return 0


# -- command line --------------------------------------------------------------

def port_range(text):
    parts = text.split("-")
    try:
        lo, hi = int(parts[0]), int(parts[1])
        ok = len(parts) == 2 and 1 <= lo <= hi <= 65535
    except (ValueError, IndexError):
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError("%r is not FIRST-LAST, e.g. 51700-51799" % text)
    return text


def parser():
    p = ToolParser(
        prog=PROG, description=__doc__,
        epilog="Run `cluster.py COMMAND --help` for each command's options. Files of a "
               "cluster in DIR: cluster.json, markers.jsonl, nI.jsonl (stdout), nI.log, "
               "nI.stderr, nI.in (stdin FIFO).",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", default=os.environ.get("LANMESH_CLUSTER_DIR"),
                        required="LANMESH_CLUSTER_DIR" not in os.environ,
                        help="the cluster's folder (default: $LANMESH_CLUSTER_DIR)")

    def add(name, func, help_text, with_dir=True):
        s = sub.add_parser(name, parents=[common] if with_dir else [], help=help_text,
                           description=help_text)
        s.set_defaults(func=func)
        return s

    def node_options(s):
        s.add_argument("--cluster", help="cluster name (default: lc-RANDOM)")
        s.add_argument("--discovery-port", type=int, metavar="P",
                       help="UDP multicast port (default: random in 47400-47999)")
        s.add_argument("--port-range", type=port_range, metavar="A-B",
                       help="TCP listen ports to use (default: lanmesh's)")
        s.add_argument("--lanmesh", metavar="PATH", help="node binary (default: build/lanmesh)")
        s.add_argument("--node-arg", action="append", default=[], metavar="=--KEY=VALUE",
                       help="extra lanmesh option for every node, e.g. "
                            "--node-arg=--overlay.target-degree=2 (repeatable)")

    s = add("start", cmd_start, "start K nodes (one after another, each until ready)")
    s.add_argument("count", type=int, metavar="K")
    node_options(s)
    s.add_argument("--config", metavar="FILE", help="lanmesh config file (default: an empty one)")
    s.add_argument("--timeout", type=float, default=10.0, help="seconds per node to be ready")

    s = add("status", cmd_status, "show each node's PID, state, id and port")
    s.add_argument("--json", action="store_true", help="one JSON object instead of a table")

    for name, text in (("kill", "SIGKILL node I"), ("stop", "SIGSTOP node I (it freezes)"),
                       ("cont", "SIGCONT node I")):
        s = add(name, cmd_signal, text)
        s.add_argument("node", metavar="I", help="node index or name (3 or n3)")

    s = add("restart", cmd_restart, "stop node I if it runs (SIGINT), start it again, same id")
    s.add_argument("node", metavar="I")
    s.add_argument("--timeout", type=float, default=10.0, help="seconds to be ready")

    s = add("send", cmd_send, "type LINE into node I (a broadcast prints its msg id)")
    s.add_argument("node", metavar="I")
    s.add_argument("line", nargs="+", metavar="LINE")
    s.add_argument("--no-wait", action="store_true", help="do not wait for the sent event")

    s = add("snapshot", cmd_snapshot, "write a topology snapshot to FILE: type `/topology FILE` "
                                      "into a running node and wait for the file")
    s.add_argument("file", metavar="FILE")
    s.add_argument("--from-peers", action="store_true",
                   help="instead, build the same format from /peers of every node "
                        "(rtt_ms null)")
    s.add_argument("--node", metavar="I", help="the node to ask (default: first running)")
    s.add_argument("--timeout", type=float, default=10.0, help="seconds to wait (default 10)")

    s = add("wait", cmd_wait, "wait until the running nodes form one overlay: all answer "
                              "/peers, no link to a dead node, both ends see each link, connected")
    s.add_argument("--timeout", type=float, default=20.0, help="seconds (default 20)")
    s.add_argument("--stable", type=float, default=0.0, metavar="S",
                   help="also wait until the links have not changed for S seconds")

    s = add("down", cmd_down, "SIGINT every node, wait, SIGKILL leftovers (by PID)")
    s.add_argument("--timeout", type=float, default=5.0, help="seconds before SIGKILL")

    s = add("demo", cmd_demo, "the README demo: start 12 nodes, snapshot, kill the two most "
                              "loaded, wait for healing, snapshot, restart one, then draw "
                              "topology-before.png, topology-after.png and timeline.png",
            with_dir=False)
    s.add_argument("--dir", help="folder for the run's files (default: a new temp folder)")
    s.add_argument("--out", default=os.path.join(REPO, "docs"), help="pictures (default docs/)")
    s.add_argument("--nodes", type=int, default=12)
    s.add_argument("--kill", type=int, default=2)
    s.add_argument("--from-peers", action="store_true",
                   help="snapshots from /peers instead of /topology")
    node_options(s)
    return p


def main():
    opts = parser().parse_args()
    return opts.func(opts)


if __name__ == "__main__":
    sys.exit(main_guard(PROG, main))
