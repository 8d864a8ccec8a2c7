#!/usr/bin/env python3
"""A multi-host test bed for lanmesh: real hosts in network namespaces.

Loopback tests share one kernel and one interface; this bed gives each lanmesh
node a host of its own (a network namespace with its own interface, address
and routes) on a switched LAN (a Linux bridge), all on one machine, so that
links can be cut, the LAN split and packets lost the way they are on real
networks. Python 3 standard library plus the iproute2 `ip` command; the split
and loss faults also need `nft` (Debian package `nftables`).

Layout of a bed of N hosts. TAG is "<pid>-<start time>" of the process that
built it, so names are unique per run and a bed whose owner is gone can be
recognised (the start time guards against a reused PID):

    lanmesh-bed-TAG-br   the switch: bridge br0 (multicast_snooping 0, no STP)
                         with ports p0 .. p(N-1); the fault rules live here
    lanmesh-bed-TAG-h0   host 0: lo up; eth0 = 10.77.S.1/24, the other end of
                         p0; route 224.0.0.0/4 dev eth0 for multicast
    ...
    lanmesh-bed-TAG-h(N-1)

S is derived from the owner's PID; the subnet exists only inside these
namespaces (no host has a default route), so nothing leaves them. Nothing is
created or changed in the root namespace or on the machine's interfaces: the
veth pairs are created inside the bridge namespace with their host end moved
straight into the host namespace.

Faults (all reversible; all applied in the bridge namespace):
    cut(i) / heal(i)      host i's bridge port down / up ("cable pulled")
    block(a, b)           nftables rule dropping the frames host a sends to host
                          b, one direction only; block(None, None) removes it
    split(A, B) / join()  nftables bridge-family rules drop frames between the
                          hosts of group A and group B / rules removed
    loss(pct)             nftables `numgen random mod 100 < pct drop` on every
                          frame the bridge forwards; loss(0) removes it

Teardown: `Bed.down()` (idempotent) kills what still runs inside the hosts
(by PID, from `ip netns pids`) and deletes every namespace, which destroys
the veths and the bridge with them. Used as a context manager the bed is
torn down however the block ends; `atexit` is a second net. A bed left by a
run that died hard (SIGKILL, power cut) is removed by `cleanup_leftovers()`,
which every new bed calls first.

Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN, as `ip netns add` mounts);
`preflight()` says why a bed cannot be built here, so tests can skip.

By hand (as root, from the repository):

    python3 tests/netns/bed.py up 4      # build 4 hosts, print how to use
                                         # them, hold until Ctrl-C / SIGTERM,
                                         # then tear down
    # in another terminal, while `up` holds the bed:
    python3 tests/netns/bed.py list                  # beds and their owners
    ip netns exec lanmesh-bed-TAG-h0 build/lanmesh --discovery.interface=10.77.S.1 \\
        --node.listen=10.77.S.1 --discovery.ttl=1    # a node on host 0
    python3 tests/netns/bed.py cut 2                 # faults act on the one
    python3 tests/netns/bed.py heal 2                # live bed (or --tag TAG)
    python3 tests/netns/bed.py split 0,1 2,3
    python3 tests/netns/bed.py join
    python3 tests/netns/bed.py loss 20               # loss 0 removes it
    python3 tests/netns/bed.py down      # remove beds whose owner is dead;
                                         # --all: every bed, live or not
"""

import argparse
import atexit
import os
import re
import shutil
import signal
import subprocess
import sys

PREFIX = "lanmesh-bed-"
NAME_RE = re.compile(r"^" + re.escape(PREFIX) + r"(\d+)-(\d+)-(br|h\d+)$")
NFT_TABLE = "lanmesh_bed"
CMD_TIMEOUT = 15.0  # any one ip/nft command; generous for a busy 2-core machine


class BedError(RuntimeError):
    pass


def _run(argv, stdin=None, check=True):
    """Runs one command, bounded in time; raises BedError with its stderr."""
    try:
        r = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=CMD_TIMEOUT, universal_newlines=True)
    except subprocess.TimeoutExpired:
        raise BedError("%s: no answer within %.0f s" % (" ".join(argv), CMD_TIMEOUT))
    if check and r.returncode != 0:
        raise BedError("%s: exit %d: %s" % (" ".join(argv), r.returncode, r.stderr.strip()))
    return r


