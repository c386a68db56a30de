#!/usr/bin/env bash
# Install or update the signstream edge client (kiosk) as systemd services (docs/deploy.md).
#
#   sudo scripts/install-edge.sh [--kiosk-user pi] [--start]     on the Raspberry Pi
#   scripts/install-edge.sh --root /tmp/scratch ...               into a scratch root (tests, images)
#
# On Raspberry Pi OS Trixie, 64-bit (today's image) the virtualenv is made from the system python3,
# Python 3.13; on Bookworm python3 is Python 3.11 and the command is the same. Python 3.11, 3.12 or
# 3.13 is accepted (--python PATH for another interpreter); the same requirements-edge.txt pins on a
# Pi 4 and a Pi 5. From apt the Pi needs python3-venv (Debian ships venv's pip apart) and chromium
# for the kiosk browser.
#
# Installs signstream-edge.service (the client), signstream-kiosk.service (a user unit: Chromium in
# kiosk mode on the client's page, started with the desktop session) and the optional
# signstream-edge-sync.timer. Idempotent; re-running from another checkout replaces the code (that is
# also how a kiosk is rolled back: check out the older tag and run this again). /etc/signstream/edge.env,
# /etc/signstream/kiosk.env and /var/lib/signstream/edge (models, recordings) are never replaced.
# shellcheck source-path=SCRIPTDIR source=install-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/install-lib.sh"
SIDE=edge # read by install-lib.sh, like the two below
# Raspberry Pi OS's own python3: 3.13 on Trixie, 3.11 on Bookworm (requirements-edge.txt has aarch64
# wheels for both; tests/deploy/test_edge_pins.py); 3.12 is within pyproject's requires-python too.
PYTHON_DEFAULT=python3
PYTHON_VERSIONS="3.11 3.12 3.13"
USER_NAME=signstream-edge
KIOSK=1
KIOSK_USER="${SUDO_USER:-}"
[ "$KIOSK_USER" != root ] || KIOSK_USER=""
BROWSER=""
CAMERA=/dev/video0
HAND_TASK=1

usage() {
  echo "usage: $(basename "$0") [options]"
  echo "Install or update the signstream edge client and the kiosk browser."
  echo "Raspberry Pi OS Trixie, 64-bit: python3 is Python 3.13; on Bookworm it is 3.11, same command."
  echo "Needs apt's python3-venv (and chromium for the kiosk browser)."
  common_usage
  cat <<EOF_USAGE
  --kiosk-user NAME the desktop user whose session shows the kiosk (default: \$SUDO_USER; none: any user)
  --no-kiosk        no kiosk browser unit (a headless client, or another frontend)
  --browser PATH    Chromium (default: /usr/bin/chromium, else /usr/bin/chromium-browser)
  --camera DEVICE   camera device the client waits for at boot (default /dev/video0; 'none': do not wait)
  --skip-hand-task  do not prepare MediaPipe's hand_landmarker.task now (the client then needs it later)
EOF_USAGE
}

while [ $# -gt 0 ]; do
  parse_common_option "$@"
  if [ "$USED" -gt 0 ]; then
    shift "$USED"
    continue
  fi
  case "$1" in
    --kiosk-user | --browser | --camera)
      if [ $# -lt 2 ] || [ -z "$2" ] || [[ "$2" == -* ]]; then die "$1 needs a value (see --help)"; fi
      case "$1" in
        --kiosk-user) KIOSK_USER="$2" ;;
        --browser) BROWSER="$2" ;;
        --camera) CAMERA="$2" ;;
      esac
      shift 2
      ;;
    --no-kiosk) KIOSK=0; shift ;;
    --skip-hand-task) HAND_TASK=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
if [ -n "$KIOSK_USER" ] && ! [[ "$KIOSK_USER" =~ ^[a-z_][a-z0-9_-]*$ ]]; then
  die "--kiosk-user must be a user name, not '$KIOSK_USER'"
fi
if [ -z "$BROWSER" ]; then
  BROWSER=/usr/bin/chromium
  [ -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromium-browser ] || BROWSER=/usr/bin/chromium-browser
