#!/usr/bin/env python3
"""Draws a failover timeline from the jsonl event streams of a lanmesh run.

Input: one stream per node (a node's stdout with --console.output=jsonl, e.g.
DIR/n0.jsonl ... from tools/cluster.py), plus optional markers. The figure has:

  top     links per node over time, from ready, peer_up and peer_down: one lane
          per node coloured by its number of links (--lines: one step line per
          node); blank while the node is not running. Kills, stops, restarts
          and other markers are vertical lines across it.
  bottom  the delivery latency distribution: for every deliver event, its ts
          minus the ts of the sent event with the same msg id in the origin's
          stream, in ms; histogram and CDF, with median, p90, p99 and max.

Markers: --markers FILE (JSON lines {"ts": MICROS, "label": "kill n4"}, as
cluster.py writes to DIR/markers.jsonl) and --mark T:LABEL (T in seconds from
the first event of the run, e.g. --mark "12.3:kill n4"). A marker whose label
is "kill NODE" ends that node's lane until its next ready event; "down" ends
every lane after its last event. NODE is a stream's name (n4 for n4.jsonl) or
a node id prefix.

Exit status: 0 drawn, 2 bad input or option, 3 matplotlib missing
(install Debian's python3-matplotlib).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lanmesh_tools import (Fail, ToolParser, check_output_path,  # noqa: E402
                           import_pyplot, main_guard, parse_dpi, parse_size,
                           read_json_lines, read_text, reexec_for_matplotlib)

PROG = "draw_timeline.py"
TIMED = ("ready", "peer_up", "peer_down", "sent", "deliver")
MARK_COLOURS = {"kill": "#d62728", "restart": "#2ca02c", "stop": "#ff7f0e",
                "cont": "#1f77b4", "down": "#7f7f7f"}


# -- reading -----------------------------------------------------------------

class Stream:
    """The timed events of one node's jsonl stream."""

    def __init__(self, path, name):
        self.path, self.name = path, name
        objects, skipped = read_json_lines(path)
        if not objects:
            if skipped:
                raise Fail("%s: not JSON lines (none of its %d lines is a JSON object)"
                           % (path, skipped))
            raise Fail("%s: empty, want a node's jsonl event stream" % path)
        self.events = []
        for line, ev in objects:
            kind = ev.get("event")
            if kind not in TIMED:
                continue  # peers, stats, error, ... carry no ts
            ts = ev.get("ts")
            if not isinstance(ts, (int, float)) or isinstance(ts, bool):
                raise Fail("%s:%d: %s event without a numeric ts (from a lanmesh older than "
                           "the ts field?)" % (path, line, kind))
            for key in {"peer_up": ("peer",), "peer_down": ("peer",), "sent": ("msg",),
                        "deliver": ("msg",), "ready": ("node",)}[kind]:
                if not isinstance(ev.get(key), str):
                    raise Fail("%s:%d: %s event without '%s'" % (path, line, kind, key))
            self.events.append(ev)
        if not self.events:
            raise Fail("%s: no lanmesh events (%s) among its %d JSON lines"
                       % (path, ", ".join(TIMED), len(objects)))
        self.ids = [e["node"] for e in self.events if e["event"] == "ready"]

    @property
    def label(self):
        return "%s (%s)" % (self.name, self.ids[0][:6]) if self.ids else self.name


def load_streams(paths):
    names = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    if len(set(names)) < len(names):
        names = list(paths)  # same file names in several folders: use the paths
    return [Stream(p, n) for p, n in zip(paths, names)]


def load_markers(path):
    """[(ts_us, label)] from a markers file of JSON lines."""
    text = read_text(path)
    objects, skipped = read_json_lines(path, text)
    if skipped:
        raise Fail("%s: %d line(s) are not JSON objects; want {\"ts\": MICROS, \"label\": TEXT} "
                   "per line" % (path, skipped))
    marks = []
    for line, m in objects:
        ts, label = m.get("ts"), m.get("label")
        if label is None and isinstance(m.get("action"), str):
            label = m["action"] + (" " + m["node"] if isinstance(m.get("node"), str) else "")
        if not isinstance(ts, (int, float)) or isinstance(ts, bool) or not isinstance(label, str):
            raise Fail("%s:%d: want {\"ts\": MICROS, \"label\": TEXT}" % (path, line))
        marks.append((float(ts), label))
    return marks