def _start_time(pid):
    """The process's start time (clock ticks since boot), or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    # Field 22; the command name (field 2) may contain spaces and parentheses.
    return int(stat.rsplit(")", 1)[1].split()[19])


def _owner_alive(pid, start):
    return _start_time(pid) == start


def list_namespaces():
    """Names of every network namespace on the machine (`ip netns list`)."""
    r = _run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def list_beds():
    """{tag: {"pid", "start", "alive", "names"}} for every bed on the machine."""
    beds = {}
    for name in list_namespaces():
        m = NAME_RE.match(name)
        if not m:
            continue
        tag = "%s-%s" % (m.group(1), m.group(2))
        b = beds.setdefault(tag, {"pid": int(m.group(1)), "start": int(m.group(2)),
                                  "names": []})
        b["names"].append(name)
    for b in beds.values():
        b["alive"] = _owner_alive(b["pid"], b["start"])
        b["names"].sort()
    return beds


def _kill_inside(ns):
    """SIGKILLs, by PID, what still runs in namespace `ns`: only processes a
    bed started live there. Returns the PIDs."""
    r = _run(["ip", "netns", "pids", ns], check=False)
    pids = [int(p) for p in r.stdout.split() if p.isdigit()]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def _delete(names):
    errors = []
    for ns in names:
        _kill_inside(ns)
    # Hosts first: deleting one destroys its veth pair, then the bridge goes.
    for ns in sorted(names, key=lambda n: n.endswith("-br")):
        r = _run(["ip", "netns", "delete", ns], check=False)
        if r.returncode != 0 and ns in list_namespaces():
            errors.append("%s: %s" % (ns, r.stderr.strip()))
    return errors


def cleanup_leftovers(everything=False, log=None):
    """Removes beds whose owner process is dead (with `everything`, all beds).

    Returns the tags removed."""
    removed = []
    for tag, b in sorted(list_beds().items()):
        if b["alive"] and not everything:
            continue
        errors = _delete(b["names"])
        if log:
            log("removed %s bed %s (%d namespaces)%s"
                % ("live" if b["alive"] else "leftover", tag, len(b["names"]),
                   ": errors: %s" % errors if errors else ""))
        removed.append(tag)
    return removed


def _cap_eff():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def preflight(need_nft=False):
    """None if a bed can be built here, else the reason it cannot (for a skip)."""
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if shutil.which("ip") is None:
        return "the `ip` command (Debian package iproute2) is not installed"
    if need_nft and shutil.which("nft") is None:
        return "the `nft` command (Debian package nftables) is not installed"
    caps = _cap_eff()
    CAP_NET_ADMIN, CAP_SYS_ADMIN = 12, 21
    if os.geteuid() != 0 and not (caps >> CAP_NET_ADMIN & 1 and caps >> CAP_SYS_ADMIN & 1):
        return "needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN to create network namespaces)"
    # Capabilities are not the whole story (containers, seccomp, missing
    # kernel features): try the real thing on a throw-away namespace.
    probe = "%s%d-%d-br" % (PREFIX, os.getpid(), _start_time(os.getpid()))
    if probe in list_namespaces():
        return None  # this process already has a bed, so it works
    try:
        r = _run(["ip", "netns", "add", probe], check=False)
        if r.returncode != 0:
            return "cannot create a network namespace: %s" % r.stderr.strip()
        r = _run(["ip", "-n", probe, "link", "add", "br0", "type", "bridge"], check=False)
        if r.returncode != 0:
            return "cannot create a bridge in a namespace: %s" % r.stderr.strip()
        if need_nft:
            r = _run(["ip", "netns", "exec", probe, "nft", "add", "table", "bridge", NFT_TABLE],
                     check=False)
            if r.returncode != 0:
                return "nftables bridge family unavailable: %s" % r.stderr.strip()
    finally:
        _delete([probe])
    return None


class Bed:
    """N hosts on one bridge; see the module docstring.

    Host i (0-based) is namespace `self.host_ns(i)` with address `self.addr(i)`.
    """

    def __init__(self, hosts, log=None):
        if not 1 <= hosts <= 250:
            raise ValueError("1..250 hosts")
        self.n = hosts
        self.log = log or (lambda msg: None)
        pid = os.getpid()
        self.tag = "%d-%d" % (pid, _start_time(pid))
        self.subnet = pid % 256  # only for readable logs: each bed is isolated anyway
        self.built = False
        self._atexit = False

    # -- names ----------------------------------------------------------------

    @property
    def bridge_ns(self):
        return "%s%s-br" % (PREFIX, self.tag)

    def host_ns(self, i):
        return "%s%s-h%d" % (PREFIX, self.tag, i)

    def addr(self, i):
        return "10.77.%d.%d" % (self.subnet, i + 1)

    @property
    def prefix(self):
        """The subnet's first three octets with a trailing dot, e.g. "10.77.42."."""
        return "10.77.%d." % self.subnet

    def port(self, i):
        """Host i's port on the bridge (in the bridge namespace)."""
        return "p%d" % i

    def names(self):
        return [self.bridge_ns] + [self.host_ns(i) for i in range(self.n)]

    def exec_argv(self, i, argv):
        """`argv` run inside host i. `ip netns exec` execs it in place, so the
        PID of the started process is that of the program itself."""
        return ["ip", "netns", "exec", self.host_ns(i)] + list(argv)

    # -- build and tear down --------------------------------------------------

    def up(self):
        """Removes leftovers of dead runs, then builds the bed."""
        cleanup_leftovers(log=self.log)
        if not self._atexit:
            atexit.register(self.down)
            self._atexit = True
        self.built = True  # from here on, down() has something to remove
        br = self.bridge_ns
        _run(["ip", "netns", "add", br])
        _run(["ip", "-n", br, "link", "set", "lo", "up"])
        # No snooping: multicast is flooded to every port, as on a plain
        # switch, so discovery does not depend on IGMP timing. No STP, so a
        # healed port forwards at once.
        _run(["ip", "-n", br, "link", "add", "br0", "type", "bridge",
              "mcast_snooping", "0", "stp_state", "0"])
        _run(["ip", "-n", br, "link", "set", "br0", "up"])
        for i in range(self.n):
            h = self.host_ns(i)
            _run(["ip", "netns", "add", h])
            _run(["ip", "-n", br, "link", "add", self.port(i), "type", "veth",
                  "peer", "name", "eth0", "netns", h])
            _run(["ip", "-n", br, "link", "set", self.port(i), "master", "br0", "up"])
            _run(["ip", "-n", h, "link", "set", "lo", "up"])
            _run(["ip", "-n", h, "addr", "add", "%s/24" % self.addr(i), "dev", "eth0"])
            _run(["ip", "-n", h, "link", "set", "eth0", "up"])
            _run(["ip", "-n", h, "route", "add", "224.0.0.0/4", "dev", "eth0"])
        self.log("bed %s up: %d hosts on %s0/24" % (self.tag, self.n, self.prefix))
        return self

    def down(self):
        """Kills what runs inside, deletes every namespace. Idempotent."""
        if not self.built:
            return
        self.built = False
        errors = _delete([n for n in self.names() if n in list_namespaces()])
        if errors:
            self.log("bed %s teardown errors: %s" % (self.tag, errors))
        else:
            self.log("bed %s down" % self.tag)

    def __enter__(self):
        try:
            return self.up()
        except BaseException:
            self.down()
            raise

    def __exit__(self, *exc):
        self.down()
        return False

    @classmethod
    def attach(cls, tag=None, log=None):
        """A Bed object for an existing bed (the only live one, or `tag`), for
        applying faults from another process. It never tears the bed down."""
        beds = list_beds()
        if tag is None:
            live = [t for t, b in beds.items() if b["alive"]]
            if len(live) != 1:
                raise BedError("%d live beds (%s): name one with --tag" % (len(live), live))
            tag = live[0]
        if tag not in beds:
            raise BedError("no bed %s" % tag)
        b = cls.__new__(cls)
        b.tag = tag
        b.log = log or (lambda msg: None)
        b.subnet = int(tag.split("-")[0]) % 256
        b.n = sum(1 for name in beds[tag]["names"] if not name.endswith("-br"))
        b.built = False  # attached: down() is a no-op
        b._atexit = False
        return b

    # -- faults -----------------------------------------------------------------

    def cut(self, i):
        """Host i's bridge port down: its eth0 loses carrier, nothing passes."""
        _run(["ip", "-n", self.bridge_ns, "link", "set", self.port(i), "down"])
        self.log("cut h%d" % i)

    def heal(self, i):
        _run(["ip", "-n", self.bridge_ns, "link", "set", self.port(i), "up"])
        self.log("healed h%d" % i)

    def _nft(self, script):
        _run(["ip", "netns", "exec", self.bridge_ns, "nft", "-f", "-"], stdin=script)

    def _chain(self, name, priority, rules):
        """Replaces base chain `name` (bridge forward hook) with `rules`.

        Split, block and loss have a chain each, so each can change alone; a frame
        dropped by any is gone."""
        lines = [
            "add table bridge %s" % NFT_TABLE,
            "add chain bridge %s %s { type filter hook forward priority %d; policy accept; }"
            % (NFT_TABLE, name, priority),
            "flush chain bridge %s %s" % (NFT_TABLE, name),
        ] + ["add rule bridge %s %s %s" % (NFT_TABLE, name, r) for r in rules]
        self._nft("\n".join(lines) + "\n")

    def split(self, a, b):
        """Drops every frame between a host of `a` and a host of `b` (index lists)."""
        pa = "{ %s }" % ", ".join('"%s"' % self.port(i) for i in a)
        pb = "{ %s }" % ", ".join('"%s"' % self.port(i) for i in b)
        self._chain("split", 0, ["iifname %s oifname %s drop" % (pa, pb),
                                 "iifname %s oifname %s drop" % (pb, pa)])
        self.log("split %s | %s" % (list(a), list(b)))

    def join(self):
        self._chain("split", 0, [])
        self.log("joined")

    def block(self, src, dst):
        """Drops every frame host `src` sends to host `dst`, one direction
        only (`dst` still reaches `src`); block(None, None) removes it."""
        rules = []
        if src is not None:
            rules = ['iifname "%s" oifname "%s" drop' % (self.port(src), self.port(dst))]
        self._chain("oneway", 2, rules)
        self.log("blocked h%d -> h%d" % (src, dst) if rules else "unblocked")

    def loss(self, pct):
        """Drops `pct` % of the frames the bridge forwards, at random (each
        copy of a flooded frame is drawn on its own); 0 removes the rule."""
        if not 0 <= pct <= 100:
            raise ValueError("loss percentage 0..100")
        self._chain("loss", 1, ["numgen random mod 100 < %d drop" % pct] if pct else [])
        self.log("loss %d%%" % pct)

    def ruleset(self):
        return _run(["ip", "netns", "exec", self.bridge_ns, "nft", "list", "ruleset"]).stdout


