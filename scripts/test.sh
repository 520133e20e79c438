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
# The integration suite runs a second time on a real PostgreSQL server that the tests start
# themselves (tests/servers/postgres.sh: initdb + pg_ctl into a temp dir, as the `postgres`
# user the package creates); the packaged cluster is never started.
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
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
# --- supply chain (cargo deny) ---
# deny.toml's policy: licences, bans (wildcard requirements; duplicates only warned) and sources
# (crates.io only), then RustSec advisories when a database is on this machine. cargo-deny is
# built from crates.io when missing (about 4 minutes on 2 cores, once per machine). Everything
# runs --offline: cargo fetch first brings every platform's crates (cargo metadata wants them
# all); the advisory database comes from GitHub, which this machine cannot reach, so it is
# used only where `cargo deny fetch db` (or a copy) put one.
cargo deny --version >/dev/null 2>&1 || cargo install --locked --quiet cargo-deny --version '^0.20'
cargo fetch --locked --quiet
deny_flags=()
# cargo-deny counts a path dependency of a crate that could be published as a wildcard: until
# every workspace crate says `publish = false`, wildcards only warn.
deny_members=$(cargo metadata --no-deps --format-version 1 --offline)
if grep -q '"publish":null' <<<"$deny_members"; then
    deny_flags+=(-W wildcard)
    echo "supply chain: a workspace crate lacks publish = false: wildcard requirements only warned"
fi
cargo deny --offline check --hide-inclusion-graph "${deny_flags[@]}" licenses bans sources
advisory_dbs="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
if compgen -G "$advisory_dbs/*/crates" >/dev/null; then
    deny_log=$(mktemp)
    # Vulnerabilities fail; unmaintained and unsound crates are reported as warnings.
    deny_status=0
    cargo deny --offline check --hide-inclusion-graph -W unmaintained -W unsound advisories >"$deny_log" 2>&1 || deny_status=$?
    if [ "$deny_status" -ne 0 ] && grep -q "repository is stale" "$deny_log"; then
        echo "supply chain: advisories check SKIPPED: the database in $advisory_dbs is over 90 days old"
        deny_status=0
    else
        cat "$deny_log"
    fi
    rm -f "$deny_log"
    [ "$deny_status" -eq 0 ] || exit "$deny_status"
else
    echo "supply chain: advisories check SKIPPED: no advisory database in $advisory_dbs (cargo deny fetch db needs GitHub)"
fi
# --- end supply chain ---
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --all-targets --locked 2>&1 | tee "$log" || status=$?
# The same integration suite on the PostgreSQL backend (no rebuild: the binary is the one above).
SWITCHBOARD_TEST_BACKEND=postgres cargo test --locked --test daemon 2>&1 | tee -a "$log" || status=$?
# --- API contract (schemathesis) ---
# The OpenAPI document against the real daemon: schemathesis (PyPI, for the `python3` on PATH)
# generates requests for every documented operation but the endless event stream, and fails on
# any server error or on a status, content type, header or body the document does not describe.
# The daemon is the debug binary the cargo test step built, on a free loopback port with a
# throwaway config and database, an admin token and one seeded conversation. Each operation
# (and the stateful phase) counts as one test in the closing line.
contract_status=0
contract_dir=$(mktemp -d)
python3 -c 'import schemathesis' 2>/dev/null || python3 -m pip install -q schemathesis || contract_status=$?
if [ "$contract_status" -eq 0 ]; then
    (
        # -e does not reach into a subshell on the left of `||`: every step checks for itself.
        dir=$contract_dir
        bin=target/debug/switchboard
        [ -x "$bin" ] || { echo "API contract: $bin was not built"; exit 1; }
        port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') || exit 1
        base="http://127.0.0.1:$port"
        SWITCHBOARD_CHANNEL_WEBSITE_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(24))') || exit 1
        export SWITCHBOARD_CHANNEL_WEBSITE_SECRET
        cat >"$dir/switchboard.toml" <<EOF
