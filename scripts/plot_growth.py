#!/usr/bin/env python3
"""Draws size_histogram, align_histogram (if any), growth_ladders and leak_suspects PNGs from `alloctrace growth --json`.
Reads only that JSON (never raw traces); must never fail on empty lists ("no data" chart, or no align chart at all).
Usage: plot_growth.py GROWTH_JSON -o DIR [--svg]   (prints each written path on stdout)
"""

import argparse
import math
import sys

sys.dont_write_bytecode = True

import atr_plot_common as C  # noqa: E402  (sets the Agg backend before pyplot is used)
from atr_plot_common import np, mticker  # noqa: E402

MAX_LADDERS = 6

SPEC = {
    "program": "str?",
    "chains": ("list", {"function": "str?", "location?": "str?", "module?": "str?", "chains?": "num?",
                        "steps?": "num?", "sizes": ("list", "num"), "factor?": "num?", "moves?": "num?",
                        "bytes_copied?": "num?", "final_size?": "num?", "reserve_hint?": "num?",
                        "sizes_stride?": "num?", "longest_steps?": "num?"}),
    "leak_suspects": ("list", {"function": "str?", "location?": "str?", "module?": "str?",
                               "slope_bytes_per_s": "num", "live_bytes_end?": "num?", "flagged": "bool",
                               "samples": ("list", ("list", "num"))}),
    "size_histogram": ("list", {"lo": "num", "hi": "num?", "count": "num", "bytes?": "num?"}),
    "align_histogram": ("list", {"align": "num", "count": "num", "padding_bytes?": "num?"}),
}


def load(path):
    data = C.load_json(path, C.SCHEMA_GROWTH, SPEC)
    for i, s in enumerate(data["leak_suspects"]):
        for j, pt in enumerate(s["samples"]):
            if len(pt) != 2:
                raise C.InputError("%s: leak_suspects[%d].samples[%d]: expected [t_seconds, bytes], got %d values"
                                   % (path, i, j, len(pt)))
    return data


def _title(what, data):
    return "%s — %s" % (what, data.get("program") or "?")


# ---------------------------------------------------------------- size histogram

def bucket_label(lo, hi):
    """[lo, hi) -> '0-15 B', '512-1023 B', '1-2 KiB', '64-128 MiB', '≥ 1 GiB'."""
    lo = int(lo)
    if hi is None:
        return "≥ " + C.fmt_bytes(lo)
    hi = int(hi)
    if lo < 1024 or hi <= 1024:
        return "%d-%d B" % (lo, hi - 1)
    for name, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if lo >= div and lo % div == 0 and hi % div == 0:
            return "%d-%d %s" % (lo // div, hi // div, name)
    return "%s-%s" % (C.fmt_bytes(lo), C.fmt_bytes(hi))


def _bar_labels(ax, bars, values, fmt, rotate=False, fontsize=9):
    for b, v in zip(bars, values):
        if v <= 0:
            continue
        ax.annotate(fmt(v), (b.get_x() + b.get_width() / 2, b.get_height()), xytext=(0, 2),
                    textcoords="offset points", ha="center", va="bottom", fontsize=fontsize,
                    rotation=90 if rotate else 0, color="#303030")


def _count_axis(ax, counts, what):
    """Log scale when counts span more than two decades; returns True if log."""
    pos = [c for c in counts if c > 0]
    if pos and max(pos) / min(pos) > 100:
        ax.set_yscale("log")
        ax.set_ylim(0.6, max(pos) * 6)
        ax.set_ylabel("%s (log scale)" % what)
        return True
    ax.set_ylim(0, (max(pos) if pos else 1) * 1.15)
    ax.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _p: C.fmt_count(v)))
    ax.set_ylabel(what)
    return False


