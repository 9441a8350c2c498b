# outputs (issue 20): every output is valid for its format whatever bytes the trace
# holds, and every file the CLI writes is created safely. A trace of evil_names (function
# and file names with ESC, BEL, invalid UTF-8, overlongs, U+FFFE/FFFF, a surrogate, a code
# point above U+10FFFF, C1 and DEL; a program name and argv with such bytes too):
#  - every JSON output parses and keeps every field, bad bytes as U+FFFD (docs/json.md);
#  - the SVG and the JUnit report are well-formed XML (xml.etree);
#  - summary, diff, growth, check and timeline --csv text is valid UTF-8 with no C0 but
#    newline and tab, no DEL, no C1 (the bytes show as \xNN / \uNNNN escapes), and check
#    cuts a long name between characters;
#  - a symlink planted at an output's name (and at junit's old FILE.tmp.PID) redirects
#    nothing: the file it points to is untouched, the output is a correct regular file;
#  - an existing output is kept intact when the trace is bad.
# Never writes outside its temp directory.
. "$TESTS/lib.sh"
XPY=/usr/bin/python3
[ -x "$XPY" ] || XPY=$PY
[ -x "$PROGS/evil_names" ] || skip "no evil_names test program"

# In the asan suite $ATR is the sanitizer build, whose preload library cannot be
# LD_PRELOADed into ordinary programs: the traces come from $ATR_NORMAL then.
REC=("$ATR")
ASAN=0
ldd "$ATR" 2>/dev/null | grep -q libasan && ASAN=1
[ "$ASAN" = 1 ] && [ -x "${ATR_NORMAL:-}" ] && REC=(env -u ALLOCTRACE_LIB -u LD_LIBRARY_PATH "$ATR_NORMAL")
EVIL=$T/prog$'\e[2J\xff'
cp "$PROGS/evil_names" "$EVIL"
ARGS=($'\e]0;argv\a' $'x\xffy' $'\xed\xa0\x80' $'\xf4\x90\x80\x80')
"${REC[@]}" run -q -o "$T/e.zst" -- "$EVIL" "${ARGS[@]}" >"$T/run.out" 2>"$T/run.err" ||
  not_ok "evil_names runs: $(head -c 300 "$T/run.err")"
"${REC[@]}" run -q -o "$T/b.zst" -- "$EVIL" x >/dev/null 2>&1 || not_ok "evil_names runs (base)"
printf 'not a trace\n' >"$T/bad.zst"
expect_eq "the run printed nothing" "$(cat "$T/run.out")" ""

