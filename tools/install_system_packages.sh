#!/bin/sh
# Install the programs that come from Debian packages (no internet needed beyond the
# Debian mirror): bubblewrap, the sandbox of the grader's kernels (autograder/sandbox.py),
# and Chromium with its ChromeDriver, which the browser stage of `make test` drives
# headless (tests/stages/test_browser.py; Playwright uses /usr/bin/chromium and never
# downloads a browser of its own).
# Run by `make setup`; does nothing when the programs are already there.
set -e
[ -x /usr/bin/bwrap ] && [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && exit 0
if [ "$(id -u)" = 0 ]; then SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"
else
    echo "Missing Debian packages: run 'sudo apt-get install bubblewrap chromium chromium-driver' once," >&2
    echo "then run make again (grading sandboxes kernels with bwrap; the browser stage drives chromium)." >&2
    exit 1
fi
echo "Installing Debian's bubblewrap, chromium and chromium-driver (about 120 MB) ..."
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap chromium chromium-driver >/dev/null
[ -x /usr/bin/bwrap ] && [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]
