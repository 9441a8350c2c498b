# pprof: `flamegraph --format pprof` of tests/progs/known, known_cxx and inlined, read back by
# Debian's `go tool pprof` (-raw sums and -top totals for every sample type) and by an
# independent decoder (tests/pprof_decode.py: every id and string index checked), both
# equal to summary --json's totals exactly. known's documented stacks, files, lines and
# build-id; inlined's inlined function as a Line of its caller's Location. Broken files
# (truncated, garbage, another trace's numbers) must fail the same checks. Skipped (77)
# only where go is missing (scripts/setup.sh test installs golang-go).
. "$TESTS/lib.sh"
command -v go >/dev/null || skip "no go tool pprof (apt-get install golang-go)"
MAKE=$ATR
[ -n "${ATR_NORMAL:-}" ] && [ -x "$ATR_NORMAL" ] && MAKE=$ATR_NORMAL
cd "$T" || exit 1
export HOME=$T PPROF_TMPDIR=$T GOCACHE=$T/gocache # pprof writes nothing outside $T
DECODE=$TESTS/pprof_decode.py

# name type-in-pprof summary-key, in profile.proto's value order
TYPES="alloc_objects:allocations alloc_space:allocated_bytes peak_objects:peak_blocks
peak_space:peak_bytes leaked_objects:leaked_blocks leaked_space:leaked_bytes
temporary_objects:temporary"