def size_histogram_figure(data):
    hist = sorted(data["size_histogram"], key=lambda b: b["lo"])
    title = _title("Allocation sizes", data)
    if not hist:
        return C.no_data_figure(title, "size_histogram is empty\n(no allocations recorded)")
    labels = [bucket_label(b["lo"], b.get("hi")) for b in hist]
    counts = [float(b["count"]) for b in hist]
    nbytes = [C.num(b.get("bytes"), 0.0) for b in hist]
    x = np.arange(len(hist))
    many = len(hist) > 14
    fig = C.new_figure()
    ax_c, ax_b = fig.subplots(2, 1, sharex=True, height_ratios=[1, 1])

    bars = ax_c.bar(x, counts, width=0.8, color="#4c72b0")
    _count_axis(ax_c, counts, "allocations")
    _bar_labels(ax_c, bars, counts, C.fmt_count, rotate=len(hist) > 24)
    ax_c.set_title("allocation count per size bucket  (%s allocations in total)" % C.fmt_count(sum(counts)),
                   loc="left", fontsize=13)

    bars = ax_b.bar(x, nbytes, width=0.8, color="#dd8452")
    bmax = max(nbytes) if nbytes else 0
    C.bytes_axis(ax_b.yaxis, bmax, "bytes requested")
    rot = len(hist) > 24
    ax_b.set_ylim(0, max(bmax, 1) * (1.3 if rot else 1.15))
    _bar_labels(ax_b, bars, nbytes, C.fmt_bytes, rotate=rot)
    ax_b.set_title("bytes requested per size bucket  (%s in total)" % C.fmt_bytes(sum(nbytes)),
                   loc="left", fontsize=13)
    ax_b.set_xticks(x)
    ax_b.set_xticklabels(labels, rotation=40 if many else 0, ha="right" if many else "center",
                         rotation_mode="anchor", fontsize=10 if many else 11)
    ax_b.set_xlabel("requested size (power-of-two buckets)")
    ax_b.set_xlim(-0.6, len(hist) - 0.4)
    for a in (ax_c, ax_b):
        a.grid(axis="x", visible=False)

    fig.suptitle(title)
    return fig


# ---------------------------------------------------------------- alignment histogram

def align_histogram_figure(data):
    rows = sorted(data["align_histogram"], key=lambda r: r["align"])
    labels = [C.fmt_bytes(r["align"]) for r in rows]
    counts = [float(r["count"]) for r in rows]
    pad = [C.num(r.get("padding_bytes"), 0.0) for r in rows]
    x = np.arange(len(rows))
    fig = C.new_figure()
    ax_c, ax_p = fig.subplots(1, 2)

    bars = ax_c.bar(x, counts, width=0.7, color="#4c72b0")
    _count_axis(ax_c, counts, "allocations")
    _bar_labels(ax_c, bars, counts, C.fmt_count, fontsize=11)
    ax_c.set_title("allocations per requested alignment", loc="left", fontsize=13)

    bars = ax_p.bar(x, pad, width=0.7, color="#c44e52")
    pmax = max(pad) if pad else 0
    C.bytes_axis(ax_p.yaxis, pmax, "padding bytes")
    ax_p.set_ylim(0, max(pmax, 1) * 1.15)
    _bar_labels(ax_p, bars, pad, C.fmt_bytes, fontsize=11)
    ax_p.set_title("bytes lost to alignment padding", loc="left", fontsize=13)

    rot = len(rows) > 10
    for a in (ax_c, ax_p):
        a.set_xticks(x)
        a.set_xticklabels(labels, rotation=40 if rot else 0, ha="right" if rot else "center",
                          rotation_mode="anchor")
        a.set_xlabel("alignment")
        a.set_xlim(-0.6, len(rows) - 0.4)
        a.grid(axis="x", visible=False)
    fig.suptitle(_title("Alignment requests", data))
    return fig


# ---------------------------------------------------------------- growth ladders

def _grid(n):
    return {1: (1, 1), 2: (1, 2), 3: (1, 3), 4: (2, 2)}.get(n, (2, 3))


