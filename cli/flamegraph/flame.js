// Browser side of `alloctrace flamegraph`: draws the embedded ATR_DATA as an interactive allocation
// flame graph (zoom, search, metrics, inverted view, live-at-a-time view, diff colouring), and lends
// its trees to the table beside it (table.js) through window.atr.
// Must never fetch anything, use external code, or modify ATR_DATA; plain ES2017, inlined by the C side.
(function () {
  'use strict';

  const D = ATR_DATA;
  const ROW_H = 18;     // px per stack level (frame height 17 + 1 gap)
  const MIN_PX = 0.5;   // frames narrower than this (and their whole subtree) are not drawn
  const LABEL_PX = 22;  // frames narrower than this get no text
  const BYTE_METRICS = new Set(['peak', 'leaked', 'allocated']);
  const METRIC_LABELS = {
    peak: 'Peak live bytes', leaked: 'Leaked bytes', allocated: 'Allocated bytes',
    allocations: 'Allocations (count)', temporary: 'Temporary allocations (count)',
  };
  const CLASS_LABELS = {
    program: 'program', libc: 'libc', 'libstdc++': 'libstdc++', 'rust-std': 'Rust std',
    system: 'system libraries', other: 'other',
  };
  // rgb from three hash-derived numbers in [0,1): stable per function name, like flamegraph.pl.
  const PALETTE = {
    program: (a, b, c) => [205 + 50 * c, 55 + 135 * a, 25 + 40 * b],      // "hot": red to orange
    libc: (a, b) => [222 + 28 * a, 196 + 36 * a, 96 + 50 * b],            // sand / yellow
    'libstdc++': (a, b) => [95 + 50 * a, 185 + 40 * a, 178 + 40 * b],     // aqua, as flamegraph.pl's C++
    'rust-std': (a, b, c) => [236 + 18 * a, 140 + 40 * b, 120 + 35 * c],  // salmon
    system: (a, b) => [178 + 36 * a, 166 + 36 * a, 210 + 30 * b],         // lavender
    other: (a) => [186 + 36 * a, 184 + 36 * a, 178 + 36 * a],             // warm grey
  };

  const $ = (id) => document.getElementById(id);
  const strings = D.strings || [];
  const frames = D.frames || [];
  const metrics = D.metrics || [];
  const modules = D.modules || [];
  const nodes = D.nodes;
  const N = nodes.parent.length;
  const snaps = D.snapshots || [];
  const tl = D.timeline && D.timeline.t && D.timeline.t.length ? D.timeline : null;

  const fname = frames.map((fr) => (strings[fr[0]] !== undefined ? String(strings[fr[0]]) : '?'));
  const fnameLower = fname.map((s) => s.toLowerCase());
  const modOf = D.module_of_frame || [];
  const rank = new Int32Array(frames.length);
  fname.map((_, i) => i)
    .sort((a, b) => (fname[a] < fname[b] ? -1 : fname[a] > fname[b] ? 1 : a - b))
    .forEach((f, r) => { rank[f] = r; });

  // ---------------------------------------------------------------- helpers

  function esc(s) {
    return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
  }
  function fmtBytes(b) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let v = Math.abs(b), i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (b < 0 ? '-' : '') + (i === 0 || v >= 100 ? String(Math.round(v)) : v.toFixed(1)) + ' ' + units[i];
  }
  const COUNT_FORMAT = new Intl.NumberFormat('en-US');  // one formatter: toLocaleString builds one per call
  function fmtCount(n) { return COUNT_FORMAT.format(Math.round(n)); }
  function fmtPct(r) {
    const p = r * 100;
    return (p > 0 && p < 0.1 ? p.toFixed(2) : p.toFixed(1)) + '%';
  }
  function fmtTime(s) {
    return (s >= 100 ? s.toFixed(1) : s >= 1 ? s.toFixed(2) : s.toFixed(3)) + ' s';
  }
  function metricName() { return metrics[S.mi]; }
  function isBytes() { return !!S.time || BYTE_METRICS.has(metricName()); }
  function fmtVal(v) { return isBytes() ? fmtBytes(v) : fmtCount(v); }
  function metricLabel(m) { return METRIC_LABELS[m] || m; }
  function viewLabel() { return S.time ? 'Live bytes' : metricLabel(metricName()); }
  function hash(s) {
    let h = 2166136261;
    for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); }
    return h >>> 0;
  }
  function rgb(c) { return 'rgb(' + Math.round(c[0]) + ',' + Math.round(c[1]) + ',' + Math.round(c[2]) + ')'; }
  function moduleClass(f) {
    const m = f >= 0 ? modules[modOf[f]] : null;
    return m && PALETTE[m.class] ? m.class : 'other';
  }
  function slug(cls) { return 'mod-' + cls.replace(/\+/g, 'x'); }
  function isMerged(f) { return f >= 0 && fname[f] === '[other]'; }

  const colourCache = new Array(frames.length);
  function frameColour(f) {
    if (f < 0) return 'rgb(214,210,202)';
    let c = colourCache[f];
    if (c === undefined) {
      const h = hash(fname[f]);
      const a = (h & 255) / 255, b = ((h >>> 8) & 255) / 255, d = ((h >>> 16) & 255) / 255;
      c = colourCache[f] = rgb(isMerged(f) ? PALETTE.other(a) : PALETTE[moduleClass(f)](a, b, d));
    }
    return c;
  }
  function diffColour(v) {
    const d = S.incl[v] - S.base[v];
    if (!S.maxAbsDelta || d === 0) return 'rgb(236,236,230)';
    const k = Math.sqrt(Math.min(1, Math.abs(d) / S.maxAbsDelta));
    return d > 0 ? rgb([255, 232 - 172 * k, 226 - 176 * k]) : rgb([226 - 176 * k, 234 - 144 * k, 255]);
  }

  // ---------------------------------------------------------------- trees and values

  // Children are sorted by function name (stable across metrics, like flamegraph.pl) and kept as one
  // flat list: node v's children are kids[first[v] .. first[v + 1]). Both trees keep parent index <
  // own index, so a reverse scan accumulates inclusive values.
  function makeTree(parent, frame) {
    const n = parent.length, first = new Int32Array(n + 1), kids = new Int32Array(Math.max(0, n - 1));
    for (let i = 1; i < n; i++) first[parent[i] + 1]++;
    for (let i = 0; i < n; i++) first[i + 1] += first[i];
    const fill = first.slice(0, n);
    for (let i = 1; i < n; i++) kids[fill[parent[i]]++] = i;
    const byName = (a, b) => rank[frame[a]] - rank[frame[b]] || a - b;
    for (let i = 0; i < n; i++) if (first[i + 1] - first[i] > 1) kids.subarray(first[i], first[i + 1]).sort(byName);
    return { n, parent, frame, first, kids, leafOf: null };
  }

  function validate() {
    if (D.schema !== 'alloctrace.flame/1') throw new Error('unsupported schema ' + D.schema);
    const p = nodes.parent, fr = nodes.frame;
    if (!N || p[0] !== -1) throw new Error('node 0 must be the root (parent -1)');
    for (let i = 1; i < N; i++) {
      if (!(p[i] >= 0 && p[i] < i)) throw new Error('node ' + i + ': parent must precede it (preorder)');
      if (!(fr[i] >= 0 && fr[i] < frames.length)) throw new Error('node ' + i + ': bad frame index ' + fr[i]);
    }
    if (!nodes.self || nodes.self.length !== N) throw new Error('nodes.self must have one row per node');
    if (!metrics.length) throw new Error('no metrics');
  }

  const fwd = makeTree(Int32Array.from(nodes.parent), Int32Array.from(nodes.frame));
  let inv = null;

  // Callers-of tree: the path of node n read from n up to the root's child. leafOf[n] is the end of
  // that path, so any self vector maps onto the inverted tree by leafOf and inclusive sums do the rest.
  function invertedTree() {
    if (inv) return inv;
    const used = new Uint8Array(N);
    [nodes.self, nodes.base].forEach((rows) => {
      if (!rows) return;
      for (let i = 0; i < N; i++) if (rows[i].some((x) => x)) used[i] = 1;
    });
    snaps.forEach((s) => s.live.forEach((p) => { used[p[0]] = 1; }));
    // (inverted parent, frame) -> inverted child in an open-addressing table of typed arrays: deep stacks
    // make this ~N * depth lookups, and a Map is several times slower at that.
    let cap = 1 << 12, mask = cap - 1, kp = new Int32Array(cap).fill(-1), kf = new Int32Array(cap), kv = new Int32Array(cap);
    let par = new Int32Array(1024), frm = new Int32Array(1024), cnt = 1;
    const leafOf = new Int32Array(N);
    const hashOf = (v, f) => { const h = Math.imul(v ^ Math.imul(f, 0x9e3779b1), 0x85ebca77); return (h ^ (h >>> 16)) & mask; };
    par[0] = -1;
    frm[0] = -1;
    for (let n = 1; n < N; n++) {
      if (!used[n]) continue;
      let v = 0;
      for (let a = n; a > 0; a = fwd.parent[a]) {
        const f = fwd.frame[a];
        let h = hashOf(v, f);
        while (kp[h] !== -1 && (kp[h] !== v || kf[h] !== f)) h = (h + 1) & mask;
        if (kp[h] !== -1) { v = kv[h]; continue; }
        if (cnt === par.length) {
          const np = new Int32Array(2 * cnt), nf = new Int32Array(2 * cnt);
          np.set(par); nf.set(frm); par = np; frm = nf;
        }
        par[cnt] = v; frm[cnt] = f; kp[h] = v; kf[h] = f; kv[h] = cnt;
        v = cnt++;
        if (2 * cnt > cap) {
          const op = kp, of = kf, ov = kv;
          cap *= 2; mask = cap - 1;
          kp = new Int32Array(cap).fill(-1); kf = new Int32Array(cap); kv = new Int32Array(cap);
          for (let i = 0; i < op.length; i++) {
            if (op[i] === -1) continue;
            let j = hashOf(op[i], of[i]);
            while (kp[j] !== -1) j = (j + 1) & mask;
            kp[j] = op[i]; kf[j] = of[i]; kv[j] = ov[i];
          }
        }
      }
      leafOf[n] = v;
    }
    inv = makeTree(par.slice(0, cnt), frm.slice(0, cnt));
    inv.leafOf = leafOf;
    return inv;
  }

  const selfCache = {}, baseCache = {};
  function column(rows, mi) {
    const a = new Float64Array(N);
    for (let i = 0; i < N; i++) a[i] = +rows[i][mi] || 0;
    return a;
  }
  function metricSelf(mi) { return selfCache[mi] || (selfCache[mi] = column(nodes.self, mi)); }
  function metricBase(mi) { return baseCache[mi] || (baseCache[mi] = column(nodes.base, mi)); }
  // Live self bytes: the one snapshot, or for a range the max per node across its snapshots.
  function liveSelf(idx) {
    const a = new Float64Array(N);
    idx.forEach((s) => snaps[s].live.forEach((p) => { if (p[1] > a[p[0]]) a[p[0]] = p[1]; }));
    return a;
  }
  function onTree(tree, fself) {
    if (!tree.leafOf) return fself;
    const a = new Float64Array(tree.n);
    for (let i = 0; i < N; i++) a[tree.leafOf[i]] += fself[i];
    return a;
  }
  function inclusive(tree, self) {
    const a = Float64Array.from(self);
    for (let i = tree.n - 1; i > 0; i--) a[tree.parent[i]] += a[i];
    return a;
  }

  // ---------------------------------------------------------------- state

  const listeners = [];  // called after every render (the table follows the flame graph)
  const S = {
    mi: Math.max(0, metrics.indexOf(D.default_metric)), inverted: false, zoom: 0, query: '', time: null,
    tree: fwd, self: null, incl: null, base: null, maxAbsDelta: 0,
    matched: null, share: 0, matchedValue: 0, visible: 0,
  };

  function recompute() {
    const t = S.tree = S.inverted ? invertedTree() : fwd;
    S.self = onTree(t, S.time ? S.time.self : metricSelf(S.mi));
    S.incl = inclusive(t, S.self);
    S.base = null;
    S.maxAbsDelta = 0;
    if (D.diff && nodes.base && !S.time) {
      S.base = inclusive(t, onTree(t, metricBase(S.mi)));
      for (let i = 1; i < t.n; i++) S.maxAbsDelta = Math.max(S.maxAbsDelta, Math.abs(S.incl[i] - S.base[i]));
    }
    if (S.zoom >= t.n || !(S.incl[S.zoom] > 0)) S.zoom = 0;
    applySearch();
  }

  // Matched share counts each matched subtree once: a match under a matched ancestor adds nothing.
  function applySearch() {
    const q = S.query.trim().toLowerCase(), t = S.tree;
    S.matched = null;
    S.share = 0;
    S.matchedValue = 0;
    if (!q) return;
    const fm = new Uint8Array(frames.length);
    for (let f = 0; f < frames.length; f++) fm[f] = fnameLower[f].indexOf(q) >= 0 ? 1 : 0;
    const m = new Uint8Array(t.n), under = new Uint8Array(t.n);
    let sum = 0;
    for (let i = 1; i < t.n; i++) {
      const p = t.parent[i];
      m[i] = fm[t.frame[i]];
      if (m[i] && !under[p]) sum += S.incl[i];
      under[i] = under[p] | m[i];
    }
    S.matched = m;
    S.matchedValue = sum;
    S.share = S.incl[0] > 0 ? sum / S.incl[0] : 0;
  }

  // ---------------------------------------------------------------- flame graph

  function chainOf(v) {
    const chain = [];
    for (let a = v; a >= 0; a = S.tree.parent[a]) chain.push(a);
    return chain.reverse();
  }

  function render() {
    const el = $('flame'), t = S.tree, incl = S.incl, z = S.zoom;
    const W = el.clientWidth || 800, total = incl[z];
    const chain = chainOf(z);
    const items = [];  // flat quintuples: node, x, width, depth, isAncestor
    for (let i = 0; i < chain.length - 1; i++) items.push(chain[i], 0, W, i, 1);
    if (total > 0) {
      const k = W / total, stack = [z, 0, chain.length - 1];
      while (stack.length) {
        const d = stack.pop(), x = stack.pop(), v = stack.pop();
        items.push(v, x, incl[v] * k, d, 0);
        let cx = x;
        for (let j = t.first[v]; j < t.first[v + 1]; j++) {
          const c = t.kids[j], w = incl[c] * k;
          if (w >= MIN_PX) stack.push(c, cx, d + 1);
          cx += w;
        }
      }
    } else {
      items.push(z, 0, W, chain.length - 1, 0);
    }
    let maxD = 0;
    for (let i = 3; i < items.length; i += 5) if (items[i] > maxD) maxD = items[i];

    const html = [];
    for (let i = 0; i < items.length; i += 5) {
      const v = items[i], x = items[i + 1], w = items[i + 2], d = items[i + 3], f = t.frame[v];
      const top = S.inverted ? d * ROW_H : (maxD - d) * ROW_H;
      let cls = 'frame ' + (f < 0 ? 'root' : slug(moduleClass(f)));
      if (items[i + 4]) cls += ' ancestor';
      if (isMerged(f)) cls += ' merged';
      if (S.matched && S.matched[v]) cls += ' match';
      const bg = S.base && v !== 0 ? diffColour(v) : frameColour(f);
      const label = w >= LABEL_PX ? esc(f < 0 ? 'all' : fname[f]) : '';
      if (label) cls += ' lbl';
      html.push('<div class="' + cls + '" data-node="' + v + '" style="left:' + x.toFixed(2) + 'px;width:' +
        (w > 2 ? w - 1 : w).toFixed(2) + 'px;top:' + top + 'px;background-color:' + bg + '">' + label + '</div>');
    }
    if (!(incl[0] > 0)) html.push('<div class="empty-note">No data for ' + esc(viewLabel()) + '.</div>');
    el.style.height = ((maxD + 1) * ROW_H + (incl[0] > 0 ? 0 : 60)) + 'px';
    el.innerHTML = html.join('');
    S.visible = items.length / 5;
    renderChrome(chain);
    listeners.forEach((fn) => fn());
  }

  function renderChrome(chain) {
    const t = S.tree;
    $('crumbs').innerHTML = chain.map((v, i) => {
      const name = esc(t.frame[v] < 0 ? 'all' : fname[t.frame[v]]);
      return i === chain.length - 1
        ? '<span class="crumb current" data-node="' + v + '" title="' + name + '">' + name + '</span>'
        : '<button type="button" class="crumb" data-node="' + v + '" title="' + name + '">' + name +
          '</button><span class="sep">›</span>';
    }).join('');
    $('reset-zoom').disabled = S.zoom === 0;
    const total = S.incl[0];
    let txt = viewLabel() + ': ' + fmtVal(total);
    if (S.zoom !== 0) txt += '  ·  zoomed frame ' + fmtVal(S.incl[S.zoom]) + ' (' + fmtPct(S.incl[S.zoom] / total) + ')';
    if (S.time) {
      txt += S.time.point ? ' at ' + fmtTime(snaps[S.time.snaps[0]].t)
        : ', max over ' + fmtTime(S.time.t0) + ' – ' + fmtTime(S.time.t1);
    }
    if (S.inverted) txt += '  ·  inverted: allocating functions first, then their callers';
    $('view-total').textContent = txt;
    $('search-share').textContent = S.query.trim()
      ? 'Matched: ' + fmtPct(S.share) + ' (' + fmtVal(S.matchedValue) + ' of ' + fmtVal(total) + ')' : '';
  }

  // Focus the flame graph on node v of the forward tree, or of the callers-of tree when inverted
  // (the table's rows): whole run, the current metric unless v has nothing in it, then metric
  // prefer (the table's sort), then the first metric v has.
  function focusNode(v, inverted, prefer) {
    S.time = null;
    S.inverted = !!inverted;
    $('inverted').checked = S.inverted;
    S.zoom = 0;
    recompute();
    const order = [prefer].concat(metrics.map((_, k) => k)).filter((k) => k >= 0 && k < metrics.length);
    for (let i = 0; !(S.incl[v] > 0) && i < order.length; i++) {
      S.mi = order[i];
      recompute();
    }
    $('metric').value = metricName();
    if (S.incl[v] > 0) S.zoom = v;
    hideTip();
    render();
    drawTimeline();
    updateTimeLabel();
    return S.zoom === v;
  }

  function zoom(v) {
    v = Number(v);
    if (!(v >= 0 && v < S.tree.n) || !(S.incl[v] > 0)) return false;
    S.zoom = v;
    hideTip();
    render();
    return true;
  }

  // ---------------------------------------------------------------- tooltip

  // file:line (no line when frames of several lines were merged) and module of frame f
  function frameWhere(f) {
    const fr = frames[f], file = fr[1] >= 0 ? strings[fr[1]] : null, mod = modules[modOf[f]];
    return (file ? file + (fr[2] ? ':' + fr[2] : '') : '(no source info)') +
      '  ·  ' + (mod ? mod.name + ' [' + (CLASS_LABELS[mod.class] || mod.class) + ']' : 'unknown module');
  }

  let tipNode = -1;
  function tipHtml(v) {
    const t = S.tree, f = t.frame[v], total = S.incl[0];
    const name = f < 0 ? 'all' : fname[f];
    const loc = f >= 0 ? frameWhere(f) : S.inverted ? 'all allocating call paths (inverted)' : 'all call stacks';
    const rows = [
      [viewLabel(), fmtVal(S.incl[v]) + '  (' + fmtPct(total > 0 ? S.incl[v] / total : 0) + ' of total)'],
      ['Self', fmtVal(S.self[v]) + '  (' + fmtPct(total > 0 ? S.self[v] / total : 0) + ')'],
    ];
    if (S.zoom !== 0 && S.incl[S.zoom] > 0 && v !== S.zoom) rows.push(['Of zoomed', fmtPct(S.incl[v] / S.incl[S.zoom])]);
    if (S.base) {
      const b = S.base[v], n = S.incl[v], d = n - b;
      const cls = d > 0 ? 'grew' : d < 0 ? 'shrank' : '';
      rows.push(['Base', fmtVal(b)], ['New', fmtVal(n)],
        ['Delta', '<span class="' + cls + '">' + (d > 0 ? '+' : '') + esc(fmtVal(d)) +
          (b > 0 ? ' (' + (d > 0 ? '+' : '') + fmtPct(d / b) + ')' : '') + '</span>']);
    }
    if (S.time) rows.push(['Time', esc($('time-label').textContent)]);
    return '<div class="tt-func">' + esc(name) + '</div><div class="tt-loc">' + esc(loc) + '</div><table>' +
      rows.map((r) => '<tr><td>' + esc(r[0]) + '</td><td>' + (r[0] === 'Delta' || r[0] === 'Time' ? r[1] : esc(r[1])) +
        '</td></tr>').join('') + '</table><div class="tt-hint">' +
      (v === S.zoom ? (v ? 'Zoomed frame; click below to zoom out' : '') : 'Click to zoom') + '</div>';
  }
  function showTip(v, ev) {
    const tip = $('tooltip');
    if (v !== tipNode) { tip.innerHTML = tipHtml(v); tipNode = v; }
    tip.hidden = false;
    const pad = 14, r = tip.getBoundingClientRect();
    let x = ev.clientX + pad, y = ev.clientY + pad;
    if (x + r.width > window.innerWidth - 4) x = Math.max(4, ev.clientX - pad - r.width);
    if (y + r.height > window.innerHeight - 4) y = Math.max(4, ev.clientY - pad - r.height);
    tip.style.left = x + 'px';
    tip.style.top = y + 'px';
  }
  function hideTip() { $('tooltip').hidden = true; tipNode = -1; }

  // ---------------------------------------------------------------- header, controls, legend

  function fillHeader() {
    const m = D.meta || {}, tot = m.totals || {};
    const prog = m.program || '(unknown program)';
    document.title = prog.split('/').pop() + ' — alloctrace flame graph';
    $('program').textContent = prog;
    $('cmdline').textContent = m.cmdline ? '$ ' + m.cmdline : '';
    const info = [];
    if (m.date) info.push(m.date);
    if (m.pid !== undefined && m.pid !== null) info.push('pid ' + m.pid);
    if (tot.duration_s !== undefined) info.push('ran ' + fmtTime(tot.duration_s));
    info.push(fmtCount(N) + ' stack nodes');
    $('run-info').textContent = info.join('  ·  ');
    const cells = [
      ['Allocations', tot.allocations, fmtCount], ['Frees', tot.frees, fmtCount],
      ['Allocated', tot.allocated_bytes, fmtBytes], ['Peak heap', tot.peak_bytes, fmtBytes],
      ['Leaked', tot.leaked_bytes, fmtBytes], ['Temporary', tot.temporary, fmtCount],
    ].filter((c) => typeof c[1] === 'number');
    $('totals').innerHTML = cells.map((c) =>
      '<div><dt>' + esc(c[0]) + '</dt><dd>' + esc(c[2](c[1])) + '</dd></div>').join('');
    $('diff-badge').hidden = !D.diff;
  }

  function fillMetricSelect() {
    const sel = $('metric');
    sel.innerHTML = metrics.map((m) => '<option value="' + esc(m) + '">' + esc(metricLabel(m)) + '</option>').join('');
    sel.value = metricName();
  }

  function buildLegend() {
    const el = $('legend');
    if (D.diff) {
      el.innerHTML = '<span><i class="grad"></i>shrank · unchanged · grew (new − base)</span>';
      return;
    }
    const present = new Set(), order = Object.keys(PALETTE);
    let merged = false;
    for (let i = 1; i < N; i++) {
      const f = fwd.frame[i];
      if (isMerged(f)) merged = true; else present.add(moduleClass(f));
    }
    const parts = order.filter((c) => present.has(c)).map((c) =>
      '<span><i style="background:' + rgb(PALETTE[c](0.5, 0.5, 0.5)) + '"></i>' + esc(CLASS_LABELS[c]) + '</span>');
    if (merged) parts.push('<span><i style="background:' + rgb(PALETTE.other(0.4)) +
      ' repeating-linear-gradient(135deg, rgba(255,255,255,.5) 0 3px, transparent 3px 6px)"></i>[other]: small frames merged</span>');
    parts.push('<span><i style="background:var(--match)"></i>search match</span>');
    el.innerHTML = parts.join('');
  }

  function setMetric(name) {
    const mi = metrics.indexOf(name);
    if (mi < 0) throw new Error('unknown metric ' + name);
    S.mi = mi;
    $('metric').value = name;
    const wasTime = !!S.time;
    S.time = null;
    recompute();
    hideTip();
    render();
    if (wasTime) drawTimeline();
    updateTimeLabel();
  }
  function setInverted(on) {
    S.inverted = !!on;
    $('inverted').checked = S.inverted;
    S.zoom = 0;
    recompute();
    hideTip();
    render();
  }
  function search(text) {
    S.query = String(text || '');
    if ($('search').value !== S.query) $('search').value = S.query;
    applySearch();
    render();
  }

  function wire() {
    const flame = $('flame');
    flame.addEventListener('mousemove', (ev) => {
      const f = ev.target.closest('.frame');
      if (f) showTip(+f.dataset.node, ev); else hideTip();
    });
    flame.addEventListener('mouseleave', hideTip);
    flame.addEventListener('click', (ev) => {
      const f = ev.target.closest('.frame');
      if (f) zoom(+f.dataset.node);
    });
    $('crumbs').addEventListener('click', (ev) => {
      const c = ev.target.closest('button.crumb');
      if (c) zoom(+c.dataset.node);
    });
    $('reset-zoom').addEventListener('click', () => zoom(0));
    $('metric').addEventListener('change', (ev) => setMetric(ev.target.value));
    $('inverted').addEventListener('change', (ev) => setInverted(ev.target.checked));
    // Big trees: wait for a pause in typing rather than redrawing thousands of frames per key.
    let typing = 0;
    $('search').addEventListener('input', (ev) => {
      clearTimeout(typing);
      if (fwd.n < 5000) search(ev.target.value);
      else typing = setTimeout(() => search(ev.target.value), 150);
    });
    $('at-peak').addEventListener('click', atPeak);
    $('all-time').addEventListener('click', allTime);
    document.addEventListener('keydown', (ev) => {
      const inField = /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName);
      if (ev.key === '/' && !inField) { ev.preventDefault(); $('search').focus(); $('search').select(); }
      else if (ev.key === 'Escape') {
        if (document.activeElement === $('search') && S.query) search('');
        else zoom(0);
      }
    });
    let pending = false;
    window.addEventListener('resize', () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => { pending = false; render(); drawTimeline(); });
    });
  }

  // ---------------------------------------------------------------- time view

  const TLM = { L: 62, R: 62, T: 10, B: 24 };
  const TL = { drag: null, hover: null };

  function tlSpan() {
    const t0 = tl.t[0], t1 = tl.t[tl.t.length - 1];
    return [t0, t1 > t0 ? t1 : t0 + 1];
  }
  function tlX(t, W) { const s = tlSpan(); return TLM.L + (t - s[0]) / (s[1] - s[0]) * (W - TLM.L - TLM.R); }
  function tlT(px, W) {
    const s = tlSpan(), r = (px - TLM.L) / (W - TLM.L - TLM.R);
    return s[0] + Math.min(1, Math.max(0, r)) * (s[1] - s[0]);
  }
  function peakIndex() {
    if (tl.peak_index >= 0 && tl.peak_index < tl.t.length) return tl.peak_index;
    let k = 0;
    for (let i = 1; i < tl.heap.length; i++) if (tl.heap[i] > tl.heap[k]) k = i;
    return k;
  }
  function nearestSnapshot(t) {
    let best = 0;
    for (let i = 1; i < snaps.length; i++) if (Math.abs(snaps[i].t - t) < Math.abs(snaps[best].t - t)) best = i;
    return best;
  }

  function drawTimeline() {
    if (!tl) return;
    const c = $('timeline'), W = c.clientWidth, H = c.clientHeight, dpr = window.devicePixelRatio || 1;
    if (!W || !H) return;
    c.width = Math.round(W * dpr);
    c.height = Math.round(H * dpr);
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, W, H);
    const heap = tl.heap || [], rss = tl.rss || [], n = tl.t.length, font = getComputedStyle(document.body).fontFamily;
    // Heap and RSS get their own axes (left, right): RSS is often 100x the heap of a small program.
    const top = (arr) => { let m = 1; for (let i = 0; i < n; i++) m = Math.max(m, arr[i] || 0); return m * 1.1; };
    const hmax = top(heap), rmax = rss.length ? top(rss) : 0;
    const X = (t) => tlX(t, W), x0 = TLM.L, x1 = W - TLM.R, yb = H - TLM.B;
    const Y = (v, m) => TLM.T + (1 - v / m) * (yb - TLM.T);
    g.font = '10.5px ' + font;
    g.lineWidth = 1;
    g.textBaseline = 'middle';
    for (let i = 0; i <= 4; i++) {
      const y = Math.round(Y(hmax / 1.1 * i / 4, hmax)) + 0.5;
      g.strokeStyle = i ? '#eeeae3' : '#cfc9be';
      g.beginPath(); g.moveTo(x0, y); g.lineTo(x1, y); g.stroke();
      g.fillStyle = '#c0611f'; g.textAlign = 'right';
      g.fillText(fmtBytes(hmax / 1.1 * i / 4), x0 - 6, y);
      if (rmax) { g.fillStyle = '#5b7fa6'; g.textAlign = 'left'; g.fillText(fmtBytes(rmax / 1.1 * i / 4), x1 + 6, y); }
    }
    const s = tlSpan();
    g.fillStyle = '#8a8378'; g.textBaseline = 'top';
    for (let i = 0; i <= 6; i++) {
      const t = s[0] + (s[1] - s[0]) * i / 6;
      g.textAlign = i === 0 ? 'left' : i === 6 ? 'right' : 'center';
      g.fillText(fmtTime(t), X(t), yb + 9);
    }
    const sel = TL.drag && Math.abs(TL.drag.x1 - TL.drag.x0) >= 4 ? [Math.min(TL.drag.x0, TL.drag.x1), Math.max(TL.drag.x0, TL.drag.x1)]
      : S.time && !S.time.point ? [X(S.time.t0), X(S.time.t1)] : null;
    if (sel) { g.fillStyle = 'rgba(228,87,46,.14)'; g.fillRect(sel[0], TLM.T, sel[1] - sel[0], yb - TLM.T); }
    g.beginPath();
    g.moveTo(X(tl.t[0]), yb);
    for (let i = 0; i < n; i++) g.lineTo(X(tl.t[i]), Y(heap[i] || 0, hmax));
    g.lineTo(X(tl.t[n - 1]), yb);
    g.closePath();
    const grad = g.createLinearGradient(0, TLM.T, 0, yb);
    grad.addColorStop(0, 'rgba(244,162,97,.85)'); grad.addColorStop(1, 'rgba(244,162,97,.2)');
    g.fillStyle = grad; g.fill();
    g.beginPath();
    for (let i = 0; i < n; i++) g[i ? 'lineTo' : 'moveTo'](X(tl.t[i]), Y(heap[i] || 0, hmax));
    g.strokeStyle = '#d9722c'; g.lineWidth = 1.5; g.stroke();
    if (rmax) {
      g.beginPath();
      for (let i = 0; i < n; i++) g[i ? 'lineTo' : 'moveTo'](X(tl.t[i]), Y(rss[i] || 0, rmax));
      g.setLineDash([4, 3]); g.strokeStyle = '#5b7fa6'; g.lineWidth = 1.25; g.stroke(); g.setLineDash([]);
    }
    // snapshots: small marks under the axis, the chosen ones dark
    const chosen = new Set(S.time ? S.time.snaps : []);
    const tri = Math.max(1, Math.min(3.5, (x1 - x0) / Math.max(1, snaps.length) / 2.5));
    snaps.forEach((sn, i) => {
      const x = X(sn.t);
      g.fillStyle = chosen.has(i) ? '#22201c' : '#a79f92';
      g.beginPath(); g.moveTo(x, yb + 1); g.lineTo(x - tri, yb + 7); g.lineTo(x + tri, yb + 7); g.fill();
    });
    const pk = peakIndex(), px = X(tl.t[pk]), py = Y(heap[pk] || 0, hmax);
    g.strokeStyle = 'rgba(214,40,40,.6)'; g.lineWidth = 1; g.setLineDash([3, 3]);
    g.beginPath(); g.moveTo(Math.round(px) + 0.5, TLM.T); g.lineTo(Math.round(px) + 0.5, yb); g.stroke(); g.setLineDash([]);
    g.fillStyle = '#d62828'; g.beginPath(); g.arc(px, py, 3.5, 0, 2 * Math.PI); g.fill();
    g.font = '600 10.5px ' + font;
    g.textBaseline = 'middle';
    const ptxt = 'peak ' + fmtBytes(heap[pk] || 0) + ' @ ' + fmtTime(tl.t[pk]), pw = g.measureText(ptxt).width;
    const lx = px > x1 - pw - 20 ? px - 8 - pw : px + 8, ly = Math.max(py, TLM.T + 7);
    g.fillStyle = 'rgba(255,255,255,.88)'; g.fillRect(lx - 3, ly - 7, pw + 6, 14);
    g.fillStyle = '#c22020'; g.textAlign = 'left';
    g.fillText(ptxt, lx, ly);
    if (S.time && S.time.point) {
      const x = Math.round(X(snaps[S.time.snaps[0]].t)) + 0.5;
      g.strokeStyle = '#22201c'; g.lineWidth = 1.5;
      g.beginPath(); g.moveTo(x, TLM.T); g.lineTo(x, yb); g.stroke();
    }
    if (TL.hover !== null && !TL.drag) {
      g.strokeStyle = 'rgba(34,32,28,.35)'; g.lineWidth = 1;
      g.beginPath(); g.moveTo(Math.round(TL.hover) + 0.5, TLM.T); g.lineTo(Math.round(TL.hover) + 0.5, yb); g.stroke();
    }
  }

  function readout(px, W) {
    const t = tlT(px, W);
    let k = 0;
    for (let i = 1; i < tl.t.length; i++) if (Math.abs(tl.t[i] - t) < Math.abs(tl.t[k] - t)) k = i;
    $('time-readout').textContent = fmtTime(tl.t[k]) + '   heap ' + fmtBytes(tl.heap[k] || 0) +
      (tl.rss && tl.rss.length ? '   RSS ' + fmtBytes(tl.rss[k] || 0) : '');
  }

  function setupTimeline() {
    const c = $('timeline');
    if (!tl) {
      $('time-panel').classList.add('empty');
      $('time-readout').textContent = 'no timeline recorded';
    }
    if (!snaps.length) {
      $('at-peak').disabled = true;
      $('time-readout').textContent += (tl ? '' : '; ') + 'no live snapshots recorded';
    }
    if (!tl) return;
    const pxOf = (ev) => ev.clientX - c.getBoundingClientRect().left;
    c.addEventListener('pointerdown', (ev) => {
      if (!snaps.length) return;
      c.setPointerCapture(ev.pointerId);
      TL.drag = { x0: pxOf(ev), x1: pxOf(ev) };
    });
    c.addEventListener('pointermove', (ev) => {
      const x = pxOf(ev);
      TL.hover = x;
      if (TL.drag) TL.drag.x1 = x;
      readout(x, c.clientWidth);
      drawTimeline();
    });
    c.addEventListener('pointerup', (ev) => {
      if (!TL.drag) return;
      const d = TL.drag, W = c.clientWidth;
      TL.drag = null;
      d.x1 = pxOf(ev);
      if (Math.abs(d.x1 - d.x0) < 4) selectTime(tlT(d.x0, W));
      else selectTime(tlT(Math.min(d.x0, d.x1), W), tlT(Math.max(d.x0, d.x1), W));
    });
    c.addEventListener('pointerleave', () => { TL.hover = null; drawTimeline(); });
  }

  // One time t (nearest snapshot) or a range [t0, t1] (max per node over its snapshots; if the range
  // holds none, the snapshot nearest its middle).
  function selectTime(t0, t1) {
    if (!snaps.length) return false;
    t0 = Number(t0);
    t1 = t1 === undefined || t1 === null ? t0 : Number(t1);
    let idx = [];
    if (t1 > t0) idx = snaps.map((_, i) => i).filter((i) => snaps[i].t >= t0 && snaps[i].t <= t1);
    const point = idx.length === 0;
    if (point) idx = [nearestSnapshot((t0 + t1) / 2)];
    S.time = { t0, t1, point, snaps: idx, self: liveSelf(idx) };
    recompute();
    hideTip();
    render();
    drawTimeline();
    updateTimeLabel();
    return true;
  }
  function atPeak() { return tl ? selectTime(tl.t[peakIndex()]) : selectTime(snaps[0].t); }
  function allTime() {
    S.time = null;
    recompute();
    render();
    drawTimeline();
    updateTimeLabel();
  }
  function updateTimeLabel() {
    const T = S.time;
    let txt;
    if (!T) {
      txt = 'Whole run · ' + metricLabel(metricName());
    } else if (T.point) {
      const st = snaps[T.snaps[0]].t, want = (T.t0 + T.t1) / 2;
      txt = 'Live at ' + fmtTime(st) + (Math.abs(st - want) > 1e-3 ? ' (nearest snapshot to ' + fmtTime(want) + ')' : '') +
        ' · ' + fmtBytes(S.incl[0]) + ' live';
    } else {
      txt = 'Max live per frame, ' + fmtTime(T.t0) + ' – ' + fmtTime(T.t1) + ' (' + T.snaps.length + ' snapshot' +
        (T.snaps.length === 1 ? '' : 's') + ')';
    }
    $('time-label').textContent = txt;
    $('all-time').disabled = !T;
    $('metric').classList.toggle('inactive', !!T);
    $('metric').title = T ? 'Showing live bytes at the chosen time; pick a metric to go back to the whole run' : '';
  }

  // ---------------------------------------------------------------- start

  function state() {
    return {
      metric: metricName(), zoomNode: S.zoom, matchedShare: S.share, visibleFrames: S.visible,
      inverted: S.inverted, total: S.incl[0], search: S.query,
      time: S.time ? { from: S.time.t0, to: S.time.t1, snapshots: S.time.snaps.slice() } : null,
    };
  }

  function start() {
    validate();
    fillHeader();
    fillMetricSelect();
    buildLegend();
    wire();
    if (D.inverted) { S.inverted = true; $('inverted').checked = true; }  // flamegraph --inverted
    recompute();
    render();
    setupTimeline();
    drawTimeline();
    updateTimeLabel();
    window.atr = {
      zoom, setMetric, search, state, setInverted, selectTime, atPeak, allTime, focusNode,
      redraw: () => { render(); drawTimeline(); },
      onRender: (fn) => listeners.push(fn),
      // what the table (table.js) shows, read-only
      model: { fwd, invertedTree, metricSelf, onTree, inclusive, fname, frameWhere, metrics, metricLabel, esc,
               fmtBytes, fmtCount, fmtPct, isBytesMetric: (m) => BYTE_METRICS.has(m), metricIndex: () => S.mi,
               zoomed: () => ({ node: S.zoom, inverted: S.inverted, time: !!S.time }) },
    };
  }

  try {
    start();
  } catch (e) {
    const div = document.createElement('div');
    div.className = 'fatal';
    div.textContent = 'alloctrace flame graph: cannot show this data: ' + e.message;
    document.body.insertBefore(div, document.body.firstChild);
    throw e;
  }
})();
