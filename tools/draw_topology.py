#!/usr/bin/env python3
"""Draws a lanmesh topology snapshot as a PNG or SVG picture.

The input is the document `/topology FILE` writes, or any JSON-lines stream
holding a `topology` event (a node's --console.output=jsonl output; the last
such event is drawn):

  {"event":"topology","node":ASKER,"ts":MICROS,"took_ms":FLOAT,
   "nodes":[{"node":ID,"addr":"127.0.0.1:50001","links_in":2,"links_out":1,
             "capacity":5,"answered":true}, ...],
   "edges":[{"from":DIALER,"to":ACCEPTOR,"rtt_ms":0.21}, ...]}

Nodes that answered are laid out in the upper part and coloured by load
(links_in + links_out); arrows point from the dialer to the acceptor. Nodes
that did not answer in time are drawn grey in a separate row below. The asker
has a red ring. The picture's format follows the output's extension.

Exit status: 0 drawn, 2 bad input (missing file, not JSON, wrong shape, bad
option), 3 matplotlib missing (install Debian's python3-matplotlib).
"""

import datetime
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lanmesh_tools import (Fail, ToolParser, check_output_path,  # noqa: E402
                           import_pyplot, main_guard, parse_dpi, parse_size,
                           read_json_lines, read_text, reexec_for_matplotlib)

PROG = "draw_topology.py"


# -- reading and checking a snapshot -----------------------------------------

def load_snapshot(path):
    """The topology document in `path` (a JSON document or a jsonl stream), checked."""
    text = read_text(path)
    if not text.strip():
        raise Fail("%s: empty file, want a topology snapshot" % path)
    try:
        doc = json.loads(text)
        where = path
    except ValueError:
        doc = None
    if doc is None:
        objects, _ = read_json_lines(path, text)
        found = [(n, o) for n, o in objects if o.get("event") == "topology"]
        if not found:
            if objects:
                raise Fail("%s: none of its %d JSON lines is a topology event" % (path, len(objects)))
            raise Fail("%s: not JSON (want a topology document or JSON lines with a "
                       "topology event)" % path)
        line, doc = found[-1]
        where = "%s:%d" % (path, line)
    return check_snapshot(doc, where)


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_snapshot(doc, where):
    """Checks the shape of a snapshot; returns a normalised copy or raises Fail."""
    def bad(message):
        raise Fail("%s: %s" % (where, message))

    if not isinstance(doc, dict):
        bad("top level is a JSON %s, want an object with nodes and edges" % type(doc).__name__)
    for key in ("nodes", "edges"):
        if key not in doc:
            bad("no '%s' (is this a topology snapshot?)" % key)
        if not isinstance(doc[key], list):
            bad("'%s' is not a list" % key)
    for key in ("took_ms",):
        if doc.get(key) is not None and not _is_number(doc[key]):
            bad("'%s' is not a number" % key)
    if doc.get("ts") is not None and not _is_number(doc["ts"]):
        bad("'ts' is not a number")
    if doc.get("node") is not None and not isinstance(doc["node"], str):
        bad("'node' (the asker) is not a string")

    nodes, by_id = [], {}
    for i, n in enumerate(doc["nodes"]):
        if not isinstance(n, dict):
            bad("nodes[%d] is not an object" % i)
        node_id = n.get("node")
        if not isinstance(node_id, str) or not node_id:
            bad("nodes[%d]: 'node' is missing or not a string" % i)
        if node_id in by_id:
            bad("nodes[%d]: node %s is listed twice" % (i, node_id))
        answered = n.get("answered", True)
        if not isinstance(answered, bool):
            bad("nodes[%d]: 'answered' is not true or false" % i)
        for key in ("links_in", "links_out", "capacity"):
            if n.get(key) is not None and not _is_count(n[key]):
                bad("nodes[%d]: '%s' is not a count" % (i, key))
        if n.get("addr") is not None and not isinstance(n["addr"], str):
            bad("nodes[%d]: 'addr' is not a string" % i)
        entry = {"node": node_id, "addr": n.get("addr"), "answered": answered,
                 "links_in": n.get("links_in"), "links_out": n.get("links_out"),
                 "capacity": n.get("capacity"), "listed": True}
        nodes.append(entry)
        by_id[node_id] = entry

    edges = []
    for i, e in enumerate(doc["edges"]):
        if not isinstance(e, dict):
            bad("edges[%d] is not an object" % i)
        for key in ("from", "to"):
            if not isinstance(e.get(key), str) or not e[key]:
                bad("edges[%d]: '%s' is missing or not a string" % (i, key))
        if e["from"] == e["to"]:
            bad("edges[%d]: a link from %s to itself" % (i, e["from"]))
        if e.get("rtt_ms") is not None and not _is_number(e["rtt_ms"]):
            bad("edges[%d]: 'rtt_ms' is not a number or null" % i)
        edges.append({"from": e["from"], "to": e["to"], "rtt_ms": e.get("rtt_ms")})
        for end in (e["from"], e["to"]):
            if end not in by_id:  # drawn, but as a node nobody heard from
                entry = {"node": end, "addr": None, "answered": False, "links_in": None,
                         "links_out": None, "capacity": None, "listed": False}
                nodes.append(entry)
                by_id[end] = entry
    if not nodes:
        bad("the snapshot lists no nodes")
    for n in nodes:
        if n["links_in"] is not None and n["links_out"] is not None:
            n["load"] = n["links_in"] + n["links_out"]
        else:  # no counts reported: count the edges drawn
            n["load"] = sum(1 for e in edges if n["node"] in (e["from"], e["to"]))
    return {"asker": doc.get("node"), "ts": doc.get("ts"), "took_ms": doc.get("took_ms"),
            "nodes": nodes, "edges": edges}


