# docs: the documentation stays true to the tree. README.md stays the user's page (at
# most 320 lines; the rest lives in docs/); every relative link in README.md, docs/*.md,
# bench/results.md and every folder's README.md names a file that exists (and a heading
# of it, given #anchor); every docs/*.md is linked from README.md; every *.md that a
# comment in libtrace/ cli/ tests/ scripts/ bench/ cites exists (and has the section it
# names in quotes on the same line, as in `libtrace/README.md "A correct global order"`).
# Reads the source tree only.
. "$TESTS/lib.sh"
cd "${SRCDIR:?SRCDIR must point to the source tree}" || exit 1

lines=$(wc -l <README.md)
if [ "$lines" -le 320 ]; then
  ok "README.md has $lines lines (at most 320)"
else
  not_ok "README.md has $lines lines, more than 320: move the detail into docs/"
fi

# One line per result: "ok TEXT" or "not ok TEXT".
"$PY" - >"$T/docs.out" 2>"$T/docs.err" <<'PYEOF'
import os
import re
import sys

ROOT = os.getcwd()
SKIP_DIRS = {'.git', '__pycache__', 'node_modules', 'target', 'corpus'}


def walk(top):
    for d, dirs, files in os.walk(top):
        rel = os.path.relpath(d, ROOT)
        dirs[:] = sorted(x for x in dirs if x not in SKIP_DIRS and not
                         (rel == '.' and (x.startswith('build') or x.startswith('.'))))
        for f in sorted(files):
            yield os.path.relpath(os.path.join(d, f), ROOT)


def read(path):
    with open(os.path.join(ROOT, path), encoding='utf-8', errors='replace') as f:
        return f.read()


FENCE = re.compile(r'^\s*(```|~~~)')


def prose_lines(text):
    """(line number, line) outside fenced code blocks."""
    fence = None
    for i, line in enumerate(text.split('\n'), 1):
        m = FENCE.match(line)
        if m:
            if fence is None:
                fence = m.group(1)
            elif m.group(1) == fence:
                fence = None
            continue
        if fence is None:
            yield i, line


def slug(text):
    text = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', text)  # a link's text
    text = text.replace('`', '').replace('*', '').strip().lower()
    text = re.sub(r'[^\w\- ]', '', text)
    return text.replace(' ', '-')


def sections(path):
    """GitHub anchors of a markdown file, and the texts of its headings and bold leads."""
    anchors, titles, seen = set(), [], {}
    prev = ''
    for _, line in prose_lines(read(path)):
        title = None
        m = re.match(r'^#{1,6}\s+(.*?)\s*#*\s*$', line)
        if m:
            title = m.group(1)
        elif re.match(r'^(=+|-+)\s*$', line) and prev.strip() and not prev.lstrip().startswith('|'):
            title = prev.strip()
        if title is not None:
            s = slug(title)
            n = seen.get(s, 0)
            seen[s] = n + 1
            anchors.add(s if n == 0 else '%s-%d' % (s, n))
            titles.append(title.replace('`', ''))
        for b in re.findall(r'^\s*(?:[-*]\s+)?\*\*([^*]+)\*\*', line):
            titles.append(b)
        for a in re.findall(r'<a\s+(?:name|id)="([^"]+)"', line):
            anchors.add(a)
        prev = line
    return anchors, [' '.join(t.lower().rstrip('.:').split()) for t in titles]


