#!/usr/bin/env python3
"""An independent decoder of gzipped pprof profiles (profile.proto's wire format, read with
nothing but the protobuf encoding rules), for tests/cli/pprof.sh: it decodes every message,
checks every reference (ids, string indices, string_table[0] == ""), and prints what the
test compares with summary --json as one JSON object. Never trusts the file: any
malformed byte, dangling id or out-of-range index is an error (exit 1, one line).
Usage: pprof_decode.py FILE.pb.gz
"""

import gzip
import json
import sys


class Bad(Exception):
    pass


def varint(buf, i):
    v = shift = 0
    while True:
        if i >= len(buf):
            raise Bad("truncated varint")
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            return v, i
        shift += 7
        if shift > 63:
            raise Bad("varint longer than 10 bytes")


def fields(buf):
    """(field number, wire type, value) of one message; value: int or bytes."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise Bad("field number 0")
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 2:
            n, i = varint(buf, i)
            if i + n > len(buf):
                raise Bad("length-delimited field %d runs past its message" % num)
            v, i = buf[i:i + n], i + n
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise Bad("wire type %d" % wt)
        if i > len(buf):
            raise Bad("truncated field %d" % num)
        yield num, wt, v


def signed(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def ints(wt, v):
    """A repeated integer field: packed (wire type 2) or one value."""
    if wt == 0:
        return [v]
    out, i = [], 0
    while i < len(v):
        x, i = varint(v, i)
        out.append(x)
    return out


def message(buf, spec):
    """spec: {field: (name, kind)} with kind 'int', 'sint', 'bool', 'ints', 'str', or a
    (sub-spec, repeated) pair."""
    out = {}
    for name, kind in spec.values():
        out[name] = [] if kind in ("ints", "str") or (isinstance(kind, tuple) and kind[1]) else 0
    for num, wt, v in fields(buf):
        if num not in spec:
            continue
        name, kind = spec[num]
        if kind in ("int", "sint", "bool"):
            if wt != 0:
                raise Bad("%s: wire type %d for an integer" % (name, wt))
            out[name] = signed(v) if kind == "sint" else bool(v) if kind == "bool" else v
        elif kind == "ints":
            out[name].extend(ints(wt, v))
        elif kind == "str":
            out[name].append(v.decode("utf-8"))
        else:
            if wt != 2:
                raise Bad("%s: wire type %d for a message" % (name, wt))
            sub = message(v, kind[0])
            if kind[1]:
                out[name].append(sub)
            else:
                out[name] = sub
    return out


VALUE_TYPE = {1: ("type", "sint"), 2: ("unit", "sint")}
LINE = {1: ("function_id", "int"), 2: ("line", "sint"), 3: ("column", "sint")}
PROFILE = {
    1: ("sample_type", (VALUE_TYPE, True)),
    2: ("sample", ({1: ("location_id", "ints"), 2: ("value", "ints"), 3: ("label", ({}, True))}, True)),
    3: ("mapping", ({1: ("id", "int"), 2: ("memory_start", "int"), 3: ("memory_limit", "int"),
                     4: ("file_offset", "int"), 5: ("filename", "sint"), 6: ("build_id", "sint"),
                     7: ("has_functions", "bool"), 8: ("has_filenames", "bool"),
                     9: ("has_line_numbers", "bool"), 10: ("has_inline_frames", "bool")}, True)),
    4: ("location", ({1: ("id", "int"), 2: ("mapping_id", "int"), 3: ("address", "int"),
                      4: ("line", (LINE, True))}, True)),
    5: ("function", ({1: ("id", "int"), 2: ("name", "sint"), 3: ("system_name", "sint"),
                      4: ("filename", "sint"), 5: ("start_line", "sint")}, True)),
    6: ("string_table", "str"),
    9: ("time_nanos", "sint"),
    10: ("duration_nanos", "sint"),
    11: ("period_type", (VALUE_TYPE, False)),
    12: ("period", "sint"),
    13: ("comment", "ints"),
    14: ("default_sample_type", "sint"),
}


def decode(path):
    try:
        raw = gzip.open(path).read()
    except (OSError, EOFError) as e:
        raise Bad("not a complete gzip file: %s" % e)
    p = message(raw, PROFILE)
    st = p["string_table"]
    if not st or st[0] != "":
        raise Bad("string_table[0] must be the empty string")

    def s(i, what):
        if not 0 <= i < len(st):
            raise Bad("%s: string index %d out of range (%d strings)" % (what, i, len(st)))
        return st[i]

    def ids(items, what):
        out = {}
        for x in items:
            if x["id"] == 0 or x["id"] in out:
                raise Bad("%s id %d is zero or repeated" % (what, x["id"]))
            out[x["id"]] = x
        return out

    funcs, maps, locs = ids(p["function"], "function"), ids(p["mapping"], "mapping"), ids(p["location"], "location")
    names = {i: s(f["name"], "function name") for i, f in funcs.items()}
    for f in funcs.values():
        s(f["filename"], "function file")
    for loc in locs.values():
        if loc["mapping_id"] and loc["mapping_id"] not in maps:
            raise Bad("location %d: no mapping %d" % (loc["id"], loc["mapping_id"]))
        if not loc["line"]:
            raise Bad("location %d has no line" % loc["id"])
        for ln in loc["line"]:
            if ln["function_id"] not in funcs:
                raise Bad("location %d: no function %d" % (loc["id"], ln["function_id"]))
    types = [s(t["type"], "sample type") for t in p["sample_type"]]
    units = [s(t["unit"], "sample unit") for t in p["sample_type"]]
    totals = [0] * len(types)
    stacks = {}  # "outer;...;leaf" (inlined functions as their own frames) -> values
    for smp in p["sample"]:
        if len(smp["value"]) != len(types):
            raise Bad("a sample has %d values for %d sample types" % (len(smp["value"]), len(types)))
        frames = []
        for lid in smp["location_id"]:
            if lid not in locs:
                raise Bad("a sample refers to no location %d" % lid)
            frames.extend(names[ln["function_id"]] for ln in locs[lid]["line"])
        key = ";".join(reversed(frames))
        vals = [signed(v) for v in smp["value"]]
        if any(v < 0 for v in vals):
            raise Bad("a negative sample value")
        acc = stacks.setdefault(key, [0] * len(types))
        for k, v in enumerate(vals):
            totals[k] += v
            acc[k] += v
    inlined = [[names[ln["function_id"]] for ln in loc["line"]] for loc in locs.values() if len(loc["line"]) > 1]
    mappings = [{"file": s(m["filename"], "mapping file"), "build_id": s(m["build_id"], "build id"),
                 "symbolized": m["has_functions"] and m["has_filenames"] and m["has_line_numbers"]}
                for m in p["mapping"]]
    files = {names[ln["function_id"]]: s(funcs[ln["function_id"]]["filename"], "file")
             for loc in locs.values() for ln in loc["line"]}
    lines = sorted({"%s:%d" % (names[ln["function_id"]], ln["line"]) for loc in locs.values() for ln in loc["line"]})
    return {
        "sample_types": ["%s/%s" % tu for tu in zip(types, units)],
        "default": s(p["default_sample_type"], "default sample type"),
        "totals": dict(zip(types, totals)),
        "stacks": stacks,
        "inlined": inlined,
        "mappings": mappings,
        "files": files,
        "lines": lines,
        "comments": [s(c, "comment") for c in p["comment"]],
        "period_type": "%s/%s" % (s(p["period_type"]["type"] if p["period_type"] else 0, "period type"),
                                  s(p["period_type"]["unit"] if p["period_type"] else 0, "period unit")),
        "time_nanos": p["time_nanos"], "duration_nanos": p["duration_nanos"],
    }


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: pprof_decode.py FILE.pb.gz\n")
        return 2
    try:
        out = decode(sys.argv[1])
    except (Bad, UnicodeDecodeError) as e:
        print("pprof_decode.py: %s: %s" % (sys.argv[1], e), file=sys.stderr)
        return 1
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
