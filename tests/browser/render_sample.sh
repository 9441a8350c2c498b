#!/bin/sh
# Assembles cli/flamegraph/sample.json into a standalone page (as `alloctrace flamegraph` would) and runs
# the browser test on it; needs no C build. Never writes outside OUTDIR (default: a fresh temporary dir).
# Usage: tests/browser/render_sample.sh [OUTDIR]   -> OUTDIR/sample.html, OUTDIR/shots/*.png; exit 77 = skipped
set -eu
here=$(cd "$(dirname "$0")" && pwd)
fg="$here/../../cli/flamegraph"
out=${1:-$(mktemp -d "${TMPDIR:-/tmp}/atr-flame.XXXXXX")}
mkdir -p "$out"
py=/usr/bin/python3
[ -x "$py" ] || py=python3
"$py" "$here/assemble.py" "$fg/template.html" "$fg/flame.css" "$fg/flame.js" "$fg/sample.json" "$out/sample.html"
echo "# page: $out/sample.html"
exec "$py" "$here/flame_test.py" "$out/sample.html" \
    --expect-func make_table --expect-func main --expect-func leak_some --expect-func parse_line \
    --expect-func 'std::vector<int>::_M_realloc_insert' --expect-func malloc \
    --shots "$out/shots"