def main(argv=None):
    p = argparse.ArgumentParser(description="lanmesh network-namespace test bed",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("By hand", 1)[1])
    sub = p.add_subparsers(dest="cmd")
    up = sub.add_parser("up", help="build N hosts, hold until Ctrl-C/SIGTERM, tear down")
    up.add_argument("hosts", type=int)
    sub.add_parser("list", help="beds on this machine")
    down = sub.add_parser("down", help="remove beds whose owner is dead")
    down.add_argument("--all", action="store_true", help="remove live beds too")
    for name, what in (("cut", "port down"), ("heal", "port up")):
        c = sub.add_parser(name, help="host's bridge %s" % what)
        c.add_argument("host", type=int)
        c.add_argument("--tag")
    s = sub.add_parser("split", help="drop between two groups, e.g. 0,1,2 3,4,5")
    s.add_argument("a")
    s.add_argument("b")
    s.add_argument("--tag")
    j = sub.add_parser("join", help="remove the split")
    j.add_argument("--tag")
    lo = sub.add_parser("loss", help="random loss percentage on the bridge; 0 removes")
    lo.add_argument("pct", type=int)
    lo.add_argument("--tag")
    opts = p.parse_args(argv)

    def say(msg):
        print("bed: " + msg, flush=True)

    if opts.cmd is None:
        p.print_help()
        return 2
    if opts.cmd == "list":
        for tag, b in sorted(list_beds().items()):
            print("%s  owner pid %d %s  %s" % (tag, b["pid"], "alive" if b["alive"] else "DEAD",
                                              " ".join(b["names"])))
        return 0
    reason = preflight(need_nft=opts.cmd in ("split", "join", "loss"))
    if reason:
        print("bed: cannot: " + reason, file=sys.stderr)
        return 77
    if opts.cmd == "down":
        cleanup_leftovers(everything=opts.all, log=say)
        return 0
    if opts.cmd == "up":
        # SIGTERM/SIGHUP unwind like Ctrl-C, through the `with` below.
        def stop(signo, frame):
            raise KeyboardInterrupt
        for s in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, stop)
        with Bed(opts.hosts, log=say) as bed:
            print("switch: %s (bridge br0, ports p0..p%d)" % (bed.bridge_ns, bed.n - 1))
            for i in range(bed.n):
                print("h%d: %s  %s" % (i, bed.host_ns(i), bed.addr(i)))
            print("a node on h0:\n  ip netns exec %s build/lanmesh --discovery.interface=%s "
                  "--node.listen=%s --discovery.ttl=1" % (bed.host_ns(0), bed.addr(0), bed.addr(0)))
            print("holding the bed; Ctrl-C (or SIGTERM to pid %d) tears it down" % os.getpid(),
                  flush=True)
            try:
                while True:
                    signal.pause()
            except KeyboardInterrupt:
                pass
        return 0
    bed = Bed.attach(opts.tag, log=say)
    if opts.cmd == "cut":
        bed.cut(opts.host)
    elif opts.cmd == "heal":
        bed.heal(opts.host)
    elif opts.cmd == "split":
        bed.split([int(x) for x in opts.a.split(",")], [int(x) for x in opts.b.split(",")])
    elif opts.cmd == "join":
        bed.join()
    elif opts.cmd == "loss":
        bed.loss(opts.pct)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BedError as e:
        print("bed: %s" % e, file=sys.stderr)
        sys.exit(1)
