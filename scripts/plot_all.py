#!/usr/bin/env python3
"""Entry point of `alloctrace plot`: turns the timeline/growth[/replay] --json files into PNG (and SVG) charts in -o DIR.
Reads only alloctrace JSON (never raw traces) and prints each written path, one per line, on stdout; bad input is a
one-line stderr message and exit 2, with nothing written. Must never need a display or anything beyond matplotlib.
"""

import argparse
import sys

sys.dont_write_bytecode = True          # never leave __pycache__ in scripts/

import atr_plot_common as C  # noqa: E402  (exits 3 with a one-line message if matplotlib is missing)
import plot_growth  # noqa: E402
import plot_replay  # noqa: E402
import plot_timeline  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Render alloctrace charts from `alloctrace timeline|growth|replay --json` output.",
        epilog="Writes heap_timeline, size_histogram, align_histogram (if any alignments), growth_ladders, "
               "leak_suspects and, with --replay, replay (.png, plus .svg with --svg). Exit status: 0 ok, "
               "2 bad input or usage, 3 matplotlib missing, 1 cannot write output.")
    ap.add_argument("--timeline", required=True, metavar="FILE", help="output of `alloctrace timeline --json`")
    ap.add_argument("--growth", required=True, metavar="FILE", help="output of `alloctrace growth --json`")
    ap.add_argument("--replay", metavar="FILE", help="output of `alloctrace replay --json` (optional)")
    C.add_common_args(ap)
    args = ap.parse_args(argv)

    # Validate every input before writing anything.
    try:
        timeline = plot_timeline.load(args.timeline)
        growth = plot_growth.load(args.growth)
        replay = plot_replay.load(args.replay) if args.replay else None
    except C.InputError as exc:
        C.die(exc)

    C.ensure_outdir(args.outdir)
    try:
        C.emit(plot_timeline.plot(timeline, args.outdir, args.svg))
        C.emit(plot_growth.plot(growth, args.outdir, args.svg))
        if replay is not None:
            C.emit(plot_replay.plot(replay, args.outdir, args.svg))
    except OSError as exc:
        C.die("cannot write chart: %s" % exc, 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
