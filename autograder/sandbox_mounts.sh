#!/bin/sh
# Lock the mounts of a fresh mount namespace down for a grading kernel (see sandbox.py):
#   sandbox_mounts.sh WORKDIR
# Run by a process that has just called unshare(CLONE_NEWNS). Mount events stop
# propagating to the machine, then every file system is made read-only except
# WORKDIR. /proc, /sys and /dev are left as they are (a new /proc is mounted once
# the PID namespace exists).
set -e
work="$1"
mount --make-rprivate /
mount --bind "$work" "$work"
awk '{print $2}' /proc/self/mounts | sort -u | while read -r point; do
  case "$point" in
    /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|"$work") continue ;;
  esac
  mount -o remount,bind,ro "$point" 2>/dev/null || true
done
