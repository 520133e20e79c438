#!/usr/bin/env bash
# The one test command: installs what the tests need, checks formatting and lints, runs every test.
# Everything runs on 127.0.0.1 only; no test reaches the Internet.
set -euo pipefail
cd "$(dirname "$0")/.."

# The email suite runs real servers on 127.0.0.1: Dovecot (IMAP), aiosmtpd (SMTP, run by
# /usr/bin/python3) and the openssl CLI for its throwaway CA. Installed from Debian when missing;
# the packaged services are never started (the tests start their own instances).
need=()
[ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || need+=(python3-aiosmtpd)
command -v openssl >/dev/null || need+=(openssl)
if ((${#need[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    # policy-rc.d exit 101: the package's own dovecot service must not start (port 143).
    own_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
        $sudo chmod +x /usr/sbin/policy-rc.d
        own_policy=1
    fi
    $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
    [ -z "$own_policy" ] || $sudo rm -f /usr/sbin/policy-rc.d
fi

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
