"""tools/draw_topology.py draws recorded snapshots as valid PNG and SVG files."""

import json
import os
import shutil
import sys
import tempfile

from tooltest import DATA, check, check_ok, check_png, check_svg, run_tests, run_tool

SNAPSHOT = os.path.join(DATA, "topology.json")  # hand-made in /topology's format
PEERS_SNAPSHOT = os.path.join(DATA, "topology-peers.json")  # recorded: cluster.py --from-peers


class Scratch:
    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="lanmesh-tools-")
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)


def draw(*args):
    return check_ok(run_tool("draw_topology.py", *args), "draw_topology.py %s" % " ".join(args))


def test_png_of_default_and_chosen_size():
    with Scratch() as s:
        done = draw(SNAPSHOT, s.path("t.png"))
        check_png(s.path("t.png"), 1000, 800)  # 10x8 in at 100 dpi
        check("8 nodes (7 answered), 11 links" in done.stdout, "summary: %r" % done.stdout)
        draw(SNAPSHOT, s.path("small.png"), "--size", "6x4.5", "--dpi", "50", "--layout", "circle")
        check_png(s.path("small.png"), 300, 225)


def test_svg_has_size_and_title():
    with Scratch() as s:
        draw(SNAPSHOT, s.path("t.svg"), "--rtt")
        check_svg(s.path("t.svg"), 720, 576, texts=(
            "lanmesh topology: 8 nodes (7 answered), 11 links, gathered in 153.2 ms",
            "did not answer in time (1)", "asked by 3fa1c2", "<!-- 0.21 -->"))


def test_recorded_peers_snapshot():
    with Scratch() as s:
        draw(PEERS_SNAPSHOT, s.path("p.png"))
        check_png(s.path("p.png"), 1000, 800)
        draw(PEERS_SNAPSHOT, s.path("p.svg"))
        with open(PEERS_SNAPSHOT) as f:
            doc = json.load(f)
        check_svg(s.path("p.svg"), 720, 576, texts=(
            "%d nodes (%d answered), %d links" % (len(doc["nodes"]), len(doc["nodes"]),
                                                 len(doc["edges"])),))


def test_last_topology_event_of_a_jsonl_stream():
    with open(SNAPSHOT) as f:
        full = json.load(f)
    small = dict(full, nodes=full["nodes"][:2], edges=full["edges"][:1], took_ms=9.5)
    lines = [{"event": "ready", "ts": 1, "node": "3fa1c2d4e5f60718", "port": 50001, "cluster": "x"},
             small,
             {"event": "peers", "node": "3fa1c2d4e5f60718", "peers": []},
             full,
             {"event": "stats", "node": "3fa1c2d4e5f60718", "sent": 0}]
    with Scratch() as s:
        stream = s.path("node.jsonl")
        with open(stream, "w") as f:
            f.write("not json: a text line in between\n")
            for ev in lines:
                f.write(json.dumps(ev) + "\n")
        draw(stream, s.path("last.svg"))
        check_svg(s.path("last.svg"), 720, 576, texts=("8 nodes (7 answered), 11 links",))
        lines.pop(3)  # now the small one is the last
        with open(stream, "w") as f:
            f.write("".join(json.dumps(ev) + "\n" for ev in lines))
        draw(stream, s.path("small.svg"))
        check_svg(s.path("small.svg"), 720, 576,
                  texts=("2 nodes (2 answered), 1 links, gathered in 9.5 ms",))


def test_snapshot_from_stdin():
    with open(SNAPSHOT) as f:
        text = f.read()
    with Scratch() as s:
        done = run_tool("draw_topology.py", "-", s.path("in.svg"), stdin_text=text)
        check_ok(done, "draw_topology.py - in.svg")
        check_svg(s.path("in.svg"), 720, 576, texts=("8 nodes (7 answered), 11 links",))


def test_edge_to_unlisted_node_is_drawn_apart():
    with open(SNAPSHOT) as f:
        doc = json.load(f)
    doc["edges"].append({"from": doc["nodes"][0]["node"], "to": "beef", "rtt_ms": None})
    with Scratch() as s:
        with open(s.path("x.json"), "w") as f:
            json.dump(doc, f)
        done = draw(s.path("x.json"), s.path("x.svg"))
        check("beef" in done.stderr and "not in nodes" in done.stderr,
              "no note about the unlisted node: %r" % done.stderr)
        check_svg(s.path("x.svg"), 720, 576,
                  texts=("9 nodes (7 answered), 12 links", "did not answer in time (2)"))


def test_same_input_same_picture():
    with Scratch() as s:
        draw(SNAPSHOT, s.path("a.png"))
        draw(SNAPSHOT, s.path("b.png"))
        with open(s.path("a.png"), "rb") as a, open(s.path("b.png"), "rb") as b:
            check(a.read() == b.read(), "two drawings of one snapshot differ (layout not deterministic)")


def test_missing_matplotlib_is_reported():
    """With matplotlib unimportable, the tool says what to install and exits 3."""
    with Scratch() as s:
        fake = s.path("fake")
        os.makedirs(os.path.join(fake, "matplotlib"))
        with open(os.path.join(fake, "matplotlib", "__init__.py"), "w") as f:
            f.write("raise ImportError('no matplotlib here (test)')\n")
        env = dict(os.environ, PYTHONPATH=fake, LANMESH_TOOLS_REEXEC="1")
        done = run_tool("draw_topology.py", SNAPSHOT, s.path("t.png"), env=env)
        check(done.returncode == 3, "exit %d, want 3; stderr %r" % (done.returncode, done.stderr))
        lines = done.stderr.strip().splitlines()
        check(len(lines) == 1 and "python3-matplotlib" in lines[0],
              "want one line naming python3-matplotlib, got %r" % done.stderr)
        check(not os.path.exists(s.path("t.png")), "a picture was written anyway")


if __name__ == "__main__":
    sys.exit(run_tests(__file__, [
        test_png_of_default_and_chosen_size,
        test_svg_has_size_and_title,
        test_recorded_peers_snapshot,
        test_last_topology_event_of_a_jsonl_stream,
        test_snapshot_from_stdin,
        test_edge_to_unlisted_node_is_drawn_apart,
        test_same_input_same_picture,
        test_missing_matplotlib_is_reported,
    ], needs_matplotlib=True))
