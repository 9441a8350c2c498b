#!/usr/bin/env python3
"""Writes the crafted traces of tests/cli/bombs.sh (and the bomb-* seeds of the fuzz
corpus) into a directory: small files that cost a careless reader a hang, a crash or
gigabytes (issue 20). Each must be refused in one line (exit 2) or read in bounded time
and memory (docs/format.md, "What reading costs"). Never writes anything but DIR/bomb-*.

  bombs.py DIR    (also DIR/pieces-big-frame, a valid trace of one 39 MB frame)
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fuzz'))
from make_corpus import (ALLOC, FREE, HDR, MOD, NODE, PROC, SITE, THR, TEXT, TIME, UNMOD,  # noqa: E402
                         END, u)


def render(x):
    return x.render() if hasattr(x, 'render') else x


def zstd(data, level='-3'):
    return subprocess.run(['zstd', '-q', '-c', level], input=render(data), check=True,
                          stdout=subprocess.PIPE).stdout


def frame(blocks, window_log=20):
    """A zstd frame built by hand: no content size, no checksum, window 2^window_log;
    blocks are (kind, payload, size): 'raw' bytes or 'rle' one byte repeated size times."""
    out = bytearray(b'\x28\xb5\x2f\xfd\x00') + bytes([(window_log - 10) << 3])
    for i, (kind, payload, size) in enumerate(blocks):
        last = i == len(blocks) - 1
        if kind == 'raw':
            h = int(last) | 0 << 1 | len(payload) << 3
            out += h.to_bytes(3, 'little') + payload
        else:
            h = int(last) | 1 << 1 | size << 3
            out += h.to_bytes(3, 'little') + payload
    return bytes(out)


def rle_frame(head, byte, total, window_log=20):
    """head as a raw block, then `total` bytes of `byte` in 128 KiB RLE blocks (4 bytes
    each: a 32768:1 ratio)."""
    blocks = [('raw', render(head), 0)]
    step = 128 << 10
    while total > 0:
        n = min(step, total)
        blocks.append(('rle', bytes([byte]), n))
        total -= n
    return frame(blocks, window_log)


BASE = HDR() + PROC() + MOD() + THR(0, 100) + NODE(0, 0x401000) + SITE(1, 100)


def big_frame():
    """Not a bomb: one frame of 39 MB of records (150 CHUNKs of 65,000 malloc(100) and free
    pairs, each 260 KB) after a PROC with a 60 KB argument, 200,000 NODE and SITE records
    in the middle, so that records large and small straddle the
    reader's 2 MiB pieces: 9,750,000 allocations of 100 bytes, all freed."""
    n = 65000
    chunk = (b'\x11' + u(2 * n) + u(n) + u(0) + u(0) + b'\x10\x30' * n + b'\x01' * n + b'\x00' * n)
    head = HDR() + PROC(argv=('true', 'x' * 60000)) + MOD() + THR(0, 100) + NODE(0, 0x401000) + SITE(1, 100)
    small = render(NODE(1, 0) + SITE(1, 8)) * 200000  # 1.4 MB of 3- and 5-byte records
    return zstd(render(head) + chunk * 75 + small + chunk * 75 + render(END()))


def write(out, pieces=False):
    os.makedirs(out, exist_ok=True)
    if pieces:
        with open(os.path.join(out, 'pieces-big-frame'), 'wb') as f:
            f.write(big_frame())
    files = {
        # time deltas summing to 2^64-1 us: every duration + 1 or duration * k wraps
        'bomb-time-sum': zstd(BASE + TIME(2**63) + ALLOC(1) + TIME(2**63 - 1) + FREE(0) + END()),
        # 300 k modules with empty ranges and 300 k nodes: each node against each module
        'bomb-modules': zstd(HDR() + MOD(mid=1, lo=0x1000, hi=0x1000) * 300000 +
                             NODE(0, 0x401000) + NODE(1, 0) * 299999 + SITE(2, 8) + ALLOC(1)),
        # 8191 reloads of one library at one address (valid), then 4 M nodes in and out of it
        'bomb-module-reloads': zstd(HDR() + PROC() + THR(0, 100) + b''.join(MOD(mid=i) + UNMOD(i) for i in range(8191)) +
                                    MOD(mid=8191) + NODE(0, 0x401000) +
                                    ((NODE(1, 0x200000) + NODE(1, -0x200000)) * 64 + SITE(1, 8)) * 31250 +
                                    SITE(2, 8) + ALLOC(1) + FREE(0) + END()),
        # a frame that inflates to 3.9 GB (zeros after the records): held whole, 4 GB
        'bomb-zstd-inflate': rle_frame(BASE, 0x00, 3900 * 10**6),
        # a frame asking for a 128 MiB window (the recorder's are at most 8 MiB)
        'bomb-zstd-window': frame([('raw', render(BASE + ALLOC(1) + END()), 0)], window_log=27),
        # a thread index of 2^24: tables indexed by it
        'bomb-thread-index': zstd(BASE + THR(2**24, 7, 'big') + TEXT(2**24 - 1) + ALLOC(1, 15) + END()),
        # sizes that wrap the byte totals: malloc(5000), then pvalloc(2^64-100)
        'bomb-size-wrap': zstd(BASE + SITE(1, 5000) + SITE(1, 2**64 - 100, 9) + ALLOC(2) + ALLOC(3) +
                               END()),
    }
    # 85 M NODE records: 1.3 GB of node table
    files['bomb-nodes'] = zstd(HDR() + NODE(0, 0x401000) + NODE(0, 0) * (85 * 10**6), '-1')
    for name, data in files.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    write(sys.argv[1], pieces=True)
