#!/usr/bin/env python3
"""Draws heap_timeline.png from `alloctrace timeline --json`: live bytes stacked by top call site, RSS, peak, alloc rates.
Reads only that JSON (never raw traces); must always write heap_timeline.png (a "no data" chart if there are no samples).
Usage: plot_timeline.py TIMELINE_JSON -o DIR [--svg]   (prints each written path on stdout)
"""

import argparse
import math
import sys

sys.dont_write_bytecode = True

import atr_plot_common as C  # noqa: E402  (sets the Agg backend before pyplot is used)
from atr_plot_common import np, mticker  # noqa: E402

SPEC = {
    "program": "str?",
    "cmdline?": "str?",
    "interval_ms?": "num?",
    "sites": ("list", {"function": "str?", "location?": "str?", "module?": "str?", "id?": "any"}),
    "samples": ("list", {"t": "num", "heap": "num", "rss?": "num?", "allocs_per_s?": "num?",
                         "frees_per_s?": "num?", "sites": ("list", "num?"), "other?": "num?"}),
    "peak?": "any",
}


def load(path):
    data = C.load_json(path, C.SCHEMA_TIMELINE, SPEC)
    peak = data.get("peak")
    if peak is not None:
        C._check(peak, {"t": "num", "bytes": "num"}, "peak", path)
    return data


def _columns(data):
    samples = sorted(data["samples"], key=lambda s: s["t"])
    n_sites = len(data["sites"])
    t = np.array([s["t"] for s in samples], dtype=float)
    stack = np.zeros((n_sites, len(samples)))
    other = np.zeros(len(samples))
    for j, s in enumerate(samples):
        vals = [0.0 if v is None else float(v) for v in s["sites"]]
        k = min(n_sites, len(vals))
        stack[:k, j] = vals[:k]
        other[j] = C.num(s.get("other"), 0.0) + sum(vals[k:])   # stray extra columns count as "other"
    heap = np.array([s["heap"] for s in samples], dtype=float)
    rss = np.array([C.num(s.get("rss")) for s in samples], dtype=float)
    allocs = np.array([C.num(s.get("allocs_per_s")) for s in samples], dtype=float)
    frees = np.array([C.num(s.get("frees_per_s")) for s in samples], dtype=float)
    return t, stack, other, heap, rss, allocs, frees


def _legend_style(entries, has_rates):
    """Pick label layout so the legend fits beside the main axes (which is shorter when the rate panel is shown)."""
    budget_pt = 380.0 if has_rates else 560.0          # main axes height in points, minus the legend title
    styles = (
        dict(fn=36, loc=36, sep="\n", fontsize=10.5, spacing=0.7, ncol=1, lines=2),
        dict(fn=30, loc=24, sep="  ", fontsize=10.0, spacing=0.5, ncol=1, lines=1),
        dict(fn=26, loc=20, sep="  ", fontsize=9.0, spacing=0.3, ncol=1, lines=1),
    )
    for st in styles:
        row_pt = st["fontsize"] * (1.2 * st["lines"] + st["spacing"])
        if entries * row_pt <= budget_pt:
            return st
    return dict(fn=22, loc=16, sep="  ", fontsize=8.5, spacing=0.3,
                ncol=int(math.ceil(entries * 8.5 * 1.5 / budget_pt)), lines=1)


def _peak(data, t, heap):
    p = data.get("peak")
    if p is not None:
        return float(p["t"]), float(p["bytes"])
    i = int(np.argmax(heap))
    return float(t[i]), float(heap[i])


