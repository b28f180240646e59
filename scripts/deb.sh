#!/usr/bin/env bash
# Build the Debian package of hapair (cargo-deb), with the man pages and shell completions
# generated from the clap definitions by the binary itself.
#
# The package carries the portable build (x86_64, glibc >= 2.17, scripts/build-portable.sh), so
# it installs wherever that build runs: Depends in Cargo.toml says `libc6 (>= 2.17)`, and
# tests/deb_lab.rs checks that against the glibc the packaged binary's ELF headers ask for.
# (cargo-deb's `$auto` would ask dpkg-shlibdeps, which reads this machine's libc6 symbols and
# declares the newest glibc here, not what the binary needs.)
#
#   bash scripts/deb.sh              # (re)build the portable binary, package it
#                                    #   -> target/debian/hapair_VERSION-1_amd64.deb
#   bash scripts/deb.sh --prebuilt   # package the portable build as it is (tests: scripts/test.sh
#                                    #   builds it before the tests run)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo deb --version >/dev/null 2>&1; then
  echo "error: cargo-deb is not installed" >&2
  echo "  fix: bash scripts/deps.sh (or: cargo install cargo-deb --locked)" >&2
  exit 1
fi
bin=target/portable/x86_64-unknown-linux-gnu/release/hapair
if [ "${1:-}" = "--prebuilt" ]; then
  [ -x "$bin" ] || { echo "error: $bin is missing; run bash scripts/build-portable.sh first" >&2; exit 1; }
else
  bash scripts/build-portable.sh
fi
extra=target/deb-extra
rm -rf "$extra"
mkdir -p "$extra/man" "$extra/completions"
"$bin" man --dir "$extra/man"
gzip -9n "$extra"/man/*.1
"$bin" completions bash > "$extra/completions/hapair.bash"
"$bin" completions zsh > "$extra/completions/_hapair"
"$bin" completions fish > "$extra/completions/hapair.fish"
# The portable build's own target directory: cargo-deb maps the `target/release/hapair` asset
# to target/portable/x86_64-unknown-linux-gnu/release/hapair.
CARGO_TARGET_DIR=target/portable cargo deb --no-build --target x86_64-unknown-linux-gnu --profile release \
  --locked --output target/debian/
