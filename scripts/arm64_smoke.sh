#!/usr/bin/env bash
# arm64_smoke.sh: prove the edge runs on a Raspberry Pi 4 core (cortex-a72, ARMv8.0) and a Pi 5 core
# (cortex-a76, ARMv8.2) under QEMU user emulation, on arm64 Debian trixie (Python 3.13, today's
# Raspberry Pi OS base) and bookworm (Python 3.11). Run by .ci/run as root on an x86_64 Debian host.
#
#   sudo scripts/arm64_smoke.sh                 # from anywhere; the checkout is this script's parent
#
# Why: mediapipe 1.2.2's aarch64 library needs ARMv8.2 (LSE atomics, dotprod...) and dies with SIGILL
# on a Pi 4, where the edge must pick the LiteRT hand backend instead; wheels differ per Python. Only
# running the installed edge on each core and each Python shows that the pins install and the right
# backend is chosen. What runs on each target:
#   python -m edge_client.selfcheck --clip CLIP --bundle BUNDLE --frames N --backend auto
# and its one JSON line must say: machine aarch64, the suite's Python, backend litert on cortex-a72 and
# mediapipe on cortex-a76 (with ARM64_BACKEND=auto), frames_with_hands >= 1, an answer label that is one
# of the bundle's labels.
#
# How (each step timed into $ARM64_CACHE/run/timings.tsv, printed at the end with the cache state):
#   host_tools  apt-get install qemu-user-static debootstrap binfmt-support, if missing
#   binfmt      qemu-aarch64 enabled in binfmt_misc (flag F: the interpreter works inside a chroot)
#   root        debootstrap --foreign --variant=minbase (native), then every downloaded .deb unpacked
#               natively (dpkg-deb | tar) and ldconfig: no emulated second stage (15 min -> ~30 s).
#               Maintainer scripts never run; what the edge needs does not depend on them.
#               Cached; rebuilt only when its recipe (suite, include list, SCRIPT_VERSION) changes.
#   wheels      pip download of requirements-edge.txt (read at run time) for manylinux aarch64 and the
#               suite's Python, natively on the host; cached per requirements hash and Python.
#   hand_task   python -m shared.hands.task natively (hand_landmarker_{full,lite}.task); cached.
#   bundle      signstream synth + train natively (4 classes, 6 epochs, ~1 min); cached per hash of
#               the training code (cloud_server/, shared/, pyproject.toml).
#   src         the checkout's git-tracked files (as they are in the working tree) copied into the
#               root, with the clip, the bundle and the task files (fresh every run).
#   venv        python3 -m venv + pip install --no-index --no-compile -r requirements-edge.txt
#               (emulated). Reused while the requirements, wheels and root are the same: a fresh one
#               measured 59 s (trixie) and 122 s (bookworm) every run, plus ~12 s a root to byte-compile
#               what the first import loads, and adds no coverage, since any change to
#               requirements-edge.txt rebuilds it. ARM64_FRESH_VENV=1 forces a fresh one.
#   project     pip install --no-deps --force-reinstall of the copied checkout, as
#               scripts/install-lib.sh does on a Pi (emulated, every run).
#   selfcheck   one per target (suite:core), emulated with QEMU_CPU=core and an ARM /proc/cpuinfo for
#               that core bind-mounted (QEMU 7.2 shows the host's x86 one; XNNPACK's cpuinfo crashes).
#
# Settings (environment):
#   ARM64_CACHE=/var/cache/signstream-ci/arm64   roots/, wheels/, bundles/, hand-task/, run/ (logs)
#   ARM64_TARGETS="trixie:cortex-a72 trixie:cortex-a76 bookworm:cortex-a72 bookworm:cortex-a76"
#   ARM64_FRAMES=3            frames of the clip given to the hand tracker
#   ARM64_HAND_MODEL=full     full | lite
#   ARM64_BACKEND=auto        auto | mediapipe | litert (auto also checks which one was chosen)
#   ARM64_CLIP                default $SIGN_DATA_DIR/videos/doctor_001.mp4 (else ../shared/data/...)
#   ARM64_HOST_PYTHON         the host's project venv python (default <checkout>/.venv/bin/python):
#                             pip download, shared.hands.task, signstream synth/train
#   ARM64_MIRROR              Debian mirror (default: the one apt uses on this host)
#   ARM64_FRESH_VENV=0        1: build the venvs again even when the cached ones match
#
# Timings measured here (x86_64, 2 cores shared with other jobs, load 4-9, QEMU 7.2), 4 targets:
# cold (empty cache) 715 s, warm 410 s (of which 39 s retraining the bundle after a training-code
# change); a self-check takes 53-82 s, installing the project 31-49 s a root. Each run prints its
# table and, once both exist, the last cold run's next to the last warm run's (kept in ARM64_CACHE).
# Disk: 2.4 GB under ARM64_CACHE (two roots with their venvs, wheels, bundle).
set -euo pipefail
set -m # each step runs in its own process group, so an interrupted run can stop the whole step

