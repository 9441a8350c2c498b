"""Shared helpers for the alloctrace plot scripts: JSON loading and schema checks, byte/time units, figure setup.
Reads only the JSON written by `alloctrace <cmd> --json`; must never parse raw traces, need anything but
stdlib + matplotlib/numpy, or need a display (always the Agg backend; every figure is 1600x900 px).
"""

import json
import math
import os
import stat
import sys
import tempfile

EXIT_INPUT = 2      # missing/unreadable input, bad JSON, wrong schema, malformed field (also argparse usage errors)
EXIT_NO_MPL = 3     # this interpreter cannot import matplotlib/numpy

SCHEMA_TIMELINE = "alloctrace.timeline/1"
SCHEMA_GROWTH = "alloctrace.growth/1"
SCHEMA_REPLAY = "alloctrace.replay/1"

FIGSIZE = (16, 9)
DPI = 100           # FIGSIZE * DPI = 1600x900; never save with bbox_inches="tight" (it changes the size)

OTHER_COLOR = "#b4b4b4"
MUTED_COLOR = "#a0a0a0"


def _prog():
    return os.path.basename(sys.argv[0]) or "plot"


def one_line(msg):
    """Collapse any whitespace (newlines included) so a message is always one line."""
    return " ".join(str(msg).split())


def die(msg, code=EXIT_INPUT):
    sys.stderr.write("%s: error: %s\n" % (_prog(), one_line(msg)))
    sys.exit(code)


os.environ["MPLBACKEND"] = "Agg"
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker as mticker
    import numpy as np
except ImportError as exc:  # pragma: no cover - depends on the interpreter
    die("matplotlib/numpy not importable by %s (%s); use an interpreter with python3-matplotlib, "
        "e.g. /usr/bin/python3" % (sys.executable, exc), EXIT_NO_MPL)

plt.rcParams.update({
    "font.size": 12,
    "axes.titlesize": 14,
    "axes.labelsize": 13,
    "figure.titlesize": 18,
    "figure.titleweight": "bold",
    "legend.fontsize": 11,
    "legend.framealpha": 0.92,
    "axes.grid": True,
    "grid.alpha": 0.35,
    "grid.linestyle": ":",
    "axes.axisbelow": True,
    "svg.hashsalt": "alloctrace",     # deterministic SVG ids
    "svg.fonttype": "path",
})


# ---------------------------------------------------------------- input


class InputError(Exception):
    """Bad input; the message is a single line suitable for stderr."""


def _type_name(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def _check(value, spec, where, path):
    """Minimal structural validator.

    spec: "num" | "str" | "bool" | "any" (append "?" to also allow null),
          ("list", item_spec), ("nullable", spec), or {key: spec} where a key ending in "?" is optional.
    """
    if isinstance(spec, str):
        nullable = spec.endswith("?")
        kind = spec.rstrip("?")
        if value is None:
            if nullable or kind == "any":
                return
            raise InputError("%s: %s: expected %s, got null" % (path, where, kind))
        ok = (kind == "any"
              or (kind == "num" and isinstance(value, (int, float)) and not isinstance(value, bool)
                  and math.isfinite(value))
              or (kind == "str" and isinstance(value, str))
              or (kind == "bool" and isinstance(value, bool)))
        if not ok:
            want = {"num": "finite number", "str": "string", "bool": "boolean"}.get(kind, kind)
            raise InputError("%s: %s: expected %s, got %s" % (path, where, want, _type_name(value)))
        return
    if isinstance(spec, tuple) and spec[0] == "nullable":
        if value is not None:
            _check(value, spec[1], where, path)
        return
    if isinstance(spec, tuple) and spec[0] == "list":
        if not isinstance(value, list):
            raise InputError("%s: %s: expected array, got %s" % (path, where, _type_name(value)))
        for i, item in enumerate(value):
            _check(item, spec[1], "%s[%d]" % (where, i), path)
        return
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise InputError("%s: %s: expected object, got %s" % (path, where, _type_name(value)))
        for key, sub in spec.items():
            optional = key.endswith("?")
            name = key.rstrip("?")
            if name not in value:
                if optional:
                    continue
                raise InputError("%s: %s: missing key %r" % (path, where, name))
            _check(value[name], sub, "%s.%s" % (where, name) if where != "$" else name, path)
        return
    raise AssertionError("bad spec %r" % (spec,))


def load_json(path, schema, spec):
    """Read `path`, check its "schema" field equals `schema` and its shape matches `spec`.

    Raises InputError with a one-line message on any problem.
    """
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise InputError("cannot read %s: %s" % (path, exc.strerror or exc))
    except UnicodeDecodeError:
        raise InputError("%s: not UTF-8 text (is this a raw trace? pass the --json output)" % path)
    try:
        data = json.loads(text)
    except ValueError as exc:
        msg = getattr(exc, "msg", str(exc))
        line = getattr(exc, "lineno", "?")
        col = getattr(exc, "colno", "?")
        raise InputError("%s: not valid JSON (%s at line %s column %s)" % (path, msg, line, col))
    if not isinstance(data, dict):
        raise InputError("%s: expected a JSON object with \"schema\": %r, got %s"
                         % (path, schema, _type_name(data)))
    got = data.get("schema")
    if got != schema:
        raise InputError("%s: wrong schema: expected %r, got %r" % (path, schema, got))
    _check(data, spec, "$", path)
    return data


def load_or_die(path, schema, spec):
    try:
        return load_json(path, schema, spec)
    except InputError as exc:
        die(exc)


def num(v, default=float("nan")):
    """JSON number-or-null -> float (null -> default)."""
    return default if v is None else float(v)


# ---------------------------------------------------------------- units

_BYTE_UNITS = (("B", 1), ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40))


