#!/usr/bin/env python3
"""Tests for scripts/plot_*.py: synthetic alloctrace JSON in, 1600x900 PNGs (and SVGs) out, clean exit-2 errors.
Runs the scripts as subprocesses with sys.executable (needs matplotlib: use /usr/bin/python3); must never touch
real traces, the network, or anything outside its own temporary directories.
Run: /usr/bin/python3 tests/scripts/test_plots.py -v
"""

import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.normpath(os.path.join(HERE, "..", "..", "scripts"))
PLOT_ALL = os.path.join(SCRIPTS, "plot_all.py")

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    HAVE_MPL = True
except ImportError:
    HAVE_MPL = False

KiB = 1024
MiB = 1024 * 1024


# ---------------------------------------------------------------- synthetic inputs

def make_timeline(n=240, interval_ms=10):
    sites = [
        {"id": 0, "function": "make_table", "location": "known.c:42", "module": "known"},
        {"id": 1, "function": "grow_buffer", "location": "patterns.c:20", "module": "patterns"},
        {"id": 2, "function": "cache_put", "location": "patterns.c:60", "module": "patterns"},
        {"id": 3, "function": "std::vector<std::pair<std::string, int>>::_M_realloc_insert",
         "location": "/usr/include/c++/12/bits/vector.tcc:445", "module": "libstdc++.so.6"},
        {"id": 4, "function": "parse_record", "location": "??", "module": "libparse.so"},
    ]
    samples = []
    for i in range(n):
        t = (i + 1) * interval_ms / 1000.0
        x = i / float(n)
        table = 3 * MiB if x > 0.05 else int(3 * MiB * x / 0.05)
        buf = int(2 ** min(22, 3 + i // 7)) if x < 0.6 else 0           # doubling to 4 MiB, then freed
        cache = int(0.8 * MiB * t)                                      # steady leak
        vec = int(512 * KiB * (1 + math.sin(6 * x)))
        parse = int(200 * KiB * (1 + 0.5 * math.cos(11 * x)))
        other = int(300 * KiB + 100 * KiB * math.sin(3 * x))
        site_vals = [table, buf, cache, vec, parse]
        heap = sum(site_vals) + other
        samples.append({"t": round(t, 6), "heap": heap, "rss": int(heap * 1.25 + 2 * MiB),
                        "allocs_per_s": 20000.0 + 5000 * math.sin(9 * x),
                        "frees_per_s": 18000.0 + 5000 * math.sin(9 * x + 0.4),
                        "sites": site_vals, "other": other})
    peak = max(samples, key=lambda s: s["heap"])
    return {"schema": "alloctrace.timeline/1", "program": "prog", "cmdline": "prog a b",
            "interval_ms": interval_ms, "sites": sites, "samples": samples,
            "peak": {"t": peak["t"], "bytes": peak["heap"]}}


def _chain(function, location, sizes, moves):
    return {"function": function, "location": location, "module": "patterns", "chains": 1,
            "steps": len(sizes) - 1, "sizes": sizes,
            "factor": round((sizes[-1] / float(sizes[0])) ** (1.0 / max(1, len(sizes) - 1)), 3),
            "moves": moves, "bytes_copied": sum(sizes[:moves]), "final_size": sizes[-1],
            "reserve_hint": sizes[-1]}


def make_growth():
    doubling = [8 << i for i in range(18)]                  # 8 B .. 1 MiB
    assert doubling[0] == 8 and doubling[-1] == MiB
    onehalf = [int(16 * 1.5 ** i) for i in range(20)]
    linear = [4096 * (i + 1) for i in range(12)]
    chains = [_chain("grow_buffer", "patterns.c:20", doubling, 12),
              _chain("std::string::_M_append", "basic_string.tcc:400", onehalf, 15),
              _chain("append_line", "patterns.c:88", linear, 11),
              _chain("tiny_vec_push", "patterns.c:101", [16, 32, 64], 2)]
    chains[1]["chains"] = 7
    ts = [i * 0.05 for i in range(41)]
    leak = {"function": "cache_put", "location": "patterns.c:60", "module": "patterns",
            "slope_bytes_per_s": 1.2 * MiB, "live_bytes_end": int(1.2 * MiB * ts[-1]), "flagged": True,
            "samples": [[t, int(1.2 * MiB * t + 60 * KiB * math.sin(9 * t))] for t in ts]}
    leak2 = {"function": "intern_string", "location": "strings.c:12", "module": "prog",
             "slope_bytes_per_s": 150 * KiB, "live_bytes_end": int(150 * KiB * 2 + 64 * KiB), "flagged": True,
             "samples": [[t, int(64 * KiB + 150 * KiB * t)] for t in ts]}
    steady = {"function": "pool_refill", "location": "pool.c:33", "module": "prog",
              "slope_bytes_per_s": 2 * KiB, "live_bytes_end": 300 * KiB, "flagged": False,
              "samples": [[t, int(300 * KiB + 40 * KiB * math.sin(5 * t))] for t in ts]}
    hist = []
    lo = 0
    for e in range(4, 22):
        hi = 1 << e
        count = int(50000 / (1.6 ** (e - 4))) + 1
        hist.append({"lo": lo, "hi": hi, "count": count, "bytes": count * (lo + hi) // 2})
        lo = hi
    align = [{"align": 16, "count": 120000, "padding_bytes": 0},
             {"align": 32, "count": 800, "padding_bytes": 9600},
             {"align": 64, "count": 300, "padding_bytes": 12000},
             {"align": 4096, "count": 12, "padding_bytes": 30000}]
    return {"schema": "alloctrace.growth/1", "program": "prog", "chains": chains,
            "leak_suspects": [leak, leak2, steady], "size_histogram": hist, "align_histogram": align}


def make_replay():
    def r(name, wall, cpu, peak, frag, faults):
        return {"allocator": name,
                "wall_s": {"median": wall, "min": wall * 0.93, "max": wall * 1.12},
                "cpu_s": {"median": cpu, "min": cpu * 0.95, "max": cpu * 1.05},
                "peak_rss": peak, "end_rss": int(peak * 0.7), "page_faults": faults, "fragmentation": frag}
    return {"schema": "alloctrace.replay/1", "program": "prog", "repeat": 5,
            "results": [r("glibc", 0.100, 0.092, 48 * MiB, 1.30, 12100),
                        r("jemalloc", 0.081, 0.075, 52 * MiB, 1.12, 13900),
                        r("mimalloc", 0.074, 0.070, 55 * MiB, 1.18, 14500),
                        r("tcmalloc", 0.079, 0.074, 60 * MiB, 1.25, 15800)]}


def write_fixtures(d):
    """Write timeline.json, growth.json, replay.json into d; returns their paths."""
    paths = {}
    for name, obj in (("timeline", make_timeline()), ("growth", make_growth()), ("replay", make_replay())):
        paths[name] = os.path.join(d, name + ".json")
        with open(paths[name], "w") as f:
            json.dump(obj, f)
    return paths


# ---------------------------------------------------------------- helpers

def run(args):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("DISPLAY", None)          # must work headless
    return subprocess.run([sys.executable] + args, capture_output=True, text=True, env=env, timeout=300)


@unittest.skipUnless(HAVE_MPL, "matplotlib not importable by %s; run with /usr/bin/python3" % sys.executable)
class PlotTests(unittest.TestCase):

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="atr-plot-test-")
        self.tmp = self._tmp.name
        self.inp = write_fixtures(self.tmp)
        self.out = os.path.join(self.tmp, "out")

    def tearDown(self):
        self._tmp.cleanup()

    def assertPng1600x900(self, path):
        self.assertTrue(os.path.isfile(path), path)
        self.assertGreater(os.path.getsize(path), 1000, path)
        img = mpimg.imread(path)
        self.assertEqual(img.shape[:2], (900, 1600), path)

    def assertOneLineError(self, proc, *needles):
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertEqual(proc.stdout, "")
        lines = proc.stderr.splitlines()
        self.assertEqual(len(lines), 1, proc.stderr)
        for n in needles:
            self.assertIn(n, lines[0])

    def plot_all(self, *extra, timeline=None, growth=None):
        return run([PLOT_ALL, "--timeline", timeline or self.inp["timeline"],
                    "--growth", growth or self.inp["growth"], "-o", self.out] + list(extra))

    # -- success paths

    def test_all_charts_with_replay_and_svg(self):
        p = self.plot_all("--replay", self.inp["replay"], "--svg")
        self.assertEqual(p.returncode, 0, p.stderr)
        stems = ["heap_timeline", "size_histogram", "align_histogram", "growth_ladders",
                 "leak_suspects", "replay"]
        expected = []
        for s in stems:
            expected += [os.path.join(self.out, s + ".png"), os.path.join(self.out, s + ".svg")]
        self.assertEqual(sorted(p.stdout.splitlines()), sorted(expected))
        for s in stems:
            self.assertPng1600x900(os.path.join(self.out, s + ".png"))
            svg = os.path.join(self.out, s + ".svg")
            self.assertGreater(os.path.getsize(svg), 1000)
            with open(svg) as f:
                self.assertIn('width="1152pt" height="648pt"', f.read(4096))   # 16x9 in at 72 pt/in

    def test_without_replay_no_svg(self):
        p = self.plot_all()
        self.assertEqual(p.returncode, 0, p.stderr)
        written = p.stdout.splitlines()
        for line in written:
            self.assertTrue(os.path.isabs(line) or line.startswith(self.out), line)
            self.assertTrue(line.endswith(".png"), line)
            self.assertPng1600x900(line)
        names = sorted(os.path.basename(x) for x in written)
        self.assertEqual(names, ["align_histogram.png", "growth_ladders.png", "heap_timeline.png",
                                 "leak_suspects.png", "size_histogram.png"])
        self.assertFalse(os.path.exists(os.path.join(self.out, "replay.png")))

    def test_empty_lists(self):
        tl = dict(make_timeline(), sites=[], samples=[])
        del tl["peak"]
        gr = dict(make_growth(), chains=[], leak_suspects=[], size_histogram=[], align_histogram=[])
        rp = dict(make_replay(), results=[])
        paths = {}
        for name, obj in (("timeline", tl), ("growth", gr), ("replay", rp)):
            paths[name] = os.path.join(self.tmp, "empty_%s.json" % name)
            with open(paths[name], "w") as f:
                json.dump(obj, f)
        p = self.plot_all("--replay", paths["replay"], timeline=paths["timeline"], growth=paths["growth"])
        self.assertEqual(p.returncode, 0, p.stderr)
        names = sorted(os.path.basename(x) for x in p.stdout.splitlines())
        self.assertIn("heap_timeline.png", names)
        self.assertNotIn("align_histogram.png", names)          # skipped when the list is empty
        for line in p.stdout.splitlines():
            self.assertPng1600x900(line)

    def test_single_sample_and_nulls(self):
        tl = make_timeline(n=1)
        tl["samples"][0]["rss"] = None
        tl["samples"][0]["sites"] = tl["samples"][0]["sites"][:3]       # fewer columns than sites
        path = os.path.join(self.tmp, "one.json")
        with open(path, "w") as f:
            json.dump(tl, f)
        p = run([os.path.join(SCRIPTS, "plot_timeline.py"), path, "-o", self.out])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertPng1600x900(os.path.join(self.out, "heap_timeline.png"))

    def test_each_script_standalone(self):
        for script, inp, stems in (("plot_timeline.py", "timeline", ["heap_timeline"]),
                                   ("plot_growth.py", "growth", ["size_histogram", "align_histogram",
                                                                 "growth_ladders", "leak_suspects"]),
                                   ("plot_replay.py", "replay", ["replay"])):
            out = os.path.join(self.tmp, "solo-" + inp)
            p = run([os.path.join(SCRIPTS, script), self.inp[inp], "-o", out])
            self.assertEqual(p.returncode, 0, script + ": " + p.stderr)
            self.assertEqual(sorted(p.stdout.splitlines()),
                             sorted(os.path.join(out, s + ".png") for s in stems))
            for s in stems:
                self.assertPng1600x900(os.path.join(out, s + ".png"))

    # -- error paths: exit 2, one line on stderr, nothing on stdout

    def test_wrong_schema(self):
        p = self.plot_all(timeline=self.inp["growth"])
        self.assertOneLineError(p, "schema", "alloctrace.timeline/1", "alloctrace.growth/1")
        self.assertFalse(os.path.exists(os.path.join(self.out, "heap_timeline.png")))

    def test_wrong_schema_replay(self):
        p = self.plot_all("--replay", self.inp["timeline"])
        self.assertOneLineError(p, "schema", "alloctrace.replay/1")

    def test_missing_file(self):
        p = self.plot_all(growth=os.path.join(self.tmp, "nope.json"))
        self.assertOneLineError(p, "nope.json")

    def test_invalid_json(self):
        bad = os.path.join(self.tmp, "bad.json")
        with open(bad, "w") as f:
            f.write('{"schema": "alloctrace.timeline/1",\n "samples": [1, 2,\n')
        p = self.plot_all(timeline=bad)
        self.assertOneLineError(p, "bad.json", "JSON")

    def test_raw_trace_rejected(self):
        raw = os.path.join(self.tmp, "trace.atr")
        with open(raw, "wb") as f:
            f.write(b"\x28\xb5\x2f\xfd\x00\x58\x61\x00\xff\xfe\x80\x81")     # zstd magic + junk
        p = self.plot_all(timeline=raw)
        self.assertOneLineError(p, "trace.atr")

    def test_malformed_field(self):
        tl = make_timeline(n=5)
        tl["samples"][3]["heap"] = "lots"
        path = os.path.join(self.tmp, "malformed.json")
        with open(path, "w") as f:
            json.dump(tl, f)
        p = self.plot_all(timeline=path)
        self.assertOneLineError(p, "samples[3].heap")

    def test_usage_error(self):
        p = run([PLOT_ALL, "--growth", self.inp["growth"], "-o", self.out])      # no --timeline
        self.assertEqual(p.returncode, 2)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--write-fixtures":      # handy for eyeballing the charts
        os.makedirs(sys.argv[2], exist_ok=True)
        print("\n".join(write_fixtures(sys.argv[2]).values()))
        sys.exit(0)
    unittest.main()