SCRIPT_VERSION=1 # bump when a root's recipe changes in a way the include lists do not show
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${ARM64_CACHE:-/var/cache/signstream-ci/arm64}"
TARGETS="${ARM64_TARGETS:-trixie:cortex-a72 trixie:cortex-a76 bookworm:cortex-a72 bookworm:cortex-a76}"
FRAMES="${ARM64_FRAMES:-3}"
HAND_MODEL="${ARM64_HAND_MODEL:-full}"
BACKEND="${ARM64_BACKEND:-auto}"
DATA_DIR="${SIGN_DATA_DIR:-$SRC/../shared/data}"
CLIP="${ARM64_CLIP:-$DATA_DIR/videos/doctor_001.mp4}"
HOST_PY="${ARM64_HOST_PYTHON:-$SRC/.venv/bin/python}"
MIRROR="${ARM64_MIRROR:-}"
FRESH_VENV="${ARM64_FRESH_VENV:-0}"

RUN="$CACHE/run"
LOGS="$RUN/logs"
TSV="$RUN/timings.tsv"

die() {
  echo "arm64_smoke: $*" >&2
  exit 1
}

# ---- the suites: Python version, newest manylinux glibc, the packages of the root
suite_python() {
  case "$1" in
    trixie) echo 3.13 ;;
    bookworm) echo 3.11 ;;
    *) die "unknown suite $1 (trixie or bookworm)" ;;
  esac
}
suite_glibc_minor() { case "$1" in trixie) echo 41 ;; *) echo 36 ;; esac }
# python3-venv brings ensurepip. The GL/X/GLib libraries are what the opencv-contrib-python and
# mediapipe aarch64 wheels link against. bookworm: debootstrap does not resolve the virtual
# python3.11-distutils that python3.11-venv depends on, so the real packages are named.
suite_include() {
  local libs=libgl1,libegl1,libgles2,libsm6,libice6,libx11-6,libxext6,libxcb1
  case "$1" in
    trixie) echo "ca-certificates,python3,python3-venv,libglib2.0-0t64,$libs" ;;
    *) echo "ca-certificates,python3,python3-venv,python3.11-venv,python3-distutils,python3-lib2to3,libglib2.0-0,$libs" ;;
  esac
}
expected_backend() { case "$1" in cortex-a72) echo litert ;; *) echo mediapipe ;; esac }

# ---- checks before anything is touched
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mounts)"
[ "$(uname -m)" = x86_64 ] || die "meant for an x86_64 host"
case "$CACHE" in /?*) ;; *) die "ARM64_CACHE must be an absolute path, got '$CACHE'" ;; esac
[ "$(realpath -m "$CACHE")" != / ] || die "ARM64_CACHE must not be /"
[ -x "$HOST_PY" ] || die "no host python at $HOST_PY (make the project's .venv, or set ARM64_HOST_PYTHON)"
[ -f "$CLIP" ] || die "no clip $CLIP (set SIGN_DATA_DIR or ARM64_CLIP)"
SUITES=()
for t in $TARGETS; do
  s="${t%%:*}" c="${t#*:}"
  suite_python "$s" >/dev/null
  case "$c" in cortex-a72 | cortex-a76) ;; *) die "unknown core '$c' in '$t' (cortex-a72 or cortex-a76)" ;; esac
  [[ " ${SUITES[*]} " == *" $s "* ]] || SUITES+=("$s")