def parse_mark(text):
    """argparse type for --mark T:LABEL."""
    head, sep, label = text.partition(":")
    try:
        seconds = float(head)
    except ValueError:
        seconds = None
    if not sep or seconds is None or seconds < 0 or not label.strip():
        raise argparse.ArgumentTypeError("%r is not T:LABEL, e.g. 12.3:kill n4" % text)
    return seconds, label.strip()


# -- analysis ------------------------------------------------------------------

def marker_node(label, streams):
    """(action, stream or None) named by a marker label like 'kill n4'."""
    words = label.split()
    action = words[0].lower() if words else ""
    if len(words) > 1:
        ref = words[1]
        for s in streams:
            if s.name == ref or (len(ref) >= 4 and any(i.startswith(ref) for i in s.ids)):
                return action, s
    return action, None


def lives(stream, kills, down, end):
    """[(start, [(t, links)], stop)] for each run of the node: from a ready to a
    kill marker, the next ready, a down marker (after its last event) or `end`."""
    runs, current, links, last = [], None, set(), None
    kills = sorted(kills)

    def close(at):
        runs.append((current[0], current[1], at))

    for ev in stream.events:
        t = ev["ts"]
        if current is not None:
            killed = [k for k in kills if current[0] <= k <= t]
            if killed:
                close(killed[0])
                current = None
        if ev["event"] == "ready":
            if current is not None:
                close(t)
            current, links = (t, [(t, 0)]), set()
        elif ev["event"] in ("peer_up", "peer_down"):
            if current is None:  # a stream cut at its start: begin at its first event
                current, links = (t, [(t, 0)]), set()
            (links.add if ev["event"] == "peer_up" else links.discard)(ev["peer"])
            current[1].append((t, len(links)))
        last = t
    if current is not None:
        killed = [k for k in kills if k >= current[0]]
        stops = [k for k in killed] + ([max(down, last)] if down is not None and down >= current[0]
                                       else [])
        close(min(stops) if stops else end)
    return runs


def latencies(streams):
    """(latencies in ms, messages delivered, deliveries without a sent, duplicate deliveries)."""
    sent = {}
    for s in streams:
        for e in s.events:
            if e["event"] == "sent":
                sent[e["msg"]] = e["ts"]
    values, orphans, duplicates, msgs = [], 0, 0, set()
    for s in streams:
        seen = set()
        for e in s.events:
            if e["event"] != "deliver":
                continue
            if e["msg"] in seen:
                duplicates += 1
            seen.add(e["msg"])
            msgs.add(e["msg"])
            if e["msg"] in sent:
                values.append((e["ts"] - sent[e["msg"]]) / 1000.0)
            else:
                orphans += 1
    return values, len(msgs), orphans, duplicates


# -- drawing -------------------------------------------------------------------

