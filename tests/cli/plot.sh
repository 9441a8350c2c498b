# plot: `alloctrace plot` on a traced tests/progs/growth_patterns writes timeline.json,
# growth.json and non-empty 1600x900 PNGs, lists exactly the files it wrote, hands
# plot_all.py the right arguments (default DIR, replay.json, --svg), and fails with one
# line (exit 2) when the interpreter cannot import matplotlib. Skipped when the build
# found no Python with matplotlib.
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

# What plot hands the scripts, through an interpreter that records its arguments instead
# of drawing (tests/scripts/test_plots.py draws replay charts and SVGs): the default DIR
# (TRACE-plots, from the current directory), replay.json found there or given, --svg.
cat >"$T/fakepy" <<EOF2
#!/bin/sh
case "\$1" in *plot_all.py) printf '%s\n' "\$@" >"$T/fakepy.args"; exit 0 ;; esac
exec "$PY" "\$@"
EOF2
chmod +x "$T/fakepy"
mkdir -p "$T/gp-plots"
echo '{}' >"$T/gp-plots/replay.json"
expect_exit "plot with the default DIR" 0 env ALLOCTRACE_PYTHON="$T/fakepy" sh -c 'cd "$1" && exec "$2" plot gp.zst' sh "$T" "$ATR"
expect_eq "default DIR is TRACE-plots" "$(printf '%s\n' "$OUT" | tr '\n' ' ')" "gp-plots/timeline.json gp-plots/growth.json "
expect_eq "plot_all.py arguments (replay.json in DIR)" \
  "$(sed "s|.*/scripts/plot_all.py|plot_all.py|" "$T/fakepy.args" | tr '\n' ' ')" \
  "plot_all.py --timeline=gp-plots/timeline.json --growth=gp-plots/growth.json --replay=gp-plots/replay.json --outdir=gp-plots "
expect_exit "plot --svg --replay FILE" 0 env ALLOCTRACE_PYTHON="$T/fakepy" "$ATR" plot --svg --replay "$T/gp-plots/replay.json" -o "$T/args" "$T/gp.zst"
expect_eq "plot_all.py arguments (--svg --replay FILE)" \
  "$(sed "s|$T|T|g; s|.*/scripts/plot_all.py|plot_all.py|" "$T/fakepy.args" | tr '\n' ' ')" \
  "plot_all.py --timeline=T/args/timeline.json --growth=T/args/growth.json --replay=T/gp-plots/replay.json --outdir=T/args --svg "
expect_eq "the scripts come from the source tree" "$(head -1 "$T/fakepy.args")" "$SRCDIR/scripts/plot_all.py"

# no usable interpreter: one line, exit 2
expect_exit "no matplotlib" 2 env ALLOCTRACE_PYTHON=/bin/false "$ATR" plot -o "$T/none" "$T/gp.zst"
expect_eq "no matplotlib: one line" "$(printf '%s\n' "$OUT" | wc -l)" 1
expect_match "no matplotlib: says so" "$OUT" 'cannot import matplotlib'
expect_exit "bad replay file" 2 "$ATR" plot -o "$T/r" --replay "$T/nope.json" "$T/gp.zst"
expect_match "bad replay file named" "$OUT" 'nope.json'
# a trace named like an option: the default directory "-n-plots" must reach plot_all.py
# as a directory, not as an option (main: argparse "expected one argument", exit 2)
mkdir "$T/dash" && cp "$T/gp.zst" "$T/dash/-n.zst"
rc=0
(cd "$T/dash" && "$ATR" plot ./-n.zst >"$T/dash.out" 2>"$T/dash.err") || rc=$?
expect_eq "plot ./-n.zst exits 0" "$rc" 0
expect_eq "plot ./-n.zst: nothing on stderr" "$(cat "$T/dash.err")" ""
expect_eq "plot ./-n.zst: charts in -n-plots" "$(ls "$T/dash/-n-plots" | sort | tr '\n' ' ')" \
  "align_histogram.png growth.json growth_ladders.png heap_timeline.png leak_suspects.png size_histogram.png timeline.json "
rc=0
(cd "$T/dash" && "$ATR" plot -o ./-out --replay ./-r.json -- -n.zst >/dev/null 2>"$T/dash2.err") || rc=$?
expect_eq "plot -- -n.zst with a missing ./-r.json: exit 2" "$rc" 2
expect_eq "plot -- -n.zst with a missing ./-r.json: one line naming it" \
  "$(wc -l <"$T/dash2.err")/$(grep -c -- '-r.json: cannot read' "$T/dash2.err")" 1/1
# an error of the script is one line naming the trace (main: the script's line, then a
# second "plot_all.py failed" line)
printf '{"schema": "nope"}\n' >"$T/bad_replay.json"
rc=0
"$ATR" plot -o "$T/badrp" --replay "$T/bad_replay.json" "$T/gp.zst" >/dev/null 2>"$T/badrp.err" || rc=$?
expect_eq "wrong replay schema: exit 2" "$rc" 2
expect_eq "wrong replay schema: one stderr line" "$(wc -l <"$T/badrp.err")" 1
expect_match "wrong replay schema: names the trace and the file" "$(cat "$T/badrp.err")" \
  "^alloctrace plot: $T/gp\.zst: plot_all\.py: error: $T/bad_replay\.json: wrong schema: expected 'alloctrace\.replay/1', got 'nope' \(plot_all\.py exit 2\)$"
finish
