"""tools/draw_timeline.py on the recorded streams of a small cluster run.

data/run/ holds the jsonl streams of 4 nodes started by tools/cluster.py (fixed
ids, 127.0.0.1), and its markers: n1 killed, n3 stopped while n0 broadcast a
line and continued, n1 restarted, then every node stopped by `down`; 9 lines
broadcast in all.
"""

import glob
import importlib
import json
import os
import shutil
import sys
import tempfile

from tooltest import DATA, Env, check, check_ok, check_png, check_svg, run_tests, run_tool

RUN = os.path.join(DATA, "run")
MARKERS = os.path.join(RUN, "markers.jsonl")


def streams():
    return sorted(glob.glob(os.path.join(RUN, "n*.jsonl")))


def events(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def markers():
    return events(MARKERS)


def expected_latencies():
    """(count, distinct msgs) of deliveries whose sent event is in the streams."""
    sent = {e["msg"] for p in streams() for e in events(p) if e["event"] == "sent"}
    delivered = [e["msg"] for p in streams() for e in events(p) if e["event"] == "deliver"]
    return sum(1 for m in delivered if m in sent), len(set(delivered))


def timeline_module():
    if Env.tools not in sys.path:
        sys.path.insert(0, Env.tools)
    return importlib.import_module("draw_timeline")


class Scratch:
    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="lanmesh-tools-")
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)


def draw(*args):
    return check_ok(run_tool("draw_timeline.py", *args), "draw_timeline.py %s" % " ".join(args))


def test_png_from_recorded_run():
    count, _ = expected_latencies()
    with Scratch() as s:
        done = draw(*streams(), "--markers", MARKERS, "-o", s.path("t.png"))
        check_png(s.path("t.png"), 1100, 800)  # 11x8 in at 100 dpi
        want = "4 streams, 5 markers, %d latencies" % count
        check(want in done.stdout, "summary %r, want %r" % (done.stdout.strip(), want))


def test_svg_with_lines_and_marks():
    count, msgs = expected_latencies()
    check(msgs == 9, "recorded run has %d messages, want 9" % msgs)
    with Scratch() as s:
        draw(*streams(), "--markers", MARKERS, "--mark", "0.5:kill n2", "--mark", "0.6:note",
             "--lines", "--latency-scale", "linear", "--size", "8x6", "-o", s.path("t.svg"))
        check_svg(s.path("t.svg"), 576, 432, texts=(
            "lanmesh run: 4 nodes", "2 kill(s), 1 restart(s)",
            "%d deliveries of %d messages" % (count, msgs), "<!-- note -->", "n3 (9a54b3)"))


def test_lanes_follow_the_events():
    """The links a lane shows are the streams' peer_up/peer_down, and a killed
    node's lane stops at the kill and starts again at its next ready."""
    dt = timeline_module()
    loaded = dt.load_streams(streams())
    marks = [(m["ts"], m["label"]) for m in markers()]
    kill = next(m["ts"] for m in markers() if m["label"] == "kill n1")
    down = next(m["ts"] for m in markers() if m["label"] == "down")
    n1 = next(s for s in loaded if s.name == "n1")
    readies = [e["ts"] for e in n1.events if e["event"] == "ready"]
    check(len(readies) == 2, "n1 has %d ready events, want 2 (start, restart)" % len(readies))
    kills = [t for t, label in marks if dt.marker_node(label, loaded) == ("kill", n1)]
    check(kills == [kill], "kill markers of n1: %s" % kills)
    runs = dt.lives(n1, kills, down, 10 ** 17)
    check(len(runs) == 2, "n1 has %d runs, want 2" % len(runs))
    (start1, steps1, stop1), (start2, _, stop2) = runs
    check((start1, stop1) == (readies[0], kill), "first run %s-%s, want %s-%s"
          % (start1, stop1, readies[0], kill))
    check(start2 == readies[1] and stop2 >= down, "second run %s-%s" % (start2, stop2))
    up = {e["peer"] for e in n1.events if e["event"] == "peer_up" and e["ts"] < kill}
    down_before = {e["peer"] for e in n1.events if e["event"] == "peer_down" and e["ts"] < kill}
    check(steps1[-1][1] == len(up - down_before), "n1 had %d links at the kill, lane shows %d"
          % (len(up - down_before), steps1[-1][1]))


