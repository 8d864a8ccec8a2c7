#!/usr/bin/env python3
"""The command lines README.md and tools/README.md show, run as shown
(issue 15, ctest `docs.commands`), so that a wrong flag fails CI.

    test_readme_commands.py --source SRC --build BUILD [--keep] [-k TEXT]

Every fenced ```sh block of both files is run, as one bash script with
`set -e` (a failing line fails the block), except a block right after a line
`<!-- not run: REASON -->` whose REASON is one of SKIP_REASONS (it needs
root, a second terminal, or runs the test suite, this test among them); those are listed. A command
shown inline (a `code span` that starts like a command and has no
placeholder in capitals) must also appear in a block of its file, so no
command escapes the run.

Each block runs in a scratch folder that looks like the repository
(`build` is the build folder, `tools`, `config`, `tests`, `bench` the
source's, `docs` a fresh folder, so the demo does not overwrite the
repository's pictures), with XDG_RUNTIME_DIR pointing into it and every
`/tmp/` of a block rewritten to the scratch folder's `tmp/`. Each block runs
in a session of its own, bounded in time; whatever it leaves running is
killed by that session's process group id afterwards.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SKIP_REASONS = {"needs root", "second terminal", "runs the tests"}
BLOCK_TIMEOUT = 150.0
COMMAND_START = re.compile(r"^(build/lanmesh|lanmesh |tools/|python3 |bash |cmake |cpack|ctest"
                           r"|cd build|curl |echo |printf )")
PLACEHOLDER = re.compile(r"\b[A-Z][A-Z_]{2,}\b|\[|\.\.\.")


def blocks_of(path):
    """[(line number, skip reason or None, text)] of the ```sh blocks of `path`."""
    out = []
    with open(path) as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```sh":
            reason = None
            j = i - 1
            while j >= 0 and not lines[j].strip():
                j -= 1
            m = re.match(r"^<!-- not run: (.+?) -->$", lines[j].strip()) if j >= 0 else None
            if m:
                reason = m.group(1)
            k = i + 1
            while k < len(lines) and lines[k].strip() != "```":
                k += 1
            out.append((i + 1, reason, "\n".join(lines[i + 1:k])))
            i = k
        i += 1
    return out


def inline_commands(path):
    """Code spans outside fenced blocks that look like whole command lines."""
    with open(path) as f:
        text = f.read()
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    spans = re.findall(r"`([^`\n]+)`", text)
    return [s for s in spans if COMMAND_START.match(s) and not PLACEHOLDER.search(s)]


def scratch_repo(source, build):
    d = tempfile.mkdtemp(prefix="lanmesh-docs-")
    for name in ("tools", "config", "tests", "bench", "README.md"):
        os.symlink(os.path.join(source, name), os.path.join(d, name))
    os.symlink(build, os.path.join(d, "build"))
    os.mkdir(os.path.join(d, "docs"))
    os.mkdir(os.path.join(d, "tmp"))
    return d


def run_block(scratch, text, where):
    script = "set -euo pipefail\n" + text.replace("/tmp/", os.path.join(scratch, "tmp") + "/")
    env = dict(os.environ, XDG_RUNTIME_DIR=scratch, LANMESH_CLUSTER_DIR="")
    env.pop("LANMESH_CLUSTER_DIR")
    t0 = time.monotonic()
    proc = subprocess.Popen(["bash", "-c", script], cwd=scratch, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=BLOCK_TIMEOUT)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
        out = b""
    finally:
        # What the block left running (a node it started in the background).
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
    took = time.monotonic() - t0
    text_out = out.decode("utf-8", "replace")
    if timed_out:
        return False, "no end within %.0f s" % BLOCK_TIMEOUT, took
    if proc.returncode != 0:
        return False, "exit %d; output:\n%s" % (proc.returncode, text_out[-4000:]), took
    return True, text_out, took


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", required=True)
    parser.add_argument("--build", required=True)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folders")
    parser.add_argument("-k", dest="only", help="run only blocks containing this text")
    opts = parser.parse_args()
    source, build = os.path.abspath(opts.source), os.path.abspath(opts.build)
    passed = failed = skipped = 0
    for doc in ("README.md", "tools/README.md"):
        path = os.path.join(source, doc)
        blocks = blocks_of(path)
        shown = "\n".join(text for _, _, text in blocks)
        for cmd in inline_commands(path):
            if cmd not in shown:
                print("FAIL %s: the inline command `%s` is in no ```sh block" % (doc, cmd))
                failed += 1
        for line, reason, text in blocks:
            where = "%s:%d" % (doc, line)
            if opts.only and opts.only not in text:
                continue
            if reason is not None:
                if reason not in SKIP_REASONS:
                    print("FAIL %s: unknown reason not to run it: %r" % (where, reason))
                    failed += 1
                else:
                    print("skip %s (%s): %s" % (where, reason, text.splitlines()[0]))
                    skipped += 1
                continue
            scratch = scratch_repo(source, build)
            ok, detail, took = run_block(scratch, text, where)
            if ok:
                passed += 1
                print("PASS %s (%.1f s): %s" % (where, took, text.splitlines()[0]))
            else:
                failed += 1
                print("FAIL %s (%.1f s):\n    %s\n  %s" % (where, took, text.replace("\n", "\n    "),
                                                          detail.replace("\n", "\n  ")))
            if opts.keep or not ok:
                print("  scratch folder kept: %s" % scratch)
            else:
                shutil.rmtree(scratch, ignore_errors=True)
            sys.stdout.flush()
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
