"""What the browser tests in tests/browser share: where Chromium and its driver are, the skip
convention (77), and TAP output. Imported by the test scripts beside it; never starts a browser.
"""

import shutil
import sys

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def skip(msg):
    print("1..0 # SKIP " + msg)
    sys.exit(77)


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, cond, desc, detail=""):
        self.n += 1
        print("%s %d - %s" % ("ok" if cond else "not ok", self.n, desc))
        if not cond:
            self.failed += 1
            for line in str(detail).splitlines():
                print("#   " + line)
        sys.stdout.flush()
        return bool(cond)

    def done(self, skip_msg=None):
        """Prints the plan; the exit code: 1 on a failure, 77 when the browser part was skipped."""
        if skip_msg and not self.failed:
            print("# SKIP browser part: " + skip_msg)
        print("1..%d" % self.n)
        return 1 if self.failed else (77 if skip_msg else 0)


def drive(tap, start, body, workdir):
    """Starts the browser (start() returns a driver), runs body(driver), then always quits it and
    removes workdir (its profile and downloads). Skips (77) when the browser cannot start;
    otherwise prints the plan and returns the exit code."""
    drv = None
    try:
        try:
            drv = start()
        except Exception as e:  # noqa: BLE001 - a browser that cannot start is an environment problem
            skip("cannot start chromium/chromedriver: %s" % str(e).splitlines()[0])
        body(drv)
    finally:
        if drv is not None:
            drv.quit()
        shutil.rmtree(workdir, ignore_errors=True)
    print("1..%d" % tap.n)
    return 1 if tap.failed else 0
