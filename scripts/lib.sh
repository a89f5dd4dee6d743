# shellcheck shell=bash
# Shared by scripts/run, scripts/test and scripts/bench: install what is
# missing (Debian 12), then build.  Sourced, not run.

HEARTH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HEARTH_PACKAGES=(build-essential cmake pkg-config libsqlite3-dev libsodium-dev libmicrohttpd-dev
                 libjansson-dev check libsubunit-dev libcurl4-openssl-dev sqlite3 curl)

# Install the Debian packages in "$@" that are not installed yet: one
# `apt-get update`, then one `apt-get install -y` for the missing ones.
hearth_ensure_packages() {
    local missing=()
    local p
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    echo "Installing missing packages: ${missing[*]}" >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# Configure and build into $1 with the remaining arguments given to cmake.
hearth_build() {
    local dir=$1
    shift
    cmake -S "$HEARTH_ROOT" -B "$dir" "$@" >/dev/null
    cmake --build "$dir" -j "$(nproc)"
}
