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
# --- browser tests (inbox) ---
# The web inbox in headless Chromium against the real daemon binary (tests/browser: pytest and
# Playwright's Python API driving Debian's chromium; nothing downloads a browser). Chromium and a
# CJK font come from Debian when missing, Playwright and pytest from PyPI for the `python3` on PATH.
browser_need=()
[ -x /usr/bin/chromium ] || browser_need+=(chromium)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || browser_need+=(fonts-noto-cjk)
if ((${#browser_need[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${browser_need[@]}"
fi
python3 -c 'import playwright, pytest' 2>/dev/null || python3 -m pip install -q playwright pytest
browser_status=0
cargo build --bin switchboard --locked || browser_status=$?
browser_from=$(($(wc -l <"$log") + 1))
if [ "$browser_status" -eq 0 ]; then
    SWITCHBOARD_BIN=target/debug/switchboard PYTHONDONTWRITEBYTECODE=1 \
        python3 -m pytest -q -p no:cacheprovider tests/browser 2>&1 | tee -a "$log" || browser_status=$?
fi
# pytest's summary ("2 failed, 12 passed in 30.1s"; errors count as failed) becomes one more
# "test result:" line in the log, so the closing line below adds it to cargo's totals.
tail -n +"$browser_from" "$log" | awk -v rc="$browser_status" '
    /^[0-9]+ [a-z]+.* in [0-9.]+s/ {
        p = 0; f = 0
        for (i = 1; i < NF; i++) {
            w = $(i + 1); sub(/,$/, "", w)
            if (w == "passed") p = $i
            if (w == "failed" || w == "error" || w == "errors") f += $i
        }
    }
    END { if (rc != 0 && f == 0) f = 1; printf "test result: browser. %d passed; %d failed;\n", p, f }' >>"$log"
[ "$browser_status" -eq 0 ] || status=$browser_status
# --- end browser tests ---
# One closing line over all test binaries.
grep -E '^test result:' "$log" | awk '{p += $4; f += $6} END {printf "%d passed, %d failed\n", p, f}'
exit "$status"