# -- layout ------------------------------------------------------------------

def circle_layout(count):
    import numpy as np
    if count == 1:
        return np.zeros((1, 2))
    if count == 2:
        return np.array([[-0.7, 0.0], [0.7, 0.0]])
    angles = np.pi / 2 - 2 * np.pi * np.arange(count) / count
    return np.column_stack([np.cos(angles), np.sin(angles)])


def spring_layout(count, pairs, iterations=300):
    """Fruchterman-Reingold force layout from a circle; deterministic; fits [-1, 1]^2."""
    import numpy as np
    pos = circle_layout(count)
    if count < 3:
        return pos
    adjacency = np.zeros((count, count))
    for a, b in pairs:
        adjacency[a, b] = adjacency[b, a] = 1.0
    k = 2.0 / math.sqrt(count)  # ideal distance
    step = 0.2
    for _ in range(iterations):
        delta = pos[:, None, :] - pos[None, :, :]
        dist = np.linalg.norm(delta, axis=-1)
        np.fill_diagonal(dist, 1.0)
        dist = np.maximum(dist, 1e-3)
        # repulsion k^2/d between all pairs, attraction d^2/k along links, weak gravity
        force = k * k / dist ** 2 - adjacency * dist / k
        np.fill_diagonal(force, 0.0)
        disp = (delta * force[:, :, None]).sum(axis=1) - 0.05 * pos
        length = np.maximum(np.linalg.norm(disp, axis=1), 1e-9)
        pos += disp / length[:, None] * np.minimum(length, step)[:, None]
        step = max(step * 0.985, 0.002)
    pos -= (pos.max(axis=0) + pos.min(axis=0)) / 2
    span = np.abs(pos).max()
    return pos / span if span > 0 else pos


# -- drawing -----------------------------------------------------------------

def short(node_id):
    return node_id[:6]


def port_of(addr):
    return addr.rsplit(":", 1)[-1] if addr else "?"


def label_direction(node_id, pos, edges):
    """Unit vector pointing away from the node's links (down when it has none)."""
    x, y = pos[node_id]
    sx = sy = 0.0
    for e in edges:
        if node_id in (e["from"], e["to"]):
            ox, oy = pos[e["to"] if e["from"] == node_id else e["from"]]
            d = math.hypot(ox - x, oy - y) or 1.0
            sx, sy = sx + (ox - x) / d, sy + (oy - y) / d
    d = math.hypot(sx, sy)
    if d < 0.3:  # links on every side, or none: below
        return 0.0, -1.0
    return -sx / d, -sy / d


