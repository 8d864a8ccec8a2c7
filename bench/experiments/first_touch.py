#!/usr/bin/env python3
"""How much the first write to a page of memory costs on this machine, and
a write to a page the kernel had already handed out before (freed and taken
again). On a VM whose memory the host backs only when the guest first
touches it, the first is several times dearer: every byte a node keeps for
the first time (the broadcast tree's history) pays it, a flood relay that
keeps nothing does not.

    python3 bench/experiments/first_touch.py [MiB] (default 1024, 16..8192)

Three passes over MiB of anonymous memory (mmap, one byte written per
4 KiB page, munmap): pass 0 takes pages the guest may never have used,
passes 1 and 2 mostly pages pass 0 gave back. Prints microseconds per page
(the Python loop adds about 0.1 us).
"""
import mmap
import sys
import time


def main():
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    if not 16 <= mib <= 8192:
        sys.exit("MiB: 16..8192")
    size = mib << 20
    page = mmap.PAGESIZE
    for p in range(3):
        m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        t = time.perf_counter()
        for off in range(0, size, page):
            m[off] = 1
        took = time.perf_counter() - t
        m.close()
        print("pass %d: %.2f us per 4 KiB page (%d MiB)" % (p, took / (size // page) * 1e6, mib))
    return 0


if __name__ == "__main__":
    sys.exit(main())