def byte_unit(maxval):
    """(name, divisor) of the largest binary unit not exceeding `maxval` (B for <1 KiB)."""
    m = abs(maxval) if maxval is not None and math.isfinite(maxval) else 0
    name, div = _BYTE_UNITS[0]
    for n, d in _BYTE_UNITS:
        if m >= d:
            name, div = n, d
    return name, div


def _num_str(v):
    """Up to 3 significant digits, no exponent, no trailing zeros (1, 1.5, 12.3, 512, 1023)."""
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 100:
        s = "%.0f" % v
    elif a >= 10:
        s = "%.1f" % v
    elif a >= 1:
        s = "%.2f" % v
    else:
        s = "%.3g" % v
    if "." in s and "e" not in s:
        s = s.rstrip("0").rstrip(".")
    return s


def fmt_bytes(n):
    """1536 -> '1.5 KiB', 1048576 -> '1 MiB', 12 -> '12 B'."""
    if n is None or not math.isfinite(n):
        return "n/a"
    name, div = byte_unit(n)
    return "%s %s" % (_num_str(n / div), name)


def fmt_count(n):
    """Compact decimal count: 950 -> '950', 12345 -> '12.3k', 4.2e6 -> '4.2M'."""
    if n is None or not math.isfinite(n):
        return "n/a"
    for suffix, d in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= d:
            return _num_str(n / d) + suffix
    return _num_str(n) if n != int(n) else "%d" % n


_TIME_UNITS = (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9))


def time_unit(maxval):
    """(name, divisor) so that maxval/divisor is >= 1 where possible."""
    m = abs(maxval) if maxval is not None and math.isfinite(maxval) else 0
    for name, div in _TIME_UNITS:
        if m >= div:
            return name, div
    return "s", 1.0


def fmt_seconds(t):
    if t is None or not math.isfinite(t):
        return "n/a"
    name, div = time_unit(t)
    return "%s %s" % (_num_str(t / div), name)


class _ScaledMaxNLocator(mticker.MaxNLocator):
    """MaxNLocator that picks round numbers in a scaled unit (e.g. 0.5, 1, 1.5 MiB)."""

    def __init__(self, scale, **kw):
        kw.setdefault("nbins", "auto")
        kw.setdefault("steps", [1, 2, 2.5, 5, 10])
        super().__init__(**kw)
        self._scale = float(scale)

    def tick_values(self, vmin, vmax):
        return np.asarray(super().tick_values(vmin / self._scale, vmax / self._scale)) * self._scale


def scaled_axis(axis, scale, min_n_ticks=3):
    """Round ticks in `scale` units on a matplotlib Axis (ax.xaxis / ax.yaxis), labels as plain numbers."""
    axis.set_major_locator(_ScaledMaxNLocator(scale, min_n_ticks=min_n_ticks))
    axis.set_major_formatter(mticker.FuncFormatter(
        lambda v, _pos: _num_str(round(v / scale, 9)) if v != 0 else "0"))


def bytes_axis(axis, maxval, what="bytes"):
    """Put `axis` in auto binary units chosen from `maxval`; returns the unit name (for the label)."""
    name, div = byte_unit(maxval)
    scaled_axis(axis, div)
    axis.set_label_text("%s (%s)" % (what, name))
    return name


