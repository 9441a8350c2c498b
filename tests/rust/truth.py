"""Compares a trace with a Rust test program's own ground truth (tests/rust/truth.rs).

usage: truth.py DUMP TRUTH LAYER
  DUMP   output of `alloctrace dump TRACE`
  TRUTH  the program's stdout ("T slot what size old align" lines)
  LAYER  which recording layer must have seen the program's allocations:
         shim      the patched Rust allocator shims: Rust's size and align, exactly
         libc      libc only: what std's System allocator turns each call into
         api       the cooperative Traced<A> wrapper (atr_report_*)
         jemalloc  the hooked static jemalloc, called as tests/rust/jemalloc does

For every slot, the events of the trace thread between the slot's two marker
allocations must be exactly the events the layer makes of the logged calls: same
order, kinds, sizes, alignments, and for frees and reallocs the size of the block
released. Prints one line per slot ("slot K: N events ok" or the first difference)
and a last line "checked S slots, F failed"; exits 1 on any difference.
"""
import json
import sys

MARK = 900_000


def expected(op, layer):
    """Trace events (event, kind, size, align, old_size) for one logged call."""
    what, size, old, align = op
    small = align <= 16 and align <= size  # std's System: plain malloc family
    if layer == "shim":
        return {
            "A": [("alloc", "__rust_alloc", size, align, None)],
            "Z": [("alloc", "__rust_alloc_zeroed", size, align, None)],
            "R": [("realloc", "__rust_realloc", size, align, old)],
            "D": [("free", None, None, None, size)],
        }[what]
    if layer == "api":
        return {
            "A": [("alloc", "atr_report_alloc", size, align, None)],
            "Z": [("alloc", "atr_report_alloc", size, align, None)],
            "R": [("realloc", "atr_report_alloc", size, align, old)],
            "D": [("free", None, None, None, size)],
        }[what]
    if layer == "libc":
        memalign = ("alloc", "posix_memalign", size, max(align, 8), None)
        if what == "A":
            return [("alloc", "malloc", size, 0, None) if small else memalign]
        if what == "Z":
            return [("alloc", "calloc", size, 0, None) if small else memalign]
        if what == "R":
            if small:
                return [("realloc", "realloc", size, 0, old)]
            return [memalign, ("free", None, None, None, old)]
        return [("free", None, None, None, size)]
    if layer == "jemalloc":
        # tests/rust/jemalloc: flags 0 -> malloc/calloc/realloc, else the *allocx calls
        a = 0 if small else align
        if what in "AZ":
            return [("alloc", "jemalloc", size, a, None)]
        if what == "R":
            return [("realloc", "jemalloc", size, a, old)]
        return [("free", None, None, None, size)]
    raise SystemExit("unknown layer " + layer)


def observed(e):
    ev = e["event"]
    if ev == "free":
        return ("free", None, None, None, e.get("old_size"))
    if ev == "realloc":
        return ("realloc", e["kind"], e["size"], e["align"], e.get("old_size"))
    if ev == "alloc":
        return ("alloc", e["kind"], e["size"], e["align"], None)
    return (ev, e.get("kind"), e.get("size"), e.get("align"), e.get("old_size"))


def main():
    dump, truth, layer = sys.argv[1:4]
    events = []
    for line in open(dump):
        e = json.loads(line)
        if "event" in e:
            events.append(e)
    logs = {}
    for line in open(truth):
        p = line.split()
        if len(p) == 6 and p[0] == "T":
            logs.setdefault(int(p[1]), []).append((p[2], int(p[3]), int(p[4]), int(p[5])))
    failed = 0
    for slot in sorted(logs):
        want = [x for op in logs[slot] for x in expected(op, layer)]
        begin = [i for i, e in enumerate(events)
                 if e["event"] == "alloc" and e.get("size") == MARK + 2 * slot]
        if len(begin) != 1:
            print("slot %d: %d begin markers in the trace" % (slot, len(begin)))
            failed += 1
            continue
        b = events[begin[0]]
        thread, block = b["thread"], b["block"]
        got, done = [], False
        for e in events[begin[0] + 1:]:
            if e["thread"] != thread:
                continue
            if e["event"] == "free" and e.get("old_block") == block:
                continue  # the begin marker's own free
            if e["event"] == "alloc" and e.get("size") == MARK + 2 * slot + 1:
                done = True
                break
            got.append(observed(e))
        if not done:
            print("slot %d: no end marker on thread %d" % (slot, thread))
            failed += 1
            continue
        if got == want:
            print("slot %d: %d events ok" % (slot, len(got)))
            continue
        failed += 1
        i = next((k for k in range(min(len(got), len(want))) if got[k] != want[k]),
                 min(len(got), len(want)))
        print("slot %d: %d events, want %d; first difference at %d: got %s, want %s" %
              (slot, len(got), len(want), i, got[i] if i < len(got) else "end",
               want[i] if i < len(want) else "end"))
    print("checked %d slots, %d failed" % (len(logs), failed))
    sys.exit(1 if failed or not logs else 0)


main()
