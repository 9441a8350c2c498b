#!/usr/bin/env python3
# Reads meson's testlog.json files and prints every failure's name, then the closing
# line "N passed, N failed, N skipped". Never hides a failure: an unreadable log fails.
import json
import sys

passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        with open(path) as f:
            lines = [json.loads(l) for l in f if l.strip()]
    except OSError as e:
        print(f"summarize: {path}: {e}")
        failed += 1
        continue
    for t in lines:
        r = t.get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
            print(f"skipped: {t['name']}")
        else:
            failed += 1
            print(f"FAILED: {t['name']} ({r})")
            out = (t.get("stdout") or "")[-3000:]
            if out:
                print("  " + out.replace("\n", "\n  "))
print(f"{passed} passed, {failed} failed, {skipped} skipped")
