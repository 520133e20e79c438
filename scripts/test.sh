#!/usr/bin/env bash
# The one test command: installs what the tests need, checks formatting and lints, runs every test.
# Everything runs on 127.0.0.1 only; no test reaches the Internet.
set -euo pipefail
cd "$(dirname "$0")/.."

# The suites so far need nothing beyond the Rust toolchain. Channel suites that start real
# servers (Dovecot, an SMTP server) install their Debian packages here.

# One shared target dir for the whole workspace: nothing is built twice.
export CARGO_TERM_COLOR=never
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --all-targets --locked 2>&1 | tee "$log" || status=$?
# One closing line over all test binaries.
grep -E '^test result:' "$log" | awk '{p += $4; f += $6} END {printf "%d passed, %d failed\n", p, f}'
exit "$status"