done
[ ${#SUITES[@]} -gt 0 ] || die "ARM64_TARGETS is empty"

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock -w 3600 9 || die "another run holds $CACHE/.lock"
rm -rf "$RUN"
mkdir -p "$LOGS"

# ---- mounts: listed from mountinfo, so leftovers of a killed run are found too
# Mount points at or under $1, deepest first.
mounts_under() {
  awk -v p="$1" '$5 == p || index($5, p "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}
unmount_under() {
  local m
  for m in $(mounts_under "$1"); do umount "$m" 2>/dev/null || umount -l "$m"; done
}
# Mount only onto a real directory inside the root: `mount` follows symlinks, and a root whose proc
# is a symlink to /proc (seen here after a machine snapshot was restored) would cover the host's /proc.
safe_target() {
  local root="$1" dir="$2"
  if [ -L "$root$dir" ]; then rm -f "$root$dir"; fi
  mkdir -p "$root$dir"
  [ "$(realpath "$root$dir")" = "$root$dir" ] || die "refusing to mount on $root$dir: it resolves elsewhere"
  echo "$root$dir"
}
ACTIVE_ROOTS=()
cleanup() {
  local rc=$? r
  set +e
  if [ -n "${STEP_PID:-}" ]; then kill -TERM -- "-$STEP_PID" 2>/dev/null && wait "$STEP_PID" 2>/dev/null; fi
  for r in "${ACTIVE_ROOTS[@]}"; do unmount_under "$r"; done
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# proc, sys and dev of the host inside the root (mediapipe's tcmalloc aborts without /sys) and the
# wheel cache at /opt/wheels.
mount_root() {
  local root="$1" wheels="$2" t d
  ACTIVE_ROOTS+=("$root")
  t=$(safe_target "$root" /proc)
  mountpoint -q "$t" || mount -t proc proc "$t"
  for d in sys dev; do
    t=$(safe_target "$root" "/$d")
    if ! mountpoint -q "$t"; then
      mount --rbind "/$d" "$t"
      mount --make-rslave "$t"
    fi
  done
  t=$(safe_target "$root" /opt/wheels)
  while mountpoint -q "$t"; do umount "$t"; done
  mount --bind "$wheels" "$t"
}

# An ARM /proc/cpuinfo for the emulated core (what a Pi 4 or Pi 5 shows, one entry per host CPU).
bind_cpuinfo() {
  local root="$1" core="$2" feat part var rev i file="$RUN/cpuinfo-$2"
  case "$core" in
    cortex-a72) feat="fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid" part=0xd08 var=0x0 rev=3 ;;
    cortex-a76)
      feat="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"
      part=0xd0b var=0x4 rev=1
      ;;
  esac
  : >"$file"
  for ((i = 0; i < $(nproc); i++)); do
    printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %s\n\n' \
      "$i" "$feat" "$var" "$part" "$rev" >>"$file"
  done
  mountpoint -q "$root/proc" || die "$root/proc is not mounted"
  while mountpoint -q "$root/proc/cpuinfo"; do umount "$root/proc/cpuinfo"; done
  mount --bind "$file" "$root/proc/cpuinfo"
}

# Runs a command in an arm64 root with a clean environment (none of the host's PIP_*, proxies, ...).
inroot() {
  local root="$1" core="$2"
  shift 2
  env -i HOME=/root LANG=C.UTF-8 TERM=dumb QEMU_CPU="$core" MPLCONFIGDIR=/tmp \
    SIGNSTREAM_CACHE=/opt/ci/cache PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    chroot "$root" "$@"
}

# ---- timing
loadavg() { cut -d' ' -f1 /proc/loadavg; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
printf 'step\ttarget\tseconds\tcache\tload_before\trc\n' >"$TSV"
T0=$(now)
STEP_PID=""
# step NAME TARGET CMD...: run CMD, output to $LOGS/NAME-TARGET.log, timed into $TSV. A step says
# whether its cache was used by printing "cache: hit" or "cache: miss". Stops the run on failure.
step() {
  local name="$1" target="$2" log l0 s rc=0 cache
  shift 2
  log="$LOGS/$name-${target//[:\/]/-}.log"
  l0=$(loadavg)
  s=$(now)
  echo "== $name $target ($(date +%T), load $l0)"
  # In the background and waited for: set -e stays in force inside (it is off in `cmd || ...`).
  "$@" >"$log" 2>&1 &
  STEP_PID=$!
  wait "$STEP_PID" || rc=$?
  STEP_PID=""
  cache=$(sed -n 's/^cache: //p' "$log" | tail -1)
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$target" "$(secs "$s" "$(now)")" "${cache:--}" "$l0" "$rc" |
    tee -a "$TSV"
  if [ "$rc" != 0 ]; then
    echo "-- last lines of $log:"
    tail -40 "$log"
    die "step $name $target failed (rc=$rc)"
  fi
}

# ---- 1. host tools
host_tools() {
  local need=() p
  for p in qemu-user-static debootstrap binfmt-support; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    echo "cache: miss"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
  else
    echo "cache: hit"
  fi
  qemu-aarch64-static --version | head -1
  debootstrap --version
}
step host_tools host host_tools

# ---- 2. binfmt_misc: the kernel runs arm64 ELF files through QEMU, also inside a chroot (flag F)
binfmt() {
  local e=/proc/sys/fs/binfmt_misc/qemu-aarch64
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount binfmt_misc -t binfmt_misc /proc/sys/fs/binfmt_misc
  [ -e "$e" ] || update-binfmts --import qemu-aarch64
  update-binfmts --enable qemu-aarch64 || true
  grep -q '^enabled' "$e" || echo 1 >"$e" # an entry switched off by hand stays off for update-binfmts
  cat "$e"
  grep -q '^enabled' "$e" && grep -q '^flags: .*F' "$e"
}
step binfmt host binfmt

# ---- 3. the Debian mirror, as apt reaches it here
if [ -z "$MIRROR" ]; then
  # shellcheck disable=SC2016 # apt's own $(FIELD) placeholders
  MIRROR=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Identifier: Packages' |
    awk '$2 !~ /-(security|updates|backports)$/ { print $1; exit }')
fi
[ -n "$MIRROR" ] || die "cannot tell apt's Debian mirror: set ARM64_MIRROR"

# ---- 4. roots, one per suite (cached)
build_root() {
  local suite="$1" root="$CACHE/roots/$1" recipe deb
  recipe="script=$SCRIPT_VERSION suite=$suite arch=arm64 variant=minbase include=$(suite_include "$suite")"
  if [ -f "$root/.ci-recipe" ] && [ "$(cat "$root/.ci-recipe")" = "$recipe" ]; then
    echo "cache: hit"
    return
  fi
  echo "cache: miss"
  unmount_under "$root"
  unmount_under "$root.new"
  rm -rf --one-file-system "$root" "$root.new"
  mkdir -p "$CACHE/roots"
  debootstrap --arch=arm64 --foreign --variant=minbase --include="$(suite_include "$suite")" \
    "$suite" "$root.new" "$MIRROR"
  # Unpack natively what debootstrap's emulated second stage would install (keeping merged-/usr links).
  for deb in "$root.new"/var/cache/apt/archives/*.deb; do
    dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$root.new"
  done
  rm -f "$root.new"/var/cache/apt/archives/*.deb
  # base-passwd's maintainer script would write these; getpwuid(0) needs them
  [ -f "$root.new/etc/passwd" ] || cp "$root.new/usr/share/base-passwd/passwd.master" "$root.new/etc/passwd"
  [ -f "$root.new/etc/group" ] || cp "$root.new/usr/share/base-passwd/group.master" "$root.new/etc/group"
  # ca-certificates' maintainer script would build this bundle; Debian's pip loads it even offline
  mkdir -p "$root.new/etc/ssl/certs"
  cat "$root.new"/usr/share/ca-certificates/*/*.crt >"$root.new/etc/ssl/certs/ca-certificates.crt"
  inroot "$root.new" cortex-a72 /sbin/ldconfig
  inroot "$root.new" cortex-a72 "python$(suite_python "$suite")" -c 'import sys; print(sys.version)'
  echo "$recipe" >"$root.new/.ci-recipe"
  mv "$root.new" "$root"
}

# ---- 5. wheels for a Python version (cached per requirements hash)
REQ_HASH=$(sha256sum "$SRC/requirements-edge.txt" | cut -c1-16)
wheels_dir() { echo "$CACHE/wheels/cp${1/./}-$REQ_HASH"; }
download_wheels() {
  local py="$1" glibc="$2" dir plats=() v
  dir=$(wheels_dir "$py")
  if [ -f "$dir/.complete" ]; then
    echo "cache: hit"
    ls "$dir"
    return
  fi
  echo "cache: miss"
  rm -rf "$dir" "$dir.new"
  for ((v = 17; v <= glibc; v++)); do plats+=(--platform "manylinux_2_${v}_aarch64"); done
  "$HOST_PY" -m pip download --disable-pip-version-check --only-binary=:all: --no-deps \
    "${plats[@]}" --platform manylinux2014_aarch64 --platform linux_aarch64 \
    --python-version "$py" --implementation cp --abi "cp${py/./}" --abi abi3 --abi none \
    -r "$SRC/requirements-edge.txt" -d "$dir.new"
  # the project's build backend (pyproject.toml), for installing the project without an index
  "$HOST_PY" -m pip download --disable-pip-version-check --only-binary=:all: --no-deps \
    'setuptools>=68' wheel -d "$dir.new"
  touch "$dir.new/.complete"
  find "$CACHE/wheels" -mindepth 1 -maxdepth 1 -name "cp${py/./}-*" ! -name "$(basename "$dir")*" \
    -exec rm -rf {} + # older requirements
  mv "$dir.new" "$dir"
  ls "$dir"
}

# ---- 6. hand task files and the bundle, made natively (cached)
hand_task() {
  if [ -f "$CACHE/hand-task/hand_landmarker_full.task" ] && [ -f "$CACHE/hand-task/hand_landmarker_lite.task" ]; then
    echo "cache: hit"
  else
    echo "cache: miss"
  fi
  cd "$SRC"
  SIGNSTREAM_CACHE="$CACHE/hand-task" SIGNSTREAM_NO_GOOGLE=1 "$HOST_PY" -m shared.hands.task
}
# The training code and what it pins (pyproject.toml: TensorFlow, whose converter writes the TFLite file)
TRAIN_HASH=$(cd "$SRC" && { git ls-files -z cloud_server shared pyproject.toml | xargs -0 -r cat 2>/dev/null || true; } |
  sha256sum | cut -c1-16)
BUNDLE="$CACHE/bundles/$TRAIN_HASH"
bundle() {
  if [ -f "$BUNDLE/manifest.json" ]; then
    echo "cache: hit"
    return
  fi
  echo "cache: miss"
  rm -rf "$CACHE/bundles"
  mkdir -p "$CACHE/bundles"
  local tmp="$CACHE/bundles/tmp"
  mkdir -p "$tmp"
  "$(dirname "$HOST_PY")/signstream" synth --out "$tmp/synth.npz" --classes 4 --per-class 24 --signers 4 --seed 1
  "$(dirname "$HOST_PY")/signstream" train --data "$tmp/synth.npz" --out "$tmp/bundle" --epochs 6 --seed 1 \
    --name arm64-smoke --version 1
  mv "$tmp/bundle" "$BUNDLE"
  rm -rf "$tmp"
}

# ---- 7. inside a root: the checkout, the venv, the project
copy_src() {
  local root="$1"
  rm -rf "$root/opt/src" "$root/opt/ci"
  mkdir -p "$root/opt/src" "$root/opt/ci/cache"
  git -C "$SRC" ls-files -z | (cd "$SRC" && tar --null --ignore-failed-read -T - -cf -) | tar -xf - -C "$root/opt/src"
  cp "$CLIP" "$root/opt/ci/clip.mp4"
  cp -r "$BUNDLE" "$root/opt/ci/bundle"
  cp "$CACHE"/hand-task/*.task "$root/opt/ci/cache/"
}
make_venv() {
  local suite="$1" root="$CACHE/roots/$1" key py
  py="python$(suite_python "$suite")"
  key="$(cat "$root/.ci-recipe") requirements=$REQ_HASH wheels=$(find "$(wheels_dir "$(suite_python "$suite")")" -name '*.whl' -printf '%f\n' | sort | sha256sum | cut -c1-16)"
  if [ "$FRESH_VENV" != 1 ] && [ -f "$root/opt/venv/.ci-key" ] && [ "$(cat "$root/opt/venv/.ci-key")" = "$key" ]; then
    echo "cache: hit"
    return
  fi
  echo "cache: miss"
  rm -rf "$root/opt/venv"
  # PIP_NO_COMPILE=0 means "do not byte-compile" (pip's inverted env form); ensurepip obeys it.
  inroot "$root" cortex-a72 env PIP_NO_COMPILE=0 "$py" -m venv /opt/venv
  inroot "$root" cortex-a72 pip install --no-index --find-links /opt/wheels --no-compile \
    -r /opt/src/requirements-edge.txt
  echo "$key" >"$root/opt/venv/.ci-key"
}
install_project() {
  local root="$1"
  inroot "$root" cortex-a72 pip install --no-index --find-links /opt/wheels --no-compile --no-deps \
    --force-reinstall /opt/src
}

# ---- 8. the self-check on a target and what its JSON must say
selfcheck() {
  local root="$1" core="$2"
  bind_cpuinfo "$root" "$core"
  inroot "$root" "$core" sh -c "cd /opt/ci && python -m edge_client.selfcheck --clip /opt/ci/clip.mp4 \
    --bundle /opt/ci/bundle --frames $FRAMES --backend $BACKEND --hand-model $HAND_MODEL" >"$RUN/$3.json"
}
check_json() {
  local file="$1" python="$2" backend="$3"
  "$HOST_PY" - "$file" "$python" "$backend" "$BUNDLE/manifest.json" <<'EOF_PY'
import json, sys

path, python, backend, manifest = sys.argv[1:]
lines = [line for line in open(path, encoding="utf-8") if line.strip()]
if len(lines) != 1:
    sys.exit(f"{path}: expected one JSON line, got {len(lines)}")
out = json.loads(lines[0])
labels = json.load(open(manifest, encoding="utf-8"))["labels"]
answer = out.get("answer") or {}
label = answer.get("label") if isinstance(answer, dict) else None
problems = []
if out.get("machine") != "aarch64":
    problems.append(f"machine {out.get('machine')!r}, not aarch64")
if not str(out.get("python", "")).startswith(python + "."):
    problems.append(f"python {out.get('python')!r}, not {python}")
if backend != "any" and out.get("backend") != backend:
    problems.append(f"backend {out.get('backend')!r}, expected {backend!r}")
if not (isinstance(out.get("frames_with_hands"), int) and out["frames_with_hands"] >= 1):
    problems.append(f"frames_with_hands {out.get('frames_with_hands')!r}, expected >= 1")
if out.get("ok") is not True:
    problems.append(f"ok is {out.get('ok')!r}")
if label not in labels:
    problems.append(f"answer label {label!r} is not one of the bundle's labels {labels}")
summary = (f"backend {out.get('backend')}, hands in {out.get('frames_with_hands')}/{out.get('frames')} frames, "
           f"answer {label!r} ({answer.get('confidence') if isinstance(answer, dict) else None})")
if problems:
    sys.exit(f"{path}: " + "; ".join(problems) + f"\n{lines[0]}")
print(summary)
EOF_PY
}

# ---- the run
step hand_task host hand_task
step bundle host bundle
for suite in "${SUITES[@]}"; do
  py=$(suite_python "$suite")
  root="$CACHE/roots/$suite"
  unmount_under "$root" # leftovers of a killed run
  step root "$suite" build_root "$suite"
  step wheels "$suite" download_wheels "$py" "$(suite_glibc_minor "$suite")"
  mount_root "$root" "$(wheels_dir "$py")"
  step src "$suite" copy_src "$root"
  step venv "$suite" make_venv "$suite"
  step project "$suite" install_project "$root"
  for t in $TARGETS; do
    [ "${t%%:*}" = "$suite" ] || continue
    core="${t#*:}"
    name="$suite-$core"
    step selfcheck "$suite:$core" selfcheck "$root" "$core" "$name"
    want=$(expected_backend "$core")
    [ "$BACKEND" = auto ] || want=any
    summary=$(check_json "$RUN/$name.json" "$py" "$want") || {
      echo "$summary"
      die "the self-check on $suite:$core says the edge is not fit"
    }
    echo "   $suite:$core ok: $summary"
    printf '%s\t%s\n' "$t" "$summary" >>"$RUN/summary.tsv"
  done
  unmount_under "$root"
done

# ---- report: this run's steps, the last cold and warm runs kept for comparison
total=$(secs "$T0" "$(now)")
printf 'total\tall\t%s\t-\t%s\t0\n' "$total" "$(loadavg)" >>"$TSV"
if grep -qP '^root\t[^\t]+\t[^\t]+\tmiss\t' "$TSV"; then kind=cold; else kind=warm; fi
cp "$TSV" "$CACHE/last-$kind.tsv"
echo "== arm64 timings (this run: $kind; seconds; cache hit/miss)"
column -t -s $'\t' "$TSV"
if [ -f "$CACHE/last-cold.tsv" ] && [ -f "$CACHE/last-warm.tsv" ]; then
  echo "== last cold vs last warm run (seconds)"
  awk -F'\t' 'FNR == 1 { next } NR == FNR { cold[$1 "\t" $2] = $3; order[++n] = $1 "\t" $2; next }
    { warm[$1 "\t" $2] = $3; if (!(($1 "\t" $2) in cold)) order[++n] = $1 "\t" $2 }
    END { print "step\ttarget\tcold\twarm"; for (i = 1; i <= n; i++) { k = order[i]; print k "\t" (k in cold ? cold[k] : "-") "\t" (k in warm ? warm[k] : "-") } }' \
    "$CACHE/last-cold.tsv" "$CACHE/last-warm.tsv" | column -t -s $'\t'
fi
echo "== cache $CACHE: $(du -sh --one-file-system "$CACHE" | cut -f1)"
column -t -s $'\t' "$RUN/summary.tsv"