def draw(streams, marks, relative_marks, out, size, dpi, style, scale, title):
    """`marks`: [(ts in us, label)]; `relative_marks`: [(seconds from the first event, label)]."""
    plt = import_pyplot()
    import numpy as np
    from matplotlib import cm, colors
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    times = [e["ts"] for s in streams for e in s.events]
    t0 = min(times)
    marks = sorted(list(marks) + [(t0 + seconds * 1e6, label) for seconds, label in relative_marks])
    end = max(times + [m[0] for m in marks])
    down = next((t for t, label in marks if label.split()[:1] == ["down"]), None)

    fig = plt.figure(figsize=size, dpi=dpi)
    grid = fig.add_gridspec(2, 2, height_ratios=[3, 2], width_ratios=[40, 1],
                            left=0.14, right=0.92, top=0.9, bottom=0.08, hspace=0.35, wspace=0.03)
    ax = fig.add_subplot(grid[0, 0])
    bottom = fig.add_subplot(grid[1, 0])

    def sec(t):
        return (t - t0) / 1e6

    all_runs = []
    for s in streams:
        kills = [t for t, label in marks
                 if marker_node(label, streams) == ("kill", s)]
        all_runs.append(lives(s, kills, down, end))
    top = max([links for runs in all_runs for _, steps, _ in runs for _, links in steps] + [1])
    norm = colors.Normalize(vmin=0, vmax=top)
    cmap = plt.get_cmap("viridis")
    palette = plt.get_cmap("tab10" if len(streams) <= 10 else "tab20")

    for i, (s, runs) in enumerate(zip(streams, all_runs)):
        for start, steps, stop in runs:
            changes = steps + [(stop, steps[-1][1])]
            if style == "lanes":
                for (t, links), (t_next, _) in zip(changes, changes[1:]):
                    if t_next > t:
                        ax.broken_barh([(sec(t), sec(t_next) - sec(t))], (i - 0.4, 0.8),
                                       facecolors=cmap(norm(links)), linewidth=0)
            else:
                xs = [sec(t) for t, _ in changes]
                nudge = 0.04 * (i - (len(streams) - 1) / 2)  # keep equal counts apart
                ys = [links + nudge for _, links in changes]
                ax.step(xs, ys, where="post", color=palette(i % palette.N), lw=1.4,
                        label=s.label if start == runs[0][0] else None)
    if style == "lanes":  # hatch the time a node was frozen (stop ... cont)
        for i, s in enumerate(streams):
            frozen = None
            for t, label in marks + [(end, "end")]:
                action, who = marker_node(label, streams)
                if action == "stop" and who is s and frozen is None:
                    frozen = t
                elif frozen is not None and (who is s or action in ("end", "down")):
                    ax.broken_barh([(sec(frozen), sec(t) - sec(frozen))], (i - 0.4, 0.8),
                                   facecolors="none", edgecolors="#ff7f0e", hatch="///",
                                   linewidth=0)
                    frozen = None
    if style == "lanes":
        ax.set_yticks(range(len(streams)))
        ax.set_yticklabels([s.label for s in streams], fontsize=8)
        ax.set_ylim(len(streams) - 0.5, -0.5)
        bar = fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), cax=fig.add_subplot(grid[0, 1]))
        bar.set_label("links")
        bar.locator = MaxNLocator(integer=True)
        bar.update_ticks()
        ax.set_ylabel("links per node\n(blank: not running,\nhatched: stopped)", fontsize=9)
    else:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        ax.set_ylabel("links per node")
    ax.set_xlim(0, max(sec(end), 1e-3))
    ax.set_xlabel("seconds since the first event")
    groups = []  # markers closer than 1% of the run share one label
    for t, label in marks:
        if groups and sec(t) - sec(groups[-1][0]) < 0.01 * max(sec(end), 1e-3):
            groups[-1][1].append(label)
        else:
            groups.append((t, [label]))
    for t, labels in groups:
        action = labels[0].split()[0].lower() if labels[0].split() else ""
        colour = MARK_COLOURS.get(action, "black")
        ax.axvline(sec(t), color=colour, lw=1.4, ls="--")
        ax.annotate(", ".join(labels), (sec(t), 1.0), xycoords=("data", "axes fraction"), xytext=(2, 2),
                    textcoords="offset points", rotation=35, fontsize=7, color=colour,
                    ha="left", va="bottom")

    values, msgs, orphans, duplicates = latencies(streams)
    bottom.set_title("delivery latency (deliver ts \u2212 sent ts of the same msg)", fontsize=10)
    if values:
        v = np.sort(np.array(values))
        positive = v[v > 0]
        use_log = scale == "log" or (scale == "auto" and positive.size and
                                     positive[-1] > 20 * np.median(positive))
        if use_log and positive.size:
            bins = np.geomspace(positive[0], positive[-1] * 1.001 + 1e-9, 40)
            bottom.set_xscale("log")
        else:
            bins = 40
        bottom.hist(v if not use_log else positive, bins=bins, color="#4c72b0", alpha=0.8)
        bottom.set_xlabel("ms" + (" (log scale)" if use_log else ""))
        bottom.set_ylabel("deliveries")
        cdf = bottom.twinx()
        cdf.plot(v if not use_log else positive,
                 np.arange(1, (v if not use_log else positive).size + 1)
                 / (v if not use_log else positive).size, color="#dd8452", lw=1.6,
                 drawstyle="steps-post")
        cdf.set_ylim(0, 1.02)
        cdf.yaxis.set_major_formatter(PercentFormatter(1.0))
        cdf.set_ylabel("CDF", color="#dd8452")
        pct = lambda q: float(np.percentile(v, q))  # noqa: E731
        text = ("%d deliveries of %d messages\nmedian %.2f ms, p90 %.2f ms\np99 %.2f ms, max %.2f ms"
                % (v.size + orphans, msgs, pct(50), pct(90), pct(99), v[-1]))
        if use_log and positive.size < v.size:
            text += "\n%d at \u2264 0 ms not shown" % (v.size - positive.size)
    else:
        bottom.set_axis_off()
        text = "no deliver event with a matching sent event"
    if orphans:
        text += "\n%d deliveries without their sent event (no latency)" % orphans
    if duplicates:
        text += "\n%d DUPLICATE deliveries" % duplicates
    bottom.text(0.99, 0.95, text, transform=bottom.transAxes, ha="right", va="top", fontsize=8,
                bbox=dict(boxstyle="round", fc="white", ec="#cccccc"), zorder=5)

    kills = sum(1 for _, label in marks if label.split()[:1] == ["kill"])
    restarts = sum(1 for _, label in marks if label.split()[:1] == ["restart"])
    fig.suptitle(title or "lanmesh run: %d nodes, %.1f s, %d kill(s), %d restart(s)"
                 % (len(streams), sec(end), kills, restarts), fontsize=12)
    try:
        fig.savefig(out, dpi=dpi, metadata={"Date": None} if out.lower().endswith(".svg") else None)
    except OSError as e:
        raise Fail("cannot write %s: %s" % (out, e.strerror or e), 1)
    plt.close(fig)
    return len(values)


