#!/usr/bin/env python3
"""Draws the scaling curves of a bench/run.py results.json (its "scaling"
list) as one PNG: convergence, latency p50 and p99 from the caller, idle CPU
and idle packets per node, RSS, against N (log axes).

    python3 bench/plot_scaling.py bench/results.json -o bench/scaling.png

Needs matplotlib (Debian: python3-matplotlib).
"""

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402,F401

SYSTEMS = ("lanmesh", "serf", "nats")
SYSTEM_NAMES = {"lanmesh": "lanmesh", "serf": "Serf", "nats": "NATS"}
SCALE_PLOTS = [("convergence_s", "Convergence", "s", True),
               ("latency_p50_ms", "Latency p50 from the caller", "ms", True),
               ("latency_p99_ms", "Latency p99 from the caller", "ms", True),
               ("idle_cpu", "Idle CPU per node", "% of a core", True),
               ("idle_total_per_min", "Idle packets per node", "per minute", True),
               ("rss_mib", "RSS per node (median)", "MiB", False)]
SCALE_STYLE = {"lanmesh": ("tab:blue", "o"), "serf": ("tab:orange", "s"), "nats": ("tab:green", "^")}


def plot(rows, path, title):
    """One panel per metric, N on the x axis."""
    systems = [x for x in SYSTEMS if any(r["system"] == x for r in rows)]
    sizes = sorted({r["n"] for r in rows})
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    for ax, (key, panel, unit, logy) in zip(axes.flat, SCALE_PLOTS):
        for system in systems:
            pts = [(r["n"], r.get(key)) for r in rows
                   if r["system"] == system and r.get(key) is not None and r.get(key) > 0]
            if not pts:
                continue
            color, marker = SCALE_STYLE[system]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, color=color,
                    label=SYSTEM_NAMES[system])
        ax.set_xscale("log")
        ax.set_xticks(sizes)
        ax.set_xticklabels([str(x) for x in sizes])
        ax.minorticks_off()
        if logy:
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: "%g" % v))
        ax.set_title(panel)
        ax.set_xlabel("nodes N")
        ax.set_ylabel(unit)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("results")
    ap.add_argument("-o", "--out", required=True)
    a = ap.parse_args()
    with open(a.results) as f:
        doc = json.load(f)
    rows = [r for r in doc.get("scaling") or () if not r.get("error")]
    if not rows:
        raise SystemExit("no scaling rows in %s" % a.results)
    meta = doc.get("meta", {})
    plot(rows, a.out, "Scaling on one %s-core machine, 127.0.0.1; lanmesh at %s (%s)"
         % (meta.get("machine", {}).get("cores", "?"),
            meta.get("lanmesh_commit") or meta.get("commit", "?"), meta.get("date", "")))


if __name__ == "__main__":
    main()