def growth_ladders_figure(data):
    chains = data["chains"][:MAX_LADDERS]          # the CLI lists chains best-first
    title = _title("Growth ladders (realloc chains)", data)
    chains = [c for c in chains if c["sizes"]]
    if not chains:
        return C.no_data_figure(title, "no realloc growth chains found")
    rows, cols = _grid(len(chains))
    fig = C.new_figure()
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    colors = C.palette(len(chains))
    for ax, ch, color in zip(axes, chains, colors):
        sizes = [float(s) for s in ch["sizes"]]
        # long chains keep every stride-th size; the last entry is the final size
        stride = max(1, int(C.num(ch.get("sizes_stride"), 1)))
        steps = np.arange(len(sizes)) * stride
        if stride > 1 and len(sizes) > 1 and ch.get("longest_steps") is not None:
            steps[-1] = int(ch["longest_steps"])
        hint = C.num(ch.get("reserve_hint"))
        factor = C.num(ch.get("factor"))
        if not math.isfinite(factor) and len(sizes) > 1 and sizes[0] > 0:
            factor = (sizes[-1] / sizes[0]) ** (1.0 / (len(sizes) - 1))
        moves = ch.get("moves")
        copied = C.num(ch.get("bytes_copied"))
        n_chains = int(C.num(ch.get("chains"), 1))

        stats = "×%s per step · %s moves · %s copied" % (
            ("%.2f" % factor) if math.isfinite(factor) else "?",
            "%d" % moves if moves is not None else "?", C.fmt_bytes(copied) if math.isfinite(copied) else "?")
        ax.step(steps, sizes, where="post", color=color, linewidth=2.2, label=stats)
        ax.plot(steps, sizes, linestyle="none", marker="o", markersize=4, color=color)
        lo = min(sizes + ([hint] if math.isfinite(hint) and hint > 0 else []))
        hi = max(sizes + ([hint] if math.isfinite(hint) and hint > 0 else []))
        C.log2_bytes_axis(ax.yaxis, lo, hi, max_ticks=7 if rows > 1 else 10)
        if math.isfinite(hint) and hint > 0:
            ax.axhline(hint, color="#333333", linestyle="--", linewidth=1.3)
            ax.annotate("reserve hint: %s up front" % C.fmt_bytes(hint), xy=(0.01, hint),
                        xycoords=("axes fraction", "data"), xytext=(2, 3), textcoords="offset points",
                        ha="left", va="bottom", fontsize=10.5, color="#333333",
                        bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))
        ax.set_xlim(-0.4 * stride, max(1, int(steps[-1])) + 0.6 * stride)
        ax.xaxis.set_major_locator(mticker.MaxNLocator(integer=True, nbins=8))
        ax.set_xlabel("realloc step")
        ax.set_ylabel("block size (log₂)")
        fn = C.shorten(ch.get("function") or "??", 34 if cols > 2 else 60)
        where = C.site_where(ch, 40)
        head = "%s\n%s%s" % (fn, where, ("  ·  %d chains" % n_chains) if n_chains > 1 else "")
        ax.set_title(head, loc="left", fontsize=12.5)
        ax.legend(loc="lower right", fontsize=10.5, handlelength=1.5)
    for ax in axes[len(chains):]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig


# ---------------------------------------------------------------- leak suspects

def _spread(ys, gap):
    """Nudge sorted label positions (axes fraction) apart by at least `gap`, staying in [0.03, 0.97]."""
    order = sorted(range(len(ys)), key=lambda i: ys[i])
    out = list(ys)
    prev = -1.0
    for i in order:
        out[i] = max(out[i], prev + gap, 0.03)
        prev = out[i]
    over = prev - 0.97
    if over > 0:                       # shift the whole run down if it ran off the top
        for i in order:
            out[i] -= over
        prev = 2.0
        for i in reversed(order):
            out[i] = min(out[i], prev - gap)
            prev = out[i]
    return out