fi
[[ "$BROWSER" =~ ^/[A-Za-z0-9._/-]+$ ]] || die "--browser must be an absolute path, not '$BROWSER'"
if [ "$KIOSK" = 1 ] && [ ! -x "$BROWSER" ]; then
  say "warning: no browser at $BROWSER: sudo apt-get install chromium (or pass --browser PATH)"
fi
CAMERA_UNIT=""
if [ "$CAMERA" != none ]; then
  [[ "$CAMERA" =~ ^/dev/[A-Za-z0-9._/-]+$ ]] || die "--camera must be a /dev path or 'none', not '$CAMERA'"
  CAMERA_UNIT="$(systemd-escape --path --suffix=device "$CAMERA" 2>/dev/null)" \
    || CAMERA_UNIT="$(echo "${CAMERA#/}" | tr / -).device"
fi

check_common

DATA="$R/var/lib/signstream/edge"
ensure_user "$USER_NAME" "/var/lib/signstream/edge" video
make_dir 0755 root:root "$R/var/lib/signstream"
make_dir 0750 "$USER_NAME:$USER_NAME" "$DATA"
make_dir 0750 "$USER_NAME:$USER_NAME" "$DATA/models"
make_dir 0750 "$USER_NAME:$USER_NAME" "$DATA/cache"
make_dir 0750 "$USER_NAME:$USER_NAME" "$DATA/recordings"

stage_source
install_code
if [ "$HAND_TASK" = 1 ]; then
  # The HandLandmarker model file, assembled once into the service's cache (shared/hands/task.py).
  # (from /: `python -m` would import a checkout in the current folder before the installed package)
  (cd / && SIGNSTREAM_CACHE="$DATA/cache" "$R/opt/signstream/edge/venv/bin/python" -m shared.hands.task >/dev/null) \
    || die "could not prepare hand_landmarker.task (see above); retry, or pass --skip-hand-task"
  if real_root; then chown -R "$USER_NAME:$USER_NAME" "$DATA/cache"; fi
fi
install_env_file edge.env 0640 "$USER_NAME"
install_unit "$STAGE/deploy/systemd/signstream-edge.service.in" "$R/etc/systemd/system/signstream-edge.service" \
  "CAMERA_UNIT=$CAMERA_UNIT"
install_sync_units

if [ "$KIOSK" = 1 ]; then
  install_env_file kiosk.env 0644 root
  condition="# Any user's graphical session (install with --kiosk-user NAME to pick one)."
  [ -z "$KIOSK_USER" ] || condition="ConditionUser=$KIOSK_USER"
  install_unit "$STAGE/deploy/systemd/signstream-kiosk.service.in" "$R/etc/systemd/user/signstream-kiosk.service" \
    "BROWSER=$BROWSER" "KIOSK_CONDITION=$condition"
  # Raspberry Pi OS's desktop session runs XDG autostart entries; it may not reach graphical-session.target.
  install_file 0644 root:root "$STAGE/deploy/xdg/signstream-kiosk.desktop" "$R/etc/xdg/autostart/signstream-kiosk.desktop" \
    && CHANGED=1
  unit_ctl --global enable signstream-kiosk.service
elif [ -e "$R/etc/systemd/user/signstream-kiosk.service" ]; then
  # --no-kiosk on a machine that had the kiosk browser: remove its unit (kiosk.env stays).
  unit_ctl --global disable signstream-kiosk.service
  rm -f "$R/etc/systemd/user/signstream-kiosk.service" "$R/etc/xdg/autostart/signstream-kiosk.desktop"
  say "removed the kiosk browser unit (--no-kiosk); it stops at the next login"
fi

activate signstream-edge.service

say "installed: $(installed source_commit | cut -c1-12) in $R/opt/signstream/edge"
if [ "$START" != 1 ]; then
  cat <<EOF_NEXT
next steps:
  1. edit $R/etc/signstream/edge.env (server URL, API key, camera; docs/edge.md)
  2. sudo systemctl start signstream-edge && journalctl -u signstream-edge -f
  3. log in to the desktop as ${KIOSK_USER:-the kiosk user} (or reboot): Chromium opens the kiosk page
EOF_NEXT
fi
