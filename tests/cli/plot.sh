# plot: `alloctrace plot` on a traced tests/progs/growth_patterns writes timeline.json,
# growth.json and non-empty 1600x900 PNGs (SVGs with --svg), lists exactly the files it
# wrote, picks up replay.json, and fails with one line (exit 2) when the interpreter
# cannot import matplotlib. Skipped when the build found no Python with matplotlib.
. "$TESTS/lib.sh"
[ -n "${PLOT_PYTHON:-}" ] || skip "no Python with matplotlib was found at build time"

trace gp "$PROGS/growth_patterns" || not_ok "growth_patterns exits 0"
D=$T/plots
expect_exit "plot -o DIR" 0 "$ATR" plot -o "$D" "$T/gp.zst"
printf '%s\n' "$OUT" >"$T/listed"
expect_eq "listed files" "$(sed 's|.*/||' "$T/listed" | sort | tr '\n' ' ')" \
  "align_histogram.png growth.json growth_ladders.png heap_timeline.png leak_suspects.png size_histogram.png timeline.json "
expect_eq "every listed file is in DIR" "$(grep -vc "^$D/" "$T/listed")" 0
expect_eq "DIR holds exactly the listed files" "$(ls "$D" | sort | tr '\n' ' ')" \
  "$(sed 's|.*/||' "$T/listed" | sort | tr '\n' ' ')"
# pixel size and content, read back with matplotlib
CHECK=$("$PY" - "$T/listed" <<'PYEOF'
import sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.image as mpimg
for path in open(sys.argv[1]).read().split():
    if not path.endswith(".png"):
        continue
    img = mpimg.imread(path)
    # a chart, not a blank canvas: many distinct colours
    colours = len({tuple(p) for p in (img[::7, ::7, :3] * 255).astype(int).reshape(-1, 3).tolist()})
    print("%s %dx%d %s" % (path.rsplit("/", 1)[1], img.shape[1], img.shape[0],
                           "ok" if colours > 20 else "blank(%d)" % colours))
PYEOF
)
expect_eq "PNG sizes and content" "$(printf '%s\n' "$CHECK" | sort | tr '\n' ';')" \
  "align_histogram.png 1600x900 ok;growth_ladders.png 1600x900 ok;heap_timeline.png 1600x900 ok;leak_suspects.png 1600x900 ok;size_histogram.png 1600x900 ok;"
expect_eq "growth.json is growth --json" \
  "$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["chains"][0]["function"] in ("grow_doubling", "grow_by_half"))' "$D/growth.json")" True
expect_eq "timeline.json schema" "$(jget "$D/timeline.json" schema)" alloctrace.timeline/1

# default DIR (TRACE-plots, from the current directory); replay.json there is drawn too,
# and --svg adds SVGs
mkdir -p "$T/gp-plots"
cat >"$T/gp-plots/replay.json" <<'EOF2'
{"schema": "alloctrace.replay/1", "program": "growth_patterns", "repeat": 1,
 "results": [{"allocator": "glibc", "wall_s": {"median": 0.01, "min": 0.01, "max": 0.01},
              "cpu_s": {"median": 0.01, "min": 0.01, "max": 0.01}, "peak_rss": 4000000,
              "end_rss": 3000000, "page_faults": 100, "fragmentation": 1.1}]}
EOF2
expect_exit "plot --svg with replay.json in the default DIR" 0 sh -c 'cd "$1" && exec "$2" plot --svg gp.zst' sh "$T" "$ATR"
expect_eq "default DIR is TRACE-plots" "$(printf '%s\n' "$OUT" | head -1)" "gp-plots/timeline.json"
expect_match "replay chart listed" "$OUT" "gp-plots/replay.png"
expect_match "SVG listed" "$OUT" "gp-plots/heap_timeline.svg"
expect_eq "PNGs and SVGs in the default DIR" "$(ls "$T/gp-plots" | grep -c '\.png$') $(ls "$T/gp-plots" | grep -c '\.svg$')" "6 6"
expect_eq "replay PNG size" "$("$PY" -c 'import matplotlib; matplotlib.use("Agg"); import matplotlib.image as m, sys; i = m.imread(sys.argv[1]); print(i.shape[1], i.shape[0])' "$T/gp-plots/replay.png")" "1600 900"

# no usable interpreter: one line, exit 2
expect_exit "no matplotlib" 2 env ALLOCTRACE_PYTHON=/bin/false "$ATR" plot -o "$T/none" "$T/gp.zst"
expect_eq "no matplotlib: one line" "$(printf '%s\n' "$OUT" | wc -l)" 1
expect_match "no matplotlib: says so" "$OUT" 'cannot import matplotlib'
expect_exit "bad replay file" 2 "$ATR" plot -o "$T/r" --replay "$T/nope.json" "$T/gp.zst"
expect_match "bad replay file named" "$OUT" 'nope.json'
finish
