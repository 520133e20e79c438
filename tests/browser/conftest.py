"""Fixtures for the web inbox's browser tests: the real daemon binary on a free loopback port
with a temporary database, an `api` channel whose webhook is a local stub, an admin agent, and
Debian's Chromium driven by Playwright. Nothing here talks to anything but 127.0.0.1."""

import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

REPO = Path(__file__).resolve().parents[2]
CHANNEL = "website"
DESK = "front-desk"
# The wallet company's front desk of the example config, silent on the first channel.
_EXAMPLE = (REPO / "deploy" / "switchboard.example.toml").read_text()
FRONT_DESK = _EXAMPLE[_EXAMPLE.index("# The front desk"):].replace(
    "disabled_channels = []", f'disabled_channels = ["{CHANNEL}"]')
SECRET = "browser-test-secret-0123456789"
# Generous waits: the machine may be compiling Rust at the same time.
expect.set_options(timeout=10_000)
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


# Loopback only: no proxy from the environment is ever used.
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebhookStub(BaseHTTPRequestHandler):
    """Where the `api` channel POSTs agent replies: deliveries succeed unless a test sets
    `status` to an error for a while."""

    count = 0
    status = 200
    lock = threading.Lock()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with WebhookStub.lock:
            WebhookStub.count += 1
            status = WebhookStub.status
            body = json.dumps({"id": f"hook-{WebhookStub.count}"} if status == 200 else {"error": "down"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Daemon:
    """The running daemon and helpers that use its public API (as the tests' ground truth)."""

    def __init__(self, base, token, binary, config, env):
        self.env = env
        self.threads = {}
        self.base = base
        self.token = token
        self.binary = binary
        self.config = config

    def request(self, method, path, body=None, token=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {token or self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with LOCAL.open(req, timeout=10) as response:
            raw = response.read()
            return json.loads(raw) if raw else None

    def inbound(self, thread, name, text, subject=None, sender=None, sent_at=None, channel=CHANNEL):
        """A customer message through an `api` channel; returns {conversation_id, message_id}."""
        body = {
            "thread_id": thread, "message_id": uuid.uuid4().hex,
            "sender": {"id": sender or f"sender-{thread}", "name": name},
            "text": text, "subject": subject, "sent_at": sent_at,
        }
        return self.request("POST", f"/api/v1/channels/{channel}/inbound", body, token=SECRET)

    def conversation(self, name, texts, subject=None):
        """A new conversation of `name` with the given customer messages; returns its id."""
        thread = uuid.uuid4().hex
        cid = None
        for text in texts:
            cid = self.inbound(thread, name, text, subject)["conversation_id"]
        self.threads[cid] = (thread, name)
        return cid

    def customer_writes(self, cid, text):
        """Another customer message in an existing conversation (a live event for the inbox)."""
        thread, name = self.threads[cid]
        return self.inbound(thread, name, text)

    def me(self, token=None):
        return self.request("GET", "/api/v1/me", token=token)["agent"]

    def messages(self, cid):
        return self.request("GET", f"/api/v1/conversations/{cid}/messages?limit=500")["messages"]

    def add_agent(self, name, email, role="agent"):
        out = subprocess.run(
            [self.binary, "--config", self.config, "agent", "add", "--name", name, "--email", email, "--role", role],
            check=True, capture_output=True, text=True, timeout=30, env=self.env,
        )
        return out.stdout.strip()


@pytest.fixture(scope="session")
def daemon():
    binary = os.environ.get("SWITCHBOARD_BIN", "target/debug/switchboard")
    binary = str(binary if os.path.isabs(binary) else REPO / binary)
    if not os.access(binary, os.X_OK):
        pytest.fail(f"{binary} is not built (cargo build --bin switchboard)")
    hook = ThreadingHTTPServer(("127.0.0.1", 0), WebhookStub)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="sb-browser-") as tmp:
        port = free_port()
        config = Path(tmp) / "switchboard.toml"
        config.write_text(
            f"""
[server]
listen = "127.0.0.1:{port}"

[storage]
database_url = "sqlite://{tmp}/sb.db"
data_dir = "{tmp}/data"

[log]
level = "warn"

[[channel]]
name = "{CHANNEL}"
kind = "api"
secret = "{SECRET}"
webhook_url = "http://127.0.0.1:{hook.server_address[1]}/hook"

# The front desk answers only on this second channel, so the other tests see their own
# messages alone.
[[channel]]
name = "{DESK}"
kind = "api"
secret = "{SECRET}"
webhook_url = "http://127.0.0.1:{hook.server_address[1]}/hook"

[knowledge]
dir = "{REPO}/deploy/kb"

{FRONT_DESK}

# The queue: two teams (Chinese conversations go to "china" by language) and SLA clocks that
# run around the clock; `low` is due in seconds so a test can watch a breach turn red.
[[team]]
name = "china"
languages = ["zh"]
members = ["ann@example.com"]
auto_assign = false

[[team]]
name = "security"
auto_assign = false

# Agents' resolutions ask for a rating (after an agent reply only).
[csat]
enabled = true

[sla]
business_hours = false
[sla.low]
first_response = "2s"
[sla.normal]
first_response = "2h"
next_response = "4h"
resolution = "3d"
[sla.urgent]
first_response = "15m"
next_response = "30m"
resolution = "4h"
"""
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
        token = subprocess.run(
            [binary, "--config", str(config), "agent", "add", "--name", "Ann Agent",
             "--email", "ann@example.com", "--role", "admin"],
            check=True, capture_output=True, text=True, timeout=60, env=env,
        ).stdout.strip()
        log = open(Path(tmp) / "daemon.log", "w")
        proc = subprocess.Popen([binary, "--config", str(config), "run"], stdout=log, stderr=subprocess.STDOUT, env=env)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with LOCAL.open(base + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.close()
                pytest.fail("daemon did not start:\n" + (Path(tmp) / "daemon.log").read_text())
            time.sleep(0.1)
        try:
            yield Daemon(base, token, binary, str(config), env)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
            hook.shutdown()


@pytest.fixture(scope="session")
def bulk(daemon):
    """130 open conversations ("Bulk customer 001".."130"), oldest first, for the list tests."""
    return [daemon.conversation(f"Bulk customer {i:03d}", [f"bulk message {i}"], subject=f"bulk subject {i}")
            for i in range(1, 131)]


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


# SWITCHBOARD_WEB_DIR=<dir>: serve index.html, app.js and app.css from that directory instead of
# the binary's built-in copies (the daemon's own headers, CSP included, are kept). For running
# these tests against another version of the inbox without rebuilding, e.g. `git show HEAD:...`.
WEB_DIR = os.environ.get("SWITCHBOARD_WEB_DIR")


def serve_from_web_dir(route):
    name = route.request.url.split("?")[0].rsplit("/", 1)[-1] or "index.html"
    path = Path(WEB_DIR) / name
    response = route.fetch()
    if path.is_file():
        route.fulfill(response=response, body=path.read_bytes())
    else:
        route.fulfill(response=response)


class Inbox:
    """One browser page on the inbox, collecting console errors and dialogs."""

    def __init__(self, page, daemon):
        self.page = page
        self.daemon = daemon
        self.errors = []
        self.dialogs = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("dialog", self._dialog)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def login(self, token=None):
        self.page.goto(self.daemon.base + "/inbox/")
        self.page.fill("#token", token or self.daemon.token)
        self.page.click("#login button")
        self.page.wait_for_selector("#conversations li")

    def search(self, text):
        self.page.fill("#search", text)

    def search_and_wait(self, text):
        """Searches and waits for the list's answer to that search (not an earlier one)."""
        def answers(response):
            url = urllib.parse.urlsplit(response.url)
            return url.path == "/api/v1/conversations" and urllib.parse.parse_qs(url.query).get("q") == [text]

        with self.page.expect_response(answers):
            self.search(text)

    def row(self, cid):
        return self.page.locator(f'#conversations li[data-id="{cid}"]')

    def open(self, cid):
        """Opens a conversation from the list and waits until its timeline is on screen."""
        self.row(cid).click()
        expect(self.page.locator("#title")).to_contain_text(self.daemon.threads[cid][1])
        self.page.wait_for_selector("#reply:not([hidden])")

    def row_ids(self):
        return self.page.eval_on_selector_all("#conversations li", "els => els.map(e => Number(e.dataset.id))")

    def filter(self, text, *cids):
        """Searches for `text` and waits until exactly the rows of `cids` are listed."""
        self.search_and_wait(text)
        expect(self.page.locator("#conversations li")).to_have_count(len(cids))
        for cid in cids:
            expect(self.row(cid)).to_be_visible()

    def timeline(self):
        """The texts of the timeline's messages and notes, top to bottom."""
        return self.page.eval_on_selector_all(
            "#messages li:not(.older):not(.loading) > div:nth-child(2)", "els => els.map(e => e.textContent)")

    def scroll_state(self, selector):
        return self.page.eval_on_selector(
            selector, "e => ({top: e.scrollTop, height: e.scrollHeight, client: e.clientHeight})")


@pytest.fixture
def open_inbox(browser, daemon):
    """Opens inbox pages (a fresh browser context each) of a given window size."""
    contexts = []

    def make(width=1280, height=800):
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        if WEB_DIR:
            context.route("**/inbox/*", serve_from_web_dir)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return Inbox(page, daemon)

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def inbox(open_inbox):
    return open_inbox()
