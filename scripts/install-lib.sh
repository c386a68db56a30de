# shellcheck shell=bash
# Shared steps of scripts/install-server.sh and scripts/install-edge.sh (sourced, not run).
#
# Layout under the root prefix R ("" for /), for SIDE = server or edge:
#   R/opt/signstream/SIDE/venv           the virtualenv (code; replaced on update)
#   R/opt/signstream/SIDE/bin, share     helper scripts, the rendered env example, docs
#   R/opt/signstream/SIDE/install.txt    what is installed (commit, sha256 of the source and requirements)
#   R/etc/signstream/SIDE.env            the operator's settings (created once from the example, never replaced)
#   R/var/lib/signstream/SIDE            data: models, keys, caches, recordings (kept by the uninstaller)
#   R/etc/systemd/system, R/etc/systemd/user   units, rendered with the prefix
#
# With a root other than / nothing outside it is touched: users are not created and systemd is not
# asked to reload or start anything (each skipped step prints one "skipped" line); enabling units
# uses `systemctl --root`, which only writes symlinks under the root.

set -euo pipefail
umask 022

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SIDE=""               # server | edge, set by the caller
ROOT_DIR="/"          # --root
R=""                  # path prefix: "" when ROOT_DIR is /
PYTHON_BIN=""         # --python; empty: PYTHON_DEFAULT
# The interpreter used without --python and the Python versions accepted: the server's (it runs on
# 3.11 only); install-edge.sh sets its own after sourcing this file.
PYTHON_DEFAULT="python3.11"
PYTHON_VERSIONS="3.11"
VENV_FROM=""
SOURCE_DIR="$REPO_DIR"
START=0
SYNC_TIMER=0
SYSTEM_SITE=0        # --system-site-packages: the virtualenv also sees apt's Python packages (picamera2)
CHANGED=0             # set when code or units changed (running services are then restarted)
STAGE=""

die() {
  echo "$(basename "$0"): error: $*" >&2
  exit 2
}

say() { echo "$(basename "$0"): $*"; }

cleanup() {
  if [ -n "$STAGE" ] && [ -d "$STAGE" ]; then rm -rf "$STAGE"; fi
}
trap cleanup EXIT

real_root() { [ "$ROOT_DIR" = "/" ]; }

# Run a command that changes the machine outside the root, or say it was skipped.
system_run() {
  if real_root; then
    "$@"
  else
    say "skipped (--root is not /): $*"
  fi
}

# The accepted versions as words: "3.11", "3.11 or 3.13", "3.11, 3.12 or 3.13".
python_versions_text() {
  local text="" last="" version
  for version in $PYTHON_VERSIONS; do
    [ -z "$last" ] || text="${text:+$text, }$last"
    last="$version"
  done
  echo "${text:+$text or }$last"
}