def figure(data):
    program = data.get("program") or "?"
    title = "Live heap by call site — %s" % program
    if not data["samples"]:
        return C.no_data_figure(title, "no samples in the timeline\n(nothing was recorded, or the run "
                                       "ended before the first sampling interval)")
    t, stack, other, heap, rss, allocs, frees = _columns(data)
    peak_t, peak_b = _peak(data, t, heap)
    sites = data["sites"]
    has_rates = np.isfinite(allocs).any() or np.isfinite(frees).any()

    fig = C.new_figure()
    if has_rates:
        gs = fig.add_gridspec(2, 1, height_ratios=[3.2, 1])
        ax = fig.add_subplot(gs[0])
        ax_rate = fig.add_subplot(gs[1], sharex=ax)
    else:
        ax = fig.add_subplot(1, 1, 1)
        ax_rate = None

    # Stacked live bytes: site 0 (the biggest) at the bottom, "other" on top in grey.
    colors = C.palette(len(sites))
    layers = list(stack) + [other]
    style = _legend_style(len(sites) + 2, has_rates)
    labels = [C.site_label(s, style["fn"], style["loc"], style["sep"]) for s in sites] + ["other sites"]
    fills = colors + [C.OTHER_COLOR]
    polys = ax.stackplot(t, *layers, labels=labels, colors=fills, alpha=0.88, linewidth=0.4,
                         edgecolor="white")
    handles = list(polys)

    finite_rss = rss[np.isfinite(rss)]
    if finite_rss.size:
        (rss_line,) = ax.plot(t, rss, color="black", linewidth=2.0, label="RSS (resident set)")
        handles.append(rss_line)

    total = stack.sum(axis=0) + other
    ymax = max(float(total.max(initial=0)), float(heap.max(initial=0)),
               float(finite_rss.max(initial=0)), peak_b, 1.0)
    C.bytes_axis(ax.yaxis, ymax, "live bytes")
    ax.set_ylim(0, ymax * 1.12)
    t0 = min(0.0, float(t.min()))
    t1 = max(float(t.max()), peak_t)
    if t1 <= t0:
        t1 = t0 + max(C.num(data.get("interval_ms"), 10.0) / 1000.0, 1e-3)
    ax.set_xlim(t0, t1 + 0.015 * (t1 - t0))          # a little room so a peak at the end stays visible

    # Peak marker + annotation placed away from the plot edge it is close to.
    ax.plot([peak_t], [peak_b], marker="v", markersize=11, color="#c00000", zorder=5,
            markeredgecolor="white", linestyle="none")
    ax.axvline(peak_t, color="#c00000", linewidth=1, linestyle="--", alpha=0.6, zorder=4)
    right_half = (peak_t - t0) > 0.6 * (t1 - t0)
    ax.annotate("peak %s\nat t = %s" % (C.fmt_bytes(peak_b), C.fmt_seconds(peak_t)),
                xy=(peak_t, peak_b), xycoords="data",
                xytext=(-24 if right_half else 24, -6), textcoords="offset points",
                ha="right" if right_half else "left", va="top", fontsize=12, fontweight="bold",
                color="#8b0000", zorder=6,
                bbox=dict(boxstyle="round,pad=0.35", fc="white", ec="#c00000", alpha=0.95))

    # Legend outside on the right, in stacking order (top of stack first), RSS first.
    rss_handles = handles[len(polys):]
    leg = ax.legend(rss_handles + handles[:len(polys)][::-1],
                    [h.get_label() for h in rss_handles] + labels[::-1],
                    loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                    title="top call sites", fontsize=style["fontsize"], title_fontsize=11,
                    labelspacing=style["spacing"], ncol=style["ncol"], columnspacing=1.0)
    if hasattr(leg, "_legend_box"):          # left-align the legend title (no public API before mpl 3.8)
        leg._legend_box.align = "left"

    sub = []
    if data.get("cmdline"):
        sub.append("$ " + C.shorten(data["cmdline"], 110))
    iv = data.get("interval_ms")
    sub.append("%d samples%s, top %d sites" % (
        len(t), (" every %s ms" % C._num_str(iv)) if iv else "", len(sites)))
    ax.set_title("   ·   ".join(sub), fontsize=12, color="#404040", loc="left")
    fig.suptitle(title)

    if ax_rate is not None:
        plt_setp_hidden(ax)
        if np.isfinite(allocs).any():
            ax_rate.plot(t, allocs, color="#1f77b4", linewidth=1.5, label="allocations/s")
        if np.isfinite(frees).any():
            ax_rate.plot(t, frees, color="#ff7f0e", linewidth=1.5, label="frees/s", alpha=0.9)
        ax_rate.set_ylabel("events per second")
        ax_rate.yaxis.set_major_formatter(mticker.EngFormatter(sep=""))
        ax_rate.yaxis.set_major_locator(mticker.MaxNLocator(nbins=4, min_n_ticks=3))
        rmax = float(np.nanmax(np.concatenate([allocs, frees])))
        ax_rate.set_ylim(0, rmax * 1.15 if rmax > 0 else 1.0)
        ax_rate.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        ax_rate.axvline(peak_t, color="#c00000", linewidth=1, linestyle="--", alpha=0.6)
        ax_rate.set_xlabel("time (s)")
    else:
        ax.set_xlabel("time (s)")
    return fig


def plt_setp_hidden(ax):
    for lbl in ax.get_xticklabels():
        lbl.set_visible(False)


def plot(data, outdir, svg=False):
    return C.save(figure(data), outdir, "heap_timeline", svg)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Plot heap_timeline.png from `alloctrace timeline --json`.")
    ap.add_argument("timeline", metavar="TIMELINE_JSON")
    C.add_common_args(ap)
    args = ap.parse_args(argv)
    try:
        data = load(args.timeline)
    except C.InputError as exc:
        C.die(exc)
    C.ensure_outdir(args.outdir)
    C.emit(plot(data, args.outdir, args.svg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
