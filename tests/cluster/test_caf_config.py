#!/usr/bin/env python3
"""CAF's own configuration groups (issue 15): [scheduler], [work-stealing],
[logger], ... in the config file and on the command line reach CAF's
actor_system_config and override lanmesh's defaults; an unknown key or a bad
value in CAF's groups stops the node like one in lanmesh's: exit 2, one line."""

import os
import sys

sys.dont_write_bytecode = True

from harness import check, poll, run_tests
from test_config_errors import expect_config_error

PORTS = (63300, 63399)


def thread_names(node):
    """Names of a running node's threads, from /proc."""
    task = "/proc/%d/task" % node.pid
    names = []
    for t in os.listdir(task):
        try:
            with open(os.path.join(task, t, "comm")) as f:
                names.append(f.read().strip())
        except OSError:
            pass  # a thread that just ended
    return names


# CAF 0.17 names its scheduler's worker threads so.
WORKER = "caf.multiplexer"


def workers(node, want, timeout=5.0):
    """Waits until the node runs `want` scheduler workers (CAF starts them
    with the actor system); returns how many it has at the end."""
    return poll(lambda: (lambda n: (n == want, n))(thread_names(node).count(WORKER)),
                "%d CAF workers in %s" % (want, node.name), timeout=timeout, interval=0.05)


def test_scheduler_threads_follow_the_setting(h):
    # lanmesh's default is 2 workers; the setting overrides it, both ways.
    for threads in (1, 4):
        n = h.node(extra=["--scheduler.max-threads=%d" % threads])
        workers(n, threads)
        with open(n.log_path) as f:
            check("CAF setting scheduler.max-threads = %d" % threads in f.read(),
                  "the log does not show the setting")
        h.stop_all()
    n = h.node()
    workers(n, 2)  # without the setting: lanmesh's default
    h.stop_all()


def test_caf_groups_in_the_config_file(h):
    path = os.path.join(h.dir, "caf.conf")
    with open(path, "w") as f:
        f.write("[node]\ncluster=\"%s\"\n[scheduler]\nmax-threads=3\npolicy='stealing'\n"
                "[work-stealing]\nrelaxed-sleep-duration=500ms\n[logger]\nverbosity='quiet'\n"
                % h.cluster_name)
    n = h.node(extra=["--config-file=" + path])  # the last --config-file counts
    with open(n.log_path) as f:
        log = f.read()
    for want in ("scheduler.max-threads = 3", "work-stealing.relaxed-sleep-duration = 500ms",
                 "logger.verbosity = 'quiet'"):
        check("CAF setting " + want in log, "not applied: %s" % want)
    # The command line wins over the file.
    workers(n, 3)
    m = h.node(extra=["--config-file=" + path, "--scheduler.max-threads=1"])
    workers(m, 1)  # the command line wins over the file
    h.stop_all()


def test_bad_caf_keys_and_values(h):
    cases = [
        (["--scheduler.max-thread=2"], ["scheduler.max-thread", "unknown key"]),
        (["--scheduler.max-threads=many"], ["scheduler.max-threads", "many"]),
        (["--work-stealing.relaxed-sleep-duration=soon"],
         ["work-stealing.relaxed-sleep-duration", "soon"]),
        (["--nosuchgroup.key=1"], ["nosuchgroup.key", "unknown key"]),
        (["--global.config-file=x"], ["global.config-file", "unknown key"]),
    ]
    for bad, names in cases:
        line = expect_config_error(h, bad, names)
        print("    %-44s -> %s" % (" ".join(bad), line))
    path = os.path.join(h.dir, "bad.conf")
    with open(path, "w") as f:
        f.write("[scheduler]\nmax-threads=2\nmax-thread=2\n")
    expect_config_error(h, ["--config-file=" + path], ["scheduler.max-thread", path + ":3"],
                        config_file=False)


if __name__ == "__main__":
    sys.exit(run_tests(__file__, [test_scheduler_threads_follow_the_setting,
                                  test_caf_groups_in_the_config_file,
                                  test_bad_caf_keys_and_values], PORTS))
