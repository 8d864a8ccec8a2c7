"""Helpers for the tests of tools/ (Python 3 standard library only).

Each test script lists its test functions and calls `run_tests`, which parses
--tools DIR and --lanmesh PATH, runs every test, prints PASS/FAIL lines and the
summary line "N passed, N failed", and returns the exit status.
"""

import argparse
import os
import struct
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ET
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
DEBIAN_PYTHON = "/usr/bin/python3"


class TestFailure(AssertionError):
    pass


def check(cond, message):
    if not cond:
        raise TestFailure(message)


class Env:
    tools = None  # the tools/ folder
    lanmesh = None


def tool(name):
    return os.path.join(Env.tools, name)


def run_tool(name, *args, timeout=120, env=None, stdin_text=None):
    """Runs tools/NAME with this interpreter (the tools find matplotlib
    themselves); returns CompletedProcess with text stdout and stderr."""
    cmd = [sys.executable, tool(name)] + [str(a) for a in args]
    stdin = {} if stdin_text is not None else {"stdin": subprocess.DEVNULL}
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=timeout, env=env, input=stdin_text, **stdin)
    except subprocess.TimeoutExpired:
        raise TestFailure("%s did not finish within %d s" % (" ".join(cmd), timeout))


def check_ok(done, what):
    check(done.returncode == 0, "%s: exit %d\nstdout: %s\nstderr: %s"
          % (what, done.returncode, done.stdout.strip(), done.stderr.strip()))
    return done


def require_matplotlib():
    """Fails the test with a clear message when no interpreter the tools use has matplotlib."""
    for python in (sys.executable, DEBIAN_PYTHON):
        if os.access(python, os.X_OK) and subprocess.run(
                [python, "-c", "import matplotlib"], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, timeout=60).returncode == 0:
            return
    raise TestFailure("python3-matplotlib is not installed: the drawing tools cannot run "
                      "(apt-get install python3-matplotlib; tools/quickstart.sh should install it)")


# -- image checks ----------------------------------------------------------------

def png_info(path):
    """Checks a PNG file's structure; returns (width, height, distinct byte values in
    the decompressed image data). Raises TestFailure on anything malformed."""
    with open(path, "rb") as f:
        data = f.read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", "%s: no PNG signature (starts %r)" % (path, data[:8]))
    pos, chunks, idat = 8, [], b""
    while pos < len(data):
        check(pos + 8 <= len(data), "%s: truncated chunk header at %d" % (path, pos))
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        check(len(body) == length and pos + 12 + length <= len(data),
              "%s: truncated %r chunk" % (path, kind))
        crc = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        check(zlib.crc32(kind + body) == crc, "%s: bad CRC in %r chunk" % (path, kind))
        chunks.append((kind, body))
        if kind == b"IDAT":
            idat += body
        pos += 12 + length
    check(chunks and chunks[0][0] == b"IHDR", "%s: first chunk is not IHDR" % path)
    check(chunks[-1][0] == b"IEND", "%s: last chunk is not IEND" % path)
    width, height, depth, colour = struct.unpack(">IIBB", chunks[0][1][:10])
    check(depth == 8 and colour in (2, 6), "%s: bit depth %d, colour type %d; want 8-bit RGB(A)"
          % (path, depth, colour))
    pixels = zlib.decompress(idat)
    channels = 4 if colour == 6 else 3
    check(len(pixels) == height * (1 + width * channels),
          "%s: image data is %d bytes, want %d for %dx%d" % (path, len(pixels),
                                                            height * (1 + width * channels),
                                                            width, height))
    return width, height, len(set(pixels))


def check_png(path, width, height):
    w, h, distinct = png_info(path)
    check((w, h) == (width, height), "%s is %dx%d pixels, want %dx%d" % (path, w, h, width, height))
    check(distinct > 30, "%s looks blank (%d distinct byte values)" % (path, distinct))


def check_svg(path, width_pt, height_pt, texts=()):
    """Parses the SVG; checks its size in points and that each of `texts` is in it
    (matplotlib writes every text as an XML comment before its glyphs)."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as e:
        raise TestFailure("%s is not well-formed XML: %s" % (path, e))
    check(root.tag == "{http://www.w3.org/2000/svg}svg", "%s: root element is %s" % (path, root.tag))
    size = (root.get("width"), root.get("height"))
    want = ("%gpt" % width_pt, "%gpt" % height_pt)
    check(size == want, "%s: size %s, want %s" % (path, size, want))
    text = raw.decode("utf-8", "replace")
    for t in texts:
        check(t in text, "%s does not contain %r" % (path, t))
    check(text.count("<path") > 20, "%s has almost no drawing (%d paths)"
          % (path, text.count("<path")))


# -- running -----------------------------------------------------------------------

def wait_until(predicate, timeout, interval=0.05):
    """Polls `predicate` (no event to wait on) until truthy or `timeout` s; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def run_tests(script, tests, needs_matplotlib=False):
    parser = argparse.ArgumentParser(description=os.path.basename(script))
    parser.add_argument("--tools", required=True, help="the repository's tools/ folder")
    parser.add_argument("--lanmesh", help="path to the lanmesh binary")
    parser.add_argument("-k", dest="only", help="run only tests whose name contains this")
    opts = parser.parse_args()
    Env.tools = os.path.abspath(opts.tools)
    Env.lanmesh = os.path.abspath(opts.lanmesh) if opts.lanmesh else None
    if needs_matplotlib:
        try:
            require_matplotlib()
        except TestFailure as e:
            print("FAIL %s: %s" % (os.path.basename(script), e))
            print("0 passed, %d failed" % len(tests))
            return 1
    passed = failed = 0
    for test in tests:
        if opts.only and opts.only not in test.__name__:
            continue
        start = time.monotonic()
        try:
            test()
            status, detail = "PASS", ""
        except Exception as e:  # noqa: BLE001 - every failure is reported the same way
            status = "FAIL"
            detail = "".join(traceback.format_exception(type(e), e, e.__traceback__))
        passed += status == "PASS"
        failed += status == "FAIL"
        print("%s %s (%.2f s)" % (status, test.__name__, time.monotonic() - start))
        if detail:
            print("    " + detail.rstrip().replace("\n", "\n    "))
        sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1
