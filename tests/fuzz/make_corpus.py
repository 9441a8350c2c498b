#!/usr/bin/env python3
"""Writes the seed corpus of the reader fuzz target into tests/fuzz/corpus/.

  make_corpus.py CORPUS_DIR [ALLOCTRACE PROGS_DIR]

bomb-*: tests/cli/bombs.py's traces that cost a careless reader a hang, a crash or
gigabytes. hand-*: record streams built here byte by byte (format.h; events gathered into CHUNKs) and compressed with the zstd
command, each aimed at one check of cli/reader.c: bad indexes, bad sizes, cut records,
odd frame layouts. raw-*: record streams for the fuzz target's raw mode (it compresses
them itself, so mutations reach the record parser instead of zstd's checksum). real-*: traces recorded by ALLOCTRACE from the test programs, whole,
cut and bit-flipped. The files are committed; rerun only to add seeds (real traces are
not byte-for-byte reproducible: they carry pids, times and addresses).
"""
import os
import subprocess
import sys


def u(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def s(v):
    return u(((v << 1) ^ (v >> 63)) & (2**64 - 1))  # zigzag


def string(b):
    b = b.encode() if isinstance(b, str) else b
    return u(len(b)) + b


def HDR(version=4, magic=b'ALLOCTRC'):
    return b'\x01' + magic + u(version)


def PROC(pid=100, ppid=1, start=1700000000000000, exe='/bin/true', argv=('true',), argc=None):
    r = b'\x02' + u(pid) + u(ppid) + u(start) + string(exe)
    r += u(len(argv) if argc is None else argc)
    return r + b''.join(string(a) for a in argv)


def MOD(mid=1, bias=0, lo=0x400000, hi=0x500000, path='/bin/true', build_id=b'\x12\x34'):
    return b'\x03' + u(mid) + u(bias) + u(lo) + u(hi) + string(path) + u(len(build_id)) + build_id


def UNMOD(mid):
    return b'\x04' + u(mid)


def THR(idx, tid, name='main'):
    return b'\x05' + u(idx) + u(tid) + string(name)


def NODE(parent, delta):
    return b'\x06' + u(parent) + s(delta)


def SITE(node, size, kind=1, align=0):
    return b'\x07' + u(node) + u(size) + u(kind) + u(align)


def RSS(b):
    return b'\x09' + u(b)


def END(events=0, waits=0, inconsistent=0, unknown=0, drops=0, peak_rss=0, flags=1, reordered=0):
    return b'\x0a' + b''.join(u(x) for x in (events, waits, inconsistent, unknown, drops, peak_rss, flags,
                                             reordered))


def NOTE(text):
    return b'\x0b' + string(text)


def LAYER(mask):
    return b'\x10' + u(mask)


class S:
    """A record stream whose events (Ev) are gathered into CHUNK records (format.h)."""

    def __init__(self, parts):
        self.parts = parts

    @staticmethod
    def of(x):
        return x.parts if isinstance(x, S) else [x]

    def __add__(self, other):
        return S(self.parts + S.of(other))

    def __radd__(self, other):
        return S(S.of(other) + self.parts)

    def render(self):
        out, run = bytearray(), []
        for p in self.parts + [b'']:
            if isinstance(p, Ev):
                run.append(p)
                continue
            if run:
                out += CHUNK(run)
                run = []
            out += p
        return bytes(out)


class Ev:
    """One event of a CHUNK: its tag byte and its fields in the site, free, misc columns."""

    def __init__(self, tag, site=None, free=None, misc=b''):
        self.tag, self.site, self.free, self.misc = tag, site, free, misc


def plane(v, lo, hi, misc):
    if v < 0xFF00:
        lo.append(v & 0xFF)
        hi.append(v >> 8)
    else:
        lo.append(0)
        hi.append(0xFF)
        misc += u(v)


def CHUNK(evs, lens=None):
    tags, slo, shi, flo, fhi, misc = (bytearray() for _ in range(6))
    for e in evs:
        tags.append(e.tag)
        if e.site is not None:
            plane(e.site, slo, shi, misc)
        if e.free is not None:
            plane(e.free, flo, fhi, misc)
        misc += e.misc
    n = lens or (len(tags), len(slo), len(flo), len(misc))
    return b'\x11' + b''.join(u(x) for x in n) + tags + slo + shi + flo + fhi + misc


def ev(e):
    return S([e])


def TIME(d):
    return ev(Ev(0x08, misc=u(d)))


def AFAIL(thread, site):
    return ev(Ev(0x0c, misc=u(thread) + u(site)))


def RFAIL(thread, k, site):
    return ev(Ev(0x0d, misc=u(thread) + u(k) + u(site)))


def UFREE(thread, kind=1):
    return ev(Ev(0x0e, misc=u(thread) + u(kind)))


def TEXT(thread):
    return ev(Ev(0x0f, misc=u(thread)))


# format v4 event tags: kind << 4 | t, t the thread (15: the last TEXT's)
def FREE(r, t=0):  # the live block with r newer live blocks, r in the free column
    return ev(Ev(0x80 | t, free=r))


# FREE kinds that carry no field: r = 0, r_prev - 1, r_prev, r_prev + 1, 1
FREE_KIND = {'0': 0x30, 'next': 0x40, 'same': 0x50, 'back': 0x60, '1': 0x70}


def FREEK(kind, t=0):
    return ev(Ev(FREE_KIND[kind] | t))


def FREED(delta, t=0):  # the block last_freed + delta (last_freed 0 at the start)
    return ev(Ev(0x90 | t, misc=s(delta)))


def ALLOC(site, t=0):
    return ev(Ev(0x10 | t, site=site))


def REALLOC(r, site, moved=1, t=0, delta=None):  # r: rank of the old block, or delta
    if delta is not None:
        return ev(Ev(0x20 | t, site=site, free=moved, misc=s(delta)))
    return ev(Ev(0x20 | t, site=site, free=(r + 1) << 1 | moved))


def zst(data):
    if isinstance(data, S):
        data = data.render()
    return subprocess.run(['zstd', '-q', '-c', '--check', '-1'], input=data, check=True,
                 stdout=subprocess.PIPE).stdout


def skippable(data):
    return b'\x50\x2a\x4d\x18' + len(data).to_bytes(4, 'little') + data


# sites 1 (malloc 100 B) and 2 (posix_memalign 8 B, align 64), two stack nodes
BASE = (HDR() + PROC() + MOD() + LAYER(1) + THR(0, 100) + NODE(0, 0x401000) + NODE(1, 0x10) +
        SITE(2, 100) + SITE(1, 8, 5, 64))

RECORDS = {  # name -> record stream; written compressed (hand-*) and raw (raw-*)
    'minimal-header': HDR(),
    'valid-small': BASE + TIME(5) + ALLOC(1) + ALLOC(2) + FREE(0) + REALLOC(0, 1) + RSS(4096) +
                 FREE(0) + AFAIL(0, 1) + UFREE(0) + NOTE('hello') + END(events=7),
    'free-bad-index': BASE + ALLOC(1) + FREE(5),
    'free-index-zero-empty': BASE + FREE(0),
    'double-free': BASE + ALLOC(1) + ALLOC(1) + FREE(1) + FREE(0) + FREE(1),
    'alloc-site-zero': BASE + ALLOC(0),
    'alloc-site-past-end': BASE + ALLOC(3),
    'node-bad-parent': BASE + NODE(7, 1),
    'site-bad-node': BASE + SITE(3, 8),
    'site-kind-zero': BASE + SITE(1, 8, 0),
    'site-kind-past-end': BASE + SITE(1, 8, 99),
    'realloc-bad-index': BASE + ALLOC(1) + REALLOC(1, 1),
    'realloc-to-zero': BASE + ALLOC(1) + ALLOC(2) + REALLOC(1, 0) + FREE(0),
    'realloc-to-zero-then-double-free': BASE + ALLOC(1) + REALLOC(0, 0) + FREE(0),
    'realloc-bad-site': BASE + ALLOC(1) + REALLOC(0, 9),
    'rfail-freed-block': BASE + ALLOC(1) + RFAIL(0, 0, 1) + FREE(0) + RFAIL(0, 0, 1),
    'afail-bad-site': BASE + AFAIL(0, 0),
    'ext-thread': BASE + THR(1000, 4242, 'worker') + TEXT(1000) + ALLOC(1, 15) + FREE(0, 15) +
                 TEXT(2**64 - 1) + ALLOC(2, 15),
    'thread-index-too-big': BASE + THR(2**24 + 1, 1),
    'varint-overlong': BASE + b'\x81' + b'\xff' * 10 + b'\x01',
    'record-cut-at-frame-end': BASE + b'\x07\x01\x80',
    'string-longer-than-frame': HDR() + b'\x02\x01\x01\x01' + u(1000) + b'abc',
    'argc-huge': HDR() + PROC(argc=2**60),
    'module-build-id-65-bytes': HDR() + MOD(build_id=b'\xab' * 65),
    'module-lo-above-hi': HDR() + MOD(lo=0x500000, hi=0x400000),
    'module-unload-reload': BASE + UNMOD(1) + MOD(mid=2, path='/nonexistent/lib.so') + UNMOD(77) +
                 NODE(2, 0x100) + SITE(3, 1) + ALLOC(3),
    'version-too-new': HDR(version=99),
    'bad-magic': HDR(magic=b'ALLOCTRX'),
    'unknown-tag': BASE + b'\x12',
    'event-outside-chunk': BASE + b'\x0c\x00\x01',
    'chunk-columns-too-long': BASE + CHUNK([Ev(0x10, site=1)], lens=(1, 1, 0, 200)),
    'chunk-columns-left-over': BASE + CHUNK([Ev(0x10, site=1)], lens=(1, 2, 0, 0)) + b'\x00\x00',
    'chunk-plane-missing': BASE + CHUNK([Ev(0x10)], lens=(1, 0, 0, 0)),
    'chunk-escape-without-misc': BASE + CHUNK([Ev(0x10, site=0xFFFF)], lens=(1, 1, 0, 0)),
    'chunk-unknown-event-tag': BASE + CHUNK([Ev(0x09)]),
    'chunk-unknown-event-kind': BASE + ALLOC(1) + CHUNK([Ev(0xA0)]),
    'free-next-at-start': BASE + ALLOC(1) + FREEK('next'),
    'free-back-past-live': BASE + ALLOC(1) + FREEK('back'),
    'free-1-alone': BASE + ALLOC(1) + FREEK('1'),
    # 6 blocks freed by every FREE kind: blocks 4, 5, 3, 1, 2, 6 (tests/cli/format.sh)
    'free-kinds': BASE + b''.join(THR(i, 100 + i) for i in range(1, 15)) + ALLOC(1) + ALLOC(1) + ALLOC(1) + ALLOC(2) + ALLOC(2) + ALLOC(2) + FREE(2) + FREEK('next') + FREEK('same') +
                 FREEK('back') + FREEK('1', 15) + FREEK('0', 14) + END(events=12),
    'chunk-empty': BASE + CHUNK([]),
    'rank-past-live': BASE + ALLOC(1) + ALLOC(2) + FREE(2),
    'rank-huge': BASE + ALLOC(1) + FREE(2**40),
    'realloc-by-delta': BASE + ALLOC(1) + ALLOC(2) + REALLOC(0, 1, delta=1) + FREED(1) + FREE(0),
    'freed-ext-thread': BASE + TEXT(77) + ALLOC(1, 15) + FREED(1, 15),
    'version-2': HDR(version=2) + BASE[len(HDR()):] + b'\x80\x01',
    'version-3': HDR(version=3) + BASE[len(HDR()):] + ALLOC(1) + FREE(0),
    'unknown-tag-3f': BASE + b'\x3f',
    'freed-valid': BASE + ALLOC(1) + ALLOC(1) + ALLOC(2) + FREED(2) + FREED(-1) + FREED(2, 14),
    'freed-zero-at-start': BASE + ALLOC(1) + FREED(0),
    'freed-past-last': BASE + ALLOC(1) + FREED(5),
    'freed-negative-wrap': BASE + ALLOC(1) + FREED(-1),
    'freed-twice': BASE + ALLOC(1) + ALLOC(1) + FREED(1) + FREED(0),
    'freed-after-free': BASE + ALLOC(1) + ALLOC(1) + ALLOC(1) + FREE(0) + FREED(-1) + FREED(-1),
    'version-1': HDR(version=1) + BASE[len(HDR()):] + ALLOC(1) + FREE(0),
    'no-header': ALLOC(1),
    'second-header': BASE + HDR() + ALLOC(1),
    'deep-stack': HDR() + THR(0, 1) + b''.join(NODE(i, 1) + (SITE(i + 1, 1) if i % 200 == 199 else b'')
                                           for i in range(2000)) + SITE(2000, 1) + ALLOC(10) + FREE(0),
    'huge-sizes': BASE + SITE(1, 2**63) + SITE(1, 2**64 - 1) + ALLOC(3) + ALLOC(4) + FREE(1) +
                 ALLOC(3) + ALLOC(4),
    'odd-aligns': BASE + SITE(1, 8, 5, 2**63) + SITE(1, 8, 5, 3) + SITE(1, 8, 5, 1) + ALLOC(3) +
                 ALLOC(4) + ALLOC(5),
    'time-overflow': BASE + TIME(2**64 - 1) + ALLOC(1) + TIME(2**64 - 1) + RSS(2**64 - 1) + FREE(0),
    'events-after-end': BASE + ALLOC(1) + ALLOC(2) + END() + FREE(0) + FREE(1),
    'node-ip-wraps': HDR() + NODE(0, -5) + NODE(1, -(2**62)) + SITE(2, 1) + ALLOC(1),
}

FILES = {  # name -> whole file, for frame layouts
    'multi-frame-last-cut': zst(BASE) + zst(ALLOC(1) + ALLOC(2)) + zst(FREE(0) + END())[:-7],
    'skippable-frame-between': zst(BASE) + skippable(b'not records') + zst(ALLOC(1) + END()),
    'empty-frame-first': zst(b'') + zst(BASE + ALLOC(1)),
}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    records = {k: v.render() if isinstance(v, S) else v for k, v in RECORDS.items()}
    seeds = {'hand-' + k: zst(v) for k, v in records.items()}
    seeds.update({'hand-' + k: v for k, v in FILES.items()})
    # raw mode of fuzz_reader.c: a mode byte (not 0x28), then records it compresses itself
    # into 1 + (mode & 3) frames, cutting (mode >> 2 & 7) + 1 bytes off when mode & 0x80
    for k in ('valid-small', 'freed-valid', 'ext-thread', 'module-unload-reload', 'huge-sizes', 'odd-aligns',
              'events-after-end', 'realloc-to-zero', 'rfail-freed-block', 'deep-stack'):
        seeds['raw-' + k] = b'\x00' + records[k]
    seeds['raw-valid-small-3-frames'] = b'\x02' + records['valid-small']
    seeds['raw-valid-small-4-frames-cut'] = bytes([0x80 | 0x03 | 2 << 2]) + records['valid-small']
    for name, data in seeds.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)
    # bomb-*: the crafted traces of tests/cli/bombs.sh (issue 20), 100 B to 120 KB each
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'cli'))
    import bombs
    bombs.write(out)
    if len(sys.argv) < 4:
        return
    atr, progs = sys.argv[2], sys.argv[3]
    for prog, args in (('known', []), ('phases', ['3']), ('empty', [])):
        path = os.path.join(out, 'real-' + prog)
        subprocess.run([atr, 'run', '-q', '-o', path + '.tmp', '--', os.path.join(progs, prog)] + args,
                 check=True)
        os.replace(path + '.tmp', path)
    phases = open(os.path.join(out, 'real-phases'), 'rb').read()
    known = open(os.path.join(out, 'real-known'), 'rb').read()
    variants = {
        'real-phases-cut-last': phases[:-3],
        'real-phases-cut-middle': phases[:len(phases) // 2],
        'real-phases-cut-first': phases[:40],
    }
    for off, mask in ((20, 0x01), (len(known) // 2, 0x80), (len(known) - 2, 0xFF)):
        d = bytearray(known)
        d[off] ^= mask
        variants['real-known-flip-%d' % off] = bytes(d)
    for name, data in variants.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
