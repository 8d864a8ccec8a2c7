#!/usr/bin/env python3
"""The Debian package in a fresh minimal Debian root (issue 15, label `package`).

    test_deb.py --build BUILD_DIR --version VERSION

Builds the .deb with `cpack -G DEB`, installs it with apt-get (so its Depends
must resolve from Debian's packages) into a minimal Debian root made by
debootstrap, and checks there: `lanmesh --version`, the package's state,
Depends and conffiles, the systemd unit (its ExecStart runs the installed
binary with the installed config: it is started, answers `lanmesh members` and
stops on `lanmesh leave` with exit 0, in a network namespace of its own), and
that the drawing tools run.

Needs root (chroot, network namespaces) and debootstrap, cpack, unshare and ip;
without them it says why and exits 77 (ctest: skipped). The root is made by
debootstrap once (about a minute) and kept as a tarball under
BUILD_DIR/package-test/, with the .debs apt fetched, so later runs only unpack
it (a few seconds); each run installs into a fresh copy, removed afterwards.
"""

import argparse
import glob
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))


class Failure(Exception):
    pass


def say(msg):
    print(msg, flush=True)


def run(argv, timeout, check=True, env=None, **kw):
    """Runs argv (bounded in time); returns the CompletedProcess."""
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, timeout=timeout, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=env, **kw)
    except subprocess.TimeoutExpired:
        raise Failure("%s: no end within %d s" % (" ".join(argv[:4]), timeout))
    took = time.monotonic() - t0
    if check and p.returncode != 0:
        raise Failure("%s: exit %d\n%s" % (" ".join(argv), p.returncode,
                                           p.stdout.decode("utf-8", "replace")[-3000:]))
    if took > 5:
        say("  (%s took %.0f s)" % (" ".join(argv[:3]), took))
    return p


def host_mirror_and_suite():
    suite = "bookworm"
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("VERSION_CODENAME="):
                    suite = line.split("=", 1)[1].strip().strip('"') or suite
    except OSError:
        pass
    mirror = "http://deb.debian.org/debian"
    for path in glob.glob("/etc/apt/sources.list.d/*.sources"):
        with open(path) as f:
            for line in f:
                if line.startswith("URIs:") and "security" not in line:
                    return line.split(":", 1)[1].strip().split()[0], suite
    return mirror, suite


def make_base(cache, tarball):
    """debootstrap a minbase root, update apt's lists in it, keep it as a tarball."""
    mirror, suite = host_mirror_and_suite()
    work = tempfile.mkdtemp(prefix="debootstrap-", dir=cache)
    try:
        debs = os.path.join(cache, "debootstrap-debs")
        os.makedirs(debs, exist_ok=True)
        say("debootstrap --variant=minbase %s from %s (once; kept in %s)" % (suite, mirror, tarball))
        run(["debootstrap", "--variant=minbase", "--cache-dir=" + debs, suite, work, mirror],
            timeout=240)
        shutil.copy("/etc/resolv.conf", os.path.join(work, "etc/resolv.conf"))
        run(["chroot", work, "apt-get", "update", "-qq"], timeout=120)
        run(["chroot", work, "apt-get", "clean"], timeout=60)
        run(["tar", "-C", work, "-cf", tarball + ".part", "."], timeout=120)
        os.rename(tarball + ".part", tarball)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def build_deb(build, cache):
    out = os.path.join(cache, "cpack")
    shutil.rmtree(out, ignore_errors=True)
    run(["cpack", "-G", "DEB", "--config", os.path.join(build, "CPackConfig.cmake"), "-B", out],
        timeout=180, cwd=build)
    debs = glob.glob(os.path.join(out, "*.deb"))
    if len(debs) != 1:
        raise Failure("cpack made %s" % debs)
    return debs[0]


def unit_settings(path):
    """[Service] key=value pairs of a unit file (the last value of each key)."""
    out, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            k, _, v = line.partition("=")
            out["%s.%s" % (section, k.strip())] = v.strip()
    return out


def check(cond, message):
    if not cond:
        raise Failure(message)


def read_ready(proc, timeout):
    """The ready event from the agent's stdout (jsonl), bounded in time."""
    deadline = time.monotonic() + timeout
    buf = b""
    while True:
        while b"\n" in buf:
            line, _, buf = buf.partition(b"\n")
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") == "ready":
                return ev
        left = deadline - time.monotonic()
        check(left > 0, "no ready event from the installed agent within %d s" % timeout)
        r, _, _ = select.select([proc.stdout], [], [], left)
        if r:
            chunk = os.read(proc.stdout.fileno(), 65536)
            check(chunk, "the installed agent closed its output (exit %s)" % proc.poll())
            buf += chunk


