#!/usr/bin/env python3
"""discovery.interface by name and `auto` on real interfaces (issue 15), on
three hosts of the multi-host bed (network namespaces the test makes itself,
bed.py): host 0 names its interface (`eth0`), host 1 says `auto` and listens
on 0.0.0.0 (so its address comes from the choice alone), host 2 gives its
address. They find each other by multicast on the bed's LAN, log their
choice, say nothing about loopback, and learn each other's bed addresses.

    test_interface.py --lanmesh build/lanmesh [--keep]

Root only (exit 77 otherwise, like every netns test)."""

import argparse
import json
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

from scenarios import CONVERGE, SKIP, NetnsHarness, check_subnet, log, wait_overlay  # noqa: E402
from bed import Bed, BedError, preflight  # noqa: E402
from harness import check, poll  # noqa: E402

NOTICE = "only nodes on this machine can find this node"


def scenario(h):
    a = h.start(0, extra=["--discovery.interface=eth0"])
    b = h.start(1, extra=["--discovery.interface=auto", "--node.listen=0.0.0.0"])
    c = h.start(2)
    nodes = [a, b, c]
    wait_overlay(nodes, CONVERGE)
    check_subnet(h, nodes)
    for n, want in ((a, "discovery.interface eth0: eth0 (%s)" % h.bed.addr(0)),
                    (b, "discovery.interface auto: eth0 (%s)" % h.bed.addr(1))):
        with open(n.log_path) as f:
            text = f.read()
        check(want in text, "%s did not log %r" % (n.name, want))
        check(NOTICE not in text, "%s said it is on loopback" % n.name)
        log("%s: %s" % (n.name, want))
    # Everyone knows b by the address `auto` found (its membership record).
    def members():
        code, out, err = h.spawn_raw(["members", "--json", "--control=" + a.ready["control"]])
        check(code == 0, "members: exit %d %r" % (code, err))
        got = {m["node"]: m["addr"] for m in json.loads(out)["members"]}
        return got.get(b.id) == "%s:%d" % (h.bed.addr(1), b.port), got
    poll(members, "b's address in a's members", timeout=CONVERGE)
    msg = b.broadcast("over eth0")
    for n in (a, c):
        n.wait_event("deliver", msg=msg)
    h.stop_all()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lanmesh", required=True)
    p.add_argument("--keep", action="store_true")
    opts = p.parse_args()
    lanmesh = os.path.abspath(opts.lanmesh)
    reason = preflight(need_nft=False)
    if reason:
        print("SKIP netns_interface: %s" % reason)
        print("0 passed, 0 failed, 1 skipped")
        return SKIP

    def stop(signo, frame):
        raise KeyboardInterrupt("signal %d" % signo)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    start = time.monotonic()
    status, detail = "PASS", ""
    try:
        with Bed(3, log=log) as bed:
            with NetnsHarness(lanmesh, "netns_interface", bed, keep=opts.keep) as h:
                scenario(h)
    except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001
        status = "FAIL"
        detail = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    print("%s netns_interface (%.2f s)" % (status, time.monotonic() - start))
    if detail:
        print("    " + detail.rstrip().replace("\n", "\n    "))
    print("%d passed, %d failed" % (status == "PASS", status != "PASS"), flush=True)
    return 0 if status == "PASS" else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BedError as e:
        print("bed error: %s" % e)
        sys.exit(1)
