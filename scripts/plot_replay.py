#!/usr/bin/env python3
"""Draws replay.png from `alloctrace replay --json`: median wall/CPU time per allocator (min–max bars), peak RSS, fragmentation.
Reads only that JSON (never raw traces, never runs the replay itself); an empty result list gives a "no data" chart.
Usage: plot_replay.py REPLAY_JSON -o DIR [--svg]   (prints each written path on stdout)
"""

import argparse
import math
import sys

sys.dont_write_bytecode = True

import atr_plot_common as C  # noqa: E402  (sets the Agg backend before pyplot is used)
from atr_plot_common import np, mticker  # noqa: E402

_STAT = {"median": "num", "min?": "num?", "max?": "num?"}
_OPT_STAT = {"median": "num?", "min?": "num?", "max?": "num?"}
SPEC = {
    "program": "str?",
    "repeat?": "num?",
    "results": ("list", {"allocator": "str", "wall_s": _STAT, "cpu_s?": ("nullable", _OPT_STAT),
                         "peak_rss?": "num?", "end_rss?": "num?", "page_faults?": "num?",
                         "fragmentation?": "num?"}),
}

WALL_COLOR = "#4c72b0"
CPU_COLOR = "#8fb3de"
PEAK_COLOR = "#55a868"
END_COLOR = "#a8d5b3"
FRAG_COLOR = "#c44e52"


def load(path):
    return C.load_json(path, C.SCHEMA_REPLAY, SPEC)


def _stat(r, key):
    s = r.get(key) or {}
    med = C.num(s.get("median"))
    lo = C.num(s.get("min"), med)
    hi = C.num(s.get("max"), med)
    return med, lo, hi


def _errbars(med, lo, hi):
    med, lo, hi = (np.asarray(a, dtype=float) for a in (med, lo, hi))
    below = np.where(np.isfinite(lo), np.clip(med - lo, 0, None), 0.0)
    above = np.where(np.isfinite(hi), np.clip(hi - med, 0, None), 0.0)
    return np.vstack([np.nan_to_num(below), np.nan_to_num(above)])


def _labels(ax, xs, heights, tops, texts, color="#303030", fontsize=10):
    for x, h, top, txt in zip(xs, heights, tops, texts):
        if not math.isfinite(h):
            continue
        y = top if math.isfinite(top) else h
        ax.annotate(txt, (x, y), xytext=(0, 3), textcoords="offset points", ha="center", va="bottom",
                    fontsize=fontsize, color=color)


