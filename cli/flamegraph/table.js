// The call-tree table beside the flame graph of `alloctrace flamegraph`: top-down (callers first) and
// bottom-up (allocating functions first, then their callers) rows with self and total per metric,
// sortable, filtered by a search, a click focusing the flame graph on the row. Reads the trees and
// numbers flame.js lends through window.atr.model; must never change ATR_DATA or fetch anything.
(function () {
  'use strict';

  if (!window.atr || !window.atr.model) return;  // flame.js could not start: it says why
  const A = window.atr, M = A.model;
  const $ = (id) => document.getElementById(id);
  const MAX_ROWS = 1000;  // rows drawn at once: the page stays responsive on big traces
  const SHORT = { peak: 'Peak', leaked: 'Leaked', allocated: 'Allocated', allocations: 'Allocations', temporary: 'Temporary' };

  const T = {
    mode: 'top',            // 'top' (the forward tree) or 'bottom' (the callers-of tree)
    sort: null,             // {mi, col: 'self' | 'total', dir: -1 | 1}; null: total of the flame graph's metric, descending
    query: '',
    open: { top: new Set(), bottom: new Set() },
    cache: {},              // per mode: {tree, self: [per metric], total: [per metric], any}
    rows: 0, more: false,   // rows drawn; whether MAX_ROWS cut the list
  };
  let seenMetric = -1;      // the flame graph's metric at the last render
  let focusing = false;     // a row's click is moving the flame graph

  // Self and total per metric on one tree. Bottom-up, a row's self is what its function allocated
  // itself: the whole total on the first level, nothing on the callers' levels.
  function values(mode) {
    if (T.cache[mode]) return T.cache[mode];
    const tree = mode === 'top' ? M.fwd : M.invertedTree();
    const self = [], total = [];
    for (let k = 0; k < M.metrics.length; k++) {
      const s = M.onTree(tree, M.metricSelf(k));
      const t = M.inclusive(tree, s);
      if (mode === 'bottom') for (let i = 0; i < tree.n; i++) s[i] = tree.parent[i] === 0 ? t[i] : 0;
      self.push(s);
      total.push(t);
    }
    const any = new Uint8Array(tree.n);
    for (let i = 0; i < tree.n; i++) any[i] = total.some((t) => t[i] > 0) ? 1 : 0;
    const c = T.cache[mode] = { tree, self, total, any };
    if (!T.open[mode].size) {  // to start: the root and the one-child chains below it (_start ... main)
      openChain(c, 0, mode);
      if (mode === 'top') kids(c, 0).forEach((v) => openChain(c, v, mode));
    }
    return c;
  }

  function kids(c, v) {
    const out = [];
    for (let j = c.tree.first[v]; j < c.tree.first[v + 1]; j++) if (c.any[c.tree.kids[j]]) out.push(c.tree.kids[j]);
    return out;
  }

  // Opening a row opens the chain below it while there is one child only (_start ... main).
  function openChain(c, v, mode) {
    for (;;) {
      T.open[mode].add(v);
      const k = kids(c, v);
      if (k.length !== 1) return;
      v = k[0];
    }
  }

  function sortKey() {
    return T.sort || { mi: M.metricIndex(), col: 'total', dir: -1 };
  }

  function name(c, v) {
    return v === 0 ? 'all' : M.fname[c.tree.frame[v]];
  }
  function where(c, v) {
    const loc = v === 0 ? '' : M.frameWhere(c.tree.frame[v]);
    return name(c, v) + (loc ? '\n' + loc : '');
  }

  function fmt(k, x) {
    return M.isBytesMetric(M.metrics[k]) ? M.fmtBytes(x) : M.fmtCount(x);
  }
  // A cell's tooltip: the exact value and its share of the run's total.
  function exact(k, x, all) {
    return M.fmtCount(x) + (M.isBytesMetric(M.metrics[k]) ? ' bytes' : '') +
      (all > 0 ? ' (' + M.fmtPct(x / all) + ' of ' + fmt(k, all) + ')' : '');
  }

  // Rows in display order: [node, depth, open]. With a search, the matching rows and their ancestors
  // (opened), and whatever was opened by hand below a match.
  function layout(c) {
    const q = T.query.trim().toLowerCase(), t = c.tree, sk = sortKey();
    const key = sk.col === 'self' ? c.self[sk.mi] : c.total[sk.mi];
    let keep = null;
    if (q) {
      keep = new Uint8Array(t.n);  // 1: matches, 2: leads to a match
      for (let i = t.n - 1; i > 0; i--) {
        if (!c.any[i]) continue;
        if (M.fname[t.frame[i]].toLowerCase().indexOf(q) >= 0) keep[i] |= 1;
        if (keep[i]) keep[t.parent[i]] |= 2;
      }
      keep[0] |= 2;
    }
    const rows = [], stack = [[0, 0, false]];  // node, depth, at or below a match
    while (stack.length && rows.length < MAX_ROWS) {
      const [v, d, below] = stack.pop(), hit = below || (keep && (keep[v] & 1)) > 0;
      const byHand = T.open[T.mode].has(v), open = keep ? (keep[v] & 2) > 0 || (hit && byHand) : byHand;
      rows.push([v, d, open]);
      if (!open) continue;
      const k = kids(c, v).filter((x) => !keep || hit || keep[x]);
      k.sort((a, b) => sk.dir * (key[a] - key[b]) || (name(c, a) < name(c, b) ? -1 : name(c, a) > name(c, b) ? 1 : a - b));
      for (let i = k.length - 1; i >= 0; i--) stack.push([k[i], d + 1, hit]);
    }
    T.rows = rows.length;
    T.more = stack.length > 0;
    return { rows, keep };
  }

  // The flame graph's metric comes first, so a narrow table still shows it.
  function columns() {
    const cur = M.metricIndex();
    return [cur].concat(M.metrics.map((_, k) => k).filter((k) => k !== cur));
  }

  function renderHead() {
    const sk = sortKey(), cur = M.metricIndex();
    let top = '<tr><th rowspan="2" class="fn">Function</th>', sub = '<tr>';
    columns().forEach((k) => {
      const m = M.metrics[k];
      top += '<th colspan="2" class="grp' + (k === cur ? ' cur' : '') + '" title="' + M.esc(M.metricLabel(m)) + '">' +
        M.esc(SHORT[m] || m) + '</th>';
      ['self', 'total'].forEach((col) => {
        const on = sk.mi === k && sk.col === col;
        sub += '<th class="num' + (k === cur ? ' cur' : '') + (on ? ' sorted' : '') + '" data-mi="' + k + '" data-col="' + col +
          '">' + (col === 'self' ? 'Self' : 'Total') + (on ? (sk.dir < 0 ? ' ▾' : ' ▴') : '') + '</th>';
      });
    });
    $('calltable').tHead.innerHTML = top + '</tr>' + sub + '</tr>';
  }

  function render() {
    seenMetric = M.metricIndex();
    const c = values(T.mode), { rows, keep } = layout(c), cur = M.metricIndex(), z = M.zoomed(), cols = columns();
    const focused = !z.time && z.inverted === (T.mode === 'bottom') ? z.node : -1;
    const html = rows.map(([v, d, open]) => {
      const leaf = !kids(c, v).length;
      const tog = leaf ? '<span class="tog"></span>' : '<button type="button" class="tog" tabindex="-1">' + (open ? '▾' : '▸') + '</button>';
      let cls = keep && keep[v] & 1 ? 'match' : '';
      if (v === focused) cls += ' focus';
      let tr = '<tr data-node="' + v + '"' + (cls ? ' class="' + cls.trim() + '"' : '') + '><td class="fn">' +
        '<span style="padding-left:' + (d * 12) + 'px">' + tog + M.esc(name(c, v)) + '</span></td>';
      // bottom-up, the callers' levels have no self: what they pass on is their total
      const noSelf = T.mode === 'bottom' && v !== 0 && c.tree.parent[v] !== 0;
      for (const k of cols) {
        const s = v === 0 ? 0 : c.self[k][v], t = c.total[k][v], kc = k === cur ? ' cur' : '';
        const at = '" data-m="' + M.metrics[k] + '" data-col="';
        tr += '<td class="num' + kc + at + 'self" data-v="' + (noSelf ? '">' : s + '">' + fmt(k, s)) + '</td>' +
          '<td class="num' + kc + at + 'total" data-v="' + t + '">' + fmt(k, t) + '</td>';
      }
      return tr + '</tr>';
    });
    $('calltable').tBodies[0].innerHTML = html.join('');
    renderHead();
    $('table-count').textContent = (T.more ? 'first ' : '') + T.rows + ' rows' + (T.more ? ' shown (open less or filter)' : '') +
      (T.query.trim() ? ' · ' + (keep ? keep.reduce((n, x) => n + (x & 1), 0) : 0) + ' matching' : '');
    $('tv-top').classList.toggle('on', T.mode === 'top');
    $('tv-bottom').classList.toggle('on', T.mode === 'bottom');
  }

  // After every flame graph render: follow its focused frame, and its metric when the page's metric
  // switch changed it (the table then sorts by that metric's total, as it started). A row's click may
  // change the metric too (to one the row has), but keeps the table's order under the pointer.
  function follow() {
    if ($('table-panel').hidden) return;
    if (M.metricIndex() !== seenMetric) {
      if (!focusing) T.sort = null;
      render();
      $('table-scroll').scrollLeft = 0;  // its columns come first now
      return;
    }
    const z = M.zoomed(), focused = !z.time && z.inverted === (T.mode === 'bottom') ? z.node : -1;
    Array.from($('calltable').tBodies[0].rows).forEach((r) => r.classList.toggle('focus', +r.dataset.node === focused));
  }

  function setMode(mode) {
    T.mode = mode === 'bottom' ? 'bottom' : 'top';
    render();
  }
  function sortBy(mi, col) {
    const sk = sortKey();
    T.sort = { mi: +mi, col, dir: sk.mi === +mi && sk.col === col ? -sk.dir : -1 };
    render();
  }
  function filter(q) {
    T.query = String(q || '');
    if ($('table-search').value !== T.query) $('table-search').value = T.query;
    render();
  }
  function toggle(v) {
    const open = T.open[T.mode];
    if (open.has(v)) open.delete(v); else openChain(values(T.mode), v, T.mode);
    render();
  }
  function focusRow(v) {
    T.sort = sortKey();
    focusing = true;
    let ok = false;
    try {
      ok = A.focusNode(v, T.mode === 'bottom', T.sort.mi);
    } finally {
      focusing = false;
    }
    follow();
    return ok;
  }
  function show(on) {
    $('table-panel').hidden = !on;
    $('show-table').checked = !!on;
    if (on) render();
    A.redraw();  // the flame graph's width changed
  }

  function wire() {
    $('tv-top').addEventListener('click', () => setMode('top'));
    $('tv-bottom').addEventListener('click', () => setMode('bottom'));
    $('show-table').addEventListener('change', (ev) => show(ev.target.checked));
    let typing = 0;
    $('table-search').addEventListener('input', (ev) => {
      clearTimeout(typing);
      typing = setTimeout(() => filter(ev.target.value), M.fwd.n < 5000 ? 0 : 150);
    });
    // Esc clears the filter only (the page's own Esc would reset the flame graph's zoom)
    $('table-search').addEventListener('keydown', (ev) => {
      if (ev.key !== 'Escape' || !T.query) return;
      ev.preventDefault();
      ev.stopPropagation();
      clearTimeout(typing);
      filter('');
    });
    $('calltable').tHead.addEventListener('click', (ev) => {
      const th = ev.target.closest('th[data-col]');
      if (th) sortBy(th.dataset.mi, th.dataset.col);
    });
    // tooltips are made when first hovered: thousands of exact numbers per render cost more than the rows
    $('calltable').tBodies[0].addEventListener('mouseover', (ev) => {
      const td = ev.target.closest('td'), tr = td && td.parentElement;
      if (!td || td.title || !tr.dataset.node) return;
      const c = values(T.mode), v = +tr.dataset.node;
      if (td.classList.contains('fn')) td.title = where(c, v);
      else if (td.dataset.v !== '') {
        const k = M.metrics.indexOf(td.dataset.m);
        td.title = exact(k, +td.dataset.v, c.total[k][0]);
      }
    });
    $('calltable').tBodies[0].addEventListener('click', (ev) => {
      const tr = ev.target.closest('tr[data-node]');
      if (!tr) return;
      if (ev.target.closest('button.tog')) toggle(+tr.dataset.node);
      else focusRow(+tr.dataset.node);
    });
  }

  function state() {
    const sk = sortKey();
    return { mode: T.mode, sort: { metric: M.metrics[sk.mi], col: sk.col, dir: sk.dir }, query: T.query, rows: T.rows,
             more: T.more, shown: !$('table-panel').hidden };
  }

  wire();
  A.onRender(follow);
  render();
  A.redraw();  // the flame graph now shares the width
  A.table = { state, setMode, sortBy, filter, toggle, focusRow, show };
})();