def test_latency_of_the_stopped_node():
    """n3 delivers the line sent while it was stopped only after `cont`: its
    latency is at least the time from the sent event to the cont marker."""
    dt = timeline_module()
    loaded = dt.load_streams(streams())
    values, msgs, orphans, duplicates = dt.latencies(loaded)
    count, want_msgs = expected_latencies()
    check((len(values), msgs, orphans, duplicates) == (count, want_msgs, 0, 0),
          "latencies %d msgs %d orphans %d duplicates %d" % (len(values), msgs, orphans, duplicates))
    stopped = next(e for p in streams() for e in events(p)
                   if e["event"] == "deliver" and e["payload"] == "while n3 stopped"
                   and p.endswith("n3.jsonl"))
    sent = next(e["ts"] for p in streams() for e in events(p)
                if e["event"] == "sent" and e["msg"] == stopped["msg"])
    cont = next(m["ts"] for m in markers() if m["label"] == "cont n3")
    check(cont > sent, "recorded data: cont before the sent event")
    check(max(values) >= (cont - sent) / 1000.0, "max latency %.2f ms < sent-to-cont %.2f ms"
          % (max(values), (cont - sent) / 1000.0))


def test_duplicates_and_orphans_are_shown():
    with Scratch() as s:
        with open(s.path("a.jsonl"), "w") as f:
            for ev in ({"event": "ready", "ts": 1_000_000, "node": "aa", "port": 1, "cluster": "c"},
                       {"event": "peer_up", "ts": 1_100_000, "peer": "bb", "addr": "x", "dir": "out"},
                       {"event": "sent", "ts": 1_200_000, "msg": "aa01"}):
                f.write(json.dumps(ev) + "\n")
        with open(s.path("b.jsonl"), "w") as f:
            for ev in ({"event": "ready", "ts": 1_050_000, "node": "bb", "port": 2, "cluster": "c"},
                       {"event": "peer_up", "ts": 1_100_000, "peer": "aa", "addr": "x", "dir": "in"},
                       {"event": "deliver", "ts": 1_201_500, "origin": "aa", "msg": "aa01",
                        "hops": 1, "payload": "p"},
                       {"event": "deliver", "ts": 1_202_000, "origin": "aa", "msg": "aa01",
                        "hops": 2, "payload": "p"},
                       {"event": "deliver", "ts": 1_300_000, "origin": "cc", "msg": "cc01",
                        "hops": 1, "payload": "q"}):
                f.write(json.dumps(ev) + "\n")
        draw(s.path("a.jsonl"), s.path("b.jsonl"), "-o", s.path("d.svg"))
        check_svg(s.path("d.svg"), 792, 576, texts=(
            "3 deliveries of 2 messages", "1 deliveries without their sent event",
            "1 DUPLICATE deliveries", "median 1.75 ms"))


def test_streams_without_deliveries():
    with Scratch() as s:
        with open(s.path("a.jsonl"), "w") as f:
            f.write(json.dumps({"event": "ready", "ts": 5, "node": "aa", "port": 1,
                                "cluster": "c"}) + "\n")
        draw(s.path("a.jsonl"), "-o", s.path("a.png"))
        check_png(s.path("a.png"), 1100, 800)
        draw(s.path("a.jsonl"), "-o", s.path("a.svg"))
        check_svg(s.path("a.svg"), 792, 576,
                  texts=("no deliver event with a matching sent event", "lanmesh run: 1 nodes"))


if __name__ == "__main__":
    sys.exit(run_tests(__file__, [
        test_png_from_recorded_run,
        test_svg_with_lines_and_marks,
        test_lanes_follow_the_events,
        test_latency_of_the_stopped_node,
        test_duplicates_and_orphans_are_shown,
        test_streams_without_deliveries,
    ], needs_matplotlib=True))