def test(build, version):
    cache = os.path.join(build, "package-test")
    os.makedirs(cache, exist_ok=True)
    deb = build_deb(build, cache)
    say("built %s" % os.path.basename(deb))
    tarball = os.path.join(cache, "debian-minbase.tar")
    if not os.path.exists(tarball):
        make_base(cache, tarball)
    root = tempfile.mkdtemp(prefix="root-", dir=cache)
    agent = None
    try:
        run(["tar", "-C", root, "-xf", tarball], timeout=120)
        shutil.copy("/etc/resolv.conf", os.path.join(root, "etc/resolv.conf"))
        archives = os.path.join(cache, "apt-archives")
        os.makedirs(archives, exist_ok=True)
        inside = os.path.join(root, "var/cache/apt/archives")
        for d in glob.glob(os.path.join(archives, "*.deb")):
            shutil.copy(d, inside)
        shutil.copy(deb, os.path.join(root, "tmp"))
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        say("apt-get install ./%s in a fresh root" % os.path.basename(deb))
        run(["chroot", root, "apt-get", "install", "-y", "-qq", "--no-install-recommends",
             "/tmp/" + os.path.basename(deb)], timeout=240, env=env)
        for d in glob.glob(os.path.join(inside, "*.deb")):
            shutil.copy(d, archives)  # for the next run

        def chroot(*argv, timeout=30, check_=True):
            return run(["chroot", root] + list(argv), timeout=timeout, check=check_)

        # Version, package state, Depends, conffiles.
        out = chroot("lanmesh", "--version").stdout.decode().strip()
        check(out == "lanmesh " + version, "lanmesh --version says %r, want %r"
              % (out, "lanmesh " + version))
        fields = chroot("dpkg-query", "-W", "-f=${Status}\\n${Depends}\\n${Conffiles}\\n",
                        "lanmesh").stdout.decode()
        status, depends, conffiles = (fields.split("\n", 2) + ["", ""])[:3]
        check(status == "install ok installed", "dpkg status %r" % status)
        for dep in ("libcaf-core0.17", "python3", "libspdlog1.10"):
            check(dep in depends, "Depends lacks %s: %r" % (dep, depends))
        check("/etc/lanmesh/caf-application.conf" in conffiles,
              "the config is not a conffile: %r" % conffiles)
        say("lanmesh %s installed; Depends: %s" % (version, depends))

        # The unit: restarts on failure and runs the installed agent with the
        # installed config.
        unit = None
        for d in ("usr/lib/systemd/system", "lib/systemd/system"):
            p = os.path.join(root, d, "lanmesh.service")
            if os.path.exists(p):
                unit = p
                break
        check(unit, "no lanmesh.service in the root")
        u = unit_settings(unit)
        check(u.get("Service.Restart") == "on-failure", "Restart=%r" % u.get("Service.Restart"))
        check(u.get("Install.WantedBy") == "multi-user.target", "WantedBy=%r" % u.get("Install.WantedBy"))
        exec_start = u.get("Service.ExecStart", "").split()
        check(exec_start and exec_start[:2] == ["/usr/bin/lanmesh", "agent"],
              "ExecStart=%r" % u.get("Service.ExecStart"))
        conf = [a.split("=", 1)[1] for a in exec_start if a.startswith("--config-file=")]
        check(conf == ["/etc/lanmesh/caf-application.conf"], "ExecStart config: %s" % conf)
        control = [a.split("=", 1)[1] for a in exec_start if a.startswith("--control.socket=")]
        check(len(control) == 1, "ExecStart names no control socket")
        # Started as the unit would (plus jsonl on stdout for this test), in a
        # network namespace of its own: its multicast and TCP stay there.
        script = "ip link set lo up && exec chroot %s %s --console.output=jsonl" % (
            root, " ".join(exec_start))
        agent = subprocess.Popen(["unshare", "--net", "--", "sh", "-c", script],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
        ready = read_ready(agent, 20)
        check(ready.get("control") == control[0], "ready event %s" % ready)
        doc = json.loads(chroot("lanmesh", "members", "--json", "--control=" + control[0]).stdout)
        check(doc["members"][0]["node"] == ready["node"], "members answered %s" % doc)
        chroot("lanmesh", "leave", "--control=" + control[0])
        code = agent.wait(timeout=10)
        check(code == 0, "the installed agent exited %d after leave" % code)
        say("unit's ExecStart ran: node %s answered members and left" % ready["node"])
        # The drawing tools and the launcher run (python3 is a Depends).
        for tool in ("lanmesh-draw-topology", "lanmesh-draw-timeline", "lanmesh-cluster"):
            chroot(tool, "--help")
        say("drawing tools and launcher run")
    finally:
        if agent is not None and agent.poll() is None:
            os.kill(agent.pid, signal.SIGKILL)
            agent.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", required=True)
    parser.add_argument("--version", required=True)
    opts = parser.parse_args()
    if os.geteuid() != 0:
        say("skipped: needs root (chroot, network namespaces)")
        return SKIP
    for tool in ("debootstrap", "cpack", "chroot", "unshare", "ip", "tar"):
        if not shutil.which(tool):
            say("skipped: %s not found (apt-get install debootstrap; quickstart installs it)" % tool)
            return SKIP
    t0 = time.monotonic()
    try:
        test(os.path.abspath(opts.build), opts.version)
    except Failure as e:
        say("FAIL: %s" % e)
        return 1
    say("PASS package (%.0f s)" % (time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
