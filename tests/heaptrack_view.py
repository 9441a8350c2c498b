#!/usr/bin/env python3
"""What heaptrack 1.4 should report for the events of an alloctrace trace.

  alloctrace dump TRACE | heaptrack_view.py

Replays `alloctrace dump` twice: all events with heaptrack's definitions (must equal
`alloctrace summary`), and only the events heaptrack can see, which is what heaptrack's
own numbers must match once its start-up artifact (libstdc++'s emergency pool) is added.
What heaptrack 1.4 cannot see (measured by tests/cli/heaptrack_artifact.sh, and in
heaptrack's src/track/heaptrack_preload.cpp: "TODO: memalign, pvalloc, ...?"):
  - memalign and pvalloc: not hooked; the later free of such a block is a free of an
    unknown pointer, which heaptrack_interpret drops (it does not count as a free)
  - realloc(p, 0) returning NULL: heaptrack records a realloc only when it returns
    non-NULL, so the block glibc freed stays live (leaked) to heaptrack
Prints one JSON object: {"all": {...}, "visible": {...}, "unhooked_calls": N,
"realloc_to_zero": N, "last_visible": "alloc"|"free"|"none"}.
"""
import json
import sys

UNHOOKED = {'memalign', 'pvalloc'}


class Model:
    """heaptrack's AccumulatedTraceData: a free is temporary when its block's (stack,
    size) is the most recent allocation's and nothing was freed since."""

    def __init__(self):
        self.calls = self.temporary = self.live = self.peak = 0
        self.blocks = {}  # block -> (stack, size)
        self.last = None  # (stack, size) of the latest allocation, None after a free
        self.last_event = 'none'

    def alloc(self, block, stack, size):
        self.calls += 1
        self.blocks[block] = (stack, size)
        self.live += size
        self.peak = max(self.peak, self.live)
        self.last = (stack, size)
        self.last_event = 'alloc'

    def free(self, block):
        site = self.blocks.pop(block, None)
        if site is None:
            return  # unknown pointer: ignored, like heaptrack_interpret does
        if site == self.last:
            self.temporary += 1
        self.last = None
        self.live -= site[1]
        self.last_event = 'free'

    def totals(self):
        return {'calls': self.calls, 'temporary': self.temporary, 'peak': self.peak,
                'leaked': self.live, 'leaked_blocks': len(self.blocks)}


def main():
    full, seen = Model(), Model()
    unhooked = realloc_zero = 0
    for line in sys.stdin:
        e = json.loads(line)
        kind = e.get('event')
        if kind is None:
            continue  # stack node lines
        if kind == 'alloc':
            full.alloc(e['block'], e['stack'], e['size'])
            if e['kind'] in UNHOOKED:
                unhooked += 1
            else:
                seen.alloc(e['block'], e['stack'], e['size'])
        elif kind == 'free':
            full.free(e['old_block'])
            seen.free(e['old_block'])
        elif kind == 'realloc':
            full.free(e['old_block'])
            if 'block' in e:
                full.alloc(e['block'], e['stack'], e['size'])
                seen.free(e['old_block'])
                seen.alloc(e['block'], e['stack'], e['size'])
            else:
                realloc_zero += 1  # heaptrack sees nothing: the old block stays live
    print(json.dumps({'all': full.totals(), 'visible': seen.totals(), 'unhooked_calls': unhooked,
                      'realloc_to_zero': realloc_zero, 'last_visible': seen.last_event}))


if __name__ == '__main__':
    main()
