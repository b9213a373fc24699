#!/bin/sh
# Start a grading kernel inside its own mount and PID namespaces (see sandbox.py):
#   sandbox_kernel.sh WORKDIR COMMAND...
# Every file system is made read-only except WORKDIR, then all capabilities are
# dropped so the kernel cannot undo it. /proc, /sys and /dev are left as they are.
set -e
work="$1"
shift
mount --bind "$work" "$work"
awk '{print $2}' /proc/self/mounts | sort -u | while read -r point; do
  case "$point" in
    /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|"$work") continue ;;
  esac
  mount -o remount,bind,ro "$point" 2>/dev/null || true
done
exec setpriv --bounding-set=-all --inh-caps=-all --no-new-privs -- "$@"
