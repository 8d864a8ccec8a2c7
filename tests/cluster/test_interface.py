#!/usr/bin/env python3
"""discovery.interface by name (issue 15), on loopback so that it runs
anywhere: `lo` resolves to its address and nodes find each other on it; a node
on loopback says once, at start, that only nodes on this machine can find it
and how to change that; a name that is no interface stops the node (exit 2).
`auto` and names of real interfaces are tested in network namespaces
(tests/netns/test_interface.py): here they could reach a real LAN."""

import sys

sys.dont_write_bytecode = True

from harness import check, run_tests
from test_config_errors import expect_config_error

PORTS = (63400, 63499)
NOTICE = "only nodes on this machine can find this node"


def disc(mport, iface):
    return ["--discovery.enabled=true", "--overlay.manage=true",
            "--discovery.port=%d" % mport, "--discovery.interface=" + iface]


def test_loopback_by_name(h):
    a = h.node(extra=disc(46411, "lo"))
    b = h.node(extra=disc(46411, "lo"))
    b.wait_event("peer_up", peer=a.id)
    a.wait_event("peer_up", peer=b.id)
    check(b.peers()[0]["addr"].startswith("127."), "linked over %s" % b.peers())
    for n in (a, b):
        with open(n.log_path) as f:
            log = f.read()
        check("discovery.interface lo: lo (127." in log, "%s did not log its choice" % n.name)
        check(log.count(NOTICE) == 1, "%s: the loopback notice %d times" % (n.name, log.count(NOTICE)))
        check("discovery.interface" in log.split(NOTICE)[1].split("\n")[0],
              "the notice does not say how to change it")
    h.stop_all()


def test_default_says_it_once_on_stderr(h):
    # The default config: discovery on 127.0.0.1, log on stderr.
    n = h.node(extra=disc(46412, "127.0.0.1") + ["--log.file="])
    h.stop_all()
    with open(n.stderr_path) as f:
        err = f.read()
    check(err.count(NOTICE) == 1, "stderr has the notice %d times: %r" % (err.count(NOTICE), err))


def test_a_name_that_is_no_interface(h):
    expect_config_error(h, ["--discovery.enabled=true", "--discovery.interface=nosuchif0"],
                        ["discovery.interface", "nosuchif0"])


if __name__ == "__main__":
    sys.exit(run_tests(__file__, [test_loopback_by_name, test_default_says_it_once_on_stderr,
                                  test_a_name_that_is_no_interface], PORTS))
