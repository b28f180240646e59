#!/usr/bin/env bash
# Build the Debian package of hapair (cargo-deb), with the man pages and shell completions
# generated from the clap definitions by the binary itself.
#   bash scripts/deb.sh          # release build -> target/debian/hapair_VERSION-1_amd64.deb
#   bash scripts/deb.sh --dev    # package the existing debug build (target/debug/hapair; tests)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
profile=release
[ "${1:-}" = "--dev" ] && profile=dev
if ! cargo deb --version >/dev/null 2>&1; then
  echo "error: cargo-deb is not installed" >&2
  echo "  fix: bash scripts/deps.sh (or: cargo install cargo-deb --locked)" >&2
  exit 1
fi
if [ "$profile" = release ]; then
  cargo build --release --locked
  bin=target/release/hapair
else
  bin=target/debug/hapair
  [ -x "$bin" ] || { echo "error: $bin is missing; run cargo build first" >&2; exit 1; }
fi
extra=target/deb-extra
rm -rf "$extra"
mkdir -p "$extra/man" "$extra/completions"
"$bin" man --dir "$extra/man"
gzip -9n "$extra"/man/*.1
"$bin" completions bash > "$extra/completions/hapair.bash"
"$bin" completions zsh > "$extra/completions/_hapair"
"$bin" completions fish > "$extra/completions/hapair.fish"
cargo deb --no-build --profile "$profile" --locked --output target/debian/
