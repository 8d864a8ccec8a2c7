"""Bad input to the tools: exit status 2, one line on stderr naming the problem,
and no picture written."""

import json
import os
import re
import shutil
import sys
import tempfile

from tooltest import DATA, check, run_tests, run_tool

GOOD_SNAPSHOT = os.path.join(DATA, "topology.json")
GOOD_STREAM = os.path.join(DATA, "run", "n0.jsonl")


def expect_bad(tool, args, *phrases, folder=None):
    """Runs the tool; wants exit 2, exactly one stderr line `tool: ...` holding
    every phrase, and no output file in `folder`."""
    before = set(os.listdir(folder)) if folder else set()
    done = run_tool(tool, *args)
    lines = done.stderr.strip().splitlines()
    what = "%s %s" % (tool, " ".join(str(a) for a in args))
    check(done.returncode == 2, "%s: exit %d, want 2; stderr %r" % (what, done.returncode, done.stderr))
    check(len(lines) == 1, "%s: %d stderr lines, want 1: %r" % (what, len(lines), done.stderr))
    check(re.match(re.escape(tool) + r"( [a-z]+)?: ", lines[0]),
          "%s: error %r does not start with %r" % (what, lines[0], tool + ": "))
    for phrase in phrases:
        check(phrase in lines[0], "%s: error %r does not say %r" % (what, lines[0], phrase))
    if folder:
        new = set(os.listdir(folder)) - before
        check(not new, "%s wrote %s despite bad input" % (what, sorted(new)))


class Scratch:
    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="lanmesh-tools-")
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, name, content):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(content if isinstance(content, str) else json.dumps(content))
        return path

    def out(self, name="out.png"):
        return os.path.join(self.dir, name)


def good_doc():
    with open(GOOD_SNAPSHOT) as f:
        return json.load(f)


def test_topology_missing_file():
    with Scratch() as s:
        expect_bad("draw_topology.py", [os.path.join(s.dir, "nope.json"), s.out()],
                   "cannot read", "nope.json", "No such file", folder=s.dir)


def test_topology_not_json():
    with Scratch() as s:
        expect_bad("draw_topology.py", [s.write("t.json", "hello\nworld {\n"), s.out()],
                   "not JSON", folder=s.dir)
        expect_bad("draw_topology.py", [s.write("e.json", ""), s.out()], "empty", folder=s.dir)


def test_topology_wrong_shapes():
    cases = [
        ([1, 2, 3], "top level is a JSON list"),
        ({"event": "peers", "node": "aa", "peers": []}, "no 'nodes'"),
        ({"nodes": [], "edges": {}}, "'edges' is not a list"),
        ({"nodes": [], "edges": []}, "lists no nodes"),
    ]
    doc = good_doc()
    doc["nodes"][2].pop("node")
    cases.append((doc, "nodes[2]: 'node' is missing"))
    doc = good_doc()
    doc["nodes"][1]["links_in"] = -1
    cases.append((doc, "nodes[1]: 'links_in' is not a count"))
    doc = good_doc()
    doc["nodes"][1]["answered"] = "yes"
    cases.append((doc, "nodes[1]: 'answered' is not true or false"))
    doc = good_doc()
    doc["nodes"].append(dict(doc["nodes"][0]))
    cases.append((doc, "listed twice"))
    doc = good_doc()
    doc["edges"][0]["to"] = doc["edges"][0]["from"]
    cases.append((doc, "edges[0]: a link from"))
    doc = good_doc()
    doc["edges"][3]["rtt_ms"] = "fast"
    cases.append((doc, "edges[3]: 'rtt_ms'"))
    doc = good_doc()
    doc["took_ms"] = "slow"
    cases.append((doc, "'took_ms' is not a number"))
    with Scratch() as s:
        for i, (content, phrase) in enumerate(cases):
            expect_bad("draw_topology.py", [s.write("c%d.json" % i, content), s.out()], phrase,
                       folder=s.dir)


def test_topology_stream_without_topology_event():
    with Scratch() as s:
        expect_bad("draw_topology.py", [GOOD_STREAM, s.out()], "none of its",
                   "is a topology event", folder=s.dir)