def figure(data):
    program = data.get("program") or "?"
    repeat = data.get("repeat")
    title = "Allocator replay — %s" % program
    results = data["results"]
    if not results:
        return C.no_data_figure(title, "no replay results")

    names = [C.shorten(r["allocator"], 22) for r in results]
    n = len(results)
    x = np.arange(n)
    wall = [_stat(r, "wall_s") for r in results]
    cpu = [_stat(r, "cpu_s") for r in results]
    have_cpu = any(math.isfinite(c[0]) for c in cpu)

    fig = C.new_figure()
    gs = fig.add_gridspec(2, 2, height_ratios=[2.2, 1])
    ax_t = fig.add_subplot(gs[:, 0])
    ax_m = fig.add_subplot(gs[0, 1])
    frag = np.array([C.num(r.get("fragmentation")) for r in results], dtype=float)
    ax_f = fig.add_subplot(gs[1, 1], sharex=ax_m) if np.isfinite(frag).any() else None

    # -- left: time
    tmax = np.nanmax([v for trip in wall + cpu for v in trip] + [0.0])
    tname, tdiv = C.time_unit(tmax if tmax > 0 else 1.0)
    w = 0.38 if have_cpu else 0.6
    off = w / 2 if have_cpu else 0.0
    wm, wl, wh = (np.array(a) for a in zip(*wall))
    ax_t.bar(x - off, wm, w, yerr=_errbars(wm, wl, wh), capsize=6, color=WALL_COLOR,
             error_kw=dict(ecolor="#222222", lw=1.3), label="wall time (median, min–max)")
    _labels(ax_t, x - off, wm, wh, [C.fmt_seconds(v) for v in wm], fontsize=10.5)
    if have_cpu:
        cm, cl, ch = (np.array(a) for a in zip(*cpu))
        ax_t.bar(x + off, cm, w, yerr=_errbars(cm, cl, ch), capsize=6, color=CPU_COLOR,
                 error_kw=dict(ecolor="#222222", lw=1.3), label="CPU time (median, min–max)")
        _labels(ax_t, x + off, cm, ch, [C.fmt_seconds(v) for v in cm], fontsize=10.5)
    C.scaled_axis(ax_t.yaxis, tdiv)
    ax_t.set_ylabel("time (%s)" % tname)
    ax_t.set_ylim(0, (tmax if tmax > 0 else 1.0) * 1.25)
    best = int(np.nanargmin(np.where(np.isfinite(wm), wm, np.inf))) if np.isfinite(wm).any() else None
    ax_t.set_title("time per run%s — lower is better" % ((" (%d runs each)" % repeat) if repeat else ""),
                   loc="left", fontsize=13)
    ax_t.legend(loc="upper center", ncol=2)

    # -- right top: memory
    peak = np.array([C.num(r.get("peak_rss")) for r in results], dtype=float)
    end = np.array([C.num(r.get("end_rss")) for r in results], dtype=float)
    have_end = np.isfinite(end).any()
    w2 = 0.38 if have_end else 0.6
    off2 = w2 / 2 if have_end else 0.0
    handles = [ax_m.bar(x - off2, np.nan_to_num(peak), w2, color=PEAK_COLOR, label="peak RSS")]
    _labels(ax_m, x - off2, peak, peak, [C.fmt_bytes(v) for v in peak])
    if have_end:
        handles.append(ax_m.bar(x + off2, np.nan_to_num(end), w2, color=END_COLOR, label="RSS at end"))
        _labels(ax_m, x + off2, end, end, [C.fmt_bytes(v) for v in end])
    mmax = float(np.nanmax(np.concatenate([peak, end, [1.0]])))
    C.bytes_axis(ax_m.yaxis, mmax, "resident memory")
    ax_m.set_ylim(0, mmax * 1.3)
    ax_m.set_title("memory — lower is better", loc="left", fontsize=13)
    ax_m.legend(handles=handles, loc="upper center", ncol=len(handles))

    # -- right bottom: fragmentation
    if ax_f is not None:
        ax_f.bar(x, np.nan_to_num(frag), 0.6, color=FRAG_COLOR)
        _labels(ax_f, x, frag, frag, ["%.2f×" % f for f in frag], fontsize=10.5)
        fmax = float(np.nanmax(frag))
        ax_f.axhline(1.0, color="#333333", linestyle="--", linewidth=1)
        ax_f.set_ylim(0, max(fmax, 1.0) * 1.3)
        ax_f.yaxis.set_major_locator(mticker.MaxNLocator(nbins=4))
        ax_f.set_ylabel("fragmentation (×)")
        ax_f.set_title("fragmentation ratio — dashed line = 1.0 (no overhead)", loc="left", fontsize=12)

    # x labels: allocator name (bold = fastest median wall time); page faults under the bottom-right names.
    faults = [r.get("page_faults") for r in results]
    bottom_right = ax_f if ax_f is not None else ax_m
    for ax in (ax_t, ax_m) + ((ax_f,) if ax_f is not None else ()):
        ax.set_xticks(x)
        labels = names
        if ax is bottom_right and any(f is not None for f in faults):
            labels = ["%s\n%s faults" % (nm, C.fmt_count(f)) if f is not None else nm
                      for nm, f in zip(names, faults)]
        widest = max(len(line) for lbl in labels for line in lbl.split("\n"))
        rot = n * (widest * 7.5 + 14) > 660      # ~px per label at 12 pt vs. ~660 px panel width
        ax.set_xticklabels(labels, fontsize=12, rotation=30 if rot else 0,
                           ha="right" if rot else "center", rotation_mode="anchor")
        ax.set_xlim(-0.6, n - 0.4)
        ax.grid(axis="x", visible=False)
    if ax_f is not None:
        for lbl in ax_m.get_xticklabels():
            lbl.set_visible(False)
    if best is not None:
        ax_t.get_xticklabels()[best].set_fontweight("bold")
        bottom_right.get_xticklabels()[best].set_fontweight("bold")
    if any(f is not None for f in faults):
        bottom_right.set_xlabel("allocator (with page faults per run)", fontsize=11)
    ax_t.set_xlabel("allocator (fastest median wall time in bold)", fontsize=11)
    fig.suptitle(title)
    return fig


def plot(data, outdir, svg=False):
    return C.save(figure(data), outdir, "replay", svg)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Plot replay.png from `alloctrace replay --json`.")
    ap.add_argument("replay", metavar="REPLAY_JSON")
    C.add_common_args(ap)
    args = ap.parse_args(argv)
    try:
        data = load(args.replay)
    except C.InputError as exc:
        C.die(exc)
    C.ensure_outdir(args.outdir)
    C.emit(plot(data, args.outdir, args.svg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
