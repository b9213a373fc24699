#!/bin/sh
# Install the data sets that come from Debian packages (no internet needed beyond
# the Debian mirror): Fashion-MNIST, used by chapters 7-8 and homework 6-7.
# Run by `make setup`; does nothing when the files are already there.
set -e
FILE=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
[ -f "$FILE" ] && exit 0
if [ "$(id -u)" = 0 ]; then SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"
else
    echo "Fashion-MNIST is missing: run 'sudo apt-get install dataset-fashion-mnist' once," >&2
    echo "then run make again (on Colab the pages download it instead)." >&2
    exit 1
fi
echo "Installing Debian's dataset-fashion-mnist (about 30 MB) ..."
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q dataset-fashion-mnist >/dev/null
[ -f "$FILE" ]
