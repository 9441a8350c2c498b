#!/usr/bin/env python3
"""Person-like browser test of an `alloctrace flamegraph` HTML page: headless Chromium clicks, types and hovers,
and checks zoom, breadcrumb, search share (recomputed here from ATR_DATA), metrics, inverted and time views.
Never touches the network or the user's browser profile (fresh --user-data-dir); prints TAP, exit 1 on failure,
77 when Chromium, chromedriver or Selenium is missing.
Usage: /usr/bin/python3 flame_test.py PAGE.html --expect-func NAME [--expect-func NAME ...] [--shots DIR]
"""

import argparse
import os
import re
import sys
import tempfile
import time

from browser_lib import CHROMEDRIVER, CHROMIUM, Tap, drive, skip

ROW_H = 18  # must match ROW_H in cli/flamegraph/flame.js

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:
    skip("python3-selenium is not installed (apt-get install python3-selenium)")


# ---- independent model of the page's numbers, computed from the embedded ATR_DATA


def inclusive(parent, self_vals):
    incl = list(self_vals)
    for i in range(len(parent) - 1, 0, -1):
        incl[parent[i]] += incl[i]
    return incl


def metric_self(data, metric):
    mi = data["metrics"].index(metric)
    return [float(row[mi]) for row in data["nodes"]["self"]]


def matched_share(data, self_vals, term):
    """Share of the root total under frames whose function contains term (case-insensitive); a match nested
    under another match is not counted twice."""
    parent, frame = data["nodes"]["parent"], data["nodes"]["frame"]
    strings, frames = data["strings"], data["frames"]
    incl = inclusive(parent, self_vals)
    q = term.strip().lower()
    covered = [False] * len(parent)
    total = 0.0
    for i in range(1, len(parent)):
        hit = q in str(strings[frames[frame[i]][0]]).lower()
        if hit and not covered[parent[i]]:
            total += incl[i]
        covered[i] = covered[parent[i]] or hit
    return total / incl[0] if incl[0] > 0 else 0.0


def live_at(data, t):
    snaps = data["snapshots"]
    best = min(range(len(snaps)), key=lambda i: (abs(snaps[i]["t"] - t), i))
    vals = [0.0] * len(data["nodes"]["parent"])
    for node, b in snaps[best]["live"]:
        vals[node] = max(vals[node], float(b))
    return vals


def close(a, b, rel=1e-9):
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


