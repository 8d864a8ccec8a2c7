"""Smoke test of tools/cluster.py with real lanmesh nodes on 127.0.0.1.

Three nodes in a cluster of their own (discovery port 47301, TCP ports
61700-61799) must link by discovery; then stop/cont, kill, restart and down
are checked through /proc, the nodes' jsonl streams and /peers.

This process makes itself the child subreaper, so the nodes (which
cluster.py detaches and leaves behind when it exits) become its children when
orphaned: it reaps them and sees how each one exited.
"""

import ctypes
import json
import os
import signal
import shutil
import sys
import tempfile

from tooltest import (Env, check, check_ok, check_png, require_matplotlib, run_tests, run_tool,
                      wait_until)

DISCOVERY_PORT = 47301
PORTS = (61700, 61799)
PR_SET_CHILD_SUBREAPER = 36

exits = {}  # pid -> wait status of the nodes this process reaped


def reap():
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        exits[pid] = status


def gone(pid):
    reap()
    return not os.path.exists("/proc/%d" % pid)


def proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rindex(")") + 2:].split()[0]


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().decode("utf-8", "replace").split("\0")


class Run:
    def __init__(self, folder, name):
        self.dir, self.name = folder, name

    def __call__(self, *args, ok=True):
        done = run_tool("cluster.py", *args, "--dir", self.dir, timeout=60)
        reap()
        if ok:
            check_ok(done, "cluster.py %s" % " ".join(str(a) for a in args))
        return done

    def state(self):
        with open(os.path.join(self.dir, "cluster.json")) as f:
            return json.load(f)

    def status(self):
        return {n["name"]: n for n in json.loads(self("status", "--json").stdout)["nodes"]}

    def events(self, name, kind):
        with open(os.path.join(self.dir, name + ".jsonl")) as f:
            return [e for e in (json.loads(l) for l in f if l.strip()) if e.get("event") == kind]

    def peers_snapshot(self, path):
        self("snapshot", "--from-peers", path)
        with open(path) as f:
            return json.load(f)


def check_overlay(doc, ids, ports):
    """The snapshot lists exactly `ids`, all answered, linked into one graph,
    and each node's link counts agree with the edges."""
    nodes = {n["node"]: n for n in doc["nodes"]}
    check(set(nodes) == set(ids), "snapshot nodes %s, want %s" % (sorted(nodes), sorted(ids)))
    check(all(n["answered"] for n in nodes.values()), "not all answered: %s" % doc["nodes"])
    edges = [(e["from"], e["to"]) for e in doc["edges"]]
    check(len(set(edges)) == len(edges), "an edge listed twice: %s" % edges)
    adjacency = {i: set() for i in ids}
    for a, b in edges:
        check(a in ids and b in ids and a != b, "edge %s->%s outside the cluster" % (a, b))
        check((b, a) not in edges, "two links between %s and %s" % (a, b))
        adjacency[a].add(b)
        adjacency[b].add(a)
    for i, n in nodes.items():
        check(n["links_out"] == sum(1 for a, _ in edges if a == i) and
              n["links_in"] == sum(1 for _, b in edges if b == i),
              "%s reports %d in / %d out, the other ends say otherwise: %s"
              % (i, n["links_in"], n["links_out"], edges))
        check(n["addr"] == "127.0.0.1:%d" % ports[i], "%s addr %s" % (i, n["addr"]))
    seen, todo = set(), [ids[0]]
    while todo:
        i = todo.pop()
        if i not in seen:
            seen.add(i)
            todo.extend(adjacency[i])
    check(seen == set(ids), "not one overlay: from %s reach only %s" % (ids[0], sorted(seen)))