# ---- JSON: every field kept, U+FFFD for bytes outside a well-formed UTF-8 sequence
json_check() { # DESC KIND FILE
  local r
  r=$("$XPY" - "$2" "$3" "$T" <<'PYEOF' 2>&1
import json, sys
kind, path, tdir = sys.argv[1:4]
R = "\ufffd"
prog = tdir + "/prog\x1b[2J" + R
argv = ["/prog\x1b[2J" + R, "\x1b]0;argv\x07", "x" + R + "y", R * 3, R * 4]
names = ["evil\x1b[2Jclear", "title\x1b]0;pwned\x07", "bad" + R * 2, "overlong" + R * 5,
         "nonchar\ufffe\uffff", "surrogate" + R * 3, "big" + R * 4, "c1\x9b31m\x7f",
         "caf\u00e9_ok"]
filename = "evil\x1b]0;pwned\x07" + R + ".c"
try:
    d = json.load(open(path, encoding="utf-8"))
except Exception as e:
    print("does not parse: %s" % e); sys.exit(1)
def strings(v):
    if isinstance(v, dict):
        for k, x in v.items():
            yield from strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from strings(x)
    elif isinstance(v, str):
        yield v
def funcs(v, key="function"):
    out = set()
    if isinstance(v, dict):
        for k, x in v.items():
            if k == key and isinstance(x, str):
                out.add(x)
            out |= funcs(x, key)
    elif isinstance(v, list):
        for x in v:
            out |= funcs(x, key)
    return out
bad = []
def want(c, what):
    if not c:
        bad.append(what)
if kind == "summary":
    want(d.get("program") == prog, "program %r" % d.get("program"))
    want(d.get("argv", [])[1:] == argv[1:] and len(d.get("argv", [])) == 5
         and d["argv"][0].endswith(argv[0]), "argv %r" % d.get("argv"))
    fs = funcs(d["top"])
    want(set(names) <= fs, "functions missing: %r" % sorted(set(names) - fs))
    files = funcs(d["top"], "file")
    want(any(f.endswith("/" + filename) for f in files), "file %r" % sorted(files))
    want("grow\x1b[2J" in fs, "grow missing")
elif kind in ("check", "check3"):  # check3: the default --top 3
    want(d.get("program") == "prog\x1b[2J" + R, "program %r" % d.get("program"))
    fs = funcs(d)
    if kind == "check":
        want(set(names) <= fs, "functions missing: %r" % sorted(set(names) - fs))
    else:
        fs.discard("main")  # the blamed sites' stacks
        want(fs == {"grow\x1b[2J", "caf\u00e9_ok", "c1\x9b31m\x7f"}, "functions %r" % sorted(fs))
elif kind == "diff":
    want(d["base"]["program"] == "prog\x1b[2J" + R and d["new"]["program"] == "prog\x1b[2J" + R,
         "programs %r %r" % (d["base"]["program"], d["new"]["program"]))
    fs = funcs(d)
    want(set(names) <= fs, "functions missing: %r" % sorted(set(names) - fs))
elif kind in ("growth", "timeline"):
    want(d.get("program") == prog, "program %r" % d.get("program"))
    want(d.get("cmdline", "").endswith(" ".join(argv[1:])), "cmdline %r" % d.get("cmdline"))
    fs = funcs(d)
    want(("grow\x1b[2J" in fs), "grow missing from %r" % sorted(fs))
    if kind == "timeline":
        want(len(d["sites"]) == 8 and set(x["function"] for x in d["sites"]) <= set(names) | {"grow\x1b[2J"},
             "sites %r" % [x["function"] for x in d["sites"]])
elif kind == "speedscope":
    fr = set(f["name"] for f in d["shared"]["frames"])
    want(set(names) <= fr, "frames missing: %r" % sorted(set(names) - fr))
    fl = set(f.get("file", "") for f in d["shared"]["frames"])
    want(any(f.endswith("/" + filename) for f in fl), "file %r" % sorted(fl))
elif kind == "replay":
    want(d.get("program") in (prog, "prog\x1b[2J" + R), "program %r" % d.get("program"))
print("; ".join(bad) if bad else "ok")
sys.exit(1 if bad else 0)
PYEOF
  ) && ok "$1: every field, bad bytes as U+FFFD" || not_ok "$1: $(printf '%s' "$r" | head -c 600)"
}
"$ATR" summary --json --top 20 "$T/e.zst" >"$T/summary.json" 2>/dev/null
json_check "summary --json" summary "$T/summary.json"
"$ATR" check --json --max-leaked 1 --top 20 "$T/e.zst" >"$T/check.json" 2>/dev/null
json_check "check --json" check "$T/check.json"
"$ATR" check --max-leaked 1 --top 20 --json --junit "$T/check.xml" "$T/e.zst" >/dev/null 2>&1
"$ATR" diff --json --top 20 "$T/b.zst" "$T/e.zst" >"$T/diff.json" 2>/dev/null
json_check "diff --json" diff "$T/diff.json"
"$ATR" growth --json "$T/e.zst" >"$T/growth.json" 2>/dev/null
json_check "growth --json" growth "$T/growth.json"
"$ATR" timeline --json --top 8 "$T/e.zst" >"$T/timeline.json" 2>/dev/null
json_check "timeline --json" timeline "$T/timeline.json"
"$ATR" flamegraph --format speedscope -o "$T/e.speedscope.json" "$T/e.zst" >/dev/null 2>&1
json_check "flamegraph --format speedscope" speedscope "$T/e.speedscope.json"

# ---- XML: well-formed, only XML 1.0 Chars, the names readable
xml_check() { # DESC FILE
  local r
  r=$("$XPY" - "$2" <<'PYEOF' 2>&1
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception as e:
    print("not well-formed: %s" % e); sys.exit(1)
text = " ".join(root.itertext()) + " ".join(v for e in root.iter() for v in e.attrib.values())
R = "\ufffd"
missing = [n for n in ["evil" + R + "[2Jclear", "nonchar" + R * 2, "surrogate" + R * 3,
                       "big" + R * 4, "caf\u00e9_ok"] if n not in text]
print("names missing: %r" % missing if missing else "ok")
sys.exit(1 if missing else 0)
PYEOF
  ) && ok "$1: well-formed XML with the names" || not_ok "$1: $(printf '%s' "$r" | head -c 600)"
}
"$ATR" flamegraph --format svg --min-percent 0 -o "$T/e.svg" "$T/e.zst" >/dev/null 2>&1
xml_check "flamegraph --format svg" "$T/e.svg"
xml_check "check --junit" "$T/check.xml"

