#!/usr/bin/env python3
"""Puts the rows of a partial run (run.py --only ...) into a full run's
results.json, says so at the top of RESULTS.md, and re-renders it.

    python3 bench/merge_results.py FULL_results.json PARTIAL_results.json NOTE

Every row the partial run measured replaces the full run's row of the same
id, for the systems the partial run measured; the others stay. NOTE is
printed in bold at the top of RESULTS.md (which rows, which commit, which
command), so nobody reads the mix as one run."""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402


# Totals over every run of the full benchmark: a partial run counts only its
# own batches, so these stay the full run's (the partial run's are in its log).
KEEP = {"lost", "duplicates", "out_of_order"}


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    full_path, part_path, note = sys.argv[1:]
    with open(full_path) as f:
        full = json.load(f)
    with open(part_path) as f:
        part = json.load(f)
    systems = ("lanmesh", "serf", "nats")
    index = {r["id"]: i for i, r in enumerate(full["rows"])}
    replaced = []
    for row in part["rows"]:
        measured = [s for s in systems if (row.get(s) or {}).get("reps")]
        if not measured:
            continue
        if row["id"] in KEEP:
            continue
        if row["id"] in index:
            old = full["rows"][index[row["id"]]]
            for k, v in row.items():
                if k not in ("serf", "nats", "ratio_serf", "ratio_nats") and \
                        (k not in systems or k in measured):
                    old[k] = v
            # Ratios to the systems the partial run left alone, from the
            # full run's values of those systems.
            mine = (old.get("lanmesh") or {}).get("median")
            for other in ("serf", "nats"):
                theirs = (old.get(other) or {}).get("median")
                if isinstance(mine, (int, float)) and isinstance(theirs, (int, float)) and theirs:
                    old["ratio_" + other] = mine / theirs
            if row["id"] in ("tp_100_one", "tp_100_all"):
                nats = (old.get("nats") or {}).get("median")
                old["meets_target"] = bool(mine and mine >= 50000 and
                                           (not nats or mine >= nats))
        else:
            full["rows"].append(row)
        replaced.append(row["id"])
    full["meta"]["preliminary"] = note
    full.setdefault("merged", []).append({"from": part["meta"].get("command"),
                                          "commit": part["meta"].get("commit"),
                                          "rows": replaced})
    full["loadavg_by_group"] = full.get("loadavg_by_group", []) + [
        ["re-measured: " + str(g[0]), g[1]] for g in part.get("loadavg_by_group", [])]
    with open(full_path, "w") as f:
        json.dump(full, f, indent=1)
    run.render(os.path.dirname(os.path.abspath(full_path)), full)
    print("replaced %d rows: %s" % (len(replaced), ", ".join(replaced)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
