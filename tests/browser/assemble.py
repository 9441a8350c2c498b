#!/usr/bin/env python3
"""Builds a standalone flame graph page the way `alloctrace flamegraph` does, for testing without the C side:
template.html with its three ATR placeholders replaced once each, in one pass (inserted text is never rescanned).
Must never touch anything but OUT; refuses inputs that would break the page (missing placeholder, closing tags).
Usage: assemble.py TEMPLATE CSS JS DATA_JSON OUT
"""

import json
import re
import sys

PLACEHOLDER = re.compile(r"/\*ATR_(CSS|JS|DATA)\*/")


def script_safe_json(data):
    """JSON that cannot end or confuse the <script> it sits in: <, >, & and U+2028/9 as \\u escapes
    (a superset of the `</` -> `<\\/` escaping the C side promises)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for ch, rep in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, rep)
    return text


def main(argv):
    if len(argv) != 6:
        sys.stderr.write(__doc__)
        return 2
    template_path, css_path, js_path, data_path, out_path = argv[1:]
    with open(template_path, encoding="utf-8") as f:
        template = f.read()
    with open(css_path, encoding="utf-8") as f:
        css = f.read()
    with open(js_path, encoding="utf-8") as f:
        js = f.read()
    with open(data_path, encoding="utf-8") as f:
        data = json.load(f)

    found = PLACEHOLDER.findall(template)
    if sorted(found) != ["CSS", "DATA", "JS"]:
        sys.stderr.write("assemble.py: template must hold each ATR placeholder exactly once, found %r\n" % found)
        return 1
    for name, text, bad in (("CSS", css, "</style"), ("JS", js, "</script")):
        if bad in text.lower() or PLACEHOLDER.search(text):
            sys.stderr.write("assemble.py: %s must not contain %r or an ATR placeholder\n" % (name, bad))
            return 1

    parts = {"CSS": css, "JS": js, "DATA": script_safe_json(data)}
    page = PLACEHOLDER.sub(lambda m: parts[m.group(1)], template)
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