def draw(snap, out, size, dpi, layout, show_rtt, title):
    plt = import_pyplot()
    import numpy as np
    from matplotlib import cm, colors
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    nodes, edges = snap["nodes"], snap["edges"]
    up = [n for n in nodes if n["answered"]]
    silent = [n for n in nodes if not n["answered"]]
    index = {n["node"]: i for i, n in enumerate(up)}
    pairs = [(index[e["from"]], index[e["to"]]) for e in edges
             if e["from"] in index and e["to"] in index]
    pos = {}
    if up:
        xy = spring_layout(len(up), pairs) if layout == "spring" else circle_layout(len(up))
        for n, p in zip(up, xy):
            pos[n["node"]] = (float(p[0]), float(p[1]))
    row_y = -1.5
    xs = np.linspace(-1, 1, len(silent)) if len(silent) > 1 else [0.0] * len(silent)
    for n, x in zip(silent, xs):
        pos[n["node"]] = (float(x), row_y)

    fig = plt.figure(figsize=size, dpi=dpi)
    ax = fig.add_axes([0.03, 0.04, 0.82, 0.84])
    cax = fig.add_axes([0.88, 0.15, 0.025, 0.65])
    ax.set_axis_off()
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.85 if silent else -1.3, 1.25)

    top = max([n["load"] for n in up] + [1])
    norm = colors.Normalize(vmin=0, vmax=top)
    cmap = plt.get_cmap("viridis")
    marker_area = 700 if len(nodes) <= 16 else 420
    radius_pt = math.sqrt(marker_area) / 2 + 2  # arrows stop at the node's rim

    for e in edges:
        a, b = pos[e["from"]], pos[e["to"]]
        live = e["from"] in index and e["to"] in index
        ax.annotate("", xy=b, xytext=a, zorder=2,
                    arrowprops=dict(arrowstyle="-|>", mutation_scale=13,
                                    color="#444444" if live else "#aaaaaa",
                                    lw=1.3 if live else 1.0, linestyle="-" if live else "--",
                                    shrinkA=radius_pt, shrinkB=radius_pt,
                                    connectionstyle="arc3,rad=0.08"))
        if show_rtt and e["rtt_ms"] is not None:
            ax.text((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, "%.2f" % e["rtt_ms"], fontsize=6,
                    color="#333333", ha="center", va="center", zorder=4,
                    bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.8))

    def place(group, facecolors, edgecolors, widths):
        if not group:
            return
        ax.scatter([pos[n["node"]][0] for n in group], [pos[n["node"]][1] for n in group],
                   s=marker_area, c=facecolors, edgecolors=edgecolors, linewidths=widths, zorder=3)

    asker = snap["asker"]
    place(up, [cmap(norm(n["load"])) for n in up],
          ["red" if n["node"] == asker else "black" for n in up],
          [2.5 if n["node"] == asker else 0.8 for n in up])
    place(silent, ["#d0d0d0"] * len(silent),
          ["red" if n["node"] == asker else "#808080" for n in silent], [1.0] * len(silent))
    for n in nodes:
        x, y = pos[n["node"]]
        if n["answered"]:
            r, g, b, _ = cmap(norm(n["load"]))
            ink = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.55 else "white"
            ax.text(x, y, str(n["load"]), ha="center", va="center", fontsize=8,
                    color=ink, zorder=4, fontweight="bold")
        # the label goes on the side of the node where its links are not
        dx, dy = label_direction(n["node"], pos, edges)
        label = "%s\n:%s" % (short(n["node"]), port_of(n["addr"]))
        ax.annotate(label, (x, y), xytext=(dx * (radius_pt + 3), dy * (radius_pt + 3)),
                    textcoords="offset points", fontsize=7, zorder=4,
                    ha="left" if dx > 0.4 else "right" if dx < -0.4 else "center",
                    va="bottom" if dy > 0.4 else "top" if dy < -0.4 else "center",
                    color="black" if n["answered"] else "#606060")
    if silent:
        ax.axhline(row_y + 0.3, xmin=0.03, xmax=0.97, color="#b0b0b0", lw=0.8, ls=":")
        ax.text(-1.28, row_y + 0.24, "did not answer in time (%d)" % len(silent),
                fontsize=8, color="#606060", va="top")

    bar = fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), cax=cax)
    bar.set_label("load: links in + out")
    bar.locator = MaxNLocator(integer=True)
    bar.update_ticks()

    handles = [Line2D([], [], color="#444444", marker=">", markersize=6, lw=1.3,
                      label="link: dialer \u2192 acceptor")]
    if asker:
        handles.append(Line2D([], [], ls="", marker="o", markersize=10, mfc="white",
                              mec="red", mew=2.5, label="asker"))
    if silent:
        handles.append(Line2D([], [], ls="", marker="o", markersize=10, mfc="#d0d0d0",
                              mec="#808080", label="did not answer"))
    ax.legend(handles=handles, loc="upper left", fontsize=8, frameon=False)

    took = snap["took_ms"]
    heading = title or "lanmesh topology: %d nodes (%d answered), %d links%s" % (
        len(nodes), len(up), len(edges),
        ", gathered in %.1f ms" % took if took is not None else "")
    fig.suptitle(heading, fontsize=12, y=0.975)
    sub = []
    if asker:
        sub.append("asked by %s" % short(asker))
    if snap["ts"] is not None:
        when = datetime.datetime.fromtimestamp(snap["ts"] / 1e6, datetime.timezone.utc)
        sub.append(when.strftime("%Y-%m-%d %H:%M:%S UTC"))
    if sub:
        fig.text(0.5, 0.925, ", ".join(sub), ha="center", fontsize=9, color="#505050")

    try:
        fig.savefig(out, dpi=dpi, metadata={"Date": None} if out.lower().endswith(".svg") else None)
    except OSError as e:
        raise Fail("cannot write %s: %s" % (out, e.strerror or e), 1)
    plt.close(fig)


