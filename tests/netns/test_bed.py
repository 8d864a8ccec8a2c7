#!/usr/bin/env python3
"""Checks of the bed itself (bed.py), with plain UDP sockets and no lanmesh, so
that a failing scenario can be told apart from a broken bed: multicast crosses
the bridge to every host, each fault blocks exactly what it should and heals,
the loss rule drops about the share asked for, teardown leaves nothing, a
crashed run's leftover is removed, and `bed.py up` tears down on SIGTERM.

    test_bed.py          exit 0 passed, 1 failed, 77 skipped (not root, no nft)
"""

import os
import signal
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bed as bedmod  # noqa: E402
from bed import Bed, list_namespaces, preflight  # noqa: E402

SKIP = 77
PORT = 40123
GROUP = "239.255.77.78"

# Receives datagrams on ADDR:PORT (joining GROUP on ADDR's interface if GROUP
# is given) until its stdin closes, then takes what is still queued and prints
# how many arrived. Ending on a word from the test rather than on a silence
# keeps a slow start of the sender (a busy machine) from reading as loss.
RECEIVER = r"""
import os, select, socket, sys
addr, port, group = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
# A big buffer (SO_RCVBUFFORCE, root only), so a receiver slow to be scheduled
# drops nothing itself.
s.setsockopt(socket.SOL_SOCKET, 33, 4 << 20)
if group != "-":
    s.bind((group, port))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                 socket.inet_aton(group) + socket.inet_aton(addr))
else:
    s.bind((addr, port))
print("listening", flush=True)
n = 0
done = False
while not done:
    ready, _, _ = select.select([s, sys.stdin], [], [], 60)
    if not ready:
        break  # bounded even if the test forgets us
    if sys.stdin in ready:
        done = not os.read(sys.stdin.fileno(), 100)
    if s in ready:
        s.recv(2048)
        n += 1
s.setblocking(False)
try:
    while True:
        s.recv(2048)
        n += 1
except BlockingIOError:
    pass
print(n, flush=True)
"""

# Sends COUNT datagrams from ADDR to DEST:PORT, GAP seconds apart (multicast
# with TTL 1 on ADDR's interface when DEST is a group).
SENDER = r"""
import socket, sys, time
addr, dest, port, count, gap = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, 0))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(addr))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
for i in range(count):
    try:
        s.sendto(b"bed check %d" % i, (dest, port))
    except OSError:
        pass  # a cut host has no carrier: sending may fail, which is fine
    time.sleep(gap)
"""


class Failure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def transfer(bed, src, dsts, count=20, gap=0.002, multicast=False, settle=0.3):
    """Sends `count` datagrams from host `src` to each host in `dsts` (one
    multicast to the group, or one unicast stream per destination); returns
    {dst: datagrams received}. The receivers stop `settle` s after the last
    sender exited (a datagram crosses the bridge in microseconds). Every
    process is bounded and reaped."""
    receivers = {}
    try:
        for d in dsts:
            p = subprocess.Popen(
                bed.exec_argv(d, [sys.executable, "-c", RECEIVER, bed.addr(d), str(PORT),
                                  GROUP if multicast else "-"]),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, universal_newlines=True)
            receivers[d] = p
            check(p.stdout.readline().strip() == "listening", "receiver on h%d did not start" % d)
        targets = [GROUP] if multicast else [bed.addr(d) for d in dsts]
        for t in targets:
            subprocess.run(bed.exec_argv(src, [sys.executable, "-c", SENDER, bed.addr(src), t,
                                               str(PORT), str(count), str(gap)]),
                           timeout=30 + count * gap * 4, check=True)
        time.sleep(settle)
        got = {}
        for d, p in receivers.items():
            out, _ = p.communicate(timeout=15)  # closes its stdin: "that was all"
            got[d] = int(out.strip().splitlines()[-1])
        return got
    finally:
        for p in receivers.values():
            if p.poll() is None:
                p.kill()
                p.wait(timeout=5)


def test_layout(bed):
    names = set(list_namespaces())
    check(set(bed.names()) <= names, "namespaces missing: %s" % (set(bed.names()) - names))
    out = bedmod._run(["ip", "-n", bed.bridge_ns, "-d", "link", "show", "br0"]).stdout
    check("mcast_snooping 0" in out, "bridge snooping is on: %s" % out)
    for i in range(bed.n):
        routes = bedmod._run(["ip", "-n", bed.host_ns(i), "route"]).stdout
        check("224.0.0.0/4 dev eth0" in routes, "h%d lacks the multicast route: %s" % (i, routes))
        check("default" not in routes, "h%d has a default route: %s" % (i, routes))
        lo = bedmod._run(["ip", "-n", bed.host_ns(i), "link", "show", "lo"]).stdout
        check("UP" in lo, "h%d: lo is down" % i)


def test_multicast_and_unicast(bed):
    got = transfer(bed, 0, [1, 2, 3], multicast=True)
    check(all(v == 20 for v in got.values()), "multicast from h0: %s of 20" % got)
    got = transfer(bed, 3, [0, 1])
    check(all(v == 20 for v in got.values()), "unicast from h3: %s of 20" % got)


def test_cut_and_heal(bed):
    bed.cut(1)
    try:
        got = transfer(bed, 0, [1, 2])
        check(got[1] == 0 and got[2] == 20, "h1 cut: h0 -> %s (want h1 0, h2 20)" % got)
        got = transfer(bed, 1, [3])
        check(got[3] == 0, "h1 cut: h1 -> h3 got %d" % got[3])
    finally:
        bed.heal(1)
    got = transfer(bed, 0, [1], multicast=True)
    check(got[1] == 20, "h1 healed: multicast from h0 got %d of 20" % got[1])