LINK = re.compile(r'!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
REFDEF = re.compile(r'^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)')
SCHEME = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*:')

docs = [p for p in walk('.') if os.path.basename(p) == 'README.md']
docs += [p for p in walk('docs') if p.endswith('.md')] if os.path.isdir('docs') else []
docs += ['bench/results.md'] if os.path.exists('bench/results.md') else []
docs = sorted(set(docs))

problems = []
checked = 0
from_readme = set()
for doc in docs:
    for n, line in prose_lines(read(doc)):
        line = re.sub(r'(`+)(?:(?!\1).)+\1', '', line)  # inline code is not a link
        targets = LINK.findall(line) + REFDEF.findall(line)
        for t in targets:
            if SCHEME.match(t):
                continue
            checked += 1
            path, _, frag = t.partition('#')
            if not path:
                dest = doc
            elif path.startswith('/'):
                dest = os.path.normpath(path.lstrip('/'))
            else:
                dest = os.path.normpath(os.path.join(os.path.dirname(doc), path))
            if not os.path.exists(os.path.join(ROOT, dest)):
                problems.append('%s:%d: link %s: no such file %s' % (doc, n, t, dest))
                continue
            if doc == 'README.md':
                from_readme.add(dest)
            if frag and dest.endswith('.md') and os.path.isfile(dest):
                if frag not in sections(dest)[0]:
                    problems.append('%s:%d: link %s: %s has no heading #%s' % (doc, n, t, dest, frag))

for p in problems:
    print('not ok ' + p)
print('ok %d relative links in %d markdown files lead somewhere' % (checked, len(docs)))

unlinked = [d for d in docs if d.startswith('docs/') and d not in from_readme]
for d in unlinked:
    print('not ok %s is not linked from README.md ("Read more")' % d)
if not unlinked:
    print('ok every docs/*.md is linked from README.md')

# comments citing documents
C_LIKE = ('.c', '.h', '.cc', '.cpp', '.S', '.js', '.css', '.rs')
HASH = ('.sh', '.py', '.build', '.toml', '.txt', '.ini')


def comments(path, text):
    """(line number, comment text) pieces of a source file."""
    if path.endswith(C_LIKE):
        for m in re.finditer(r'/\*.*?\*/|//[^\n]*', text, re.S):
            first = text.count('\n', 0, m.start()) + 1
            for k, piece in enumerate(m.group(0).split('\n')):
                yield first + k, piece
    elif path.endswith(HASH) or os.path.basename(path) == 'meson.build':
        for i, line in enumerate(text.split('\n'), 1):
            m = re.search(r'(?:^|\s)#(.*)$', line)
            if m:
                yield i, m.group(1)
        if path.endswith('.py'):
            for m in re.finditer(r'("""|\'\'\').*?\1', text, re.S):
                first = text.count('\n', 0, m.start()) + 1
                for k, piece in enumerate(m.group(0).split('\n')):
                    yield first + k, piece
    elif path.endswith('.html'):
        for m in re.finditer(r'<!--.*?-->', text, re.S):
            first = text.count('\n', 0, m.start()) + 1
            for k, piece in enumerate(m.group(0).split('\n')):
                yield first + k, piece


CITE = re.compile(r'(?<![A-Za-z0-9_./$-])((?:\.{1,2}/)*[A-Za-z0-9_][A-Za-z0-9_./-]*\.md)(?![A-Za-z0-9_])')
cites = 0
bad = []
for top in ('libtrace', 'cli', 'tests', 'scripts', 'bench'):
    if not os.path.isdir(top):
        continue
    for src in walk(top):
        if src.endswith('.md'):
            continue
        try:
            text = read(src)
        except OSError:
            continue
        if '\0' in text:
            continue
        for n, piece in comments(src, text):
            for m in CITE.finditer(piece):
                cites += 1
                name = m.group(1)
                cands = [os.path.normpath(os.path.join(os.path.dirname(src), name)),
                         os.path.normpath(name)]
                dest = next((c for c in cands if os.path.isfile(os.path.join(ROOT, c))), None)
                if dest is None:
                    bad.append('%s:%d: cites %s, which is not in the repository' % (src, n, name))
                    continue
                q = re.match(r'[\s,(]*"([^"]+)"', piece[m.end():])
                if q:
                    want = ' '.join(q.group(1).lower().rstrip('.:').split())
                    if not any(want in t for t in sections(dest)[1]):
                        bad.append('%s:%d: cites %s "%s", which has no such section' %
                                   (src, n, dest, q.group(1)))
for b in bad:
    print('not ok ' + b)
print('ok %d citations of *.md files in comments checked' % cites)
PYEOF
rc=$?
[ "$rc" = 0 ] || not_ok "the checker failed (exit $rc): $(head -c 600 "$T/docs.err")"
while IFS= read -r line; do
  case $line in
    "not ok "*) not_ok "${line#not ok }" ;;
    "ok "*) ok "${line#ok }" ;;
  esac
done <"$T/docs.out"
finish
