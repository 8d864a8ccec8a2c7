"""Shared bits of the lanmesh tools (Python 3 standard library only).

- `Fail` / `main_guard` / `ToolParser`: bad input or a bad option becomes one
  line on stderr and exit status 2.
- `reexec_for_matplotlib` / `import_pyplot`: the drawing tools need Debian's
  python3-matplotlib, which only /usr/bin/python3 sees. When `python3` on PATH
  is another interpreter (pyenv, a venv) without matplotlib, the tool re-runs
  itself once under /usr/bin/python3; if matplotlib is still missing, it says
  what to install and exits with status 3.
- `read_json_lines`: JSON objects of a jsonl stream, with line numbers.
"""

import argparse
import importlib.util
import json
import os
import sys

EXIT_BAD_INPUT = 2
EXIT_NO_MATPLOTLIB = 3
DEBIAN_PYTHON = "/usr/bin/python3"
_REEXEC_GUARD = "LANMESH_TOOLS_REEXEC"


class Fail(Exception):
    """Bad input or a failed step: reported as one line, exit status `code`."""

    def __init__(self, message, code=EXIT_BAD_INPUT):
        super().__init__(message)
        self.code = code


class ToolParser(argparse.ArgumentParser):
    """argparse with a one-line error: `prog: message (see --help)`, exit status 2."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, "%s: %s (see --help)\n" % (self.prog, message))


def main_guard(prog, main):
    """Runs main() and turns Fail into `prog: message` on stderr and its exit code."""
    try:
        code = main()
    except Fail as e:
        message = " ".join(str(e).split("\n"))  # always one line
        sys.stderr.write("%s: %s\n" % (prog, message))
        return e.code
    except KeyboardInterrupt:
        sys.stderr.write("%s: interrupted\n" % prog)
        return 130
    return code or 0


def reexec_for_matplotlib():
    """Re-runs this script under Debian's python3 if ours lacks matplotlib.

    Call it once the input is known to be good (so bad input is reported
    without a second interpreter), but before reading stdin. At most one
    re-exec: the environment variable guards against loops.
    """
    if importlib.util.find_spec("matplotlib") is not None:
        return
    if os.environ.get(_REEXEC_GUARD):
        return
    try:
        same = os.path.samefile(sys.executable, DEBIAN_PYTHON)
    except OSError:
        same = True  # no Debian python3: nothing to re-run under
    if same or not os.access(DEBIAN_PYTHON, os.X_OK):
        return
    os.environ[_REEXEC_GUARD] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(DEBIAN_PYTHON, [DEBIAN_PYTHON] + sys.argv)


def import_pyplot():
    """Returns matplotlib.pyplot on the non-interactive Agg backend, or raises Fail."""
    try:
        import matplotlib
    except ImportError:
        raise Fail("matplotlib is not installed for %s: install Debian's python3-matplotlib "
                   "(apt-get install python3-matplotlib) and run the tool with %s"
                   % (sys.executable, DEBIAN_PYTHON), EXIT_NO_MATPLOTLIB)
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "lanmesh"  # stable SVG ids between runs
    import matplotlib.pyplot as plt
    return plt


def read_text(path):
    """Contents of `path` ("-" is stdin) as text, or Fail."""
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError as e:
        raise Fail("cannot read %s: %s" % (path, e.strerror or e))


def read_json_lines(path, text=None):
    """[(line_number, object)] for each line of `path` that is a JSON object.

    Lines that are not JSON objects (text output, a line cut short by a killed
    process) are skipped; returns them counted as the second value.
    """
    if text is None:
        text = read_text(path)
    objects, skipped = [], 0
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            value = json.loads(line)
        except ValueError:
            skipped += 1
            continue
        if isinstance(value, dict):
            objects.append((number, value))
        else:
            skipped += 1
    return objects, skipped


def check_output_path(path, allowed=("png", "svg")):
    """The output format from the extension of `path`, or Fail."""
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in allowed:
        raise Fail("output %s: extension must be one of %s"
                   % (path, ", ".join("." + a for a in allowed)))
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise Fail("output %s: folder %s does not exist" % (path, folder))
    return ext


def parse_size(text):
    """argparse type: 'WxH' in inches, e.g. '10x8' -> (10.0, 8.0)."""
    try:
        w, h = (float(p) for p in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not WxH in inches, e.g. 10x8" % text)
    if not (1 <= w <= 100 and 1 <= h <= 100):
        raise argparse.ArgumentTypeError("%r: width and height must be 1-100 inches" % text)
    return w, h


def parse_dpi(text):
    """argparse type: dots per inch, 10-1000."""
    try:
        dpi = int(text)
    except ValueError:
        dpi = 0
    if not 10 <= dpi <= 1000:
        raise argparse.ArgumentTypeError("%r is not a dpi of 10-1000" % text)
    return dpi