def test_split_and_join(bed):
    bed.split([0, 1], [2, 3])
    try:
        got = transfer(bed, 0, [1, 2, 3], multicast=True)
        check(got == {1: 20, 2: 0, 3: 0}, "split: multicast from h0: %s" % got)
        got = transfer(bed, 3, [0, 2])
        check(got == {0: 0, 2: 20}, "split: unicast from h3: %s" % got)
    finally:
        bed.join()
    got = transfer(bed, 2, [0, 1], multicast=True)
    check(got == {0: 20, 1: 20}, "joined: multicast from h2: %s" % got)


def test_block_one_way(bed):
    # h1 learns h0's hardware address first: under the block h0's answers to
    # h1's ARP requests would be dropped too.
    got = transfer(bed, 1, [0])
    check(got == {0: 20}, "before the block: unicast from h1: %s" % got)
    bed.block(0, 1)
    try:
        got = transfer(bed, 0, [1, 2])
        check(got == {1: 0, 2: 20}, "h0 -> h1 blocked: unicast from h0: %s" % got)
        got = transfer(bed, 1, [0])
        check(got == {0: 20}, "h0 -> h1 blocked: unicast from h1: %s" % got)
    finally:
        bed.block(None, None)
    got = transfer(bed, 0, [1])
    check(got == {1: 20}, "unblocked: unicast from h0: %s" % got)


def test_loss(bed, pct=20, count=1000):
    bed.loss(pct)
    try:
        got = transfer(bed, 0, [1], count=count, gap=0.001)[1]
    finally:
        bed.loss(0)
    # Binomial: 1000 draws at 20 % lose 200 +- 12.6; 6 sigma either way.
    want, slack = count * (100 - pct) // 100, 76
    print("  loss %d%%: %d of %d datagrams arrived (%.1f%% lost)"
          % (pct, got, count, 100.0 * (count - got) / count), flush=True)
    check(abs(got - want) <= slack, "loss %d%%: %d of %d arrived, want %d +- %d"
          % (pct, got, count, want, slack))
    got = transfer(bed, 0, [1], count=200)[1]
    check(got == 200, "loss removed: %d of 200 arrived" % got)


def test_leftover_is_removed():
    """A bed whose owner died (here: a PID that exited, a start time no
    process has) with a process still inside is removed by the next bed."""
    child = subprocess.Popen(["true"])
    child.wait()
    name = "%s%d-1-h0" % (bedmod.PREFIX, child.pid)
    bedmod._run(["ip", "netns", "add", name])
    sleeper = subprocess.Popen(["ip", "netns", "exec", name, "sleep", "60"])
    try:
        deadline = time.monotonic() + 5
        while not bedmod._run(["ip", "netns", "pids", name]).stdout.strip():
            check(time.monotonic() < deadline, "sleeper did not start in %s" % name)
            time.sleep(0.05)
        removed = bedmod.cleanup_leftovers()
        check("%d-1" % child.pid in removed, "leftover not removed: %s" % removed)
        check(name not in list_namespaces(), "%s still there" % name)
        check(sleeper.wait(timeout=5) == -signal.SIGKILL, "process inside not killed")
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait(timeout=5)
        if name in list_namespaces():
            bedmod._run(["ip", "netns", "delete", name], check=False)


def test_cli_up_tears_down_on_sigterm():
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "bed.py"), "up", "2"],
                         stdout=subprocess.PIPE, universal_newlines=True)
    try:
        names = []
        deadline = time.monotonic() + 20
        for line in p.stdout:
            if "lanmesh-bed-" in line and ": " in line:
                names += [w for w in line.split() if w.startswith(bedmod.PREFIX)]
            if line.startswith("holding"):
                break
            check(time.monotonic() < deadline, "bed.py up did not come up")
        check(len(names) >= 3 and all(n in list_namespaces() for n in names),
              "bed.py up: namespaces %s not all there" % names)
        p.send_signal(signal.SIGTERM)
        check(p.wait(timeout=20) == 0, "bed.py up exited %s on SIGTERM" % p.returncode)
        left = [n for n in names if n in list_namespaces()]
        check(not left, "bed.py up left %s after SIGTERM" % left)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=5)


def main():
    reason = preflight(need_nft=True)
    if reason:
        print("SKIP netns_bed: %s" % reason)
        print("0 passed, 0 failed, 1 skipped")
        return SKIP

    def stop(signo, frame):
        raise KeyboardInterrupt("signal %d" % signo)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)

    passed = failed = 0

    def run(name, fn, *args):
        nonlocal passed, failed
        start = time.monotonic()
        try:
            fn(*args)
            passed += 1
            print("PASS %s (%.2f s)" % (name, time.monotonic() - start), flush=True)
        except Exception as e:  # noqa: BLE001
            failed += 1
            print("FAIL %s (%.2f s)\n    %s" % (name, time.monotonic() - start,
                  "".join(traceback.format_exception(type(e), e, e.__traceback__))
                  .rstrip().replace("\n", "\n    ")), flush=True)

    run("leftover_is_removed", test_leftover_is_removed)
    with Bed(4, log=lambda m: print("  " + m, flush=True)) as bed:
        names = bed.names()
        for fn in (test_layout, test_multicast_and_unicast, test_cut_and_heal,
                   test_split_and_join, test_block_one_way, test_loss):
            run(fn.__name__[5:], fn, bed)
    left = [n for n in names if n in list_namespaces()]
    run("teardown_leaves_nothing", lambda: check(not left, "left behind: %s" % left))
    run("cli_up_tears_down_on_sigterm", test_cli_up_tears_down_on_sigterm)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
