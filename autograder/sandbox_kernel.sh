#!/bin/sh
# Start a grading kernel inside its own mount and PID namespaces (see sandbox.py):
#   sandbox_kernel.sh WORKDIR COMMAND...
# Every file system is made read-only except WORKDIR, then all capabilities are
# dropped so the kernel cannot undo it. /proc, /sys and /dev are left as they are.
# This shell stays as PID 1 of the namespace and the kernel runs as its child: the
# kernel then dies of the signals it sends itself (PID 1 would ignore them), as it
# would outside the sandbox.
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
# ipykernel exits when its parent is PID 1 and it was told to watch its parent:
# here PID 1 is this shell, and the namespace already ends with the grader's kernel.
unset JPY_PARENT_PID
setpriv --bounding-set=-all --inh-caps=-all --no-new-privs -- "$@"
