#!/usr/bin/env python3
"""Bad configuration stops lanmesh before it starts anything: exit status 2,
one stderr line naming the key and the value, nothing on stdout."""

import os
import socket
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

from harness import check, run_tests

PORTS = (61400, 61499)
EXIT_TIMEOUT = 2.0


def safe_args(h, name, config_file=True):
    """Settings that keep a node local should it start by mistake."""
    args = [a for a in h.base_args(name) if config_file or not a.startswith("--config-file=")]
    return args + ["--node.port=0", "--node.port-range=%d-%d" % PORTS]


def expect_config_error(h, bad, must_name, config_file=True, status=2):
    """Runs lanmesh with `bad` last; checks status, one stderr line naming each
    string in `must_name`, empty stdout, exit within EXIT_TIMEOUT."""
    args = safe_args(h, "cfg", config_file) + bad
    code, out, err = h.spawn_raw(args, timeout=EXIT_TIMEOUT)
    text = err.decode("utf-8", "replace")
    lines = text.splitlines()
    check(code == status, "%s: exit status %s, want %d; stderr %r" % (bad, code, status, text))
    check(out == b"", "%s: stdout not empty: %r" % (bad, out))
    check(len(lines) == 1, "%s: want one stderr line, got %r" % (bad, lines))
    for s in must_name:
        check(s in lines[0], "%s: stderr line %r does not name %r" % (bad, lines[0], s))
    # It never reached the point of opening its log (done before anything starts).
    log = os.path.join(h.dir, "cfg.log")
    if status == 2:
        check(not os.path.exists(log), "%s: log file was created" % bad)
    elif os.path.exists(log):
        os.remove(log)
    return lines[0]


def test_bad_values(h):
    cases = [
        (["--node.port=70000"], ["node.port", "70000"]),
        (["--node.port-range=9-1"], ["node.port-range", "9-1"]),
        (["--node.peers=[nope]"], ["node.peers", "nope"]),
        (["--console.output=xml"], ["console.output", "xml"]),
        (["--log.level=loud"], ["log.level", "loud"]),
        (["--node.port=abc"], ["node.port", "abc"]),
        (["--node.id=0"], ["node.id", "0"]),
        (["--node.cluster="], ["node.cluster"]),
        (["--node.peers=[127.0.0.1:0]"], ["node.peers", "127.0.0.1:0"]),
        (["--node.listen=999.1.1.1"], ["node.listen", "999.1.1.1"]),
        (["--discovery.enabled=maybe"], ["discovery.enabled", "maybe"]),
        (["--node.max-payload=0"], ["node.max-payload", "0"]),
        (["--node.redial-min=6000", "--node.redial-max=5000"], ["node.redial-min", "6000"]),
        (["--node.bogus=1"], ["node.bogus", "unknown key"]),
        (["positional"], ["positional"]),
    ]
    for bad, names in cases:
        line = expect_config_error(h, bad, names)
        print("    %-34s -> %s" % (" ".join(bad), line))


def test_missing_config_file(h):
    path = "/nonexistent/x.conf"
    check(not os.path.exists(path), "%s exists on this machine" % path)
    expect_config_error(h, ["--config-file=" + path], ["config-file", path], config_file=False)


def test_bad_config_file(h):
    cases = [
        ("[node]\nport=abc\n", ["node.port", "abc", ":2"]),
        ("[node\n", [":1", "[node"]),
        ("[node]\nbogus=1\n", ["node.bogus", ":2"]),
    ]
    for i, (text, names) in enumerate(cases):
        path = os.path.join(h.dir, "bad%d.conf" % i)
        with open(path, "w") as f:
            f.write(text)
        expect_config_error(h, ["--config-file=" + path], names + [path], config_file=False)


def test_unwritable_log_file(h):
    blocker = os.path.join(h.dir, "a-file")
    open(blocker, "w").close()
    path = os.path.join(blocker, "x.log")  # its parent is a file: cannot be created
    expect_config_error(h, ["--log.file=" + path], ["log.file", path])


def test_port_in_use(h):
    """A taken port is not a config error (status 1), but the same clean refusal."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    h.sockets.append(s)
    port = None
    for p in range(PORTS[1], PORTS[0], -1):
        try:
            s.bind(("127.0.0.1", p))
            port = p
            break
        except OSError:
            continue
    check(port is not None, "no free port to occupy")
    s.listen(1)
    expect_config_error(h, ["--node.port=%d" % port], [str(port)], status=1)
    expect_config_error(h, ["--node.port=0", "--node.port-range=%d-%d" % (port, port)],
                        ["%d-%d" % (port, port)], status=1)


def test_help(h):
    code, out, err = h.spawn_raw(["--help"], timeout=EXIT_TIMEOUT)
    check(code == 0, "--help exit status %s" % code)
    text = out.decode()
    for key in ("node.port", "node.port-range", "node.peers", "console.output", "log.level",
                "log.file", "discovery.enabled", "node.handshake-timeout"):
        check("--" + key + "=" in text, "--help does not list %s" % key)
    check(err == b"", "--help wrote to stderr: %r" % err)


if __name__ == "__main__":
    sys.exit(run_tests(__file__, [test_bad_values, test_missing_config_file, test_bad_config_file,
                                  test_unwritable_log_file, test_port_in_use, test_help], PORTS))
