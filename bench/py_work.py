# Workload python (bench/real.sh, run as PYTHONMALLOC=malloc /usr/bin/python3 py_work.py
# [scale]): what a Python service allocates for: dicts of records, string building, json
# round trips, regex scans, sorting, class instances and a recursive tree walk. Must never
# print besides its checksum line, read the clock, or depend on addresses or hash seeds.
import json
import re
import sys


class Record:
    def __init__(self, i, name, tags):
        self.id = i
        self.name = name
        self.tags = tags
        self.score = (i * 2654435761) % 1000003


def build_tree(depth, i):
    if depth == 0:
        return [str(i), i * 3]
    return {"l": build_tree(depth - 1, i * 2), "r": build_tree(depth - 1, i * 2 + 1), "d": depth}


def walk(t):
    if isinstance(t, list):
        return len(t[0]) + t[1]
    return walk(t["l"]) + walk(t["r"]) + t["d"]


def batch(b, word):
    records = [Record(b * 1000 + i, "user%05d" % (b * 37 + i), [word.group(0) for word in
               word.finditer("tag%d alpha%d beta%d" % (i, i % 7, i % 13))]) for i in range(300)]
    index = {}
    for r in records:
        index.setdefault(r.name[:6], []).append(r)
    text = json.dumps([{"id": r.id, "name": r.name, "tags": r.tags, "score": r.score}
                       for r in records])
    back = json.loads(text)
    back.sort(key=lambda d: (d["score"], d["name"]))
    lines = ["%s=%d" % (d["name"], d["score"]) for d in back]
    joined = ",".join(lines)
    tree = build_tree(7, b)
    return len(index) + len(joined) + walk(tree) + sum(len(d["tags"]) for d in back)


def main():
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    word = re.compile(r"[a-z]+\d+")
    total = 0
    for b in range(max(1, int(400 * scale))):
        total = (total * 1000003 + batch(b, word)) % (1 << 64)
    print("checksum python %016x" % total)


main()
