#!/usr/bin/env python3
"""Person-like browser test of the call-tree table beside the flame graph of an `alloctrace flamegraph` page:
headless Chromium checks that it sits beside the flame graph, that its root row holds summary --json's totals for
every metric (the cells and their exact hover text), that each row's self and total are what this script
recomputes from ATR_DATA, and that bottom-up's allocating functions add up to summary's totals again; it clicks
columns to sort, types a filter, folds and opens rows, switches to bottom-up, changes the page's metric and
clicks rows to focus the flame graph on them, with a screenshot of each step. Never touches the network or the
user's browser profile; prints TAP, exit 1 on failure, 77 when Chromium, chromedriver or Selenium is missing.
Usage: /usr/bin/python3 table_test.py PAGE.html --summary SUMMARY.json --func NAME [--shots DIR]
"""

import argparse
import json
import os
import re
import sys
import tempfile
import time

from browser_lib import CHROMEDRIVER, CHROMIUM, Tap, drive, skip

# the page's metrics and the summary totals their root row must hold
TOTALS = {"peak": "peak_bytes", "leaked": "leaked_bytes", "allocated": "allocated_bytes",
          "allocations": "allocations", "temporary": "temporary"}

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:
    skip("python3-selenium is not installed (apt-get install python3-selenium)")


# ---- an independent model of the table, from ATR_DATA


def model(data):
    """The forward tree as (names, parent, self[metric][node], total[metric][node]), and bottom-up's first level:
    {function name: {metric: what it allocated itself}}."""
    par, fr = data["nodes"]["parent"], data["nodes"]["frame"]
    names = ["all"] + [data["strings"][data["frames"][fr[i]][0]] for i in range(1, len(par))]
    self_, total, bottom = {}, {}, {}
    for k, m in enumerate(data["metrics"]):
        s = [row[k] for row in data["nodes"]["self"]]
        t = list(s)
        for i in range(len(par) - 1, 0, -1):
            t[par[i]] += t[i]
        self_[m], total[m] = s, t
        for i in range(1, len(par)):
            if s[i]:
                bottom.setdefault(names[i], {}).setdefault(m, 0)
                bottom[names[i]][m] += s[i]
    return names, par, self_, total, bottom


def make_driver(profile):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + profile, "--window-size=1400,900", "--hide-scrollbars"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    drv.set_window_size(1400, 900)
    return drv


def shoot(drv, shots, name):
    if shots:
        path = os.path.join(shots, name + ".png")
        drv.save_screenshot(path)
        print("# screenshot " + path)


def rows(drv):
    """[{node, name, indent px, cls, cells: {metric/col: value, None where blank}}] of the drawn table, in order."""
    return drv.execute_script("""
        return Array.from(document.querySelectorAll('#calltable tbody tr')).map(r => {
          const cells = {};
          r.querySelectorAll('td[data-m]').forEach(td => {
            cells[td.dataset.m + '/' + td.dataset.col] = td.dataset.v === '' ? null : +td.dataset.v; });
          return {node: +r.dataset.node, name: r.cells[0].textContent.replace(/^[▸▾]/, ''),
                  indent: parseFloat(r.cells[0].firstChild.style.paddingLeft), cls: r.className, cells};
        });""")


def row_named(drv, name):
    return next((r for r in rows(drv) if r["name"] == name), None)


def tr(drv, node):
    return drv.find_element(By.CSS_SELECTOR, '#calltable tbody tr[data-node="%d"]' % node)


def flame(drv):
    return drv.execute_script("return window.atr.state()")


def table(drv):
    return drv.execute_script("return window.atr.table.state()")


def in_order(vals, direction):
    return vals == sorted(vals, reverse=direction < 0)


