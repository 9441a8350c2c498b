# flamegraph_browser: the HTML page of a traced tests/progs/known in headless Chromium, used as
# a person would by tests/browser/flame_test.py (the known functions are visible, a click zooms,
# the breadcrumb zooms out, search shows the matched share, the metric switch, the inverted view,
# the live-at-peak time view), and the SVG rendered by the same browser (tests/browser/svg_test.py).
# Screenshots, the page and the SVG are kept in $ATR_ARTEFACTS/flamegraph. Skipped (77) only
# where Chromium, chromedriver or python3-selenium are missing.
. "$TESTS/lib.sh"
BPY=/usr/bin/python3 # Debian's python3-selenium lives here, whatever python3 is on PATH
[ -x "$BPY" ] || skip "no /usr/bin/python3 for Selenium"
MAKE=$ATR
[ -n "${ATR_NORMAL:-}" ] && [ -x "$ATR_NORMAL" ] && MAKE=$ATR_NORMAL
"$MAKE" run -q -o "$T/known.zst" -- "$PROGS/known" >/dev/null 2>"$T/known.err" ||
  skip "cannot record known: $(head -c 300 "$T/known.err")"
ART=${ATR_ARTEFACTS:-$T}/flamegraph
rm -rf "$ART"
mkdir -p "$ART"

# allocations as the first metric: every function of known.c is wide enough for a label
"$ATR" flamegraph --metric allocations -o "$ART/known.html" "$T/known.zst" ||
  not_ok "flamegraph html"
rc=0
"$BPY" "$TESTS/browser/flame_test.py" "$ART/known.html" --expect-func make_table \
  --expect-func main --expect-func leak_some --expect-func build_peak --expect-func temp_work \
  --expect-func realloc_chain --shots "$ART/shots" >"$T/page.tap" 2>&1 || rc=$?
cat "$T/page.tap"
[ "$rc" = 77 ] && skip "$(grep -m1 SKIP "$T/page.tap" | sed 's/.*SKIP //')"
expect_eq "flame_test.py on known.html" "$rc $(grep -c '^not ok' "$T/page.tap")" "0 0"
expect_eq "six screenshots kept" "$(ls "$ART/shots"/*.png 2>/dev/null | wc -l | tr -d ' ')" 6

"$ATR" flamegraph --format svg --metric allocations -o "$ART/known.svg" "$T/known.zst" ||
  not_ok "flamegraph svg"
rc=0
"$BPY" "$TESTS/browser/svg_test.py" "$ART/known.svg" --expect-func make_table --expect-func main \
  --expect-func build_peak --shot "$ART/shots/svg.png" >"$T/svg.tap" 2>&1 || rc=$?
cat "$T/svg.tap"
expect_eq "svg_test.py on known.svg renders in Chromium" "$rc $(grep -c '^not ok' "$T/svg.tap")" "0 0"
echo "# artefacts in $ART"
finish