def main():
    parser = ToolParser(
        prog=PROG,
        description="Draw a lanmesh topology snapshot (from /topology FILE, or a jsonl "
                    "stream with a topology event) as PNG or SVG.",
        epilog="Exit status: 0 drawn, 2 bad input or option, 3 matplotlib missing "
               "(apt-get install python3-matplotlib).")
    parser.add_argument("snapshot", help="snapshot file, or jsonl stream with a topology "
                                         "event (the last one is drawn); - reads stdin")
    parser.add_argument("output", nargs="?",
                        help="picture to write: .png or .svg (or give it with -o)")
    parser.add_argument("-o", "--output", dest="output_opt", metavar="FILE",
                        help="picture to write: .png or .svg (as draw_timeline.py takes it)")
    parser.add_argument("--size", type=parse_size, default=(10.0, 8.0), metavar="WxH",
                        help="figure size in inches (default 10x8)")
    parser.add_argument("--dpi", type=parse_dpi, default=100,
                        help="dots per inch for PNG (default 100: 10x8 is 1000x800 pixels)")
    parser.add_argument("--layout", choices=("spring", "circle"), default="spring",
                        help="where answered nodes go (default spring)")
    parser.add_argument("--rtt", action="store_true", help="write rtt_ms on each link")
    parser.add_argument("--title", help="replace the generated title")
    opts = parser.parse_args()
    if opts.output and opts.output_opt:
        parser.error("give the picture once: as OUTPUT or with -o, not both")
    opts.output = opts.output or opts.output_opt
    if not opts.output:
        parser.error("the picture to write is required: give OUTPUT or -o FILE")
    check_output_path(opts.output)
    if opts.snapshot == "-":
        reexec_for_matplotlib()  # before stdin is read
    snap = load_snapshot(opts.snapshot)
    reexec_for_matplotlib()  # input is good: now matplotlib is needed
    for n in snap["nodes"]:
        if not n["listed"]:
            sys.stderr.write("%s: note: %s is an edge's end but not in nodes; drawn as not "
                             "answered\n" % (PROG, n["node"]))
    draw(snap, opts.output, opts.size, opts.dpi, opts.layout, opts.rtt, opts.title)
    answered = sum(1 for n in snap["nodes"] if n["answered"])
    print("%s: wrote %s: %d nodes (%d answered), %d links"
          % (PROG, opts.output, len(snap["nodes"]), answered, len(snap["edges"])))
    return 0


if __name__ == "__main__":
    sys.exit(main_guard(PROG, main))
