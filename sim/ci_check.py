#!/usr/bin/env python3
"""CI gates of the simulator (ctest label `sim`).

  ci_check.py gate SIM SCENARIO THRESHOLDS   run SCENARIO, check the summary line
  ci_check.py same-seed SIM SCENARIO         run twice, outputs must be identical
  ci_check.py no-duplicates SOURCE_DIR OBJ_DIR
      no class of actors/proto/ is defined again in sim/, and the simulator's
      own objects define none of their member functions (they come from
      lanmesh_proto)
"""
import glob
import json
import os
import re
import subprocess
import sys
import time


def run(sim, scenario):
    t = time.monotonic()
    out = subprocess.run([sim, scenario, "--quiet"], check=True, capture_output=True,
                         text=True).stdout
    return out, time.monotonic() - t


def gate(sim, scenario, thresholds):
    limits = json.load(open(thresholds))
    out, took = run(sim, scenario)
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["type"] == "summary", summary
    bad = []
    for key, limit in limits.items():
        if key.startswith("_"):
            continue
        name, kind = key.rsplit("_", 1)
        value = summary[name]
        if (kind == "max" and value > limit) or (kind == "min" and value < limit):
            bad.append(f"{name} = {value} (limit {kind} {limit})")
    shown = {k: summary[k] for k in ("rmr", "ldh_max", "ldh_avg", "missed", "delivered",
                                     "duplicates", "gaps", "components",
                                     "members_known_avg")}
    print(f"{os.path.basename(scenario)}: {json.dumps(shown)} in {took:.1f} s")
    for b in bad:
        print("FAIL:", b)
    return 1 if bad else 0


def same_seed(sim, scenario):
    a, _ = run(sim, scenario)
    b, _ = run(sim, scenario)
    if a != b:
        for i, (x, y) in enumerate(zip(a.splitlines(), b.splitlines())):
            if x != y:
                print(f"line {i + 1} differs:\n{x}\n{y}")
                break
        return 1
    print(f"{os.path.basename(scenario)}: two runs, {len(a)} bytes, identical")
    return 0


def no_duplicates(src, objdir):
    names = set()
    for h in glob.glob(os.path.join(src, "actors/proto/*.hpp")):
        names |= set(re.findall(r"^(?:class|struct)\s+(\w+)\s*(?:[:{]|final)",
                                open(h).read(), re.M))
    problems = []
    for f in glob.glob(os.path.join(src, "sim/*.[ch]pp")):
        for n in re.findall(r"^\s*(?:class|struct)\s+(\w+)\s*(?:[:{]|final)",
                            open(f).read(), re.M):
            if n in names:
                problems.append(f"{os.path.relpath(f, src)} defines {n}, a class of actors/proto")
    objs = glob.glob(os.path.join(objdir, "**/*.o"), recursive=True)
    if not objs:
        problems.append(f"no object files under {objdir}")
    classes = "|".join(sorted(c for c in names if len(c) > 3))
    # Strong definitions only: W are inline functions and implicit members
    # the headers give every includer.
    pat = re.compile(r" T lanmesh::(?:" + classes + r")::")
    for o in objs:
        syms = subprocess.run(["nm", "-C", "--defined-only", o], capture_output=True,
                              text=True).stdout
        for line in syms.splitlines():
            if pat.search(line) and "::sim::" not in line:
                problems.append(f"{os.path.basename(o)} defines{line.split(' ', 2)[2][:120]}")
                break
    for p in problems:
        print("FAIL:", p)
    if not problems:
        print(f"{len(names)} proto classes, none defined in sim/ ({len(objs)} objects checked)")
    return 1 if problems else 0


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "gate":
        sys.exit(gate(*sys.argv[2:5]))
    if cmd == "same-seed":
        sys.exit(same_seed(*sys.argv[2:4]))
    if cmd == "no-duplicates":
        sys.exit(no_duplicates(*sys.argv[2:4]))
    sys.exit(__doc__)