# ---- text: no control bytes, valid UTF-8, the names as visible escapes
text_check() { # DESC FILE WANT_LITERAL
  local r
  r=$("$XPY" - "$2" "$3" <<'PYEOF' 2>&1
import re, sys
b = open(sys.argv[1], "rb").read()
bad = []
m = re.search(rb"[\x00-\x08\x0b-\x1f\x7f]", b)
if m:
    bad.append("control byte 0x%02x at %d: %r" % (b[m.start()], m.start(), b[max(0, m.start() - 30):m.start() + 10]))
try:
    s = b.decode("utf-8")
    c1 = [c for c in s if 0x80 <= ord(c) <= 0x9f]
    if c1:
        bad.append("C1 characters %r" % c1[:4])
except UnicodeDecodeError as e:
    bad.append("not UTF-8: %s: %r" % (e, b[max(0, e.start - 30):e.start + 10]))
if sys.argv[2].encode() not in b:
    bad.append("no %r in the text" % sys.argv[2])
if not b:
    bad.append("empty")
print("; ".join(bad) if bad else "ok")
sys.exit(1 if bad else 0)
PYEOF
  ) && ok "$1: no control bytes, valid UTF-8" || not_ok "$1: $(printf '%s' "$r" | head -c 600)"
}
"$ATR" summary --top 20 "$T/e.zst" >"$T/summary.txt" 2>/dev/null
text_check "summary" "$T/summary.txt" 'evil\x1b[2Jclear ('
"$ATR" diff --top 20 "$T/b.zst" "$T/e.zst" >"$T/diff.txt" 2>/dev/null
text_check "diff" "$T/diff.txt" 'c1\u009b31m\x7f'
"$ATR" growth "$T/e.zst" >"$T/growth.txt" 2>/dev/null
text_check "growth" "$T/growth.txt" 'grow\x1b[2J ('
"$ATR" timeline --csv --top 8 "$T/e.zst" >"$T/timeline.csv" 2>/dev/null
text_check "timeline --csv" "$T/timeline.csv" 'bad\xff\xfe (/'
"$ATR" flamegraph --format folded "$T/e.zst" >"$T/folded.txt" 2>/dev/null
text_check "flamegraph --format folded" "$T/folded.txt" ';evil\x1b[2Jclear '
"$ATR" check --max-leaked 1 --top 20 "$T/e.zst" >"$T/check.txt" 2>/dev/null
text_check "check" "$T/check.txt" 'bad\xff\xfe ('
# a 400-byte pattern of two-byte characters: the check's name is cut at its buffer's size
"$XPY" -c 'import json; print(json.dumps({"sites": [{"function": "\u00e9" * 200 + "*", "max-leaked": 0}, {"function": "caf*", "max-leaked": 0}]}))' >"$T/long.json"
"$ATR" check --budget "$T/long.json" "$T/e.zst" >"$T/long.txt" 2>&1
text_check "check with a long pattern" "$T/long.txt" 'caf'"$(printf '\xc3\xa9')"'_ok ('
# the same cut with nothing else unusual in the trace (known: plain names)
"${REC[@]}" run -q -o "$T/known.zst" -- "$PROGS/known" >/dev/null 2>&1
"$ATR" check --budget "$T/long.json" "$T/known.zst" >"$T/long_known.txt" 2>&1
text_check "check with a long pattern, plain trace" "$T/long_known.txt" "leaked in $(printf '\xc3\xa9\xc3\xa9')"
"$ATR" check --json --budget "$T/long.json" "$T/known.zst" 2>/dev/null | "$XPY" -c '
import json, sys
n = [c.get("name") for c in json.load(sys.stdin)["checks"]]
sys.exit(0 if len(n) == 2 and all(isinstance(x, str) for x in n) and n[0] == "leaked in " + "\u00e9" * 154 else 1)' &&
  ok "check --json: the long name cut between characters (154 of 200)" || not_ok "check --json: the long name is missing or cut wrongly"
