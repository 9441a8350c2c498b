#!/usr/bin/env python3
"""Checks an `alloctrace flamegraph --format svg` file: well-formed XML (xml.etree), one <g> with a <title> per
frame, the expected function names present, and that headless Chromium renders it as an SVG document (no XML parse
error, frames laid out with real sizes) with a screenshot kept. Never touches the network or the user's profile;
prints TAP, exit 1 on failure, 77 when Chromium, chromedriver or Selenium is missing (after the XML checks).
Usage: /usr/bin/python3 svg_test.py FILE.svg --expect-func NAME [--expect-func NAME ...] [--shot FILE.png] [--no-browser]
"""

import argparse
import os
import shutil
import sys
import tempfile
import xml.etree.ElementTree as ET

from browser_lib import CHROMEDRIVER, CHROMIUM, Tap

NS = "{http://www.w3.org/2000/svg}"


def xml_checks(path, expect, tap):
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        tap.check(False, "SVG is well-formed XML", e)
        return None
    tap.check(root.tag == NS + "svg", "root element is <svg> in the SVG namespace", root.tag)
    frames = [g for g in root.iter(NS + "g") if g.find(NS + "title") is not None and g.find(NS + "rect") is not None]
    tap.check(len(frames) > 0, "frames with <title> and <rect> (%d)" % len(frames))
    titles = [g.find(NS + "title").text or "" for g in frames]
    for func in expect:
        tap.check(any(t.startswith(func + " (") for t in titles), "a frame's title names %s" % func,
                  "\n".join(titles[:20]))
    width = float(root.get("width", "0"))
    inside = all(0 <= float(g.find(NS + "rect").get("x")) and
                 float(g.find(NS + "rect").get("x")) + float(g.find(NS + "rect").get("width")) <= width + 0.5
                 for g in frames)
    tap.check(inside, "every frame lies inside the %g px width" % width)
    return len(frames)


def browser_checks(path, nframes, expect, shot, tap):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return "python3-selenium is not installed"
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not os.access(exe, os.X_OK):
            return "%s is missing" % exe
    profile = tempfile.mkdtemp(prefix="atr-chromium-")
    drv = None
    try:
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                    "--disable-background-networking", "--disable-component-update",
                    "--user-data-dir=" + profile, "--window-size=1280,900", "--hide-scrollbars"):
            opts.add_argument(arg)
        try:
            drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        except Exception as e:  # noqa: BLE001 - a browser that cannot start is an environment problem
            return "cannot start chromium: %s" % str(e).splitlines()[0]
        drv.get("file://" + os.path.abspath(path))
        info = drv.execute_script("""
            const r = document.documentElement;
            const gs = Array.from(document.querySelectorAll('g')).filter(g => g.querySelector('title') && g.querySelector('rect'));
            const boxes = gs.map(g => g.querySelector('rect').getBBox());
            return {root: r.localName, ns: r.namespaceURI, errors: document.getElementsByTagName('parsererror').length,
                    frames: gs.length, sized: boxes.filter(b => b.width > 0 && b.height > 0).length,
                    texts: Array.from(document.querySelectorAll('text')).map(t => t.textContent)};""")
        tap.check(info["root"] == "svg" and info["ns"] == "http://www.w3.org/2000/svg" and info["errors"] == 0,
                  "Chromium parses the file as an SVG document", info["root"])
        tap.check(info["frames"] == nframes and info["sized"] == nframes,
                  "Chromium lays out all %d frames" % nframes, "%d frames, %d with a size" % (info["frames"], info["sized"]))
        tap.check(expect[0] in info["texts"],
                  "a frame label shows %s" % expect[0], info["texts"][:20])
        if shot:
            os.makedirs(os.path.dirname(os.path.abspath(shot)), exist_ok=True)
            drv.save_screenshot(shot)
            print("# screenshot " + shot)
    finally:
        if drv is not None:
            drv.quit()
        shutil.rmtree(profile, ignore_errors=True)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("svg")
    ap.add_argument("--expect-func", action="append", required=True, metavar="NAME")
    ap.add_argument("--shot", metavar="FILE.png")
    ap.add_argument("--no-browser", action="store_true", help="the XML checks only")
    args = ap.parse_args()
    tap = Tap()
    n = xml_checks(args.svg, args.expect_func, tap)
    if n is None or args.no_browser:
        return tap.done()
    return tap.done(browser_checks(args.svg, n, args.expect_func, args.shot, tap))


if __name__ == "__main__":
    sys.exit(main())