[server]
listen = "127.0.0.1:$port"

[storage]
database_url = "sqlite://$dir/sb.db"
data_dir = "$dir/data"

[log]
level = "warn"

[[channel]]
name = "website"
kind = "api"
EOF
        # Each security scheme gets its credential; ids and channel names are half the time
        # ones that exist (the seeded conversation, contact and message are 1), so operations
        # get past their 404s.
        cat >"$dir/schemathesis.toml" <<'EOF'
# Nothing kept between runs (it would go to .schemathesis/ in the checkout).
[cache]
enabled = false

[auth.openapi.bearer]
bearer = "${SB_CONTRACT_TOKEN}"

[auth.openapi.channel_secret]
bearer = "${SWITCHBOARD_CHANNEL_WEBSITE_SECRET}"

[dictionaries.ids]
values = [1]

[dictionaries.channels]
values = ["website"]

[parameters]
"path.id" = { dictionary = "ids", probability = 0.5 }
"path.name" = { dictionary = "channels", probability = 0.5 }
EOF
        SB_CONTRACT_TOKEN=$("$bin" --config "$dir/switchboard.toml" agent add --name "API contract" \
            --email contract@example.com --role admin 2>>"$dir/daemon.log") || { cat "$dir/daemon.log"; exit 1; }
        export SB_CONTRACT_TOKEN
        "$bin" --config "$dir/switchboard.toml" run >>"$dir/daemon.log" 2>&1 &
        daemon=$!
        trap 'kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null' EXIT
        python3 - "$base" <<'EOF' || { cat "$dir/daemon.log"; exit 1; }
import json, os, sys, time, urllib.request
base = sys.argv[1]
for _ in range(100):
    try:
        urllib.request.urlopen(base + "/healthz", timeout=1)
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("API contract: the daemon did not answer /healthz")
seed = {"thread_id": "contract-1", "message_id": "m-1",
        "sender": {"id": "visitor-1", "name": "Carol"}, "text": "Hi! My withdrawal is pending."}
request = urllib.request.Request(
    base + "/api/v1/channels/website/inbound", data=json.dumps(seed).encode(), method="POST",
    headers={"Authorization": "Bearer " + os.environ["SWITCHBOARD_CHANNEL_WEBSITE_SECRET"],
             "Content-Type": "application/json"})
urllib.request.urlopen(request, timeout=5)
EOF
        timeout 300 python3 -m schemathesis.cli --config-file "$dir/schemathesis.toml" run \
            "$base/api/openapi.json" --no-color --exclude-path /api/v1/events \
            --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
            --max-examples 20 --seed "${SCHEMATHESIS_SEED:-1}" --generation-database none \
            --report junit --report-junit-path "$dir/junit.xml"
        st=$?
        [ "$st" -eq 0 ] || { echo "API contract: schemathesis exited $st; the daemon's log:"; tail -n 50 "$dir/daemon.log"; }
        exit "$st"
    ) 2>&1 | tee -a "$log" || contract_status=$?
fi
# One test per operation from schemathesis' JUnit report (none read: one failure).
python3 - "$contract_dir/junit.xml" "$contract_status" <<'EOF' >>"$log"
import sys, xml.etree.ElementTree as ET
path, status = sys.argv[1], int(sys.argv[2])
try:
    cases = ET.parse(path).getroot().iter("testcase")
    outcomes = [case.find("failure") is None and case.find("error") is None for case in cases]
except (OSError, ET.ParseError):
    outcomes = []
passed, failed = outcomes.count(True), outcomes.count(False)
if status != 0 and failed == 0:
    failed = 1
print(f"test result: schemathesis. {passed} passed; {failed} failed;")
EOF
rm -rf "$contract_dir"
[ "$contract_status" -eq 0 ] || status=$contract_status
# --- end API contract ---
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
