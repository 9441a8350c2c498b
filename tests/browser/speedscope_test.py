#!/usr/bin/env python3
"""speedscope's own release build (the npm package's dist/release) opens an `alloctrace flamegraph --format
speedscope` file in headless Chromium, offline, as its CLI does (a script calling speedscope.loadFileFromBase64,
named in the URL's #localProfilePath). The test reads what it rendered: each profile's name and total weight in
the profile switcher, the sandwich table's function names and totals (recomputed here from the file, in
speedscope's number format), and the file speedscope's Export writes back, whose totals must equal summary --json's
exactly. Never touches the network or the user's browser profile; prints TAP, exit 1 on failure, 77 when
Chromium, chromedriver or Selenium is missing.
Usage: /usr/bin/python3 speedscope_test.py FILE.json --speedscope DIST_DIR --summary SUMMARY.json
       --expect-func NAME [...] [--shots DIR]
"""

import argparse
import base64
import json
import os
import sys
import tempfile
import time

from browser_lib import CHROMEDRIVER, CHROMIUM, Tap, drive, skip

# the metric profiles and the summary totals they must sum to, in the file's order
TOTALS = [("peak", "peak_bytes"), ("leaked", "leaked_bytes"), ("allocated", "allocated_bytes"),
          ("allocations", "allocations"), ("temporary", "temporary")]

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    skip("python3-selenium is not installed (apt-get install python3-selenium)")


def fmt(v, unit):
    """speedscope's ByteFormatter and RawValueFormatter (src/lib/value-formatters.ts)."""
    if unit != "bytes":
        return "%d" % v if v == int(v) else "%.2f" % v
    for suffix in ("B", "KB", "MB", "GB"):
        if v < 1024 or suffix == "GB":
            return "%d B" % v if suffix == "B" else "%.2f %s" % (v, suffix)
        v /= 1024.0
    return ""


def frame_totals(profile, frames):
    """Total per function name of a sampled profile: each sample counted once per name."""
    tot = {}
    for stack, w in zip(profile["samples"], profile["weights"]):
        for name in {frames[i]["name"] for i in stack}:
            tot[name] = tot.get(name, 0) + w
    return tot


def evented_totals(profile, frames):
    """Total per function of an exported (evented) profile; outermost opens of a name only."""
    tot, open_at, depth = {}, {}, {}
    for ev in profile["events"]:
        name = frames[ev["frame"]]["name"]
        if ev["type"] == "O":
            depth[name] = depth.get(name, 0) + 1
            if depth[name] == 1:
                open_at[name] = ev["at"]
        else:
            depth[name] -= 1
            if depth[name] == 0:
                tot[name] = tot.get(name, 0) + ev["at"] - open_at[name]
    return tot


def make_driver(profile, downloads):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    # speedscope draws with WebGL: SwiftShader renders it without a GPU
    for arg in ("--headless=new", "--no-sandbox", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--user-data-dir=" + profile, "--window-size=1400,900",
                "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--hide-scrollbars"):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"download.default_directory": downloads, "download.prompt_for_download": False})
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    drv.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
    return drv


def shoot(drv, shots, name):
    if shots:
        path = os.path.join(shots, name + ".png")
        drv.save_screenshot(path)
        print("# screenshot " + path)


# the toolbar's "NAME (i/n)"
TITLE_JS = ("const s = Array.from(document.querySelectorAll('span')).find(e => /\\(\\d+\\/\\d+\\)$/.test(e.textContent));"
            "return s ? s.textContent : ''")


def title(drv):
    return drv.execute_script(TITLE_JS)


def switcher_rows(drv):
    """[(name, total text)] of the profile switcher's table (in the DOM while hidden)."""
    return drv.execute_script(
        "return Array.from(document.querySelectorAll('tr[title]')).map(r => [r.title, r.cells[2].textContent])")


def sandwich_rows(drv):
    """{name: (total text, self text)} of the sandwich table's rows (it renders only visible rows: enough here)."""
    rows = drv.execute_script(
        "return Array.from(document.querySelectorAll('tr:not([title])'))"
        ".filter(r => r.cells.length === 3 && r.cells[0].tagName === 'TD')"
        ".map(r => [r.cells[2].textContent, r.cells[0].firstChild.textContent, r.cells[1].firstChild.textContent])")
    return {n: (t.split(" (")[0], s.split(" (")[0]) for n, t, s in rows}