def leak_suspects_figure(data):
    suspects = [s for s in data["leak_suspects"] if s["samples"]]
    title = _title("Leak suspects: live bytes per site", data)
    if not suspects:
        return C.no_data_figure(title, "no leak suspects")
    flagged = [s for s in suspects if s["flagged"]]
    others = [s for s in suspects if not s["flagged"]]
    colors = C.palette(len(flagged))
    fig = C.new_figure()
    ax = fig.add_subplot(1, 1, 1)

    ymax = max(max(p[1] for p in s["samples"]) for s in suspects)
    tmin = min(min(p[0] for p in s["samples"]) for s in suspects)
    tmax = max(max(p[0] for p in s["samples"]) for s in suspects)
    if tmax <= tmin:
        tmax = tmin + 1.0

    for k, s in enumerate(others):
        t = [p[0] for p in s["samples"]]
        y = [p[1] for p in s["samples"]]
        ax.plot(t, y, color=C.MUTED_COLOR, linewidth=1.2, alpha=0.8,
                label=("not flagged (%d site%s)" % (len(others), "" if len(others) == 1 else "s")) if k == 0 else None)

    ends = []
    for s, color in zip(flagged, colors):
        t = np.array([p[0] for p in s["samples"]], dtype=float)
        y = np.array([p[1] for p in s["samples"]], dtype=float)
        slope = float(s["slope_bytes_per_s"])
        rate = ("+" if slope >= 0 else "−") + C.fmt_bytes(abs(slope)) + "/s"
        end = C.num(s.get("live_bytes_end"))
        lbl = "%s — %s%s" % (C.site_label(s, 40, 30), rate,
                             (", %s live at end" % C.fmt_bytes(end)) if math.isfinite(end) else "")
        ax.plot(t, y, color=color, linewidth=2.4, alpha=0.55, label=lbl)
        # Fitted line with the reported slope; intercept by least squares.
        b = float(np.mean(y - slope * t))
        tt = np.array([t.min(), t.max()])
        fit = slope * tt + b
        ax.plot(tt, fit, color=color, linestyle=(0, (6, 3)), linewidth=1.8, zorder=3)
        ymax = max(ymax, float(fit.max()))
        ends.append((float(tt[1]), float(fit[1]), rate, color))

    ymax = max(ymax, 1.0) * 1.1
    C.bytes_axis(ax.yaxis, ymax, "live bytes")
    ax.set_ylim(0, ymax)
    span = tmax - tmin
    ax.set_xlim(tmin, tmax + (0.13 * span if ends else 0.01 * span))
    ax.set_xlabel("time (s)")

    # Rate labels at the right end of each fitted line, nudged apart so they never overlap.
    if ends:
        ys = _spread([min(max(e[1] / ymax, 0.0), 1.0) for e in ends], 0.045)
        for (tx, ty, rate, color), yf in zip(ends, ys):
            ax.annotate(rate, xy=(tx, ty), xycoords="data",
                        xytext=(tx + 0.015 * span, yf * ymax), textcoords="data",
                        ha="left", va="center", fontsize=12, fontweight="bold", color=color,
                        arrowprops=dict(arrowstyle="-", color=color, lw=0.8, shrinkA=0, shrinkB=2))

    ax.legend(loc="upper left", fontsize=10.5)
    fig.suptitle(title)
    ax.set_title("%d flagged (strong colours, dashed = fitted slope), %d not flagged (grey)"
                 % (len(flagged), len(others)), loc="left", fontsize=12, color="#404040")
    return fig


# ---------------------------------------------------------------- driver

def plot(data, outdir, svg=False):
    paths = []
    paths += C.save(size_histogram_figure(data), outdir, "size_histogram", svg)
    if data["align_histogram"]:
        paths += C.save(align_histogram_figure(data), outdir, "align_histogram", svg)
    paths += C.save(growth_ladders_figure(data), outdir, "growth_ladders", svg)
    paths += C.save(leak_suspects_figure(data), outdir, "leak_suspects", svg)
    return paths


def main(argv=None):
    ap = argparse.ArgumentParser(description="Plot size/alignment histograms, growth ladders and leak "
                                             "suspects from `alloctrace growth --json`.")
    ap.add_argument("growth", metavar="GROWTH_JSON")
    C.add_common_args(ap)
    args = ap.parse_args(argv)
    try:
        data = load(args.growth)
    except C.InputError as exc:
        C.die(exc)
    C.ensure_outdir(args.outdir)
    C.emit(plot(data, args.outdir, args.svg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
