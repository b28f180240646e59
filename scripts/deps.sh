#!/usr/bin/env bash
# Install what hapair's lab and tests need on this (Debian 12) machine, idempotently.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# `--tools`: only the portable build's toolchain (no root needed), e.g. for build-portable.sh.
tools_only=false
[ "${1:-}" = --tools ] && tools_only=true
if ! $tools_only && [ "$(id -u)" != 0 ]; then
  echo "error: the lab and the tests need root (namespaces, overlays, containers)" >&2
  echo "  fix: run this as root, e.g. with sudo" >&2
  exit 1
fi
mapfile -t pkgs < <(grep -hv '^\s*#' "$here/.ci/packages" | awk 'NF {print $1}' | sort -u)
missing=()
$tools_only || for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if ! command -v cargo >/dev/null 2>&1; then
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "error: hapair builds with Rust (cargo 1.80 or newer), which is not installed" >&2
  echo "  fix: install it with rustup (https://rustup.rs), then run this again" >&2
  exit 1
fi
# The portable daemon build (scripts/build-portable.sh) links with zig through cargo-zigbuild,
# both from PyPI, pinned, in a private virtual environment (Debian's python is externally managed).
venv="$here/target/tools/venv"
zig_pkgs="ziglang==0.17.1 cargo-zigbuild==0.24.1"
if [ "$(cat "$venv/.hapair-pkgs" 2>/dev/null)" != "$zig_pkgs" ]; then
  echo "installing into $venv: $zig_pkgs"
  rm -rf "$venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/pip" install -q --disable-pip-version-check $zig_pkgs
  printf '%s' "$zig_pkgs" > "$venv/.hapair-pkgs"
fi
# The .deb of hapair (scripts/deb.sh, tests/deb_lab.rs) is built with cargo-deb (crates.io).
if ! cargo deb --version >/dev/null 2>&1; then
  echo "installing cargo-deb (for scripts/deb.sh; about 1.5 min of CPU)"
  cargo install cargo-deb --locked --version 3.8.0
fi
# The bare-host lab test (tests/provision_lab.rs) installs nginx on a host with nginx purged;
# lab hosts reach no mirror, so the two packages wait in the lab's cache and the test serves
# them to the host as a local apt repository.
debs=/var/lib/hapair-lab/debs
if ! ls "$debs"/nginx_*.deb "$debs"/nginx-common_*.deb >/dev/null 2>&1; then
  mkdir -p "$debs"
  ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || apt-get update -q
  (cd "$debs" && apt-get download nginx nginx-common)
fi