def search(drv, text):
    """speedscope's search (Ctrl+F), which filters the sandwich table to the matching names."""
    box = [e for e in drv.find_elements(By.CSS_SELECTOR, "input") if e.is_displayed() and not e.get_attribute("placeholder")]
    if not box:
        ActionChains(drv).key_down(Keys.CONTROL).send_keys("f").key_up(Keys.CONTROL).perform()
        WebDriverWait(drv, 5).until(lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, "input")
                                               if e.is_displayed() and not e.get_attribute("placeholder")])
        box = [e for e in drv.find_elements(By.CSS_SELECTOR, "input") if e.is_displayed() and not e.get_attribute("placeholder")]
    box[0].send_keys(Keys.CONTROL, "a")
    box[0].send_keys(Keys.BACKSPACE)
    box[0].send_keys(text)
    time.sleep(0.3)


def pick_profile(drv, i, name):
    """Through the profile switcher, as a person would: click the title, then the profile's row."""
    if title(drv).startswith(name):
        return
    span = drv.execute_script(TITLE_JS.replace("return s ? s.textContent : ''", "return s"))
    ActionChains(drv).move_to_element(span).click().perform()
    WebDriverWait(drv, 5).until(lambda d: d.execute_script(
        "const r = document.querySelectorAll('tr[title]')[arguments[0]]; return r && r.offsetParent !== null", i))
    ActionChains(drv).move_to_element(drv.find_elements(By.CSS_SELECTOR, "tr[title]")[i]).click().perform()
    WebDriverWait(drv, 5).until(lambda d: title(d).startswith(name))


def tab(drv, label):
    drv.execute_script(
        "Array.from(document.querySelectorAll('div')).find(e => e.children.length === 1 && "
        "e.textContent.endsWith(arguments[0]) && e.firstElementChild.tagName === 'SPAN').click()", label)