common_usage() {
  cat <<EOF
  --root DIR        install under DIR instead of / (tests, images); nothing outside DIR is touched
  --python PATH     Python $(python_versions_text) interpreter for the virtualenv (default: $PYTHON_DEFAULT)
  --source DIR      signstream checkout to install (default: the one holding this script)
  --venv-from VENV  take the dependencies from an existing virtualenv instead of installing
                    requirements-$SIDE.txt (development and tests); the package itself is still installed
  --start           start (or restart) the service now (default: enable it; a running one is restarted
                    when its code or units changed)
  --sync-timer      also enable signstream-$SIDE-sync.timer (a \`signstream pull\` every 5 minutes)
  --system-site-packages
                    let the virtualenv see apt's Python packages too (python3-picamera2 for a Camera Module)
  -h, --help        this help
EOF
}

# Parse one common option at "$@"; sets USED to how many arguments it took (0: not a common option).
# shellcheck disable=SC2034 # USED is read by the installers
USED=0
parse_common_option() {
  USED=0
  case "$1" in
    --root | --python | --source | --venv-from)
      if [ $# -lt 2 ] || [ -z "$2" ] || [[ "$2" == -* ]]; then die "$1 needs a value (see --help)"; fi ;;
  esac
  # shellcheck disable=SC2034 # USED is read by the installers
  case "$1" in
    --root) ROOT_DIR="$2"; USED=2 ;;
    --python) PYTHON_BIN="$2"; USED=2 ;;
    --source) SOURCE_DIR="$2"; USED=2 ;;
    --venv-from) VENV_FROM="$2"; USED=2 ;;
    --start) START=1; USED=1 ;;
    --sync-timer) SYNC_TIMER=1; USED=1 ;;
    --system-site-packages) SYSTEM_SITE=1; USED=1 ;;
  esac
}

check_common() {
  case "$ROOT_DIR" in
    /*) ;;
    *) ROOT_DIR="$(pwd)/$ROOT_DIR" ;;
  esac
  ROOT_DIR="$(realpath -m "$ROOT_DIR")"
  # Paths land in unit files: keep them free of spaces and systemd specifiers.
  [[ "$ROOT_DIR" =~ ^/[A-Za-z0-9._/-]*$ ]] || die "--root must be a path of letters, digits, . _ - and /, not $ROOT_DIR"
  if real_root; then
    R=""
    [ "$(id -u)" = 0 ] || die "installing into / needs root (run it with sudo, or pass --root DIR)"
  else
    R="$ROOT_DIR"
  fi
  check_python
  [ -f "$SOURCE_DIR/pyproject.toml" ] || die "--source $SOURCE_DIR is not a signstream checkout (no pyproject.toml)"
  SOURCE_DIR="$(cd "$SOURCE_DIR" && pwd)"
  [ -f "$SOURCE_DIR/requirements-$SIDE.txt" ] || die "$SOURCE_DIR/requirements-$SIDE.txt is missing"
  if [ -n "$VENV_FROM" ]; then
    [ -x "$VENV_FROM/bin/python" ] || die "--venv-from $VENV_FROM is not a virtualenv (no bin/python)"
    VENV_FROM="$(cd "$VENV_FROM" && pwd)"
  fi
  mkdir -p "$ROOT_DIR" # only now: bad options leave no trace
}

# The interpreter for the virtualenv: one of PYTHON_VERSIONS, able to make a virtualenv with pip.
check_python() {
  PYTHON_BIN="${PYTHON_BIN:-$PYTHON_DEFAULT}"
  local accepted version
  accepted="$(python_versions_text)"
  command -v "$PYTHON_BIN" >/dev/null 2>&1 \
    || die "no Python at '$PYTHON_BIN' (signstream-$SIDE needs Python $accepted; install one or pass --python PATH)"
  version="$("$PYTHON_BIN" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" || version=""
  [[ "$version" =~ ^[0-9]+\.[0-9]+$ ]] || version=""
  case " $PYTHON_VERSIONS " in
    *" ${version:-none} "*) ;;
    *) die "$PYTHON_BIN is ${version:+Python }${version:-not a working Python}; signstream-$SIDE needs Python $accepted (pass --python PATH)" ;;
  esac
  # Debian (Raspberry Pi OS) ships venv's pip bootstrap, ensurepip, apart in python3-venv; a
  # --venv-from virtualenv is made without pip and needs only venv itself.
  local modules="venv, ensurepip"
  [ -z "$VENV_FROM" ] || modules="venv"
  "$PYTHON_BIN" -c "import $modules" 2>/dev/null \
    || die "$PYTHON_BIN cannot create a virtualenv (\`$PYTHON_BIN -m venv\` is unavailable): sudo apt install python3-venv"
}

# make_dir MODE OWNER:GROUP PATH: create PATH and set its mode (and owner, on a real root).
make_dir() {
  mkdir -p "$3"
  chmod "$1" "$3"
  if real_root; then chown "$2" "$3"; fi
}

# install_file MODE OWNER:GROUP SRC DEST: copy SRC to DEST only when the content differs (atomic).
# Returns 0 when DEST changed, 1 when it was already up to date.
install_file() {
  local mode="$1" owner="$2" src="$3" dest="$4"
  if [ -f "$dest" ] && cmp -s "$src" "$dest"; then
    chmod "$mode" "$dest"
    if real_root; then chown "$owner" "$dest"; fi
    return 1
  fi
  mkdir -p "$(dirname "$dest")"
  local tmp
  tmp="$(mktemp "$(dirname "$dest")/.$(basename "$dest").XXXXXX")"
  cat "$src" >"$tmp"
  chmod "$mode" "$tmp"
  if real_root; then chown "$owner" "$tmp"; fi
  mv -f "$tmp" "$dest"
  return 0
}

# Replace the placeholders of a template (and the /opt, /etc, /var/lib paths of an example) with the prefix.
render() {
  local src="$1" dest="$2"
  shift 2
  local args=(-e "s#@ROOT@#${R}#g" -e "s#@SIDE@#${SIDE}#g"
    -e "s#\\(^\\|[= ]\\)/\\(opt\\|etc\\|var/lib\\)/signstream#\\1${R}/\\2/signstream#g")
  local pair
  for pair in "$@"; do args+=(-e "s#@${pair%%=*}@#${pair#*=}#g"); done
  sed "${args[@]}" "$src" >"$dest"
}

ensure_user() {
  local user="$1" home="$2"
  shift 2
  if ! real_root; then
    say "skipped (--root is not /): useradd --system $user${*:+ (groups: $*)}"
    return
  fi
  if ! getent passwd "$user" >/dev/null; then
    useradd --system --user-group --home-dir "$home" --no-create-home --shell /usr/sbin/nologin "$user"
    say "created system user $user"
  fi
  local group
  for group in "$@"; do
    if getent group "$group" >/dev/null; then usermod -a -G "$group" "$user"; fi
  done
}

# Copy the source to install into $STAGE: a git checkout's HEAD (exactly a commit), else the folder.
stage_source() {
  STAGE="$(mktemp -d)"
  SOURCE_COMMIT="none"
  if git -C "$SOURCE_DIR" rev-parse --verify -q HEAD >/dev/null 2>&1 \
    && [ "$(git -C "$SOURCE_DIR" rev-parse --show-toplevel)" = "$SOURCE_DIR" ]; then
    SOURCE_COMMIT="$(git -C "$SOURCE_DIR" rev-parse HEAD)"
    git -C "$SOURCE_DIR" archive --format=tar HEAD | tar -x -C "$STAGE"
    if [ -n "$(git -C "$SOURCE_DIR" status --porcelain --untracked-files=no)" ]; then
      say "note: $SOURCE_DIR has uncommitted changes; installing commit ${SOURCE_COMMIT:0:12} only"
    fi
  else
    tar -C "$SOURCE_DIR" --exclude=.git --exclude='.venv*' --exclude=__pycache__ --exclude=build \
      --exclude='*.egg-info' --exclude=.pytest_cache --exclude=.ruff_cache -cf - . | tar -x -C "$STAGE"
  fi
  SOURCE_SHA="$(cd "$STAGE" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
}

# Read one key of install.txt ("" if absent).
installed() {
  local file="$R/opt/signstream/$SIDE/install.txt"
  [ -f "$file" ] || return 0
  sed -n "s/^$1=//p" "$file"
}

# The virtualenv (new whenever the Python or requirements-SIDE.txt changes) and the package, reinstalled
# with --no-deps whenever the source changes; helper scripts and docs beside it; install.txt last.
install_code() {
  local home="$R/opt/signstream/$SIDE"
  local venv="$home/venv"
  local python_id requirements_id
  python_id="$("$PYTHON_BIN" -c 'import sys; print(sys.version.split()[0], sys.base_prefix)')"
  local venv_args=()
  if [ "$SYSTEM_SITE" = 1 ]; then
    venv_args=(--system-site-packages)
    python_id="$python_id system-site-packages"
  fi
  if [ -n "$VENV_FROM" ]; then
    requirements_id="venv-from:$VENV_FROM"
  else
    requirements_id="sha256:$(sha256sum "$STAGE/requirements-$SIDE.txt" | cut -d' ' -f1)"
  fi
  make_dir 0755 root:root "$R/opt/signstream"
  make_dir 0755 root:root "$home"

  # A new virtualenv when there is none (or a broken one, or an interrupted install) and whenever the
  # Python or the pinned requirements change, so it always holds exactly the pins.
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null \
    || [ "$(installed python)" != "$python_id" ] || [ "$(installed requirements)" != "$requirements_id" ]; then
    rm -rf "$venv"
    say "creating the virtualenv $venv"
    if [ -n "$VENV_FROM" ]; then
      "$PYTHON_BIN" -m venv "${venv_args[@]}" --without-pip "$venv"
      local site
      site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
      "$VENV_FROM/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))' >"$site/_signstream_deps.pth"
    else
      "$PYTHON_BIN" -m venv "${venv_args[@]}" "$venv"
      say "installing requirements-$SIDE.txt (exact pins) into $venv"
      "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$STAGE/requirements-$SIDE.txt"
    fi
    rm -f "$home/install.txt" # forces the package install below
    CHANGED=1
  fi

  if [ "$(installed source_sha256)" != "$SOURCE_SHA" ]; then
    say "installing signstream (commit ${SOURCE_COMMIT:0:12}) into $venv"
    local pip=("$venv/bin/python" -m pip)
    # A --venv-from virtualenv has no pip of its own: the other one's pip installs into it.
    [ -z "$VENV_FROM" ] || pip=("$VENV_FROM/bin/python" -m pip --python "$venv/bin/python")
    "${pip[@]}" install --quiet --disable-pip-version-check --no-deps --force-reinstall "$STAGE"
    CHANGED=1
  fi

  local helper
  for helper in wait_http.py sync_model.py; do
    install_file 0755 root:root "$STAGE/deploy/bin/$helper" "$home/bin/$helper" || true
  done
  install_file 0644 root:root "$STAGE/docs/deploy.md" "$home/share/deploy.md" || true
  chmod 0755 "$home/bin" "$home/share"

  local info
  info="$(mktemp)"
  {
    echo "side=$SIDE"
    echo "source_commit=$SOURCE_COMMIT"
    echo "source_sha256=$SOURCE_SHA"
    echo "requirements=$requirements_id"
    echo "python=$python_id"
  } >"$info"
  install_file 0644 root:root "$info" "$home/install.txt" || true
  rm -f "$info"
}

# The operator's env file: created from the commented example only when absent, never replaced.
install_env_file() {
  local name="$1" mode="$2" group="$3"
  local example="$R/opt/signstream/$SIDE/share/$name.example"
  local tmp
  tmp="$(mktemp)"
  render "$STAGE/deploy/env/$name.example" "$tmp"
  install_file 0644 root:root "$tmp" "$example" || true
  rm -f "$tmp"
  make_dir 0755 root:root "$R/etc/signstream"
  local env="$R/etc/signstream/$name"
  if [ -e "$env" ]; then
    say "kept $env (the operator's; the current example is $example)"
    if [ -n "$(find "$env" -maxdepth 0 -perm /o=r)" ]; then
      say "warning: $env is readable by every user; it may hold secrets: chmod o-r $env"
    fi
  else
    install_file "$mode" "root:$group" "$example" "$env" || true
    say "created $env from the example (edit it for this machine)"
  fi
}

# install_unit SRC_TEMPLATE DEST [KEY=VALUE...]: render a unit; CHANGED=1 when it differs.
install_unit() {
  local src="$1" dest="$2"
  shift 2
  local tmp
  tmp="$(mktemp)"
  render "$src" "$tmp" "$@"
  if install_file 0644 root:root "$tmp" "$dest"; then
    CHANGED=1
    say "wrote $dest"
  fi
  rm -f "$tmp"
}

# systemctl enable/disable: on / through the running systemd, otherwise offline under the root.
unit_ctl() {
  local action="$1"
  shift
  if ! command -v systemctl >/dev/null 2>&1; then
    say "skipped (no systemctl): systemctl $action $*"
    return
  fi
  if real_root; then
    systemctl "$action" "$@"
  else
    local err
    if ! err="$(systemctl --root="$ROOT_DIR" "$action" "$@" 2>&1 >/dev/null)"; then
      die "systemctl --root=$ROOT_DIR $action $*: $err"
    fi
  fi
}

install_sync_units() {
  install_unit "$STAGE/deploy/systemd/signstream-sync.service.in" "$R/etc/systemd/system/signstream-$SIDE-sync.service"
  install_unit "$STAGE/deploy/systemd/signstream-sync.timer.in" "$R/etc/systemd/system/signstream-$SIDE-sync.timer"
}

# Reload systemd, enable the units, and (re)start the service when asked or when its code changed.
activate() {
  local service="$1"
  shift
  system_run systemctl daemon-reload
  unit_ctl enable "$service" "$@"
  if [ "$SYNC_TIMER" = 1 ]; then
    unit_ctl enable "signstream-$SIDE-sync.timer"
    system_run systemctl start "signstream-$SIDE-sync.timer"
  fi
  if [ "$START" = 1 ]; then
    system_run systemctl restart "$service"
  elif [ "$CHANGED" = 1 ]; then
    system_run systemctl try-restart "$service"
  fi
}
