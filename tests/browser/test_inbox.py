"""The web inbox in a real browser against the real daemon: each test is one defect an agent
could hit, asserted through what the page shows and, where it matters, through the API."""

import re
import time
import uuid

from playwright.sync_api import expect


def tag():
    return uuid.uuid4().hex[:10]


def wait_until(page, condition, timeout=10.0):
    """Polls a Python-side condition while letting the page's events run."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        page.wait_for_timeout(25)


def holder(held):
    """A route handler that keeps requests unanswered until the test releases them (a slow network)."""
    def hold(route):
        held.append(route)
    return hold


def release(routes):
    for route in routes:
        try:
            route.continue_()
        except Exception:  # the page cancelled that request: nothing to answer
            pass


def outbound_texts(daemon, cid):
    return [m["text"] for m in daemon.messages(cid) if m["direction"] == "outbound"]


def at_bottom(state):
    return state["height"] - state["top"] - state["client"] < 5


# ---- 16: a reply always goes to the conversation on screen ----

def test_slow_answer_for_an_earlier_click_never_replaces_the_open_conversation(daemon, inbox):
    t = tag()
    bob = daemon.conversation("Bob", ["Bob: my card was charged twice"], subject=f"Refund {t}")
    ivan = daemon.conversation("Иван", ["Иван: не могу войти", "Иван: пароль не подходит"], subject=f"Вход {t}")
    inbox.login()
    inbox.filter(t, bob, ivan)
    page = inbox.page
    held = []
    slow = re.compile(rf"/api/v1/conversations/{bob}(/|\?|$)")
    hold = holder(held)
    page.route(slow, hold)
    started = time.monotonic()
    inbox.row(bob).click()
    wait_until(page, lambda: len(held) == 3)  # conversation, messages, notes: all slow
    inbox.open(ivan)
    assert inbox.timeline() == ["Иван: не могу войти", "Иван: пароль не подходит"]
    # Bob's answers arrive ~1.5 s after his click, long after Иван's.
    page.wait_for_timeout(max(0, 1500 - (time.monotonic() - started) * 1000))
    release(held)
    page.unroute(slow, hold)
    page.wait_for_timeout(600)
    assert inbox.timeline() == ["Иван: не могу войти", "Иван: пароль не подходит"]
    expect(page.locator("#title")).to_contain_text("Иван")
    expect(inbox.row(ivan)).to_have_class(re.compile(r"\bactive\b"))
    expect(inbox.row(bob)).not_to_have_class(re.compile(r"\bactive\b"))

    page.fill("#reply-text", "Иван, we sent you a reset link.")
    page.click("#send")
    expect(page.locator("#messages li.outbound")).to_contain_text("Иван, we sent you a reset link.")
    assert outbound_texts(daemon, ivan) == ["Иван, we sent you a reset link."]
    assert outbound_texts(daemon, bob) == []


def test_a_draft_stays_with_its_conversation(daemon, inbox):
    t = tag()
    alice = daemon.conversation("Alice", ["Alice: where is my order?"], subject=f"Order {t}")
    wang = daemon.conversation("王伟", ["我的充值没有到账"], subject=f"充值 {t}")
    inbox.login()
    inbox.filter(t, alice, wang)
    page = inbox.page
    inbox.open(alice)
    page.fill("#reply-text", "Alice, your order ships today.")
    inbox.open(wang)
    expect(page.locator("#reply-text")).to_have_value("")
    page.click("#send")  # an empty composer sends nothing, least of all Alice's draft
    page.fill("#reply-text", "王先生，我们正在查询。")
    inbox.open(alice)
    expect(page.locator("#reply-text")).to_have_value("Alice, your order ships today.")
    page.click("#send")
    expect(page.locator("#messages li.outbound")).to_contain_text("Alice, your order ships today.")
    expect(page.locator("#reply-text")).to_have_value("")
    inbox.open(wang)
    expect(page.locator("#reply-text")).to_have_value("王先生，我们正在查询。")
    assert outbound_texts(daemon, alice) == ["Alice, your order ships today."]
    assert outbound_texts(daemon, wang) == []


def test_a_late_answer_to_send_does_not_undo_the_delivery_shown_live(daemon, inbox):
    t = tag()
    cid = daemon.conversation("Jun", ["Jun: is the withdrawal done?"], subject=f"Withdrawal {t}")
    inbox.login()
    inbox.filter(t, cid)
    inbox.open(cid)
    page = inbox.page
    answers = []

    def late(route):
        if route.request.method == "POST":
            answers.append((route, route.fetch()))  # the server has it; the page waits for the 202
        else:
            route.continue_()

    page.route(f"**/api/v1/conversations/{cid}/messages", late)
    page.fill("#reply-text", "Jun, it went out an hour ago.")
    page.click("#send")
    wait_until(page, lambda: answers)
    # The live events (message.created, then message.updated once the webhook took it) come first.
    expect(page.locator("#messages li.outbound .status")).to_have_text("sent")
    route, response = answers[0]
    route.fulfill(response=response)
    expect(page.locator("#reply-text")).to_have_value("")
    page.wait_for_timeout(300)
    expect(page.locator("#messages li.outbound .status")).to_have_text("sent")
    expect(page.locator("#messages li.outbound")).to_have_count(1)


def test_a_retrying_reply_shows_what_waits_behind_it_and_can_be_cancelled(daemon, inbox):
    from conftest import WebhookStub
    t = tag()
    cid = daemon.conversation("Lena", ["Lena: my transfer failed"], subject=f"Transfer {t}")
    WebhookStub.status = 503
    try:
        path = f"/api/v1/conversations/{cid}/messages"
        first = daemon.request("POST", path, {"text": "Checking the transfer now."})["message"]
        daemon.request("POST", path, {"text": "It is back, please try again."})
        inbox.login()
        inbox.filter(t, cid)
        inbox.open(cid)
        page = inbox.page
        head = page.locator(f'#messages li[data-id="{first["id"]}"]')
        expect(head.locator(".status")).to_contain_text("retrying", timeout=15_000)
        expect(head.locator(".blocked")).to_contain_text("1 later reply waits for this one")
        page.screenshot(path="/tmp/inbox-retrying.png")
        head.get_by_role("button", name="Cancel").click()
        expect(head.locator(".status")).to_contain_text("cancelled")
    finally:
        WebhookStub.status = 200
    # The reply behind it goes now; nobody got the cancelled one.
    later = page.locator("#messages li.outbound").nth(1)
    expect(later.locator(".status")).to_have_text("sent", timeout=40_000)
    statuses = [m["delivery_status"] for m in daemon.messages(cid) if m["direction"] == "outbound"]
    assert statuses == ["cancelled", "sent"]
    assert not inbox.errors, inbox.errors


# ---- 17: logging out leaves nothing on screen ----

def test_logout_hides_and_clears_every_customer_detail_and_the_token(daemon, inbox):
    t = tag()
    cid = daemon.conversation("Carol Private", ["Carol: my address is 12 Elm Street"], subject=f"Address {t}")
    inbox.login()
    inbox.filter(t, cid)
    inbox.open(cid)
    page = inbox.page
    page.fill("#reply-text", "Carol, a draft")
    page.click("#logout")
    expect(page.locator("#login")).to_be_visible()
    for selector in ["#app", "#conversations", "#conversation", "#messages", "#reply"]:
        expect(page.locator(selector)).to_be_hidden()
    expect(page.locator("#token")).to_have_value("")
    html = page.content()
    for secret in ["Carol", "Elm Street", daemon.token, t]:
        assert secret not in html
    assert page.evaluate("sessionStorage.getItem('sb-token')") is None
    # Logging in again starts clean: no draft of the earlier session comes back.
    page.fill("#token", daemon.token)
    page.click("#login button")
    inbox.filter(t, cid)
    inbox.open(cid)
    expect(page.locator("#reply-text")).to_have_value("")
    expect(page.locator("#token")).to_have_value("")


# ---- 18: the list keeps one row per conversation and the agent's place ----

def list_is(page, expected_count, prefix):
    page.wait_for_function(
        """([n, prefix]) => {
            const names = [...document.querySelectorAll('#conversations li .name')].map(e => e.textContent);
            return names.length === n && names.every(x => x.startsWith(prefix));
        }""",
        arg=[expected_count, prefix],
    )


def more(page):
    page.click("#more")
    page.wait_for_function("() => !document.getElementById('more').disabled")


def test_overlapping_list_requests_never_duplicate_rows(daemon, bulk, inbox):
    inbox.login()
    page = inbox.page
    inbox.search_and_wait("Bulk customer")
    list_is(page, 50, "Bulk customer")
    page.dblclick("#more")
    page.wait_for_function("() => !document.getElementById('more').disabled")
    page.wait_for_timeout(500)
    ids = inbox.row_ids()
    assert len(ids) == 100 and len(set(ids)) == 100
    more(page)
    page.wait_for_timeout(300)
    ids = inbox.row_ids()
    assert len(ids) == 130 and set(ids) == set(bulk)

    # Two searches and a live event while the list answers are slow; they come back newest first.
    held = []

    def is_list(url):
        return "/api/v1/conversations?" in url

    hold = holder(held)
    page.route(is_list, hold)
    inbox.search("Bulk customer 1")
    wait_until(page, lambda: len(held) == 1)
    daemon.customer_writes(bulk[5], "a live event during the search")
    page.wait_for_timeout(500)
    inbox.search("Bulk customer 12")
    wait_until(page, lambda: len(held) >= 2)
    page.wait_for_timeout(500)
    page.unroute(is_list, hold)
    for route in reversed(held):
        release([route])
        page.wait_for_timeout(150)
    page.wait_for_timeout(500)
    names = page.eval_on_selector_all("#conversations li .name", "els => els.map(e => e.textContent)")
    assert sorted(names) == [f"Bulk customer {i}" for i in range(120, 130)]
    expect(page.locator("#more")).to_be_hidden()


def test_live_events_keep_the_list_scroll_and_the_open_row(daemon, bulk, inbox):
    inbox.login()
    page = inbox.page
    inbox.search_and_wait("Bulk customer")
    list_is(page, 50, "Bulk customer")
    more(page)
    more(page)
    list_is(page, 130, "Bulk customer")
    ids = inbox.row_ids()
    target = ids[110]
    inbox.row(target).scroll_into_view_if_needed()
    inbox.open(target)
    scrolled = page.eval_on_selector("nav", "e => e.scrollTop")
    assert scrolled > 1000
    y_before = inbox.row(target).bounding_box()["y"]

    # A row far below the viewport gets a message: it moves to the top, the view does not move.
    mover = ids[-1]
    daemon.customer_writes(mover, "news from the bottom of the list")
    page.wait_for_function(f"() => document.querySelector('#conversations li')?.dataset.id === '{mover}'")
    # A row above the viewport too.
    upper = ids[3]
    daemon.customer_writes(upper, "news from the top of the list")
    page.wait_for_function(f"() => document.querySelector('#conversations li')?.dataset.id === '{upper}'")
    page.wait_for_timeout(400)  # anything that would reload the list has had its chance

    after = inbox.row_ids()
    assert len(after) == 130 and set(after) == set(ids)
    assert after[:2] == [upper, mover]
    expect(inbox.row(target)).to_have_class(re.compile(r"\bactive\b"))
    assert abs(inbox.row(target).bounding_box()["y"] - y_before) <= 2
    expect(page.locator("#title")).to_contain_text(daemon.threads[target][1])


def test_a_new_message_does_not_pull_a_reader_who_scrolled_up(daemon, inbox):
    t = tag()
    cid = daemon.conversation("Dana", [f"Dana message {i}" for i in range(40)], subject=f"History {t}")
    inbox.login()
    inbox.filter(t, cid)
    inbox.open(cid)
    page = inbox.page
    assert at_bottom(inbox.scroll_state("#messages"))

    daemon.customer_writes(cid, "Dana: are you there?")
    expect(page.locator("#messages li").last).to_contain_text("Dana: are you there?")
    assert at_bottom(inbox.scroll_state("#messages"))  # a reader at the bottom follows

    page.eval_on_selector("#messages", "e => { e.scrollTop = 120; }")
    daemon.customer_writes(cid, "Dana: hello??")
    expect(page.locator("#messages li").last).to_contain_text("Dana: hello??")
    page.wait_for_timeout(300)
    assert inbox.scroll_state("#messages")["top"] == 120
    expect(page.locator("#jump")).to_be_visible()
    page.click("#jump")
    assert at_bottom(inbox.scroll_state("#messages"))
    # The reloads of the old inbox are gone: the timeline grew by exactly the two messages.
    assert len(inbox.timeline()) == 42


# ---- 19: layout, order, failed saves, taking over a conversation ----

def test_a_long_unbroken_subject_does_not_widen_the_page(daemon, inbox):
    t = tag()
    subject = "W" * 300 + t
    cid = daemon.conversation("Erik", ["Erik: see the subject", "https://example.com/" + "x" * 300], subject=subject)
    inbox.login()
    inbox.filter(t, cid)
    inbox.open(cid)
    page = inbox.page
    width = page.evaluate("window.innerWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for selector in ["#send", "#assign", "#set-status", "#logout", "#reply-text"]:
        box = page.locator(selector).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, selector
    page.screenshot(path="/tmp/inbox-long-subject.png")


def test_the_timeline_is_ordered_by_time_as_numbers(daemon, inbox):
    t = tag()
    cid = daemon.conversation("Farah", ["placeholder"], subject=f"Order {t}")
    template = daemon.messages(cid)[0]

    def message(mid, text, at):
        return {**template, "id": mid, "text": text, "created_at": at}

    # Shuffled, with and without milliseconds; as strings "10:00:00Z" sorts after "10:00:00.500Z".
    messages = [
        message(12, "fourth", "2026-03-01T10:00:00.500Z"),
        message(15, "sixth", "2026-03-01T10:00:01.000Z"),
        message(11, "second", "2026-03-01T10:00:00Z"),
        message(10, "first", "2026-03-01T09:59:59.999Z"),
        message(14, "fifth", "2026-03-01T10:00:01Z"),
        message(9, "third", "2026-03-01T10:00:00.001Z"),
    ]
    notes = [{"id": 1, "conversation_id": cid, "agent_id": 1, "agent_name": "Ann Agent",
              "text": "a note between third and fourth", "created_at": "2026-03-01T10:00:00.25Z"}]
    page = inbox.page
    page.route(f"**/api/v1/conversations/{cid}/messages*", lambda r: r.fulfill(json={"messages": messages}))
    page.route(f"**/api/v1/conversations/{cid}/notes", lambda r: r.fulfill(json={"notes": notes}))
    inbox.login()
    inbox.filter(t, cid)
    inbox.open(cid)
    assert inbox.timeline() == ["first", "second", "third", "a note between third and fourth", "fourth", "fifth", "sixth"]


def test_a_failed_change_reverts_the_control_and_says_why(daemon, inbox):
    t = tag()
    cid = daemon.conversation("Gita", ["Gita: please close my account"], subject=f"Close {t}")
    inbox.login()
    inbox.filter(t, cid)
    inbox.open(cid)
    page = inbox.page

    def fail_patch(route):
        if route.request.method == "PATCH":
            route.fulfill(status=500, json={"error": "database is locked"})
        else:
            route.continue_()

    page.route(f"**/api/v1/conversations/{cid}", fail_patch)
    page.select_option("#set-status", "resolved")
    expect(page.locator("#set-status")).to_have_value("open")
    expect(page.locator("#conversation-error")).to_be_visible()
    expect(page.locator("#conversation-error")).to_contain_text("database is locked")
    page.click("#assign")
    expect(page.locator("#conversation-error")).to_contain_text("Assignment not saved: database is locked")
    expect(page.locator("#assign")).to_have_text("Assign to me")
    conversation = daemon.request("GET", f"/api/v1/conversations/{cid}")["conversation"]
    assert conversation["status"] == "open" and conversation["assignee_id"] is None

    page.unroute(f"**/api/v1/conversations/{cid}", fail_patch)
    page.select_option("#set-status", "pending")
    expect(page.locator("#conversation-error")).to_be_hidden()
    expect(inbox.row(cid)).to_contain_text("pending")
    assert daemon.request("GET", f"/api/v1/conversations/{cid}")["conversation"]["status"] == "pending"
    expect(page.locator("#set-status")).to_have_value("pending")


def test_assign_to_me_asks_before_taking_a_colleagues_conversation(daemon, inbox):
    t = tag()
    olga_token = daemon.add_agent("Olga Other", f"olga-{t}@example.com")
    olga = daemon.me(olga_token)
    me = daemon.me()
    cid = daemon.conversation("Hiro", ["Hiro: Olga was helping me"], subject=f"Taken {t}")
    daemon.request("PATCH", f"/api/v1/conversations/{cid}", {"assignee_id": olga["id"]}, token=olga_token)
    inbox.login()
    inbox.filter(t, cid)
    inbox.open(cid)
    page = inbox.page
    page.click("#assign")
    page.wait_for_timeout(300)
    assert daemon.request("GET", f"/api/v1/conversations/{cid}")["conversation"]["assignee_id"] == olga["id"]
    expect(page.locator("#assignee")).to_have_text("Assigned to Olga Other")
    expect(page.locator("#confirm")).to_be_visible()
    expect(page.locator("#confirm-text")).to_contain_text("assigned to Olga Other")
    page.screenshot(path="/tmp/inbox-confirm.png")
    page.click("#confirm-no")
    expect(page.locator("#confirm")).to_be_hidden()
    page.wait_for_timeout(300)
    assert daemon.request("GET", f"/api/v1/conversations/{cid}")["conversation"]["assignee_id"] == olga["id"]

    page.click("#assign")
    page.click("#confirm-yes")
    expect(page.locator("#assign")).to_have_text("Assigned to you")
    expect(page.locator("#assign")).to_be_disabled()
    assert daemon.request("GET", f"/api/v1/conversations/{cid}")["conversation"]["assignee_id"] == me["id"]
    assert inbox.dialogs == []  # no window.confirm


def test_older_messages_load_above_without_moving_the_reader(daemon, inbox):
    t = tag()
    cid = daemon.conversation("Ines", ["placeholder"], subject=f"Long thread {t}")
    template = daemon.messages(cid)[0]

    def message(mid):
        return {**template, "id": mid, "text": f"message {mid}", "created_at": f"2026-02-01T10:{mid // 60:02d}:{mid % 60:02d}.000Z"}

    newest = [message(i) for i in range(131, 161)]
    older = [message(i) for i in range(101, 131)]
    old_note = {"id": 7, "conversation_id": cid, "agent_id": 1, "agent_name": "Ann Agent",
                "text": "note from long ago", "created_at": message(110)["created_at"].replace(".000Z", ".500Z")}
    asked = []

    def messages_route(route):
        asked.append(route.request.url)
        if "before=131" in route.request.url:
            route.fulfill(json={"messages": older, "next_before": None})
        else:
            route.fulfill(json={"messages": newest, "next_before": 131})

    page = inbox.page
    page.route(f"**/api/v1/conversations/{cid}/messages*", messages_route)
    page.route(f"**/api/v1/conversations/{cid}/notes", lambda r: r.fulfill(json={"notes": [old_note]}))
    inbox.login()
    inbox.filter(t, cid)
    inbox.open(cid)
    assert inbox.timeline() == [f"message {i}" for i in range(131, 161)]
    page.eval_on_selector("#messages", "e => { e.scrollTop = 0; }")
    expect(page.locator("#older")).to_be_visible()
    anchor = page.locator('#messages li[data-id="131"]')
    y_before = anchor.bounding_box()["y"]
    page.click("#older")
    expect(page.locator("#older")).to_have_count(0)
    expected = [f"message {i}" for i in range(101, 111)] + ["note from long ago"] + [f"message {i}" for i in range(111, 161)]
    assert inbox.timeline() == expected
    assert abs(anchor.bounding_box()["y"] - y_before) <= 2
    assert "limit=" in asked[0] and "before=131" in asked[-1]


def test_phone_width_shows_the_conversation_pane(daemon, open_inbox):
    t = tag()
    cid = daemon.conversation("王伟", ["我的充值没有到账", "订单号 20240501-8812，已经两个小时了"], subject=f"充值问题 {t}")
    inbox = open_inbox(390, 844)
    page = inbox.page
    inbox.login()
    inbox.filter(t, cid)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    inbox.open(cid)
    expect(page.locator("#conversation")).to_be_visible()
    for selector in ["#conversation", "#reply-text", "#send", "#set-status", "#assign", "#back"]:
        box = page.locator(selector).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390.5, selector
    assert page.locator("#conversation").bounding_box()["width"] >= 380
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path="/tmp/inbox-mobile.png")
    page.click("#back")
    expect(page.locator("#conversations")).to_be_visible()
    expect(page.locator("#conversation")).to_be_hidden()
    page.screenshot(path="/tmp/inbox-mobile-list.png")


# ---- customer content is text, never markup ----

def test_customer_markup_shows_as_text_and_nothing_runs(daemon, inbox):
    t = tag()
    name = "<img src=x onerror=alert(1)>"
    text = "<script>alert(2)</script> <b>bold?</b> <img src=x onerror=alert(3)>"
    cid = daemon.conversation(name, [text], subject=f"<svg onload=alert(4)> {t}")
    inbox.login()
    inbox.filter(t, cid)
    page = inbox.page
    expect(inbox.row(cid).locator(".name")).to_have_text(name)
    inbox.row(cid).click()
    expect(page.locator("#title")).to_contain_text(name)
    page.wait_for_selector("#reply:not([hidden])")
    assert inbox.timeline() == [text]
    page.fill("#reply-text", "<img src=x onerror=alert(5)> reply")
    page.click("#send")
    expect(page.locator("#messages li.outbound")).to_contain_text("<img src=x onerror=alert(5)> reply")
    page.fill("#reply-text", "<script>alert(6)</script> note")
    page.click("#note")
    expect(page.locator("#messages li.note")).to_contain_text("<script>alert(6)</script> note")
    assert page.locator("#app img, #app svg, #app b, body script").count() == 0
    page.wait_for_timeout(300)
    assert inbox.dialogs == []
    assert inbox.errors == []


def test_english_and_chinese_content_screenshots(daemon, inbox):
    t = tag()
    en = daemon.conversation("Alice Johnson", [
        "Hi, I ordered a hardware wallet last week and it still shows as processing.",
        "Order number is 48213. Could you check?",
    ], subject=f"Order 48213 {t}")
    zh = daemon.conversation("王伟", ["我的充值没有到账", "已经等了两个小时，交易哈希是 0x9f2c…e41a"], subject=f"充值没有到账 {t}")
    inbox.login()
    inbox.filter(t, en, zh)
    page = inbox.page
    inbox.open(en)
    page.fill("#reply-text", "Thanks Alice, it left our warehouse today.")
    page.click("#send")
    # Delivery to the channel's webhook arrives as a live update of the message.
    expect(page.locator("#messages li.outbound .status")).to_have_text("sent")
    page.fill("#reply-text", "Tracking number sent by email too.")
    page.click("#note")
    expect(page.locator("#messages li.note")).to_be_visible()
    page.screenshot(path="/tmp/inbox-en.png")
    inbox.open(zh)
    page.fill("#reply-text", "您好，我们正在核实您的充值，请稍候。")
    page.click("#send")
    expect(page.locator("#messages li.outbound")).to_contain_text("您好")
    page.screenshot(path="/tmp/inbox-zh.png")
    assert page.evaluate("document.documentElement.scrollWidth") <= page.evaluate("window.innerWidth")
    assert inbox.errors == []


# ---- customer safety (issue 10) ----

PHRASE = "scheme spot photo card baby mountain device kick cradle pact join borrow"


def test_a_removed_secret_shows_a_banner_and_an_unsafe_reply_is_refused(daemon, inbox):
    t = tag()
    cid = daemon.conversation("Chen Jie 陈杰", [f"my recovery words: {PHRASE}"], subject=f"wallet {t}")
    inbox.login()
    inbox.filter(t, cid)
    page = inbox.page
    expect(inbox.row(cid).locator(".tag.danger")).to_have_text("secret removed")
    inbox.open(cid)
    expect(page.locator("#safety")).to_be_visible()
    expect(page.locator("#safety")).to_contain_text("wallet secret")
    assert "cradle" not in page.locator("#messages").inner_text()
    expect(page.locator("#messages li.inbound").first).to_contain_text("[seed phrase removed]")
    before = outbound_texts(daemon, cid)
    page.fill("#reply-text", "To restore the wallet please send us your seed phrase")
    page.click("#send")
    expect(page.locator("#reply-error")).to_contain_text("seed phrase")
    # The draft stays so the agent can rewrite it; nothing was queued.
    assert page.input_value("#reply-text").startswith("To restore")
    assert outbound_texts(daemon, cid) == before
    page.screenshot(path="/tmp/inbox-safety.png")
    # Another conversation shows no banner.
    other = daemon.conversation("Bob", ["deposit missing"], subject=f"other {t}")
    inbox.filter(t, cid, other)
    inbox.open(other)
    expect(page.locator("#safety")).to_be_hidden()
    # The browser logs the refused request (422) itself; nothing else may fail.
    assert [e for e in inbox.errors if "422" not in e] == []


def test_verify_email_asks_for_the_registered_address_and_says_why_it_cannot_send(daemon, inbox):
    t = tag()
    cid = daemon.conversation("Dana", ["I lost my 2FA device"], subject=f"2fa {t}")
    inbox.login()
    inbox.filter(t, cid)
    inbox.open(cid)
    page = inbox.page
    page.click("#verify")
    expect(page.locator("#verify-dialog")).to_be_visible()
    expect(page.locator("#verify-dialog")).to_contain_text("registered")
    page.fill("#verify-email", "dana@customer.example")
    page.click("#verify-send")
    # This daemon has no email channel: the agent is told, and the dialog stays open.
    expect(page.locator("#verify-error")).to_contain_text("verification is off")
    expect(page.locator("#verify-dialog")).to_be_visible()
    page.screenshot(path="/tmp/inbox-verify.png")
    page.click("#verify-cancel")
    expect(page.locator("#verify-dialog")).to_be_hidden()
    assert page.locator("#verification").inner_text() == ""
    assert [e for e in inbox.errors if "409" not in e] == []


# ---- front desk (issue 12) ----

TRON_TX = "a1075db55d416d3ca199f55b6084e2115b9345e16c5cf302fc80e9d5fbf5d48d"


def test_the_intake_card_links_the_transaction_and_articles_can_be_inserted(daemon, inbox):
    t = tag()
    thread = uuid.uuid4().hex
    first = daemon.inbound(thread, "李娜", f"你好 {t}", channel="front-desk")
    cid = first["conversation_id"]
    daemon.threads[cid] = (thread, "李娜")
    # The menu's first category, then its three questions.
    for text in ["1", "波场", f"交易哈希 {TRON_TX}", "100 USDT"]:
        daemon.inbound(thread, "李娜", text, channel="front-desk")
    notice = {"texts": {"en": "TRON deposits are delayed by network congestion."},
              "keywords": ["tron"], "ends_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))}
    daemon.request("POST", "/api/v1/notices", notice)
    # The desk answered each message: its questions, in Chinese, then the summary.
    wait_until(inbox.page, lambda: sum(1 for m in daemon.messages(cid) if m["auto_generated"]) >= 5)
    inbox.login()
    page = inbox.page
    expect(page.locator("#notices")).to_contain_text("TRON deposits are delayed")
    inbox.filter(t, cid)
    inbox.open(cid)
    card = page.locator("#intake")
    expect(card).to_contain_text("deposit")
    expect(card).to_contain_text("tron")
    expect(card).to_contain_text("100 USDT")
    link = card.locator("a")
    expect(link).to_have_attribute("href", f"https://tronscan.org/#/transaction/{TRON_TX}")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    # The customer's last words find the help articles; one goes into the reply.
    daemon.inbound(thread, "李娜", "手续费为什么这么贵", channel="front-desk")
    inbox.open(cid)
    articles = page.locator("#articles")
    expect(articles).to_be_visible()
    page.select_option("#articles", index=1)
    expect(page.locator("#reply-text")).to_have_value(re.compile("https://help.example.com/articles/"))
    page.screenshot(path="/tmp/inbox-front-desk.png")
    assert inbox.errors == []


# ---- 13: the queue in the inbox: priority, team, labels, assignee, SLA clock, activity ----

def conversation_json(daemon, cid):
    return daemon.request("GET", f"/api/v1/conversations/{cid}")["conversation"]


def test_queue_controls_change_the_conversation_and_show_in_its_timeline(daemon, inbox):
    t = tag()
    drained = daemon.conversation("Dana", [f"Help, someone drained my wallet {t}, all my USDT is gone"])
    calm = daemon.conversation("Carl", [f"How do I export my transaction history {t}?"])
    # The urgency check runs in the front desk's worker, just after the message is stored.
    deadline = time.monotonic() + 10
    while conversation_json(daemon, drained)["priority"] != "urgent":
        assert time.monotonic() < deadline, "urgency did not raise the priority"
        time.sleep(0.05)
    inbox.login()
    page = inbox.page
    inbox.filter(t, drained, calm)
    # The urgent one says so in the list, with its first-reply clock.
    expect(inbox.row(drained).locator(".tag.danger")).to_have_text("urgent")
    expect(inbox.row(drained).locator(".sla")).to_contain_text("First reply due in 14m")
    expect(inbox.row(calm).locator(".sla")).to_contain_text("First reply due in 1h 59m")
    # The priority filter keeps only it.
    page.select_option("#filter-priority", "urgent")
    expect(page.locator("#conversations li")).to_have_count(1)
    expect(inbox.row(drained)).to_be_visible()
    page.select_option("#filter-priority", "")
    expect(page.locator("#conversations li")).to_have_count(2)

    inbox.open(drained)
    expect(page.locator("#set-priority")).to_have_value("urgent")
    expect(page.locator("#priority-reason")).to_contain_text("urgency")
    expect(page.locator("#sla")).to_contain_text("First reply due in")
    # Team, label and assignee, each saved through the API and kept in the timeline.
    security = next(x for x in daemon.request("GET", "/api/v1/teams")["teams"] if x["name"] == "security")
    page.select_option("#set-team", str(security["id"]))
    expect(page.locator("#messages li.activity")).to_contain_text(["You set the team to security"])
    page.fill("#new-label", f"wave-{t}")
    page.press("#new-label", "Enter")
    expect(page.locator("#labels .label")).to_have_text([f"wave-{t}×"])
    expect(inbox.row(drained).locator(".label")).to_have_text([f"wave-{t}"])
    page.select_option("#set-assignee", str(daemon.me()["id"]))
    expect(page.locator("#assignee")).to_have_text("Assigned to you")
    saved = conversation_json(daemon, drained)
    assert saved["team_id"] == security["id"] and saved["labels"] == [f"wave-{t}"]
    assert saved["assignee_id"] == daemon.me()["id"]
    activity = daemon.request("GET", f"/api/v1/conversations/{drained}/activity")["activity"]
    assert {(a["field"], a["new_value"]) for a in activity} >= {
        ("priority", "urgent"), ("team", "security"), ("labels", f"wave-{t}")}
    expect(page.locator("#messages li.activity")).to_contain_text([
        "Urgency check changed the priority from normal to urgent",
        "You set the team to security",
        f"You set the labels to wave-{t}",
        "You set the assignee to you",
    ])
    page.screenshot(path="/tmp/inbox-queue.png")

    # The label filter lists only labelled conversations; a removed label goes from both.
    page.fill("#filter-label", f"wave-{t}")
    page.press("#filter-label", "Enter")
    expect(page.locator("#conversations li")).to_have_count(1)
    page.click("#labels .label .remove")
    expect(page.locator("#labels .label")).to_have_count(0)
    assert conversation_json(daemon, drained)["labels"] == []
    page.fill("#filter-label", "")
    page.press("#filter-label", "Enter")
    expect(page.locator("#conversations li")).to_have_count(2)
    assert inbox.errors == [] and inbox.dialogs == []


def test_a_missed_first_reply_turns_the_clock_red(daemon, inbox):
    t = tag()
    cid = daemon.conversation("Lou", [f"Just a question about fees {t}"])
    inbox.login()
    page = inbox.page
    inbox.filter(t, cid)
    inbox.open(cid)
    # `low` allows 2 seconds for the first reply in this daemon's config.
    page.select_option("#set-priority", "low")
    expect(page.locator("#sla")).to_contain_text("First reply overdue", timeout=15_000)
    expect(page.locator("#sla")).to_have_class(re.compile(r"\bbreached\b"))
    # The sweeper records the breach once; the API says so as well.
    wait_until(page, lambda: conversation_json(daemon, cid)["sla"]["breaches"] == ["first_response"], timeout=15)
    assert conversation_json(daemon, cid)["sla"]["breached"] is True
    expect(inbox.row(cid).locator(".sla.breached")).to_be_visible()
    # Answering stops the clock; the missed target stays visible.
    page.fill("#reply-text", "Fees are listed under Settings → Fees.")
    page.click("#send")
    expect(page.locator("#sla")).to_contain_text("SLA missed: first response", timeout=15_000)
    page.screenshot(path="/tmp/inbox-sla-breached.png")
    assert inbox.errors == [] and inbox.dialogs == []


def test_a_snoozed_conversation_says_until_when_and_opens_again_by_itself(daemon, inbox):
    t = tag()
    cid = daemon.conversation("Sam", [f"I will send the screenshot later {t}"])
    other = daemon.conversation("Sia", [f"Card payment failed {t}"])
    inbox.login()
    page = inbox.page
    inbox.filter(t, cid, other)
    # Snoozed until the customer writes: no time on it.
    inbox.open(other)
    page.select_option("#set-status", "snoozed")
    expect(page.locator("#snooze")).to_be_visible()
    page.click("#snooze button[type=submit]")
    expect(page.locator("#snoozed")).to_have_text("Snoozed until the customer writes")
    saved = conversation_json(daemon, other)
    assert saved["status"] == "snoozed" and saved["snoozed_until"] is None

    # Cancelling keeps the status; a picked time is saved and shown.
    inbox.open(cid)
    page.select_option("#set-status", "snoozed")
    page.click("#snooze-cancel")
    expect(page.locator("#snooze")).to_be_hidden()
    expect(page.locator("#set-status")).to_have_value("open")
    assert conversation_json(daemon, cid)["status"] == "open"
    page.select_option("#set-status", "snoozed")
    page.select_option("#snooze-for", "at")
    soon = page.evaluate("""() => {
        const at = new Date(Date.now() + 4000);
        const pad = (n) => String(n).padStart(2, "0");
        return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}`;
    }""")
    page.fill("#snooze-at", soon)
    page.click("#snooze button[type=submit]")
    expect(page.locator("#snoozed")).to_contain_text("Snoozed until")
    saved = conversation_json(daemon, cid)
    assert saved["status"] == "snoozed" and saved["snoozed_until"] is not None
    page.screenshot(path="/tmp/inbox-snoozed.png")
    # Its time comes: open again, live, with the change in the timeline.
    expect(page.locator("#set-status")).to_have_value("open", timeout=20_000)
    expect(page.locator("#snoozed")).to_be_hidden()
    expect(page.locator("#messages li.activity")).to_contain_text(
        ["Follow-up changed the status from snoozed to open"], timeout=10_000)
    assert conversation_json(daemon, cid)["snoozed_until"] is None
    assert inbox.errors == [] and inbox.dialogs == []


def test_a_resolution_asks_for_a_rating_which_the_inbox_shows_as_text(daemon, inbox):
    t = tag()
    rated = daemon.conversation("Rita", [f"My swap failed {t}"])
    quiet = daemon.conversation("Quinn", [f"Swap failed too {t}"])
    for cid in (rated, quiet):
        daemon.request("POST", f"/api/v1/conversations/{cid}/messages", {"text": "Refunded, please check."})
    inbox.login()
    page = inbox.page
    inbox.filter(t, rated, quiet)
    inbox.open(quiet)
    page.select_option("#set-status", "resolved-quiet")
    wait_until(page, lambda: conversation_json(daemon, quiet)["status"] == "resolved")
    inbox.open(rated)
    page.select_option("#set-status", "resolved")
    # The question arrives live in the timeline, with its entry in the activity.
    expect(page.locator("#messages li.outbound").last).to_contain_text("How would you rate the help you got?", timeout=15_000)
    expect(page.locator("#messages li.activity")).to_contain_text(["Survey asked the customer to rate the help"])
    hostile = '<img src=x onerror="window.__pwned=1">'
    daemon.customer_writes(rated, f"4 - quick, thanks {hostile}")
    expect(page.locator("#csat")).to_have_text(f"Customer rating: ★★★★☆ 4/5 · “quick, thanks {hostile}”")
    expect(inbox.row(rated).locator(".tag.csat")).to_have_text("★4")
    expect(page.locator("#set-status")).to_have_value("resolved")
    expect(page.locator("#messages li.activity")).to_contain_text(["Survey recorded the customer's rating: 4/5"])
    assert page.evaluate("window.__pwned") is None
    page.screenshot(path="/tmp/inbox-csat.png")
    # Resolved without survey: nothing was asked.
    assert not any("How would you rate" in x for x in outbound_texts(daemon, quiet))
    assert conversation_json(daemon, quiet)["csat"] is None
    assert inbox.errors == [] and inbox.dialogs == []


def test_the_reports_page_shows_figures_charts_and_agents_as_text(daemon, inbox, open_inbox):
    t = tag()
    hostile = f'<img src=x onerror="window.__pwned=1">{t}'
    team = daemon.request("POST", "/api/v1/teams", {"name": hostile[:40], "languages": []})["team"]
    cid = daemon.conversation("Rhea", [f"Where is my refund {t}"])
    daemon.request("PATCH", f"/api/v1/conversations/{cid}", {"team_id": team["id"]})
    daemon.request("POST", f"/api/v1/conversations/{cid}/messages", {"text": "Sent today."})
    inbox.login()
    page = inbox.page
    page.click("#open-reports")
    expect(page.locator("#reports")).to_be_visible()
    expect(page.locator("#report-totals dt")).to_contain_text(["New", "Resolved", "Reopened", "First reply p50"])
    summary = daemon.request("GET", "/api/v1/reports/summary")
    expect(page.locator("#report-totals div").first).to_contain_text(str(summary["totals"]["new"]))
    # The team's hostile name is a chart label, as text.
    expect(page.locator("#report-charts figure").nth(1).locator("svg text").first).to_be_visible()
    labels = page.locator("#report-charts svg title").all_text_contents()
    assert any(hostile[:40] in x for x in labels), labels
    assert page.evaluate("window.__pwned") is None
    # One team only: the totals follow.
    page.select_option("#report-team", str(team["id"]))
    expect(page.locator("#report-totals div").first).to_contain_text("1")
    expect(page.locator("#report-agents tbody tr")).not_to_have_count(0)
    page.screenshot(path="/tmp/inbox-reports.png", full_page=True)
    with page.expect_download() as download:
        page.click("#report-csv")
    assert download.value.suggested_filename == "switchboard-summary.csv"
    page.click("#close-reports")
    expect(page.locator("#conversation")).to_be_visible()

    # An agent sees the summary, not their colleagues' figures.
    token = daemon.add_agent(f"Rob {t}", f"rob-{t}@example.com")
    phone = open_inbox(390, 844)
    phone.login(token)
    phone.page.click("#open-reports")
    expect(phone.page.locator("#agents-note")).to_have_text("Only admins see the figures of each agent.")
    expect(phone.page.locator("#agents-csv")).to_be_hidden()
    assert phone.page.evaluate("document.documentElement.scrollWidth") <= 390
    phone.page.screenshot(path="/tmp/inbox-reports-mobile.png", full_page=True)
    assert inbox.errors == [] and inbox.dialogs == [] and phone.errors == []
