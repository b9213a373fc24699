#!/bin/sh
# Install what the course needs from Debian's packages (no internet needed beyond the
# Debian mirror), each only when it is missing:
#   dataset-fashion-mnist   the 70,000 Fashion-MNIST images of chapters 7, 8 and 9
#   bubblewrap              the sandbox of the grader's kernels (autograder/trusted/sandbox.py)
#   chromium, chromium-driver  the headless browser of the browser stage of `make test`
#                           (tests/stages/test_browser.py; Playwright drives /usr/bin/chromium
#                           and never downloads a browser of its own)
# Run by `make setup`; does nothing when everything is there.
set -e
missing=""
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || missing="$missing dataset-fashion-mnist"
[ -x /usr/bin/bwrap ] || missing="$missing bubblewrap"
[ -x /usr/bin/chromium ] || missing="$missing chromium"
[ -x /usr/bin/chromedriver ] || missing="$missing chromium-driver"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"
else
    echo "Missing Debian packages: run 'sudo apt-get install$missing' once, then run make again" >&2
    echo "(grading sandboxes kernels with bwrap; the browser stage drives chromium; on Colab the" >&2
    echo "pages download Fashion-MNIST instead)." >&2
    exit 1
fi
echo "Installing Debian's$missing ..."
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
# shellcheck disable=SC2086 - one word per package
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && [ -x /usr/bin/bwrap ] \
    && [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]
