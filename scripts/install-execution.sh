#!/usr/bin/env bash
# Installs what the sandboxed code-execution engine (execution/) needs on Debian 12, and the
# font the report's PDF is set in.
#
#   bash scripts/install-execution.sh                   # bubblewrap, sandbox user, esbuild
#   WITH_COMPILERS=1 bash scripts/install-execution.sh  # also gcc/g++ and a JDK
#
# Idempotent: packages already present are not reinstalled (and `apt-get update` only runs
# when something is missing), the user is created once, and `npm ci` only runs when the
# pinned esbuild is not already in place. Needs root (it runs itself through sudo when started
# by another user), Python 3.11 and Node 20 already present.
set -euo pipefail

SANDBOX_USER="${SANDBOX_USER:-codeinterview-exec}"
# Where the server looks for esbuild whatever the install (editable, wheel, site-packages):
# keep in step with execution/languages.py INSTALLED_ESBUILD.
TOOLS_DIR=/usr/local/lib/codeinterview
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NODE_DIR="$(cd "$HERE/../execution/node" && pwd)"

say() { printf '[install-execution] %s\n' "$*"; }
die() { printf '[install-execution] ERROR: %s\n' "$*" >&2; exit 1; }

if [[ "$(id -u)" != 0 ]]; then  # apt-get, useradd and /usr/local need root: ask sudo
    command -v sudo >/dev/null || die "run me as root, or install sudo (apt-get, useradd)"
    exec sudo --preserve-env=WITH_COMPILERS,SANDBOX_USER bash "$0" "$@"
fi
command -v node >/dev/null || die "node (20.x) is required: apt-get install nodejs, or NodeSource"
command -v npm >/dev/null || die "npm is required (it installs esbuild from the pinned lock file)"
command -v python3 >/dev/null || die "python3 is required"

# --- Debian packages -------------------------------------------------------------------------
# bubblewrap: the sandbox (>= 0.8 for --disable-userns, >= 0.7 for --size).
# util-linux: prlimit (rlimits inside the sandbox), choom (sandbox = preferred OOM victim),
#   taskset (a run's processes share one CPU) and unshare; mount: the sandbox's /tmp and
#   /dev/shm are tmpfs with an inode cap, which bubblewrap 0.8 has no flag for.
# fonts-dejavu-core: the report's PDF shows any script in it (rest/report_pdf.py).
packages=(bubblewrap util-linux mount python3 fonts-dejavu-core)
if [[ "${WITH_COMPILERS:-0}" == 1 ]]; then
    packages+=(gcc g++ libc6-dev openjdk-17-jdk-headless)
fi
missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]})); then
    say "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
else
    say "Debian packages already present: ${packages[*]}"
fi
command -v bwrap >/dev/null || die "bwrap not on PATH after installing bubblewrap"
for tool in prlimit taskset unshare mount; do
    command -v "$tool" >/dev/null || die "$tool missing (util-linux / mount)"
done

# --- the unprivileged user sandboxes run as when the server itself runs as root --------------
# RLIMIT_NPROC does not apply to real root, so a root server must drop to another uid first.
if ! getent passwd "$SANDBOX_USER" >/dev/null; then
    say "creating system user $SANDBOX_USER"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
        --user-group "$SANDBOX_USER"
else
    say "system user $SANDBOX_USER already exists"
fi

# --- esbuild (TypeScript -> JavaScript inside the sandbox, no download at run time) ----------
pinned="$(node -p "require('$NODE_DIR/package.json').dependencies.esbuild")"
esbuild_bin="$(ls "$NODE_DIR"/node_modules/@esbuild/linux-*/bin/esbuild 2>/dev/null | head -n1 || true)"
if [[ -n "$esbuild_bin" && "$("$esbuild_bin" --version 2>/dev/null)" == "$pinned" ]]; then
    say "esbuild $pinned already installed"
else
    say "installing esbuild $pinned with npm ci"
    (cd "$NODE_DIR" && npm ci --no-audit --no-fund --ignore-scripts)
    esbuild_bin="$(ls "$NODE_DIR"/node_modules/@esbuild/linux-*/bin/esbuild | head -n1)"
fi
chmod -R a+rX "$NODE_DIR/node_modules"
install -d -m 755 "$TOOLS_DIR"
install -m 755 "$esbuild_bin" "$TOOLS_DIR/esbuild.new" && mv -f "$TOOLS_DIR/esbuild.new" "$TOOLS_DIR/esbuild"
esbuild_bin="$TOOLS_DIR/esbuild"

# --- checks: the sandbox user can reach esbuild, and bubblewrap works for it -----------------
as_sandbox_user() { setpriv --reuid="$SANDBOX_USER" --regid="$SANDBOX_USER" --clear-groups -- "$@"; }
as_sandbox_user test -x "$esbuild_bin" \
    || die "$SANDBOX_USER cannot execute $esbuild_bin: make every parent directory world-searchable (chmod o+x)"
if ! err="$(cd / && as_sandbox_user bwrap --unshare-all --die-with-parent --ro-bind /usr /usr \
        --symlink usr/lib /lib --symlink usr/lib64 /lib64 --symlink usr/bin /bin \
        --proc /proc --dev /dev -- /usr/bin/true 2>&1)"; then
    cat >&2 <<EOF
[install-execution] ERROR: bubblewrap cannot create user namespaces here: $err
  Ubuntu >= 23.10: allow userns for /usr/bin/bwrap with an AppArmor profile
    (or sysctl kernel.apparmor_restrict_unprivileged_userns=0).
  Debian <= 10: sysctl kernel.unprivileged_userns_clone=1.  Any host: user.max_user_namespaces > 0.
  Docker/Kubernetes: run with seccomp=unconfined and apparmor=unconfined, or use a VM.
  Until then the server answers every execution with SANDBOX_UNAVAILABLE (fail closed).
EOF
    exit 1
fi
# The namespace the engine gives bwrap to mount the inode-capped tmpfs in (execution/sandbox.py).
if ! err="$(cd / && as_sandbox_user unshare --user --map-root-user --mount --propagation private \
        mount -t tmpfs -o size=1048576,nr_inodes=16 codeinterview-check /dev/shm 2>&1)"; then
    die "cannot mount a tmpfs in a user namespace (over /dev/shm, which must exist): $err"
fi
say "ok: bwrap $(bwrap --version | awk '{print $2}'), esbuild $pinned, user $SANDBOX_USER"