"${REC[@]}" run -q --check "$T/long.json" -o "$T/e2.zst" -- "$EVIL" "${ARGS[@]}" >/dev/null 2>"$T/runcheck.txt"
text_check "run --check (on stderr)" "$T/runcheck.txt" 'caf'"$(printf '\xc3\xa9')"'_ok ('

"${REC[@]}" run -o "$T/e3.zst" -- "$EVIL" "${ARGS[@]}" >/dev/null 2>"$T/run_brief.txt"
text_check "run's summary lines (on stderr)" "$T/run_brief.txt" 'from grow\x1b[2J ('

# ---- files: planted symlinks redirect nothing, a bad trace changes nothing
mkdir "$T/o"
victim() { printf 'victim %s\n' "$1" >"$T/victim.$1"; ln -s "$T/victim.$1" "$2"; }
untouched() { # DESC NAME TARGET
  if [ "$(cat "$T/victim.$2")" = "victim $2" ]; then ok "$1: the symlink's file is untouched"
  else not_ok "$1: the file the planted symlink names was written"; fi
  if [ -f "$3" ] && [ ! -L "$3" ] && [ -s "$3" ]; then ok "$1: $(basename "$3") is a regular file"
  else not_ok "$1: $3 is not a written regular file"; fi
}
for f in html svg pprof speedscope folded; do
  victim "fg_$f" "$T/o/e.$f"
  "$ATR" flamegraph --format "$f" -o "$T/o/e.$f" "$T/e.zst" >/dev/null 2>&1
  untouched "flamegraph --format $f -o (symlink at the target)" "fg_$f" "$T/o/e.$f"
done
"$XPY" -c 'import xml.etree.ElementTree as E, sys; E.parse(sys.argv[1])' "$T/o/e.svg" 2>/dev/null &&
  ok "the svg written over the symlink parses" || not_ok "the svg written over the symlink does not parse"
expect_exit "the pprof profile decodes (proto3 strings are UTF-8)" 0 "$XPY" "$TESTS/pprof_decode.py" "$T/o/e.pprof"
expect_match "pprof keeps the names, bad bytes as U+FFFD" "$OUT" 'bad\\ufffd\\ufffd'
expect_eq "the folded output written over the symlink" "$(grep -c . "$T/o/e.folded")" "$(
  "$ATR" flamegraph --format folded "$T/e.zst" 2>/dev/null | grep -c .)"

victim junit "$T/o/j.xml"
"$ATR" check --max-leaked 1 --junit "$T/o/j.xml" "$T/e.zst" >/dev/null 2>&1
untouched "check --junit (symlink at the target)" junit "$T/o/j.xml"
# the old temporary name was FILE.tmp.PID: plant it for the pid the check will have
printf 'victim junit_tmp\n' >"$T/victim.junit_tmp"
bash -c 'ln -s "$1" "$2.tmp.$$" && exec "$3" check --max-leaked 1 --junit "$2" "$4"' sh \
  "$T/victim.junit_tmp" "$T/o/k.xml" "$ATR" "$T/e.zst" >/dev/null 2>&1
untouched "check --junit (symlink at FILE.tmp.PID)" junit_tmp "$T/o/k.xml"
"$XPY" -c 'import xml.etree.ElementTree as E, sys; E.parse(sys.argv[1])' "$T/o/k.xml" 2>/dev/null &&
  ok "the JUnit report beside the planted temporary parses" || not_ok "the JUnit report beside the planted temporary does not parse"
victim json "$T/o/c.json"
printf '[output]\njson = %s\n[limits]\nmax-leaked = 1\n' "$T/o/c.json" >"$T/out.ini"
"$ATR" check --budget "$T/out.ini" "$T/e.zst" >/dev/null 2>&1
untouched "check's JSON report (budget [output] json, symlink at the target)" json "$T/o/c.json"
json_check "check's JSON report file" check3 "$T/o/c.json"