def test_start_link_kill_restart_down():
    check(Env.lanmesh and os.access(Env.lanmesh, os.X_OK), "--lanmesh binary missing")
    libc = ctypes.CDLL(None, use_errno=True)
    check(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, "prctl(PR_SET_CHILD_SUBREAPER) failed")
    folder = tempfile.mkdtemp(prefix="lanmesh-tools-cluster-")
    run = Run(folder, "t-tools-%d" % os.getpid())
    pids = set()
    ok = False
    try:
        out = run("start", "3", "--cluster", run.name, "--discovery-port", DISCOVERY_PORT,
                  "--port-range", "%d-%d" % PORTS, "--lanmesh", Env.lanmesh).stdout
        check("3 nodes, discovery port %d" % DISCOVERY_PORT in out, "start said %r" % out)
        nodes = run.state()["nodes"]
        check([n["name"] for n in nodes] == ["n0", "n1", "n2"], "nodes %s" % nodes)
        ids = [n["id"] for n in nodes]
        ports = {n["id"]: n["port"] for n in nodes}
        for n in nodes:
            pids.add(n["pid"])
            argv = cmdline(n["pid"])
            check(argv[0] == Env.lanmesh, "%s runs %s" % (n["name"], argv[0]))
            for want in ("--node.cluster=" + run.name, "--node.listen=127.0.0.1",
                         "--discovery.interface=127.0.0.1", "--console.output=jsonl",
                         "--discovery.port=%d" % DISCOVERY_PORT, "--node.id=" + n["id"],
                         "--log.file=" + os.path.join(folder, n["name"] + ".log")):
                check(want in argv, "%s started without %s: %s" % (n["name"], want, argv))
            check(PORTS[0] <= n["port"] <= PORTS[1], "%s port %s" % (n["name"], n["port"]))
            check(run.events(n["name"], "ready")[0]["node"] == n["id"], "ready id of " + n["name"])

        # they find each other by discovery and link into one overlay
        run("wait", "--timeout", "15")
        check_overlay(run.peers_snapshot(os.path.join(folder, "s1.json")), ids, ports)

        # a line typed into n0 reaches the others
        msg = run("send", "0", "hello", "tools").stdout.strip()
        check(msg.startswith(ids[0]), "send printed %r, want a msg id of %s" % (msg, ids[0]))
        for name in ("n1", "n2"):
            got = wait_until(lambda: [e for e in run.events(name, "deliver") if e["msg"] == msg], 10)
            check(got and got[0]["payload"] == "hello tools", "%s delivered %s" % (name, got))

        # /topology: written by the node once it has the command; until then a clear error
        topo = os.path.join(folder, "topology.json")
        done = run("snapshot", topo, "--timeout", "5", ok=False)
        if done.returncode == 0:
            with open(topo) as f:
                doc = json.load(f)
            check(sorted(n["node"] for n in doc["nodes"] if n.get("answered")) == sorted(ids),
                  "/topology snapshot: %s" % doc)
        else:
            lines = done.stderr.strip().splitlines()
            check(done.returncode == 1 and len(lines) == 1 and "/topology" in lines[0],
                  "snapshot without /topology: exit %d, %r" % (done.returncode, done.stderr))

        # stop and cont
        run("stop", "1")
        check(proc_state(nodes[1]["pid"]) in ("T", "t"), "n1 not stopped: %s"
              % proc_state(nodes[1]["pid"]))
        check(run.status()["n1"]["state"] == "stopped", "status of n1 is not stopped")
        run("cont", "n1")
        check(run.status()["n1"]["state"] == "running", "status of n1 is not running")

        # kill: the process is gone and the others drop their link to it
        run("kill", "2")
        check(wait_until(lambda: gone(nodes[2]["pid"]), 5), "n2 (pid %d) still there after kill"
              % nodes[2]["pid"])
        status = exits.get(nodes[2]["pid"])
        check(status is not None and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL,
              "n2 did not die of SIGKILL: %s" % status)
        check(run.status()["n2"]["state"] == "dead", "status of n2 is not dead")
        run("wait", "--timeout", "15")
        check_overlay(run.peers_snapshot(os.path.join(folder, "s2.json")), ids[:2], ports)

        # restart: same id, new process, back in the overlay
        run("restart", "2")
        new = run.state()["nodes"][2]
        pids.add(new["pid"])
        check(new["pid"] != nodes[2]["pid"], "restart kept pid %d" % new["pid"])
        check([e["node"] for e in run.events("n2", "ready")] == [ids[2], ids[2]],
              "n2's ready events after restart: %s" % run.events("n2", "ready"))
        run("wait", "--timeout", "15")
        ports[ids[2]] = new["port"]
        check_overlay(run.peers_snapshot(os.path.join(folder, "s3.json")), ids, ports)

        # down: every node ends by SIGINT with status 0, and no process is left
        out = run("down").stdout
        check("3 node(s) stopped by SIGINT, 0 killed" in out, "down said %r" % out)
        for pid in pids:
            check(wait_until(lambda: gone(pid), 5), "pid %d still there after down" % pid)
        for n in run.state()["nodes"]:
            status = exits.get(n["pid"])
            check(status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
                  "%s (pid %d) ended with wait status %s, want exit 0" % (n["name"], n["pid"], status))
        check(all(s["state"] == "dead" for s in run.status().values()), "status after down")
        with open(os.path.join(folder, "markers.jsonl")) as f:
            actions = [(m["action"], m["node"]) for m in map(json.loads, f)]
        check(actions == [("stop", "n1"), ("cont", "n1"), ("kill", "n2"), ("restart", "n2"),
                          ("down", None)], "markers %s" % actions)
        ok = True
    finally:
        for pid in pids:  # safety net, by PID only: the ones this test started
            if not gone(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        wait_until(lambda: all(gone(p) for p in pids), 5)
        if ok:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            print("    cluster files kept in %s" % folder)


def test_demo_from_peers():
    """The README demo, smaller, with snapshots from /peers: three valid pictures,
    the killed node absent from the second snapshot, no process left."""
    require_matplotlib()
    check(Env.lanmesh and os.access(Env.lanmesh, os.X_OK), "--lanmesh binary missing")
    libc = ctypes.CDLL(None, use_errno=True)
    check(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, "prctl(PR_SET_CHILD_SUBREAPER) failed")
    folder = tempfile.mkdtemp(prefix="lanmesh-tools-demo-")
    out = os.path.join(folder, "pictures")
    pids = set()
    try:
        done = run_tool("cluster.py", "demo", "--nodes", "5", "--kill", "1", "--from-peers",
                        "--dir", folder, "--out", out, "--cluster", "t-tools-demo-%d" % os.getpid(),
                        "--discovery-port", DISCOVERY_PORT, "--port-range", "%d-%d" % PORTS,
                        "--lanmesh", Env.lanmesh, timeout=110)
        reap()
        with open(os.path.join(folder, "cluster.json")) as f:
            nodes = json.load(f)["nodes"]
        pids = {n["pid"] for n in nodes}
        check_ok(done, "cluster.py demo")
        check_png(os.path.join(out, "topology-before.png"), 1000, 800)
        check_png(os.path.join(out, "topology-after.png"), 1000, 800)
        check_png(os.path.join(out, "timeline.png"), 1100, 800)
        with open(os.path.join(folder, "markers.jsonl")) as f:
            marks = [json.loads(l) for l in f]
        killed = [m["node"] for m in marks if m["action"] == "kill"]
        check(len(killed) == 1 and [m["action"] for m in marks] == ["kill", "restart", "down"],
              "markers %s" % marks)
        killed_id = next(n["id"] for n in nodes if n["name"] == killed[0])
        with open(os.path.join(folder, "topology-before.json")) as f:
            before = json.load(f)
        with open(os.path.join(folder, "topology-after.json")) as f:
            after = json.load(f)
        check(len(before["nodes"]) == 5 and killed_id in {n["node"] for n in before["nodes"]},
              "before: %s" % before["nodes"])
        check(len(after["nodes"]) == 4 and killed_id not in {n["node"] for n in after["nodes"]}
              and all(killed_id not in (e["from"], e["to"]) for e in after["edges"]),
              "after the kill: %s" % after)
        for pid in pids:
            check(wait_until(lambda: gone(pid), 5), "pid %d still there after the demo" % pid)
    finally:
        for pid in pids:
            if not gone(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(run_tests(__file__, [test_start_link_kill_restart_down, test_demo_from_peers]))