# raw_sums FILE: "type=sum" per sample type from go tool pprof -raw
raw_sums() {
  go tool pprof -raw "$1" 2>"$1.rawerr" | awk '
    /^Samples:/ { s = 1; next }
    s == 1 { n = split($0, t, " "); for (i = 1; i <= n; i++) { sub(/\/.*/, "", t[i]); name[i] = t[i] }; s = 2; next }
    s == 2 && /^ *[0-9]/ { split($0, p, ":"); k = split(p[1], v, " "); for (i = 1; i <= k; i++) sum[i] += v[i]; next }
    s == 2 { s = 3 }
    END { for (i = 1; i <= n; i++) printf "%s=%d\n", name[i], sum[i] }'
}
# top_total FILE TYPE: the total go tool pprof -top prints for that sample index
top_total() {
  local unit=()
  case $2 in *_space) unit=(-unit=byte) ;; esac
  go tool pprof -top -nodefraction=0 "${unit[@]}" -sample_index="$2" "$1" 2>/dev/null |
    sed -n 's/^Showing nodes accounting for .* of \([0-9]*\)B\{0,1\} total$/\1/p'
}
# compare NAME PB SUMMARY: one ok/not ok per sample type and reader
compare() {
  local name=$1 pb=$2 sj=$3 pair type key want
  "$PY" "$DECODE" "$pb" >"$pb.json" 2>"$pb.err" || { not_ok "$name: decodes: $(cat "$pb.err")"; return; }
  raw_sums "$pb" >"$pb.raw"
  for pair in $TYPES; do
    type=${pair%%:*}; key=${pair#*:}
    want=$(jget "$sj" totals.$key)
    expect_eq "$name: decoded $type sums to summary's totals.$key" "$(jget "$pb.json" totals.$type)" "$want"
    expect_eq "$name: go tool pprof -raw: $type sums to totals.$key" "$(sed -n "s/^$type=//p" "$pb.raw")" "$want"
    expect_eq "$name: go tool pprof -top -sample_index=$type total" "$(top_total "$pb" "$type")" "$want"
  done
}

for p in known known_cxx inlined; do
  "$MAKE" run -q -o "$p.zst" -- "$PROGS/$p" >/dev/null 2>"$p.err" ||
    skip "cannot record $p with $MAKE: $(head -c 300 "$p.err")"
  "$ATR" summary --json "$p.zst" >"$p.json" || not_ok "summary of $p"
  "$ATR" flamegraph --format pprof -o "$p.pb.gz" "$p.zst" 2>"$p.fgerr" ||
    not_ok "flamegraph --format pprof $p: $(cat "$p.fgerr")"
  compare "$p" "$p.pb.gz" "$p.json"
done

# ---- known: the documented numbers, stacks, files, lines, mappings
D=known.pb.gz.json
expect_eq "known: gzip magic" "$(head -c 2 known.pb.gz | od -An -tx1 | tr -d ' ')" 1f8b
for pair in alloc_objects:31 alloc_space:1575782 peak_objects:5 peak_space:1573632 \
            leaked_objects:3 leaked_space:768 temporary_objects:11; do
  expect_eq "known: ${pair%%:*} is known.c's number" "$(jget $D totals.${pair%%:*})" "${pair#*:}"
done
expect_eq "known: sample types with units" "$(jget $D sample_types)" \
  '["alloc_objects/count", "alloc_space/bytes", "peak_objects/count", "peak_space/bytes", "leaked_objects/count", "leaked_space/bytes", "temporary_objects/count"]'
expect_eq "known: the default sample type is peak_space (--metric peak)" "$(jget $D default)" peak_space
stack() { "$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join("%s=%s" % (k.split(";main;")[-1], v) for k, v in sorted(d["stacks"].items()) if sys.argv[2] in k))' "$D" "$1"; }
expect_eq "known: build_peak (count, bytes, peak objects and bytes, leaked objects and bytes, temporary)" \
  "$(stack build_peak)" "build_peak=[2, 1572864, 2, 1572864, 0, 0, 1]"
expect_eq "known: leak_some is leaked and live at the peak" "$(stack leak_some)" "leak_some=[3, 768, 3, 768, 3, 768, 0]"
expect_eq "known: make_table" "$(stack make_table)" "make_table=[10, 1000, 0, 0, 0, 0, 1]"
expect_eq "known: functions have their source file" "$(jget $D files.build_peak | sed 's|.*/||')" known.c
expect_match "known: functions have their lines" "$(jget $D lines)" '"build_peak:8[0-9]", "build_peak:8[0-9]"'
bid=$(readelf -n "$PROGS/known" | sed -n 's/.*Build ID: *//p')
expect_eq "known: mapping[0] is the program" "$(jget $D mappings.0.file)" "$(readlink -f "$PROGS/known")"
expect_eq "known: mapping[0] has the program's build-id (readelf -n)" "$(jget $D mappings.0.build_id)" "$bid"
expect_match "known: libc's mapping has its build-id" "$(jget $D mappings)" '"build_id": "[0-9a-f]{40}", "file": "[^"]*libc\.so\.6"'
expect_eq "known: every mapping is marked symbolized" "$(grep -c '"symbolized": false' $D)" 0
expect_eq "known: period is one allocation" "$(jget $D period_type)" allocations/count
expect_match "known: the comment names the program" "$(jget $D comments.0)" "^alloctrace .*progs/known"
expect_eq "known: start time in ns (the trace's)" "$(( $(jget $D time_nanos) > 1500000000000000000 ))" 1
go tool pprof -top -nodefraction=0 -sample_index=alloc_objects known.pb.gz >top.txt 2>&1
expect_match "go tool pprof -top: make_table's 10 allocations" "$(cat top.txt)" "^ +10 +[0-9.]+% +[0-9.]+% +10 +[0-9.]+% +make_table$"
expect_match "go tool pprof -top: File and Build ID header" "$(cat top.txt)" "Build ID: $bid"
go tool pprof -traces -sample_index=leaked_space known.pb.gz >traces.txt 2>&1
expect_match "go tool pprof -traces: the leak's stack with main" "$(tr -s ' \n' ' ' <traces.txt)" "768B? leak_some main"
for m in peak:peak_space leaked:leaked_space allocated:alloc_space allocations:alloc_objects temporary:temporary_objects; do
  "$ATR" flamegraph --format pprof --metric "${m%%:*}" -o "m.pb.gz" known.zst
  expect_eq "--metric ${m%%:*}: default sample type" "$("$PY" "$DECODE" m.pb.gz | sed -n 's/^ "default": "\(.*\)",$/\1/p')" "${m#*:}"
done
"$ATR" flamegraph --format pprof known.zst >stdout.pb.gz 2>err.txt
expect_eq "-o omitted (not a terminal): the same profile on standard output" "$(cmp stdout.pb.gz known.pb.gz 2>&1)" ""

# ---- inlined: the inlined function is a Line of its caller's Location, innermost first
D=inlined.pb.gz.json
expect_eq "inlined: take() inlined into fill() and keep(): Lines of one Location" "$(jget $D inlined)" '[["take", "keep"], ["take", "fill"]]'
expect_eq "inlined: 5 allocations, 4024 B, 4 temporary, peak 1024 B / 2 blocks, leaked 24 B" \
  "$(jget $D totals.alloc_objects) $(jget $D totals.alloc_space) $(jget $D totals.temporary_objects) $(jget $D totals.peak_space) $(jget $D totals.peak_objects) $(jget $D totals.leaked_space)" \
  "5 4024 4 1024 2 24"
go tool pprof -raw inlined.pb.gz >inl.raw 2>&1
expect_match "go tool pprof -raw lists take then fill at one address" "$(tr -s ' \n' ' ' <inl.raw)" ": 0x[0-9a-f]+ M=1 take [^ ]*inlined\.c:[0-9]+ s=0 fill [^ ]*inlined\.c:[0-9]+ s=0"

# ---- known_cxx: demangled C++ names (pprof shortens them: no parameters or templates)
expect_match "known_cxx: demangled names in the profile" "$(jget known_cxx.pb.gz.json files)" '"std::vector<int, std::allocator<int> >::push_back": "[^"]*stl_vector.h"'
go tool pprof -top -nodefraction=0 -sample_index=alloc_objects known_cxx.pb.gz >cxxtop.txt 2>&1
expect_match "known_cxx: go tool pprof -top shows std::vector growth" "$(cat cxxtop.txt)" " 8 +[0-9.]+% +std::vector::push_back$"

# ---- go tool pprof -http, the web UI a person opens: its top table's total per sample type
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
go tool pprof -no_browser -http="127.0.0.1:$port" known.pb.gz >http.log 2>&1 &
http_pid=$!
"$PY" - "http://127.0.0.1:$port" >http.sums 2>http.err <<'PYEOF'
import json, re, sys, time, urllib.request
base = sys.argv[1]
for _ in range(300):  # until it listens (its default page, the graph, needs graphviz: not asked for)
    try:
        urllib.request.urlopen(base + "/ui/top", timeout=5).read()
        break
    except OSError:
        time.sleep(0.1)
for si in ("alloc_objects", "alloc_space", "peak_objects", "peak_space", "leaked_objects", "leaked_space",
           "temporary_objects"):
    page = urllib.request.urlopen(base + "/ui/top?si=" + si, timeout=30).read().decode()
    m = re.search(r"makeTopTable\(\s*(\d+)\s*,\s*(\[.*?\])\s*\)", page, re.S)
    rows = {r["Name"]: r["Flat"] for r in json.loads(m.group(2))} if m else {}
    print("%s=%s %s" % (si, m.group(1) if m else "none", json.dumps(rows, sort_keys=True)))
PYEOF
kill "$http_pid" 2>/dev/null
wait "$http_pid" 2>/dev/null
for pair in $TYPES; do
  type=${pair%%:*}; key=${pair#*:}
  expect_eq "go tool pprof -http: /ui/top?si=$type totals summary's totals.$key" \
    "$(sed -n "s/^$type=\([^ ]*\) .*/\1/p" http.sums)" "$(jget known.json totals.$key)"
done
expect_match "go tool pprof -http: leak_some's 768 leaked bytes in the top table" "$(grep '^leaked_space=' http.sums)" '"leak_some": 768'
[ -s http.err ] && sed 's/^/# /' http.err

# ---- Pyroscope: the sample type configuration shipped for its ingest endpoint names every
# sample type of the profile, in its units (docs: cli/README.md)
expect_eq "cli/proto/pyroscope_sample_types.json: one entry per sample type, same units" \
  "$("$PY" - "$SRCDIR/cli/proto/pyroscope_sample_types.json" known.pb.gz.json <<'PYEOF'
import json, sys
cfg, prof = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
units = {"count": "objects", "bytes": "bytes"}
want = {t.split("/")[0]: units[t.split("/")[1]] for t in prof["sample_types"]}
print("same" if {k: v["units"] for k, v in cfg.items()} == want and all(v["sampled"] is False for v in cfg.values())
      else "differs: %r vs %r" % (cfg, want))
PYEOF
)" same

# ---- the checks above fail on broken files: decode, then compare
gzip -dc known.pb.gz >known.pb
size=$(wc -c <known.pb)
head -c $((size / 2)) known.pb | gzip >half.pb.gz
expect_exit "a truncated profile: the decoder refuses it" 1 "$PY" "$DECODE" half.pb.gz
rc=0; go tool pprof -raw half.pb.gz >/dev/null 2>&1 || rc=$?
expect_eq "a truncated profile: go tool pprof refuses it" "$([ "$rc" != 0 ] && echo refused)" refused
head -c 3000 /dev/urandom >garbage.pb.gz
expect_exit "garbage: the decoder refuses it" 1 "$PY" "$DECODE" garbage.pb.gz
rc=0; go tool pprof -raw garbage.pb.gz >/dev/null 2>&1 || rc=$?
expect_eq "garbage: go tool pprof refuses it" "$([ "$rc" != 0 ] && echo refused)" refused
# one sample value changed in place (the first sample's first value, a one-byte varint, +1)
"$PY" - known.pb <<'PYEOF'
import sys
def varint(b, i):
    v = s = 0
    while True:
        v |= (b[i] & 0x7F) << s
        i += 1
        if not b[i - 1] & 0x80:
            return v, i
        s += 7
buf = bytearray(open(sys.argv[1], "rb").read())
i = 0
while i < len(buf):  # length-delimited fields only at this level until the first Sample
    key, j = varint(buf, i)
    n, k = varint(buf, j) if key & 7 == 2 else (0, varint(buf, j)[1])
    if key == 0x12:  # Profile.sample
        s = k
        while s < k + n:
            skey, t = varint(buf, s)
            sn, u = varint(buf, t)
            if skey == 0x12:  # Sample.value, packed
                assert buf[u] < 0x7F
                buf[u] += 1
                break
            s = u + sn
        break
    i = k + n
open("tampered.pb", "wb").write(buf)
PYEOF
gzip -c tampered.pb >tampered.pb.gz
"$PY" "$DECODE" tampered.pb.gz >tampered.json 2>/dev/null
expect_eq "a tampered value decodes, and its total no longer matches" \
  "$(jget tampered.json totals.alloc_objects)" 32
expect_eq "go tool pprof -raw sees the tampered total too" \
  "$(raw_sums tampered.pb.gz | sed -n 's/^alloc_objects=//p')" 32
expect_eq "another trace's summary does not match known's profile" \
  "$([ "$(jget known_cxx.json totals.allocations)" != "$(jget known.pb.gz.json totals.alloc_objects)" ] && echo differs)" differs

# ---- errors: one line, exit 2
expect_exit "--format pprof --diff" 2 "$ATR" flamegraph --format pprof --diff known.zst inlined.zst
expect_match "--diff: says why" "$OUT" "pprof takes no --diff"
expect_exit "--format pprof --inverted" 2 "$ATR" flamegraph --format pprof --inverted known.zst
expect_exit "--format pprof --min-percent" 2 "$ATR" flamegraph --format pprof --min-percent 1 known.zst
expect_exit "unwritable output" 2 "$ATR" flamegraph --format pprof -o /nonexistent/dir/x.pb.gz known.zst
expect_eq "unwritable output: one line" "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 1
expect_exit "full disk" 2 "$ATR" flamegraph --format pprof -o /dev/full known.zst
expect_match "full disk: names the file" "$OUT" "/dev/full"
finish