# modes: a new output gets 0666 less the umask, a replaced one keeps its permission bits;
# a device is written, never replaced
( umask 027; "$ATR" flamegraph --format svg -o "$T/o/new.svg" "$T/e.zst" >/dev/null 2>&1 )
expect_eq "a new output's mode (umask 027)" "$(stat -c %a "$T/o/new.svg")" 640
chmod 600 "$T/o/new.svg"
"$ATR" flamegraph --format svg -o "$T/o/new.svg" "$T/e.zst" >/dev/null 2>&1
expect_eq "a replaced output keeps its mode" "$(stat -c %a "$T/o/new.svg")" 600
"$ATR" flamegraph --format svg -o /dev/null "$T/e.zst" >/dev/null 2>&1
[ -c /dev/null ] && ok "-o /dev/null writes the device, /dev/null stays a device" || not_ok "/dev/null is no longer a device"
expect_eq "-o /dev/stdout writes the pipe" "$("$ATR" flamegraph --format svg -o /dev/stdout "$T/e.zst" 2>/dev/null | head -c 5)" "<?xml"

# an existing output survives a bad trace
for x in e.svg j.xml; do cp "$T/o/$x" "$T/o/$x.before"; done
expect_exit "flamegraph -o with a bad trace" 2 "$ATR" flamegraph --format svg -o "$T/o/e.svg" "$T/bad.zst"
cmp -s "$T/o/e.svg" "$T/o/e.svg.before" && ok "flamegraph -o: the old output is intact" || not_ok "flamegraph -o: the old output changed"
expect_exit "check --junit with a bad trace" 2 "$ATR" check --max-leaked 1 --junit "$T/o/j.xml" "$T/bad.zst"
cmp -s "$T/o/j.xml" "$T/o/j.xml.before" && ok "check --junit: the old report is intact" || not_ok "check --junit: the old report changed"

if [ "$ASAN" = 1 ]; then
  ok "replay -o: not in the sanitizer build (replay.sh covers its replayer)"
elif [ -x "$(dirname "$ATR")/alloctrace-replayer" ]; then
  printf '{"old": "replay"}\n' >"$T/o/r.json"
  expect_exit "replay -o with a bad trace" 2 "$ATR" replay --allocator glibc -o "$T/o/r.json" "$T/bad.zst"
  expect_eq "replay -o: the old file is intact" "$(cat "$T/o/r.json")" '{"old": "replay"}'
  victim replay "$T/o/s.json"
  "$ATR" replay --allocator glibc --repeat 1 -o "$T/o/s.json" "$T/e.zst" >/dev/null 2>&1
  untouched "replay -o (symlink at the target)" replay "$T/o/s.json"
  json_check "replay -o" replay "$T/o/s.json"
  "$ATR" replay --allocator glibc --repeat 1 "$T/e.zst" >"$T/replay.txt" 2>/dev/null
  text_check "replay" "$T/replay.txt" 'replay of '
  # --save-ops FILE: made beside FILE and renamed over it; a bad trace leaves FILE alone
  printf 'old ops\n' >"$T/o/old.ops"
  expect_exit "replay --save-ops with a bad trace" 2 "$ATR" replay --save-ops "$T/o/old.ops" "$T/bad.zst"
  expect_eq "replay --save-ops: the old file is intact" "$(cat "$T/o/old.ops")" 'old ops'
  victim saveops "$T/o/s.ops"
  "$ATR" replay --save-ops "$T/o/s.ops" "$T/e.zst" >/dev/null 2>&1
  untouched "replay --save-ops (symlink at the target)" saveops "$T/o/s.ops"
  expect_eq "replay --save-ops: no temporary left" "$(ls -A "$T/o" | grep -c '^\.s\.ops\.')" 0
else
  not_ok "no alloctrace-replayer next to $ATR"
fi

if [ -n "${PLOT_PYTHON:-}" ]; then
  mkdir "$T/p"
  victim plot_tl "$T/p/timeline.json"
  victim plot_gr "$T/p/growth.json"
  victim plot_png "$T/p/heap_timeline.png"
  expect_exit "plot -o DIR with symlinks planted in DIR" 0 env ALLOCTRACE_PYTHON="$PLOT_PYTHON" "$ATR" plot -o "$T/p" "$T/e.zst"
  untouched "plot timeline.json" plot_tl "$T/p/timeline.json"
  untouched "plot growth.json" plot_gr "$T/p/growth.json"
  untouched "plot heap_timeline.png" plot_png "$T/p/heap_timeline.png"
  json_check "plot's timeline.json" timeline "$T/p/timeline.json"
  expect_eq "no temporary left in the plot directory" "$(ls -A "$T/p" | grep -c '^\.')" 0
fi
expect_eq "no temporary left beside the outputs" "$(ls -A "$T/o" | grep -c '^\.')" 0
finish
