#!/usr/bin/env bash
# Remove signstream's services and code, keeping every piece of data (docs/deploy.md).
#
#   sudo scripts/uninstall.sh [--server] [--edge]      default: every side installed here
#   scripts/uninstall.sh --root /tmp/scratch ...        a scratch root (tests)
#
# Removed: the units (stopped and disabled first), /opt/signstream/SIDE (the virtualenv and helpers).
# Kept: /etc/signstream (env files with keys and settings), /var/lib/signstream (models, API keys,
# caches, recordings) and the service users. Installing again picks all of them up unchanged.
set -euo pipefail

ROOT_DIR=/
SIDES=()

die() {
  echo "$(basename "$0"): error: $*" >&2
  exit 2
}
say() { echo "$(basename "$0"): $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --root)
      if [ $# -lt 2 ] || [ -z "$2" ] || [[ "$2" == -* ]]; then die "--root needs a folder"; fi
      ROOT_DIR="$2"
      shift 2
      ;;
    --server) SIDES+=(server); shift ;;
    --edge) SIDES+=(edge); shift ;;
    -h | --help)
      echo "usage: $(basename "$0") [--root DIR] [--server] [--edge]"
      echo "Remove signstream's units and code; keep settings, keys, models and recordings."
      exit 0
      ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

case "$ROOT_DIR" in
  /*) ;;
  *) ROOT_DIR="$(pwd)/$ROOT_DIR" ;;
esac
ROOT_DIR="$(realpath -m "$ROOT_DIR")"
[ -d "$ROOT_DIR" ] || die "--root $ROOT_DIR does not exist"
R=""
if [ "$ROOT_DIR" = / ]; then
  [ "$(id -u)" = 0 ] || die "uninstalling from / needs root (run it with sudo, or pass --root DIR)"
else
  R="$ROOT_DIR"
fi

if [ ${#SIDES[@]} -eq 0 ]; then
  for side in server edge; do
    if [ -d "$R/opt/signstream/$side" ] || [ -e "$R/etc/systemd/system/signstream-$side.service" ]; then
      SIDES+=("$side")
    fi
  done
  [ ${#SIDES[@]} -gt 0 ] || { say "nothing to remove: no signstream installation under $ROOT_DIR"; exit 0; }
fi

# systemctl: the running systemd on /, otherwise offline under the root (symlinks only).
ctl() {
  if ! command -v systemctl >/dev/null 2>&1; then return 0; fi
  if [ -z "$R" ]; then
    systemctl "$@" >/dev/null 2>&1 || true
  else
    systemctl --root="$ROOT_DIR" "$@" >/dev/null 2>&1 || true
  fi
}

for side in "${SIDES[@]}"; do
  units=("signstream-$side.service" "signstream-$side-sync.service" "signstream-$side-sync.timer")
  for unit in "${units[@]}"; do
    if [ -e "$R/etc/systemd/system/$unit" ]; then
      if [ -z "$R" ]; then ctl stop "$unit"; fi
      ctl disable "$unit"
      rm -f "$R/etc/systemd/system/$unit"
      say "removed $unit"
    fi
  done
  if [ "$side" = edge ] && [ -e "$R/etc/systemd/user/signstream-kiosk.service" ]; then
    ctl --global disable signstream-kiosk.service
    rm -f "$R/etc/systemd/user/signstream-kiosk.service" "$R/etc/xdg/autostart/signstream-kiosk.desktop"
    say "removed signstream-kiosk.service (user unit; a running kiosk browser stops at the next login)"
  fi
  if [ -d "$R/opt/signstream/$side" ]; then
    rm -rf -- "$R/opt/signstream/$side" # side is server or edge: never a user's path
    say "removed $R/opt/signstream/$side"
  fi
  say "kept $R/etc/signstream/$side.env and $R/var/lib/signstream/$side (settings, keys, models, recordings)"
done
rmdir "$R/opt/signstream" 2>/dev/null || true
if [ -z "$R" ] && command -v systemctl >/dev/null 2>&1; then systemctl daemon-reload; fi
if [ -z "$R" ]; then
  say "kept the users signstream-server / signstream-edge (userdel them after deleting their data, if wanted)"
fi