def main():
    parser = ToolParser(
        prog=PROG,
        description="Draw links per node over time and the delivery latency distribution "
                    "from the jsonl event streams of a lanmesh run (one file per node).",
        epilog="Example: draw_timeline.py DIR/n*.jsonl --markers DIR/markers.jsonl -o t.png. "
               "Exit status: 0 drawn, 2 bad input or option, 3 matplotlib missing "
               "(apt-get install python3-matplotlib).")
    parser.add_argument("streams", nargs="+", metavar="STREAM",
                        help="jsonl stream of one node (its stdout with --console.output=jsonl)")
    parser.add_argument("-o", "--output", required=True, help="picture to write: .png or .svg")
    parser.add_argument("--markers", metavar="FILE", action="append", default=[],
                        help="JSON lines {\"ts\": MICROS, \"label\": \"kill n4\"} (cluster.py's "
                             "DIR/markers.jsonl); repeatable")
    parser.add_argument("--mark", type=parse_mark, action="append", default=[], metavar="T:LABEL",
                        help="a marker T seconds after the first event, e.g. \"12.3:kill n4\"")
    parser.add_argument("--lines", action="store_true",
                        help="one step line per node instead of coloured lanes")
    parser.add_argument("--latency-scale", choices=("auto", "linear", "log"), default="auto",
                        help="x axis of the latency plot (auto: log when the tail is long)")
    parser.add_argument("--size", type=parse_size, default=(11.0, 8.0), metavar="WxH",
                        help="figure size in inches (default 11x8)")
    parser.add_argument("--dpi", type=parse_dpi, default=100,
                        help="dots per inch for PNG (default 100: 11x8 is 1100x800 pixels)")
    parser.add_argument("--title", help="replace the generated title")
    opts = parser.parse_args()
    check_output_path(opts.output)
    if "-" in opts.streams + opts.markers:
        reexec_for_matplotlib()  # before stdin is read
    streams = load_streams(opts.streams)
    marks = [m for path in opts.markers for m in load_markers(path)]
    reexec_for_matplotlib()  # input is good: now matplotlib is needed
    count = draw(streams, marks, opts.mark, opts.output, opts.size, opts.dpi,
                 "lines" if opts.lines else "lanes", opts.latency_scale, opts.title)
    print("%s: wrote %s: %d streams, %d markers, %d latencies"
          % (PROG, opts.output, len(streams), len(marks) + len(opts.mark), count))
    return 0


if __name__ == "__main__":
    sys.exit(main_guard(PROG, main))
