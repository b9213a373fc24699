#!/bin/sh
# Install Debian's bubblewrap, the sandbox that students' kernels run in when the
# course grades homework (autograder/sandbox.py). Run by `make setup`; does nothing
# when bwrap is already there.
set -e
command -v bwrap >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ]; then SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"
else
    echo "bubblewrap is missing: run 'sudo apt-get install bubblewrap' once, then run make again" >&2
    echo "(grading refuses to run students' code without it unless you pass --no-sandbox)." >&2
    exit 1
fi
echo "Installing Debian's bubblewrap ..."
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap >/dev/null
command -v bwrap >/dev/null 2>&1