# ---- browser helpers


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
    if not shots:
        return
    path = os.path.join(shots, name + ".png")
    try:  # whole page, so a deep flame graph (root at the bottom) is in the picture
        import base64
        w, h = drv.execute_script("return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
        shot = drv.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": w, "height": min(h, 6000), "scale": 1}})
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
    except Exception:  # noqa: BLE001 - any CDP trouble: fall back to the viewport
        drv.save_screenshot(path)
    print("# screenshot " + path)


def state(drv):
    return drv.execute_script("return window.atr.state()")


def frames_named(drv, name):
    """[(node, width)] of drawn frames whose label is exactly name, widest first."""
    got = drv.execute_script(
        "return Array.from(document.querySelectorAll('#flame .frame')).filter(e => e.textContent === arguments[0])"
        ".map(e => [+e.dataset.node, e.getBoundingClientRect().width]);", name)
    return sorted(((int(n), w) for n, w in got), key=lambda x: -x[1])


def frame_el(drv, node):
    return drv.find_element(By.CSS_SELECTOR, '#flame .frame[data-node="%d"]' % node)


def park_mouse(drv):
    ActionChains(drv).move_to_element(drv.find_element(By.ID, "program")).perform()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html")
    ap.add_argument("--expect-func", action="append", required=True, metavar="NAME")
    ap.add_argument("--shots", metavar="DIR")
    args = ap.parse_args()
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not os.access(exe, os.X_OK):
            skip("%s is missing (apt-get install chromium chromium-driver)" % exe)
    if not os.path.isfile(args.html):
        sys.stderr.write("flame_test.py: no such page: %s\n" % args.html)
        return 2
    if args.shots:
        os.makedirs(args.shots, exist_ok=True)

    tap = Tap()
    profile = tempfile.mkdtemp(prefix="atr-chromium-")
    return drive(tap, lambda: make_driver(profile), lambda drv: run(drv, args, tap), profile)


def run(drv, args, tap):
    first = args.expect_func[0]
    drv.get("file://" + os.path.abspath(args.html))
    try:
        WebDriverWait(drv, 15).until(lambda d: d.execute_script(
            "return !!(window.atr || document.querySelector('.fatal'))"))
    except Exception:  # noqa: BLE001
        pass
    fatal = drv.find_elements(By.CSS_SELECTOR, ".fatal")
    if not tap.check(drv.execute_script("return !!window.atr") and not fatal, "page loads and exposes window.atr",
                     fatal[0].text if fatal else "window.atr undefined"):
        return
    data = drv.execute_script("return ATR_DATA")
    parent = data["nodes"]["parent"]

    # header
    header = drv.find_element(By.ID, "header").text
    tap.check(drv.find_element(By.ID, "program").text == data["meta"]["program"], "header shows the program",
              header)
    tap.check(re.search(r"\d (B|KiB|MiB|GiB)\b", drv.find_element(By.ID, "totals").text) is not None,
              "header totals use human byte units", drv.find_element(By.ID, "totals").text)
    st0 = state(drv)
    metric0 = st0["metric"]
    tap.check(close(st0["total"], sum(metric_self(data, metric0))), "root total equals the sum of %s" % metric0,
              "page %r" % st0["total"])
    tap.check(st0["visibleFrames"] > 0, "frames are drawn (%d)" % st0["visibleFrames"])
    shoot(drv, args.shots, "overview")

    # expected functions
    names = [str(data["strings"][f[0]]) for f in data["frames"]]
    for func in args.expect_func:
        hits = frames_named(drv, func)
        if hits:
            tap.check(True, "frame '%s' is visible (%d drawn)" % (func, len(hits)))
            continue
        narrow = drv.execute_script(
            "return Array.from(document.querySelectorAll('#flame .frame')).map(e => +e.dataset.node)")
        unlabeled = [n for n in narrow if data["nodes"]["frame"][n] >= 0 and names[data["nodes"]["frame"][n]] == func]
        tap.check(bool(unlabeled), "frame '%s' is visible" % func,
                  "drawn but too narrow for a label" if unlabeled else "no drawn frame has that function")

    # tooltip
    hits = frames_named(drv, first)
    if not tap.check(bool(hits), "can find a frame labelled '%s' to click" % first):
        return
    node = hits[0][0]
    ActionChains(drv).move_to_element(frame_el(drv, node)).perform()
    tip = drv.find_element(By.ID, "tooltip")
    tap.check(tip.is_displayed() and first in tip.text and "%" in tip.text,
              "hover shows a tooltip with function, value and percent", tip.text)

    # zoom
    frame_el(drv, node).click()
    st = state(drv)
    flame_w = drv.execute_script("return document.getElementById('flame').clientWidth")
    w = frame_el(drv, node).rect["width"] if st["zoomNode"] == node else -1
    tap.check(st["zoomNode"] == node and st["zoomNode"] != st0["zoomNode"], "click zooms into '%s'" % first,
              "state %r, clicked node %d" % (st, node))
    tap.check(abs(w - flame_w) <= 3, "zoomed frame spans the full width", "width %.1f of %d" % (w, flame_w))
    crumbs = drv.find_elements(By.CSS_SELECTOR, "#breadcrumb .crumb")
    depth, a = 0, node
    while parent[a] >= 0:
        a, depth = parent[a], depth + 1
    tap.check(len(crumbs) == depth + 1, "breadcrumb lists the %d ancestors and the frame" % depth,
              [c.text for c in crumbs])
    park_mouse(drv)
    shoot(drv, args.shots, "zoomed")

    # breadcrumb back: the parent first (when it is not the root), then the root
    if parent[node] > 0:
        drv.find_element(By.CSS_SELECTOR, '#breadcrumb button.crumb[data-node="%d"]' % parent[node]).click()
        tap.check(state(drv)["zoomNode"] == parent[node], "breadcrumb click zooms out to the parent")
    drv.find_element(By.CSS_SELECTOR, '#breadcrumb button.crumb[data-node="0"]').click()
    tap.check(state(drv)["zoomNode"] == 0, "breadcrumb root click resets the zoom")

    # search
    box = drv.find_element(By.ID, "search")
    box.clear()
    box.send_keys(first)
    try:  # big pages apply the search after a typing pause
        WebDriverWait(drv, 5).until(lambda d: d.execute_script("return window.atr.state().search") == first)
    except Exception:  # noqa: BLE001 - reported by the checks below
        pass
    want = matched_share(data, metric_self(data, metric0), first)
    st = state(drv)
    share_txt = drv.find_element(By.ID, "search-share").text
    m = re.match(r"Matched: ([\d.]+)% \(.+ of .+\)$", share_txt)
    tap.check(st["matchedShare"] > 0, "search '%s' matches something" % first, share_txt)
    tap.check(close(st["matchedShare"], want), "matched share equals the one computed from ATR_DATA (%.4f)" % want,
              "page %r" % st["matchedShare"])
    tap.check(m is not None and abs(float(m.group(1)) - 100 * want) <= 0.051, "#search-share shows the share",
              share_txt)
    tap.check(len(drv.find_elements(By.CSS_SELECTOR, "#flame .frame.match")) > 0, "matching frames are highlighted")
    park_mouse(drv)
    shoot(drv, args.shots, "search")

    # metric switch
    options = [o.get_attribute("value") for o in drv.find_elements(By.CSS_SELECTOR, "#metric option")]
    tap.check(options == data["metrics"], "metric select lists the metrics", options)
    totals = {mt: sum(metric_self(data, mt)) for mt in data["metrics"]}
    others = sorted((mt for mt in data["metrics"] if mt != metric0), key=lambda mt: mt != "allocated")
    other = next((mt for mt in others if totals[mt] != totals[metric0] and totals[mt] > 0), others[0] if others else None)
    if other:
        Select(drv.find_element(By.ID, "metric")).select_by_value(other)
        st = state(drv)
        tap.check(st["metric"] == other, "metric select switches to %s" % other, st)
        tap.check(close(st["total"], totals[other]), "root total follows the metric (%g)" % totals[other],
                  "page %r" % st["total"])
        want_m = matched_share(data, metric_self(data, other), first)
        tap.check(close(st["matchedShare"], want_m), "matched share is recomputed for %s" % other,
                  "page %r, want %r" % (st["matchedShare"], want_m))
        park_mouse(drv)
        shoot(drv, args.shots, "metric")
        metric_now = other
    else:
        metric_now = metric0

    # inverted
    drv.find_element(By.ID, "inverted").click()
    st = state(drv)
    sv = metric_self(data, metric_now)
    allocating = {names[data["nodes"]["frame"][i]] for i in range(1, len(parent)) if sv[i] > 0}
    row1 = drv.execute_script(
        "return Array.from(document.querySelectorAll('#flame .frame')).filter(e => e.offsetTop === arguments[0])"
        ".sort((a, b) => b.offsetWidth - a.offsetWidth).map(e => +e.dataset.node);", ROW_H)
    tap.check(st["inverted"] and st["visibleFrames"] > 0 and close(st["total"], totals[metric_now]),
              "inverted view draws the same total", st)
    tip_func = ""
    if row1:  # the widest frame right above the root, read through its tooltip as a person would
        ActionChains(drv).move_to_element(frame_el(drv, row1[0])).perform()
        tip_func = drv.find_element(By.CSS_SELECTOR, "#tooltip .tt-func").text
    tap.check(tip_func in allocating, "inverted view starts with allocating functions",
              "frame above the root: %r" % tip_func)
    tap.check(close(st["matchedShare"], matched_share(data, sv, first)), "matched share is the same when inverted",
              "page %r" % st["matchedShare"])
    park_mouse(drv)
    shoot(drv, args.shots, "inverted")
    drv.find_element(By.ID, "inverted").click()
    tap.check(not state(drv)["inverted"], "unchecking inverted restores the normal view")

    # time view
    label0 = drv.find_element(By.ID, "time-label").text
    if data.get("snapshots") and data.get("timeline") and data["timeline"].get("t"):
        tl = data["timeline"]
        drv.find_element(By.ID, "at-peak").click()
        st = state(drv)
        label = drv.find_element(By.ID, "time-label").text
        tap.check(st["time"] is not None and label and label != label0 and re.search(r"\d s\b", label),
                  "Peak selects a time and labels it", "label %r (was %r)" % (label, label0))
        pk = tl.get("peak_index", max(range(len(tl["heap"])), key=lambda i: tl["heap"][i]))
        want_t = sum(live_at(data, tl["t"][pk]))
        tap.check(close(st["total"], want_t), "flame graph shows bytes live at the peak (%g)" % want_t,
                  "page %r" % st["total"])
        park_mouse(drv)
        shoot(drv, args.shots, "time")
        drv.find_element(By.ID, "all-time").click()
        st = state(drv)
        tap.check(st["time"] is None and close(st["total"], totals[metric_now]),
                  "Whole run returns to the %s metric" % metric_now, st)
    else:
        tap.check(drv.find_element(By.ID, "at-peak").get_attribute("disabled") is not None,
                  "Peak is disabled without snapshots")

    # no script errors along the way
    try:
        logs = [e for e in drv.get_log("browser") if e.get("level") == "SEVERE"]
    except Exception:  # noqa: BLE001 - log API unavailable: nothing to report
        logs = []
    tap.check(not logs, "no errors in the browser console", "\n".join(e.get("message", "") for e in logs))


if __name__ == "__main__":
    t0 = time.time()
    rc = main()
    print("# %.1f s" % (time.time() - t0))
    sys.exit(rc)