def run(drv, args, tap, data, summ, workdir, downloads):
    loader = os.path.join(workdir, "profile.js")
    with open(args.json, "rb") as f:
        b64 = base64.b64encode(f.read()).decode()
    with open(loader, "w") as f:  # what speedscope's own CLI (bin/cli.mjs) writes
        f.write("speedscope.loadFileFromBase64(%s, %s)" % (json.dumps(os.path.basename(args.json)), json.dumps(b64)))
    drv.get("file://" + os.path.abspath(os.path.join(args.speedscope, "index.html")) + "#localProfilePath=" + loader)
    profiles, frames = data["profiles"], data["shared"]["frames"]
    n = len(profiles)
    try:
        WebDriverWait(drv, 20).until(lambda d: title(d))
    except Exception:  # noqa: BLE001 - reported below
        pass
    first = profiles[data.get("activeProfileIndex", 0)]["name"]
    if not tap.check(title(drv) == "%s (%d/%d)" % (first, data.get("activeProfileIndex", 0) + 1, n),
                     "speedscope opens the file on its active profile", "title %r" % title(drv)):
        shoot(drv, args.shots, "failed-load")
        return
    shoot(drv, args.shots, "time-order")

    rows = switcher_rows(drv)
    tap.check([r[0] for r in rows] == [p["name"] for p in profiles], "the profile switcher lists our %d profiles" % n,
              rows)
    for (metric, key), p, row in zip(TOTALS, profiles, rows):
        want = summ["totals"][key]
        tap.check(p["name"].startswith(metric + ":") and sum(p["weights"]) == want,
                  "file: profile '%s' weighs summary's %s (%d)" % (metric, key, want), p["name"])
        tap.check(row[1] == fmt(want, p["unit"]), "rendered: '%s' total weight %s" % (metric, fmt(want, p["unit"])),
                  row)

    # the sandwich table of every metric profile: function names and totals
    tab(drv, "Sandwich")
    for i, (metric, _) in enumerate(TOTALS):
        p = profiles[i]
        pick_profile(drv, i, p["name"])
        time.sleep(0.3)
        got = sandwich_rows(drv)
        want = frame_totals(p, frames)
        for func in args.expect_func:
            if func not in want:
                continue
            tap.check(got.get(func, ("",))[0] == fmt(want[func], p["unit"]),
                      "sandwich, %s: %s's total is %s" % (metric, func, fmt(want[func], p["unit"])),
                      "row %r" % (got.get(func),))
        if i == 0:
            tap.check(all(f in got for f in args.expect_func if f in want), "sandwich lists the expected functions",
                      sorted(got))
            shoot(drv, args.shots, "sandwich")

    # the heap over time: time order, each snapshot a frame over what was live
    last = profiles[-1]
    pick_profile(drv, n - 1, last["name"])
    tab(drv, "Time Order")
    time.sleep(0.3)
    tap.check(title(drv).startswith("heap over time"), "the heap-over-time profile is shown", title(drv))
    shoot(drv, args.shots, "heap-over-time")
    tab(drv, "Sandwich")
    time.sleep(0.3)
    snap = frame_totals(last, frames)
    peak = [k for k in snap if k.startswith("peak @")]
    search(drv, "peak @")
    got = sandwich_rows(drv)
    tap.check(len(peak) == 1 and snap[peak[0]] == summ["totals"]["peak_bytes"],
              "file: the peak snapshot holds summary's peak_bytes", peak)
    tap.check(peak and got.get(peak[0], ("",))[0] == fmt(summ["totals"]["peak_bytes"], "bytes"),
              "rendered: the peak snapshot, found by speedscope's search, holds %s" % fmt(summ["totals"]["peak_bytes"], "bytes"),
              got)
    shoot(drv, args.shots, "heap-over-time-sandwich")

    # what speedscope loaded, written back by its Export button: exact totals
    before = set(os.listdir(downloads))
    tab(drv, "Export")
    path = None
    for _ in range(100):
        new = [f for f in set(os.listdir(downloads)) - before if f.endswith(".json")]
        if new:
            path = os.path.join(downloads, new[0])
            break
        time.sleep(0.1)
    if not tap.check(path is not None, "Export writes the loaded profiles back"):
        return
    time.sleep(0.3)
    with open(path) as f:
        back = json.load(f)
    tap.check(back["name"] == data["name"] and len(back["profiles"]) == n, "exported: the name and %d profiles" % n,
              back.get("name"))
    for (metric, key), p in zip(TOTALS, back["profiles"]):
        tap.check(p["endValue"] - p["startValue"] == summ["totals"][key],
                  "exported: %s is exactly summary's %s (%d)" % (metric, key, summ["totals"][key]),
                  p["endValue"])
    ev = evented_totals(back["profiles"][-1], back["shared"]["frames"])
    exits = [k for k in ev if k.startswith("exit @")]
    tap.check(peak and ev.get(peak[0]) == summ["totals"]["peak_bytes"], "exported: live at the peak, exactly",
              ev.get(peak[0]) if peak else None)
    tap.check(len(exits) == 1 and ev[exits[0]] == summ["totals"]["leaked_bytes"],
              "exported: live at exit is what leaked, exactly", exits)
    order = [float(back["shared"]["frames"][e["frame"]]["name"].split("@ ")[1].split(" ")[0])
             for e in back["profiles"][-1]["events"]
             if e["type"] == "O" and "@ " in back["shared"]["frames"][e["frame"]]["name"]]
    tap.check(order and order == sorted(order), "exported: the snapshots stay in time order (%d)" % len(order))

    try:
        logs = [e for e in drv.get_log("browser") if e.get("level") == "SEVERE"]
    except Exception:  # noqa: BLE001 - log API unavailable
        logs = []
    tap.check(not logs, "no errors in the browser console", "\n".join(e.get("message", "") for e in logs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json")
    ap.add_argument("--speedscope", required=True, metavar="DIST_DIR")
    ap.add_argument("--summary", required=True)
    ap.add_argument("--expect-func", action="append", default=[], metavar="NAME")
    ap.add_argument("--shots", metavar="DIR")
    args = ap.parse_args()
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not os.access(exe, os.X_OK):
            skip("%s is missing (apt-get install chromium chromium-driver)" % exe)
    with open(args.json) as f:
        data = json.load(f)
    with open(args.summary) as f:
        summ = json.load(f)
    if args.shots:
        os.makedirs(args.shots, exist_ok=True)
    tap = Tap()
    work = tempfile.mkdtemp(prefix="atr-speedscope-")
    downloads = os.path.join(work, "downloads")
    os.makedirs(downloads)
    return drive(tap, lambda: make_driver(os.path.join(work, "profile"), downloads),
                 lambda drv: run(drv, args, tap, data, summ, work, downloads), work)


if __name__ == "__main__":
    t0 = time.time()
    rc = main()
    print("# %.1f s" % (time.time() - t0))
    sys.exit(rc)