def run(drv, args, tap, summ):
    drv.get("file://" + os.path.abspath(args.html))
    WebDriverWait(drv, 15).until(lambda d: d.execute_script("return !!(window.atr && window.atr.table) || "
                                                            "!!document.querySelector('.fatal')"))
    if not tap.check(drv.execute_script("return !!(window.atr && window.atr.table)"), "the page starts its table"):
        return
    data = drv.execute_script("return ATR_DATA")
    names, par, self_, total, bottom = model(data)
    metrics = data["metrics"]
    col_of = {m: metrics.index(m) for m in metrics}

    # beside the flame graph, top-down, sorted by the flame graph's metric
    fl = drv.find_element(By.ID, "flame-wrap").rect
    tb = drv.find_element(By.ID, "table-panel").rect
    tap.check(tb["x"] >= fl["x"] + fl["width"] and abs(tb["y"] - fl["y"]) < 120 and tb["width"] > 300,
              "the table is beside the flame graph", "flame %r, table %r" % (fl, tb))
    st = table(drv)
    tap.check(st["mode"] == "top" and st["sort"] == {"metric": flame(drv)["metric"], "col": "total", "dir": -1},
              "it starts top-down, sorted by the flame graph's metric (%s), largest first" % flame(drv)["metric"], st)
    head = drv.find_element(By.CSS_SELECTOR, "#calltable thead tr:first-child th.grp").text
    tap.check(head.lower().startswith(flame(drv)["metric"][:4]), "the flame graph's metric is the first column group",
              head)
    shoot(drv, args.shots, "table-top-down")

    # the numbers: the root holds summary's totals (cell and exact hover text), every drawn row its self and total
    got = rows(drv)
    root = got[0] if got else {"cells": {}, "name": None}
    for m in metrics:
        want = summ["totals"][TOTALS[m]]
        tap.check(root["name"] == "all" and root["cells"].get(m + "/total") == want,
                  "root row: %s total is summary's %s (%d)" % (m, TOTALS[m], want), root)
        cell = drv.find_element(By.CSS_SELECTOR, '#calltable tbody tr[data-node="0"] td[data-m="%s"][data-col="total"]' % m)
        ActionChains(drv).move_to_element(cell).perform()
        title = cell.get_attribute("title")
        tap.check(title.startswith("{:,}".format(want) + (" bytes" if m in ("peak", "leaked", "allocated") else "") +
                                   (" (100.0% of " if want else "")),
                  "root row: hovering its %s total shows the exact %s" % (m, "{:,}".format(want)), title)
    bad = [(r["name"], c, v) for r in got for c, v in r["cells"].items()
           if v != (self_ if c.endswith("/self") else total)[c.split("/")[0]][r["node"]]]
    tap.check(got and not bad, "all %d rows: self and total per metric as computed from ATR_DATA" % len(got), bad[:5])
    fr = row_named(drv, args.func)
    if tap.check(fr is not None and fr["indent"] > 0, "%s's row is open to see (under its callers)" % args.func,
                 [r["name"] for r in got]):
        cell = tr(drv, fr["node"]).find_element(By.CSS_SELECTOR, "td.fn")
        ActionChains(drv).move_to_element(cell).perform()
        title = cell.get_attribute("title").split("\n")
        tap.check(len(title) == 2 and title[0] == args.func and re.search(r"\.c\w*:\d+ .* \[program\]$", title[1]),
                  "hovering %s's name shows its file:line and module (%s)" % (args.func, title[1:]), title)

    def children(parent):
        return [r for r in rows(drv) if r["node"] and par[r["node"]] == parent]

    # sorting: the allocations Self column, twice
    main = row_named(drv, "main")
    if tap.check(main is not None, "a row for main"):
        th = '#calltable th[data-mi="%d"][data-col="self"]' % col_of["allocations"]
        drv.find_element(By.CSS_SELECTOR, th).click()
        vals = [r["cells"]["allocations/self"] for r in children(main["node"])]
        tap.check(len(vals) > 1 and in_order(vals, -1) and table(drv)["sort"] == {
            "metric": "allocations", "col": "self", "dir": -1},
                  "clicking Allocations › Self sorts main's callees by it, largest first", vals)
        drv.find_element(By.CSS_SELECTOR, th).click()
        vals = [r["cells"]["allocations/self"] for r in children(main["node"])]
        tap.check(in_order(vals, 1) and table(drv)["sort"]["dir"] == 1, "clicking it again reverses the order", vals)
        shoot(drv, args.shots, "table-sorted")

        # folding and opening with the toggle
        n_open = len(rows(drv))
        n_kids = len(children(main["node"]))
        tr(drv, main["node"]).find_element(By.CSS_SELECTOR, "button.tog").click()
        n_closed = len(rows(drv))
        tap.check(n_kids and n_closed == n_open - n_kids, "▾ on main folds its %d callees (%d rows -> %d)"
                  % (n_kids, n_open, n_closed))
        tr(drv, main["node"]).find_element(By.CSS_SELECTOR, "button.tog").click()
        tap.check(len(rows(drv)) == n_open, "▸ opens them again")

    # filter: only the matching rows and their callers
    box = drv.find_element(By.ID, "table-search")
    box.send_keys(args.func)
    WebDriverWait(drv, 5).until(lambda d: table(d)["query"] == args.func)
    got = rows(drv)
    matched = [r for r in got if "match" in r["cls"]]
    want_nodes = {i for i in range(1, len(par)) if args.func.lower() in names[i].lower() and
                  any(total[m][i] for m in metrics)}
    tap.check(matched and {r["node"] for r in matched} == want_nodes,
              "the filter '%s' marks its %d rows" % (args.func, len(want_nodes)), [r["name"] for r in got])
    callers = set()
    for i in want_nodes:
        a = par[i]
        while a >= 0:
            callers.add(a)
            a = par[a]
    others = [r["node"] for r in got if "match" not in r["cls"]]
    tap.check(others and set(others) <= callers, "the other %d rows are their callers" % len(others),
              [names[i] for i in others])
    shoot(drv, args.shots, "table-filter")

    # a click focuses the flame graph on the row, in the metric the table is sorted by when the flame graph's has
    # nothing there
    target = matched[0] if matched else None
    if target:
        before = flame(drv)["metric"]
        sort_m = table(drv)["sort"]["metric"]
        tr(drv, target["node"]).find_element(By.CSS_SELECTOR, "td.fn").click()  # on its name, as a person would
        st = flame(drv)
        tap.check(st["zoomNode"] == target["node"] and not st["inverted"], "clicking %s's row zooms the flame graph on it"
                  % args.func, st)
        want_m = before if total[before][target["node"]] else sort_m if total[sort_m][target["node"]] else None
        why = ("it has %s" % before) if want_m == before else ("it has no %s; the table is sorted by %s" % (before, sort_m))
        tap.check(want_m is None or st["metric"] == want_m, "... in %s (%s)" % (want_m, why), st)
        w = drv.execute_script("const e = document.querySelector('#flame .frame[data-node=\"%d\"]');"
                               "return e ? [e.textContent, e.getBoundingClientRect().width,"
                               " document.getElementById('flame').clientWidth] : null" % target["node"])
        tap.check(w and w[0] == args.func and abs(w[1] - w[2]) <= 3, "the zoomed frame is %s, full width" % args.func, w)
        crumbs = [c.text for c in drv.find_elements(By.CSS_SELECTOR, "#breadcrumb .crumb")]
        tap.check(crumbs and crumbs[-1] == args.func, "the breadcrumb ends at %s" % args.func, crumbs)
        tap.check("focus" in tr(drv, target["node"]).get_attribute("class") and table(drv)["sort"]["metric"] == sort_m,
                  "the row stays marked as focused, the table's order unchanged", table(drv))
        ActionChains(drv).move_to_element(drv.find_element(By.ID, "program")).perform()
        shoot(drv, args.shots, "table-focus")
    box.send_keys(Keys.ESCAPE)
    WebDriverWait(drv, 5).until(lambda d: table(d)["query"] == "")
    tap.check(box.get_attribute("value") == "" and (not target or flame(drv)["zoomNode"] == target["node"]),
              "Esc in the filter clears it and keeps the flame graph's zoom", flame(drv))

    # bottom-up: allocating functions first, with what each allocated itself; they add up to summary's totals
    drv.find_element(By.ID, "tv-bottom").click()
    got = rows(drv)
    first = [r for r in got if r["node"] and r["indent"] == 12]
    tap.check(table(drv)["mode"] == "bottom" and first, "Bottom-up lists the allocating functions",
              [r["name"] for r in got[:5]])
    per_name = {}
    for r in first:
        for m in metrics:
            per_name.setdefault(r["name"], {}).setdefault(m, 0)
            per_name[r["name"]][m] += r["cells"][m + "/total"]
        if any(r["cells"][m + "/self"] != r["cells"][m + "/total"] for m in metrics):
            per_name[r["name"]]["self differs"] = True
    want = {n: {m: bottom.get(n, {}).get(m, 0) for m in metrics} for n in set(bottom) | set(per_name)}
    tap.check(per_name == want, "each allocating function's self and total is what it allocated itself (%d rows)"
              % len(first), {n: (per_name.get(n), want[n]) for n in want if per_name.get(n) != want[n]})
    for m in metrics:
        tap.check(sum(r["cells"][m + "/total"] for r in first) == summ["totals"][TOTALS[m]],
                  "bottom-up: the allocating functions' %s add up to summary's %s (%d)"
                  % (m, TOTALS[m], summ["totals"][TOTALS[m]]))
    sk = table(drv)["sort"]
    vals = [r["cells"][sk["metric"] + "/" + sk["col"]] for r in first]
    tap.check(in_order(vals, sk["dir"]), "still sorted by %s %s (%s)" % (sk["metric"], sk["col"],
              "descending" if sk["dir"] < 0 else "ascending"), vals)

    # the page's metric switch re-sorts the table by that metric; the biggest leaker's callers carry its leak
    Select(drv.find_element(By.ID, "metric")).select_by_value("leaked")
    first = [r for r in rows(drv) if r["node"] and r["indent"] == 12]
    top_leak = max(v.get("leaked", 0) for v in bottom.values()) if bottom else 0
    tap.check(table(drv)["sort"] == {"metric": "leaked", "col": "total", "dir": -1} and first and
              first[0]["cells"]["leaked/total"] == top_leak > 0 and
              in_order([r["cells"]["leaked/total"] for r in first], -1),
              "switching the page's metric to leaked re-sorts the table: the biggest leaker first (%d bytes)" % top_leak,
              first[:1])
    if first:
        top = first[0]
        tr(drv, top["node"]).find_element(By.CSS_SELECTOR, "button.tog").click()
        callers = [r for r in rows(drv) if r["node"] and r["indent"] == 24]
        tap.check(callers and all(r["cells"]["leaked/self"] is None for r in callers) and
                  sum(r["cells"]["leaked/total"] for r in callers) == top["cells"]["leaked/total"],
                  "expanding %s shows its callers (%s): no self of their own, their totals add up to its %d"
                  % (top["name"], ", ".join(r["name"] for r in callers), top["cells"]["leaked/total"]),
                  [(r["name"], r["cells"]["leaked/self"], r["cells"]["leaked/total"]) for r in callers])
        tr(drv, top["node"]).find_element(By.CSS_SELECTOR, "td.fn").click()
        st = flame(drv)
        tap.check(st["inverted"] and st["zoomNode"] == top["node"] and st["metric"] == "leaked",
                  "clicking %s inverts the flame graph and zooms on it" % top["name"], st)
        w = drv.execute_script("const e = document.querySelector('#flame .frame[data-node=\"%d\"]');"
                               "return e ? e.textContent : null" % top["node"])
        tap.check(w == top["name"], "the zoomed frame is %s" % top["name"], w)
        ActionChains(drv).move_to_element(drv.find_element(By.ID, "program")).perform()
        shoot(drv, args.shots, "table-bottom-up")

    # hiding the table gives the flame graph the whole width
    w0 = drv.execute_script("return document.getElementById('flame').clientWidth")
    drv.find_element(By.ID, "show-table").click()
    w1 = drv.execute_script("return document.getElementById('flame').clientWidth")
    tap.check(not table(drv)["shown"] and w1 > w0 * 1.4, "unchecking Table widens the flame graph (%d -> %d px)"
              % (w0, w1))
    drv.find_element(By.ID, "show-table").click()
    tap.check(table(drv)["shown"] and rows(drv), "checking it brings the table back")

    try:
        logs = [e for e in drv.get_log("browser") if e.get("level") == "SEVERE"]
    except Exception:  # noqa: BLE001 - log API unavailable
        logs = []
    tap.check(not logs, "no errors in the browser console", "\n".join(e.get("message", "") for e in logs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html")
    ap.add_argument("--summary", required=True)
    ap.add_argument("--func", required=True, help="a function called from main, to filter, focus and check")
    ap.add_argument("--shots", metavar="DIR")
    args = ap.parse_args()
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not os.access(exe, os.X_OK):
            skip("%s is missing (apt-get install chromium chromium-driver)" % exe)
    with open(args.summary) as f:
        summ = json.load(f)
    if args.shots:
        os.makedirs(args.shots, exist_ok=True)
    tap = Tap()
    profile = tempfile.mkdtemp(prefix="atr-chromium-")
    return drive(tap, lambda: make_driver(profile), lambda drv: run(drv, args, tap, summ), profile)


if __name__ == "__main__":
    t0 = time.time()
    rc = main()
    print("# %.1f s" % (time.time() - t0))
    sys.exit(rc)
