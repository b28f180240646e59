#!/usr/bin/env bash
# The daemon build for nodes older than this machine: x86_64 Linux with glibc 2.17 or newer
# (CentOS 7, RHEL/Rocky 8 and 9, Debian 10 to 13, Ubuntu 18.04 and newer). cargo-zigbuild links
# against glibc 2.17's symbol versions with zig as the linker; the source is unchanged. A target
# directory of its own (target/portable) leaves the debug build's cache alone.
#
#   bash scripts/build-portable.sh   ->  target/portable/x86_64-unknown-linux-gnu/release/hapair
#
# Pass it to plan/apply with `--daemon-binary PATH` (or HAPAIR_DAEMON_BINARY=PATH); it can also
# be installed as the `hapair` you run, since it runs on this machine too.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then bash scripts/deps.sh; else bash scripts/deps.sh --tools; fi
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
# zig and cargo-zigbuild live in a private Python environment made by deps.sh.
export PATH="$PWD/target/tools/venv/bin:$PATH"
cargo zigbuild --locked --release --target x86_64-unknown-linux-gnu.2.17 --target-dir target/portable
out=target/portable/x86_64-unknown-linux-gnu/release/hapair
# Prove the claim on the result, not on the recipe: no symbol newer than GLIBC_2.17.
newest=$(objdump -T "$out" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
if [ "$(printf '%s\n2.17\n' "$newest" | sort -V | tail -n 1)" != 2.17 ]; then
  echo "error: $out needs GLIBC_$newest, more than 2.17" >&2
  exit 1
fi
echo "portable daemon build: $out (needs glibc >= $newest)"