def test_topology_bad_options():
    with Scratch() as s:
        expect_bad("draw_topology.py", [GOOD_SNAPSHOT, s.out("t.jpg")], "extension", folder=s.dir)
        expect_bad("draw_topology.py", [GOOD_SNAPSHOT, os.path.join(s.dir, "no", "t.png")],
                   "does not exist", folder=s.dir)
        expect_bad("draw_topology.py", [GOOD_SNAPSHOT, s.out(), "--size", "big"], "--size",
                   folder=s.dir)
        expect_bad("draw_topology.py", [GOOD_SNAPSHOT, s.out(), "--dpi", "0"], "--dpi", folder=s.dir)
        expect_bad("draw_topology.py", [GOOD_SNAPSHOT], "required", folder=s.dir)


def test_timeline_bad_streams():
    with Scratch() as s:
        expect_bad("draw_timeline.py", [os.path.join(s.dir, "gone.jsonl"), "-o", s.out()],
                   "cannot read", "gone.jsonl", folder=s.dir)
        expect_bad("draw_timeline.py", [s.write("t.jsonl", "just text\n"), "-o", s.out()],
                   "not JSON lines", folder=s.dir)
        expect_bad("draw_timeline.py", [s.write("p.jsonl", '{"event":"peers","peers":[]}\n'),
                                        "-o", s.out()], "no lanmesh events", folder=s.dir)
        expect_bad("draw_timeline.py", [s.write("o.jsonl", '{"event":"peer_up","peer":"aa"}\n'),
                                        "-o", s.out()], "o.jsonl:1", "without a numeric ts",
                   folder=s.dir)
        expect_bad("draw_timeline.py", [s.write("u.jsonl", '{"event":"sent","ts":5}\n'),
                                        "-o", s.out()], "sent event without 'msg'", folder=s.dir)


def test_timeline_bad_markers_and_options():
    with Scratch() as s:
        expect_bad("draw_timeline.py", [GOOD_STREAM, "-o", s.out(), "--markers",
                                        s.write("m.jsonl", "kill n4 at 3\n")],
                   "not JSON objects", folder=s.dir)
        expect_bad("draw_timeline.py", [GOOD_STREAM, "-o", s.out(), "--markers",
                                        s.write("m2.jsonl", '{"ts":"soon","label":"kill n4"}\n')],
                   "m2.jsonl:1", folder=s.dir)
        expect_bad("draw_timeline.py", [GOOD_STREAM, "-o", s.out(), "--mark", "kill n4"],
                   "--mark", "T:LABEL", folder=s.dir)
        expect_bad("draw_timeline.py", [GOOD_STREAM, "-o", s.out("t.gif")], "extension",
                   folder=s.dir)
        expect_bad("draw_timeline.py", [GOOD_STREAM], "-o", folder=s.dir)


def test_cluster_bad_usage():
    with Scratch() as s:
        expect_bad("cluster.py", ["status", "--dir", s.dir], "no cluster in")
        state = {"lanmesh": "/bin/false", "cluster": "c", "discovery_port": 47000, "config": "x",
                 "nodes": [{"name": "n0", "id": "1", "pid": None, "start_time": None, "port": None}]}
        s.write("cluster.json", state)
        expect_bad("cluster.py", ["kill", "7", "--dir", s.dir], "no node 7")
        expect_bad("cluster.py", ["send", "n0", "hi", "--dir", s.dir], "n0 is not running")
        expect_bad("cluster.py", ["start", "2", "--dir", s.dir, "--port-range", "9-1"],
                   "--port-range")
        expect_bad("cluster.py", ["explode", "--dir", s.dir], "invalid choice")


if __name__ == "__main__":
    sys.exit(run_tests(__file__, [
        test_topology_missing_file,
        test_topology_not_json,
        test_topology_wrong_shapes,
        test_topology_stream_without_topology_event,
        test_topology_bad_options,
        test_timeline_bad_streams,
        test_timeline_bad_markers_and_options,
        test_cluster_bad_usage,
    ]))