def log2_bytes_axis(axis, lo, hi, max_ticks=9):
    """Log2 scale with power-of-two ticks labelled '8 B', '4 KiB', '1 MiB' between lo and hi."""
    axis_name = axis.axis_name
    ax = axis.axes
    (ax.set_yscale if axis_name == "y" else ax.set_xscale)("log", base=2)
    lo = max(1.0, float(lo))
    hi = max(lo * 2, float(hi))
    e0 = int(math.floor(math.log2(lo)))
    e1 = int(math.ceil(math.log2(hi)))
    stride = max(1, int(math.ceil((e1 - e0 + 1) / float(max_ticks))))
    ticks = [2.0 ** e for e in range(e1, e0 - 1, -stride)]      # anchored at the top: the largest size is labelled
    axis.set_major_locator(mticker.FixedLocator(ticks))
    axis.set_major_formatter(mticker.FuncFormatter(lambda v, _pos: fmt_bytes(v)))
    axis.set_minor_locator(mticker.FixedLocator([2.0 ** e for e in range(e0, e1 + 1)]))
    axis.set_minor_formatter(mticker.NullFormatter())
    lim = (2.0 ** (e0 - 0.3), 2.0 ** (e1 + 0.3 + 0.06 * (e1 - e0)))     # headroom for labels above the top
    (ax.set_ylim if axis_name == "y" else ax.set_xlim)(*lim)


def shorten(s, n):
    """Trim `s` to at most n characters with a trailing ellipsis."""
    s = "" if s is None else str(s)
    return s if len(s) <= n else s[: max(1, n - 1)] + "…"


def shorten_left(s, n):
    """Trim from the left ('…/dir/file.c:42'), for paths."""
    s = "" if s is None else str(s)
    return s if len(s) <= n else "…" + s[-(n - 1):]


def site_where(site, width=34):
    """'file.c:42' of a site/chain/suspect entry, or its module when the location is unknown."""
    loc = site.get("location") or ""
    if not loc or loc.startswith("??"):
        loc = site.get("module") or ""
    return shorten_left(loc, width)


def site_label(site, fn_width=40, loc_width=34, sep="  "):
    """'function  (file.c:42)' for a site/chain/suspect entry; falls back to the module.

    sep="\\n" puts the location on its own line (narrower legends)."""
    fn = shorten(site.get("function") or "??", fn_width)
    loc = site_where(site, loc_width)
    return "%s%s(%s)" % (fn, sep, loc) if loc else fn


# ---------------------------------------------------------------- figures


def new_figure(**subplot_kw):
    """A 16x9 in, 100 dpi figure with constrained layout (1600x900 px when saved with save())."""
    return plt.figure(figsize=FIGSIZE, dpi=DPI, layout="constrained", **subplot_kw)


def no_data_figure(title, message):
    fig = new_figure()
    ax = fig.add_subplot(1, 1, 1)
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=22, color="#707070",
            transform=ax.transAxes, wrap=True)
    fig.suptitle(title)
    return fig


def write_file(path, fill):
    """Create `path` the way alloctrace's C side does (cli/outfile.c): fill(f) writes into a
    temporary of our own beside it (mkstemp: O_EXCL, never through a symlink), which is
    fsync'd and renamed over `path` once complete; on any error it is removed and an
    existing `path` is left as it was."""
    d = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path)[:200] + ".", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        try:
            mode = os.lstat(path).st_mode
            mode = stat.S_IMODE(mode) if stat.S_ISREG(mode) else None
        except OSError:
            mode = None
        if mode is None:
            umask = os.umask(0o022)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save(fig, outdir, stem, svg=False):
    """Write DIR/stem.png (and .svg if asked); close the figure; return the written paths."""
    paths = []
    png = os.path.join(outdir, stem + ".png")
    fig.set_size_inches(*FIGSIZE)
    write_file(png, lambda f: fig.savefig(f, dpi=DPI, format="png", metadata={"Software": None}))
    paths.append(png)
    if svg:
        path = os.path.join(outdir, stem + ".svg")
        write_file(path, lambda f: fig.savefig(f, format="svg",
                                               metadata={"Date": None, "Creator": None}))
        paths.append(path)
    plt.close(fig)
    return paths


def ensure_outdir(outdir):
    try:
        os.makedirs(outdir, exist_ok=True)
    except OSError as exc:
        die("cannot create output directory %s: %s" % (outdir, exc.strerror or exc), 1)


def palette(n):
    """n distinct strong colours (tab10, then tab20 beyond 10), never grey."""
    if n <= 10:
        base = list(plt.get_cmap("tab10").colors)
        base.pop(7)                      # tab10[7] is grey, reserved for "other"
        base.append(plt.get_cmap("tab20").colors[1])
    else:
        base = [c for i, c in enumerate(plt.get_cmap("tab20").colors) if i not in (14, 15)]
    return [base[i % len(base)] for i in range(n)]


def add_common_args(parser, svg_help="also write an .svg next to each .png"):
    parser.add_argument("-o", "--outdir", required=True, metavar="DIR",
                        help="directory for the charts (created if missing)")
    parser.add_argument("--svg", action="store_true", help=svg_help)


def emit(paths):
    for p in paths:
        sys.stdout.write(p + "\n")
    sys.stdout.flush()
