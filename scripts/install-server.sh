#!/usr/bin/env bash
# Install or update the signstream model server as a systemd service (docs/deploy.md).
#
#   sudo scripts/install-server.sh [--start] [--sync-timer]     on the server itself
#   scripts/install-server.sh --root /tmp/scratch ...            into a scratch root (tests, images)
#
# Idempotent: a second run with the same source changes nothing; a run from a newer (or older) checkout
# replaces the code and restarts a running service. /etc/signstream/server.env and everything under
# /var/lib/signstream/server (models, API keys) are created once and never replaced.
# shellcheck source-path=SCRIPTDIR source=install-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/install-lib.sh"
SIDE=server # read by install-lib.sh
USER_NAME=signstream-server

usage() {
  echo "usage: $(basename "$0") [options]"
  echo "Install or update the signstream server (systemd unit signstream-server.service)."
  common_usage
}

while [ $# -gt 0 ]; do
  parse_common_option "$@"
  if [ "$USED" -gt 0 ]; then
    shift "$USED"
    continue
  fi
  case "$1" in
    -h | --help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
check_common

DATA="$R/var/lib/signstream/server"
ensure_user "$USER_NAME" "/var/lib/signstream/server"
make_dir 0755 root:root "$R/var/lib/signstream"
make_dir 0750 "$USER_NAME:$USER_NAME" "$DATA"
make_dir 0750 "$USER_NAME:$USER_NAME" "$DATA/models"
make_dir 0750 "$USER_NAME:$USER_NAME" "$DATA/cache"
make_dir 0700 "$USER_NAME:$USER_NAME" "$DATA/keys"

stage_source
install_code
install_env_file server.env 0640 "$USER_NAME"
install_unit "$STAGE/deploy/systemd/signstream-server.service.in" "$R/etc/systemd/system/signstream-server.service"
install_sync_units
activate signstream-server.service

say "installed: $(installed source_commit | cut -c1-12) in $R/opt/signstream/server"
if [ "$START" != 1 ]; then
  cat <<EOF_NEXT
next steps:
  1. edit $R/etc/signstream/server.env (a model: MODEL_DIR, or the registry settings in docs/server.md)
  2. sudo -u $USER_NAME $R/opt/signstream/server/venv/bin/signstream keys add kiosk-NAME --file $DATA/keys/keys.json
  3. sudo systemctl start signstream-server && curl -s http://127.0.0.1:8000/ready
EOF_NEXT
fi
