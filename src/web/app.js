// Switchboard's web inbox: plain DOM, every customer-provided string set with textContent
// (never parsed as HTML), so message content can never become markup or script.
//
// Every answer is tied to what it was asked for: a list page to the filter it was asked with, a
// timeline to the conversation it was opened for, everything to the login session. An answer
// that arrives after the agent moved on is dropped, so the screen (and the composer, which always
// writes to the conversation on screen) never shows one conversation while another is selected.
"use strict";

const $ = (id) => document.getElementById(id);
/** Messages asked for per page of the timeline (the server answers at most 500). */
const PAGE = 100;

const state = {
  token: sessionStorage.getItem("sb-token"),
  me: null,
  // Bumped on logout: answers to requests of an earlier session are dropped.
  session: 0,
  // The conversation list: one row per id, the next page's cursor, the one request in flight.
  // `generation` changes with the filter, so a page asked for an earlier filter is dropped.
  list: { rows: new Map(), cursor: null, request: null, generation: 0 },
  // The selected conversation; `view` is the one on screen (null while it loads).
  selected: null,
  view: null,
  opening: null,
  // Live events for the selected conversation that arrive while it loads.
  early: [],
  // Unsent text per conversation id, so a draft never follows the agent into another one.
  drafts: new Map(),
  sending: new Set(),
  confirm: null,
  stream: null,
  // The open event stream's id (its `ready` event), to point it at the open conversation.
  streamId: null,
  // Focus changes go one after another, so the server applies them in the order made.
  focusing: Promise.resolve(),
  listResync: null,
  // One resync at a time; another asked for meanwhile runs once after it.
  resyncing: null,
  resyncAgain: false,
  verificationCheck: null,
  // The queue's vocabulary: teams and agents by id, label colours by name.
  teams: new Map(),
  agents: new Map(),
  labels: new Map(),
  activityReload: null,
  reconnect: null,
  searchTimer: null,
};

/** Errors nobody needs to see: the answer is stale, the request was cancelled, or the agent is logged out. */
class Quiet extends Error {}
const quiet = (e) => e instanceof Quiet || (e && e.name === "AbortError");

async function api(path, { method, body, signal } = {}) {
  const session = state.session;
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) });
  if (session !== state.session) throw new Quiet("stale session");
  if (response.status === 401) { logout("Your token was not accepted."); throw new Quiet("unauthorized"); }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (session !== state.session) throw new Quiet("stale session");
  if (!response.ok) throw new Error((data && data.error) || `HTTP ${response.status}`);
  return data;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");
/** Milliseconds since the epoch: timestamps are compared as numbers, never as strings. */
function time(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? 0 : t;
}
/** Inbox order: newest activity first, then the higher id (as the server pages). */
function newer(a, b) {
  const ta = time(a.last_message_at);
  const tb = time(b.last_message_at);
  return ta !== tb ? ta > tb : a.id > b.id;
}

// ---- session ----

async function start() {
  $("login").hidden = true;
  $("app").hidden = false;
  state.me = (await api("/api/v1/me")).agent;
  loadCanned().catch(() => {});
  loadNotices().catch(() => {});
  loadQueueLists().catch(() => {});
  await loadConversations(true);
  listen(false);
}

function logout(message) {
  state.session += 1;
  sessionStorage.removeItem("sb-token");
  state.token = null;
  state.me = null;
  if (state.stream) state.stream.abort();
  if (state.list.request) state.list.request.abort();
  if (state.opening) state.opening.abort();
  clearTimeout(state.reconnect);
  clearTimeout(state.searchTimer);
  state.stream = null;
  state.streamId = null;
  clearTimeout(state.listResync);
  state.listResync = null;
  clearTimeout(state.verificationCheck);
  state.verificationCheck = null;
  clearTimeout(state.activityReload);
  state.activityReload = null;
  state.teams.clear();
  state.agents.clear();
  state.labels.clear();
  state.focusing = Promise.resolve();
  state.list = { rows: new Map(), cursor: null, request: null, generation: state.list.generation + 1 };
  state.selected = null;
  state.view = null;
  state.opening = null;
  state.early = [];
  state.drafts.clear();
  state.sending.clear();
  closeConfirm();
  // Nothing of the customers' (nor the token) stays in the page once the agent has left.
  $("conversations").replaceChildren();
  $("more").hidden = true;
  $("list-error").textContent = "";
  $("search").value = "";
  $("filter-priority").value = "";
  $("filter-label").value = "";
  fillTeamOptions();
  $("label-names").replaceChildren();
  clearConversation("Select a conversation");
  const canned = $("canned");
  canned.replaceChildren(el("option", "", "Canned answers…"));
  canned.firstChild.value = "";
  $("notices").replaceChildren();
  $("notices").hidden = true;
  $("app").classList.remove("reading", "reporting");
  $("reports").hidden = true;
  $("report-totals").replaceChildren();
  $("report-charts").replaceChildren();
  $("report-agents").tBodies[0].replaceChildren();
  $("app").hidden = true;
  $("token").value = "";
  $("login").hidden = false;
  $("login-error").textContent = message || "";
}

/** Empties the conversation pane, so nothing on it can be taken for another conversation's. */
function clearConversation(title, placeholder) {
  $("title").textContent = title;
  $("title").title = "";
  $("participants").textContent = "";
  $("assignee").textContent = "";
  $("safety").hidden = true;
  $("safety").textContent = "";
  $("verified").hidden = true;
  $("conversation-error").textContent = "";
  $("actions").hidden = true;
  $("queue").hidden = true;
  $("sla").hidden = true;
  $("reply").hidden = true;
  $("reply-text").value = "";
  $("reply-error").textContent = "";
  $("jump").hidden = true;
  $("messages").replaceChildren(...(placeholder ? [placeholder] : []));
}

// ---- the conversation list ----

async function loadConversations(reset) {
  const list = state.list;
  if (reset) {
    if (list.request) list.request.abort();
    list.generation += 1;
  } else if (list.request || !list.cursor) {
    return; // one page at a time: a double click on More asks once
  }
  const generation = list.generation;
  const request = new AbortController();
  list.request = request;
  $("more").disabled = true;
  const params = filterParams();
  if (!reset) params.set("cursor", list.cursor);
  try {
    const page = await api(`/api/v1/conversations?${params}`, { signal: request.signal });
    if (generation !== list.generation) return;
    if (reset) {
      list.rows.clear();
      $("conversations").replaceChildren();
      $("list").scrollTop = 0;
    }
    const fresh = document.createDocumentFragment();
    for (const c of page.conversations) {
      const known = list.rows.get(c.id);
      if (known) {
        // Already listed (a live event moved it up): keep one row, with the newer data.
        if (!newer(known.c, c)) fillRow(known, c);
        continue;
      }
      const entry = newRow(c);
      list.rows.set(c.id, entry);
      fresh.append(entry.li);
    }
    $("conversations").append(fresh);
    list.cursor = page.next_cursor || null;
    $("list-error").textContent = "";
  } catch (e) {
    if (generation === list.generation && !quiet(e)) $("list-error").textContent = `Could not load conversations: ${e.message}`;
  } finally {
    if (list.request === request) {
      list.request = null;
      $("more").disabled = false;
      $("more").hidden = !list.cursor;
    }
  }
}

function filterParams() {
  const params = new URLSearchParams();
  if ($("status").value) params.set("status", $("status").value);
  if ($("search").value.trim()) params.set("q", $("search").value.trim());
  if ($("filter-priority").value) params.set("priority", $("filter-priority").value);
  if ($("filter-team").value) params.set("team", $("filter-team").value);
  if ($("filter-label").value.trim()) params.set("label", $("filter-label").value.trim());
  return params;
}

function newRow(c) {
  const li = el("li");
  li.dataset.id = c.id;
  li.tabIndex = 0;
  li.addEventListener("click", () => openConversation(c.id));
  li.addEventListener("keydown", (e) => { if (e.key === "Enter") openConversation(c.id); });
  const entry = { c, li };
  fillRow(entry, c);
  return entry;
}

function fillRow(entry, c) {
  entry.c = c;
  const assigned = !c.assignee_id ? " · unassigned" : state.me && c.assignee_id === state.me.id ? " · mine" : "";
  const meta = el("div", "meta");
  meta.append(el("span", "", `${c.channel} · ${c.status}${assigned}`), el("span", "when", when(c.last_message_at)));
  const name = el("div", "name", c.contact.display_name);
  if ((c.flags || []).includes("secret_removed")) name.append(el("span", "tag danger", "secret removed"));
  else if (c.priority === "urgent") name.append(el("span", "tag danger", "urgent"));
  else if (c.priority === "high") name.append(el("span", "tag warn", "high"));
  if ((c.contact.verified_emails || []).length) name.append(el("span", "tag ok", "verified"));
  if (c.csat) {
    const rating = el("span", `tag csat${c.csat.score <= 2 ? " danger" : ""}`, `★${c.csat.score}`);
    rating.title = `Rated ${c.csat.score} of 5`;
    name.append(rating);
  }
  entry.li.replaceChildren(name, meta);
  const queue = el("div", "meta queue-meta");
  const clock = el("span", "sla");
  clock.dataset.id = c.id;
  showClock(clock, c);
  if (c.team) queue.append(el("span", "team", c.team));
  if ((c.labels || []).length) queue.append(labelChips(c.labels));
  queue.append(clock);
  if (queue.childElementCount > 1 || clock.textContent) entry.li.append(queue);
  if (c.subject) {
    const subject = el("div", "meta subject", c.subject);
    subject.title = c.subject;
    entry.li.append(subject);
  }
  entry.li.classList.toggle("active", c.id === state.selected);
}

/**
 * A live change to one conversation: its row is updated where it is, and moves up when its
 * activity is newer; nothing is reloaded, so the agent keeps their place in a long list.
 * `listed` says the server returned it for the current filter.
 */
function patchRow(c, listed) {
  const list = state.list;
  const entry = list.rows.get(c.id);
  const fitsStatus = fitsFilter(c);
  if (!entry) {
    const q = $("search").value.trim().toLowerCase();
    const fitsSearch = !q || `${c.contact.display_name}\n${c.subject || ""}`.toLowerCase().includes(q);
    if (!fitsStatus || !(listed || fitsSearch) || !withinLoaded(c)) return;
    const fresh = newRow(c);
    list.rows.set(c.id, fresh);
    keepingListScroll(fresh.li, () => place(fresh));
    return;
  }
  if (!fitsStatus && c.id !== state.selected) {
    // It left the filter (resolved elsewhere); the open one stays until the list is reloaded.
    keepingListScroll(entry.li, () => entry.li.remove());
    list.rows.delete(c.id);
    return;
  }
  const moved = time(c.last_message_at) > time(entry.c.last_message_at);
  fillRow(entry, c);
  if (moved) keepingListScroll(entry.li, () => place(entry));
}

/** Whether a conversation matches the list's filters other than the search text. */
function fitsFilter(c) {
  const status = $("status").value;
  const priority = $("filter-priority").value;
  const team = $("filter-team").value;
  const label = $("filter-label").value.trim().toLowerCase();
  if (status && c.status !== status) return false;
  if (priority && c.priority !== priority) return false;
  if (team === "none" ? c.team_id : team && String(c.team_id) !== team) return false;
  return !label || (c.labels || []).some((l) => l.toLowerCase() === label);
}

/** A message in a listed conversation: its row shows the new activity. */
function touchRow(conversationId, at) {
  const entry = state.list.rows.get(conversationId);
  if (entry && time(at) > time(entry.c.last_message_at)) patchRow({ ...entry.c, last_message_at: at }, true);
}

/** Whether a conversation belongs among the rows loaded so far (else a later page brings it). */
function withinLoaded(c) {
  if (!state.list.cursor) return true;
  const last = $("conversations").lastElementChild;
  const entry = last && state.list.rows.get(Number(last.dataset.id));
  return !entry || newer(c, entry.c);
}

function place(entry) {
  const ul = $("conversations");
  for (const li of ul.children) {
    if (li === entry.li) continue;
    const other = state.list.rows.get(Number(li.dataset.id));
    if (other && newer(entry.c, other.c)) { ul.insertBefore(entry.li, li); return; }
  }
  ul.append(entry.li);
}

/** Runs a change to the list so the first row in view stays where the reader sees it. */
function keepingListScroll(moving, change) {
  const nav = $("list");
  let anchor = null;
  let before = 0;
  if (nav.scrollTop > 0) {
    const edge = nav.querySelector(".filters").getBoundingClientRect().bottom;
    for (const li of $("conversations").children) {
      if (li === moving) continue;
      const box = li.getBoundingClientRect();
      if (box.bottom > edge) { anchor = li; before = box.top; break; }
    }
  }
  change();
  if (anchor && anchor.isConnected) nav.scrollTop += anchor.getBoundingClientRect().top - before;
}

// ---- one conversation ----

async function openConversation(id) {
  saveDraft();
  closeConfirm();
  $("snooze").hidden = true;
  $("snooze-at").hidden = true;
  if (state.opening) state.opening.abort();
  const opening = new AbortController();
  state.opening = opening;
  state.selected = id;
  state.view = null;
  state.early = [];
  for (const entry of state.list.rows.values()) entry.li.classList.toggle("active", entry.c.id === id);
  $("app").classList.add("reading");
  clearConversation("Loading…", el("li", "loading", "Loading…"));
  try {
    const options = { signal: opening.signal };
    // The stream follows this conversation before it is read, so no event falls in between.
    await focusStream(id);
    if (state.opening !== opening) return;
    const [{ conversation, participants }, page, { notes }] = await Promise.all([
      api(`/api/v1/conversations/${id}`, options),
      api(`/api/v1/conversations/${id}/messages?limit=${PAGE}`, options),
      api(`/api/v1/conversations/${id}/notes`, options),
    ]);
    if (state.opening !== opening) return; // the agent opened another conversation meanwhile
    state.opening = null;
    const view = {
      id, conversation, participants: participants || [],
      messages: new Map(page.messages.map((m) => [m.id, m])),
      notes: new Map(notes.map((n) => [n.id, n])),
      // Before the server pages messages it sends them all and no next_before.
      nextBefore: page.next_before ?? null,
      loadingOlder: false, saving: 0, verification: null, activity: [],
    };
    state.view = view;
    loadVerification(view);
    loadActivity(view);
    for (const event of state.early) applyToView(view, event);
    state.early = [];
    renderHeader();
    suggestArticles(view);
    $("reply-text").value = state.drafts.get(id) || "";
    $("reply").hidden = false;
    updateComposer();
    renderTimeline("bottom");
  } catch (e) {
    if (state.opening !== opening || quiet(e)) return;
    state.opening = null;
    clearConversation("Conversation not available", el("li", "failed-load", `Could not open the conversation: ${e.message}`));
  }
}

function renderHeader() {
  const view = state.view;
  const c = view.conversation;
  const title = `${c.contact.display_name} · ${c.channel}${c.subject ? " · " + c.subject : ""}`;
  $("title").textContent = title;
  $("title").title = title;
  // Who else gets the reply (email Cc), so nobody is copied by surprise.
  $("participants").textContent = view.participants.length ? `On this thread: ${view.participants.join(", ")}` : "";
  const mine = c.assignee_id === state.me.id;
  $("assignee").textContent = !c.assignee_id ? "Unassigned" : mine ? "Assigned to you" : `Assigned to ${agentName(c.assignee_id)}`;
  // What agents must see before they answer: the customer's secret was cut out, or their
  // identity check locked; and which emails the customer proved to control.
  const flags = c.flags || [];
  const notices = [];
  if (flags.includes("secret_removed")) {
    notices.push("A wallet secret (seed phrase or private key) was removed from this customer's message and was not stored. They were told it is compromised and to move their funds to a new wallet. Never ask them for it.");
  }
  if (flags.includes("verification_locked")) notices.push("Identity verification is locked after 5 wrong codes. Start a new verification only if you are sure you are talking to the customer.");
  $("safety").textContent = notices.join(" ");
  $("safety").hidden = notices.length === 0;
  const verified = c.contact.verified_emails || [];
  $("verified").textContent = verified.length ? `✓ Verified: ${verified.join(", ")}` : "";
  $("verified").hidden = verified.length === 0;
  $("verification").textContent = verificationText(view.verification);
  renderIntake(c.intake);
  renderQueue(view);
  // While the snooze form is open the select shows the choice being made.
  $("set-status").value = $("snooze").hidden ? c.status : "snoozed";
  $("set-status").disabled = view.saving > 0;
  $("snoozed").textContent = c.status !== "snoozed" ? "" : c.snoozed_until ? `Snoozed until ${when(c.snoozed_until)}` : "Snoozed until the customer writes";
  $("snoozed").hidden = c.status !== "snoozed";
  // The customer's rating, and their words, as text.
  $("csat").textContent = c.csat ? `Customer rating: ${"★".repeat(c.csat.score)}${"☆".repeat(5 - c.csat.score)} ${c.csat.score}/5${c.csat.comment ? ` · “${c.csat.comment}”` : ""}` : "";
  $("csat").hidden = !c.csat;
  $("csat").classList.toggle("low", Boolean(c.csat && c.csat.score <= 2));
  $("assign").textContent = mine ? "Assigned to you" : "Assign to me";
  $("assign").disabled = mine || view.saving > 0;
  $("actions").hidden = false;
}

const VERIFICATION_STATES = {
  pending: (v) => `Code sent to ${v.email}; waiting for the customer to type it (until ${when(v.expires_at)}).`,
  verified: (v) => `${v.email} verified ${when(v.finished_at)}.`,
  locked: (v) => `Verification of ${v.email} locked after ${v.failed_attempts} wrong codes.`,
  expired: (v) => `The code for ${v.email} expired unused.`,
};

function verificationText(v) {
  if (!v || !VERIFICATION_STATES[v.status]) return "";
  return VERIFICATION_STATES[v.status](v);
}

/** The latest verification attempt of the open conversation (shown under its title). */
async function loadVerification(view) {
  try {
    const { verification } = await api(`/api/v1/conversations/${view.id}/verification`);
    if (state.view !== view) return;
    view.verification = verification;
    renderHeader();
  } catch (e) { /* the header just shows no attempt */ }
}

function openVerify() {
  if (!state.view) return;
  $("verify-error").textContent = "";
  $("verify-email").value = "";
  $("verify-send").disabled = false;
  $("verify-dialog").showModal();
  $("verify-email").focus();
}

async function sendVerification() {
  const view = state.view;
  const email = $("verify-email").value.trim();
  if (!view || !email) return;
  $("verify-send").disabled = true;
  $("verify-error").textContent = "";
  try {
    const { verification } = await api(`/api/v1/conversations/${view.id}/verify`, { method: "POST", body: { email } });
    $("verify-dialog").close();
    if (state.view !== view) return;
    view.verification = verification;
    renderHeader();
  } catch (e) {
    if (!quiet(e)) $("verify-error").textContent = `Code not sent: ${e.message}`;
  } finally {
    $("verify-send").disabled = false;
  }
}

/** The timeline of the view: messages and notes in time order (numerically; id breaks ties). */
function timelineItems(view) {
  const items = [...view.messages.values()].map((m) => ({ at: time(m.created_at), kind: 0, id: m.id, m }));
  const oldest = items.reduce((least, i) => Math.min(least, i.at), Infinity);
  for (const n of view.notes.values()) {
    const at = time(n.created_at);
    // Notes older than the loaded messages come with "Load older", so the timeline only grows at the top.
    if (view.nextBefore !== null && at < oldest) continue;
    items.push({ at, kind: 1, id: n.id, n });
  }
  for (const a of view.activity) {
    const at = time(a.at);
    if (view.nextBefore !== null && at < oldest) continue;
    items.push({ at, kind: 2, id: a.id, a });
  }
  items.sort((a, b) => a.at - b.at || a.kind - b.kind || a.id - b.id);
  return items;
}

/**
 * Redraws the timeline. `bottom`: scroll to the newest; `follow`: only if the reader was already
 * at the bottom (someone reading further up stays there); `older`: rows were added at the top.
 */
function renderTimeline(mode) {
  const view = state.view;
  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const height = list.scrollHeight;
  const top = list.scrollTop;
  const nodes = [];
  if (view.nextBefore !== null) {
    const item = el("li", "older");
    const button = el("button", "", view.loadingOlder ? "Loading…" : "Load older messages");
    button.type = "button";
    button.id = "older";
    button.disabled = view.loadingOlder;
    button.addEventListener("click", loadOlder);
    item.append(button);
    nodes.push(item);
  }
  for (const i of timelineItems(view)) nodes.push(i.m ? renderMessage(i.m) : i.n ? renderNote(i.n) : renderActivity(i.a));
  list.replaceChildren(...nodes);
  if (mode === "bottom" || (mode === "follow" && atBottom)) {
    list.scrollTop = list.scrollHeight;
    $("jump").hidden = true;
  } else if (mode === "older") {
    list.scrollTop = top + (list.scrollHeight - height);
  } else {
    list.scrollTop = top;
    if (mode === "follow" && list.scrollHeight > height) $("jump").hidden = false;
  }
}

async function loadOlder() {
  const view = state.view;
  if (!view || view.loadingOlder || view.nextBefore === null) return;
  view.loadingOlder = true;
  renderTimeline("older");
  try {
    const page = await api(`/api/v1/conversations/${view.id}/messages?limit=${PAGE}&before=${encodeURIComponent(view.nextBefore)}`);
    if (state.view !== view) return;
    for (const m of page.messages) if (!view.messages.has(m.id)) view.messages.set(m.id, m);
    view.nextBefore = page.next_before ?? null;
  } catch (e) {
    if (state.view === view && !quiet(e)) $("conversation-error").textContent = `Could not load older messages: ${e.message}`;
  } finally {
    if (state.view === view) {
      view.loadingOlder = false;
      renderTimeline("older");
    }
  }
}

function renderMessage(m) {
  const li = el("li", m.direction);
  li.dataset.id = m.id;
  li.append(el("div", "who", `${m.sender.display_name} · ${when(m.sent_at || m.created_at)}${m.edited_at ? " · edited" : ""}${m.auto_generated ? " · automatic" : ""}`));
  li.append(el("div", m.deleted_at ? "text deleted" : "text", m.text));
  for (const a of m.attachments || []) {
    if (!a.url) { li.append(el("div", "status", `${a.filename}: ${a.note || "not available"}`)); continue; }
    const link = el("a", "", `📎 ${a.filename}`);
    link.href = "#";
    link.addEventListener("click", (e) => { e.preventDefault(); download(a); });
    const row = el("div");
    row.append(link);
    li.append(row);
  }
  if (m.direction === "outbound" && m.delivery_status) {
    const retrying = m.delivery_status === "pending" && m.error;
    const status = el("div", `status ${m.delivery_status}${retrying ? " retrying" : ""}`,
      (retrying ? "retrying" : m.delivery_status) + (m.error ? `: ${m.error}` : ""));
    if (m.delivery_status === "failed" || retrying) {
      const retry = el("button", "", m.delivery_status === "failed" ? "Retry" : "Send now");
      retry.type = "button";
      retry.addEventListener("click", () => retryMessage(m, retry));
      const cancel = el("button", "", "Cancel");
      cancel.type = "button";
      cancel.addEventListener("click", () => cancelMessage(m, cancel));
      status.append(" ", retry, " ", cancel);
    }
    // Replies of a conversation go out in order: say when later ones wait behind this one.
    const waiting = retrying ? laterPending(m) : 0;
    if (waiting) status.append(el("div", "blocked", `${waiting} later ${waiting === 1 ? "reply waits" : "replies wait"} for this one: send it now or cancel it to let ${waiting === 1 ? "it" : "them"} go.`));
    li.append(status);
  }
  return li;
}

/** Outbound replies of the open conversation queued behind `m`. */
function laterPending(m) {
  const view = state.view;
  if (!view || view.id !== m.conversation_id) return 0;
  let n = 0;
  for (const other of view.messages.values()) {
    if (other.direction === "outbound" && other.delivery_status === "pending" && other.id > m.id) n++;
  }
  return n;
}

async function cancelMessage(m, button) {
  button.disabled = true;
  try {
    const { message } = await api(`/api/v1/messages/${m.id}/cancel`, { method: "POST" });
    applyEvent({ type: "message.updated", data: message });
  } catch (e) {
    button.disabled = false;
    if (!quiet(e) && state.view && state.view.id === m.conversation_id) $("conversation-error").textContent = `Cancel failed: ${e.message}`;
  }
}

function renderNote(n) {
  const li = el("li", "note");
  li.append(el("div", "who", `Note by ${n.agent_name} · ${when(n.created_at)}`), el("div", "text", n.text));
  return li;
}

async function retryMessage(m, button) {
  button.disabled = true;
  try {
    const { message } = await api(`/api/v1/messages/${m.id}/retry`, { method: "POST" });
    // Unless a live event already told what became of the retry.
    const view = state.view;
    const shown = view && view.id === message.conversation_id && view.messages.get(message.id);
    if (shown && (shown.delivery_status === "failed" || shown.error)) applyEvent({ type: "message.updated", data: message });
  } catch (e) {
    button.disabled = false;
    if (!quiet(e) && state.view && state.view.id === m.conversation_id) $("conversation-error").textContent = `Retry failed: ${e.message}`;
  }
}

async function download(attachment) {
  // The token travels in a header, so files are fetched and handed over as a blob.
  try {
    const response = await fetch(attachment.url, { headers: { Authorization: `Bearer ${state.token}` } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const link = el("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = attachment.filename;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  } catch (e) {
    if (state.view) $("conversation-error").textContent = `Could not download ${attachment.filename}: ${e.message}`;
  }
}

// ---- status and assignment ----

/** Saves a change; on failure the controls show the saved state again, and why it failed. */
async function patchConversation(body, what) {
  const view = state.view;
  if (!view) return;
  $("conversation-error").textContent = "";
  view.saving += 1;
  renderHeader();
  try {
    const { conversation } = await api(`/api/v1/conversations/${view.id}`, { method: "PATCH", body });
    view.conversation = conversation;
    patchRow(conversation, true);
    scheduleActivityReload(view);
  } catch (e) {
    if (!quiet(e) && state.view === view) $("conversation-error").textContent = `${what} not saved: ${e.message}`;
  } finally {
    view.saving -= 1;
    if (state.view === view) renderHeader();
  }
}

/** The status select: snoozing asks until when first; the rest is saved at once. */
function statusChosen() {
  const status = $("set-status").value;
  if (status === "resolved-quiet") { closeSnooze(); patchConversation({ status: "resolved", survey: false }, "Status"); return; }
  if (status !== "snoozed") { closeSnooze(); patchConversation({ status }, "Status"); return; }
  $("snooze").hidden = false;
  $("snooze-for").focus();
}

function closeSnooze() {
  $("snooze").hidden = true;
  $("snooze-at").hidden = true;
  $("snooze-for").value = "";
  if (state.view) renderHeader();
}

/** When a snooze choice ends, as an ISO time (null: when the customer writes). */
function snoozeUntil(choice, now = new Date()) {
  const at = new Date(now);
  switch (choice) {
    case "": return null;
    case "1h": return new Date(now.getTime() + 3600e3).toISOString();
    case "4h": return new Date(now.getTime() + 4 * 3600e3).toISOString();
    case "tomorrow": at.setDate(at.getDate() + 1); at.setHours(9, 0, 0, 0); return at.toISOString();
    case "week": at.setDate(at.getDate() + ((8 - at.getDay()) % 7 || 7)); at.setHours(9, 0, 0, 0); return at.toISOString();
    default: {
      const picked = new Date($("snooze-at").value);
      if (Number.isNaN(picked.getTime())) throw new Error("pick a date and time");
      return picked.toISOString();
    }
  }
}

function submitSnooze(event) {
  event.preventDefault();
  let until;
  try { until = snoozeUntil($("snooze-for").value); } catch (e) { $("conversation-error").textContent = `Snooze not saved: ${e.message}`; return; }
  $("snooze").hidden = true;
  $("snooze-at").hidden = true;
  patchConversation({ status: "snoozed", snoozed_until: until }, "Snooze");
}

function assignToMe() {
  const view = state.view;
  if (!view || view.conversation.assignee_id === state.me.id) return;
  const other = view.conversation.assignee_id;
  const take = () => patchConversation({ assignee_id: state.me.id }, "Assignment");
  if (!other) { take(); return; }
  // Taking a conversation from a colleague is never silent.
  state.confirm = { id: view.id, action: take };
  $("confirm-text").textContent = `This conversation is assigned to ${agentName(other)}. Take it over?`;
  $("confirm-yes").textContent = "Take over";
  $("confirm").showModal();
}

function closeConfirm() {
  state.confirm = null;
  if ($("confirm").open) $("confirm").close();
}

// ---- queue: priority, team, labels, assignee, SLA clocks, activity ----

/** Teams, agents and label colours, for the filters and the header's selects. */
async function loadQueueLists() {
  const [{ teams }, { agents }, { labels }] = await Promise.all([
    api("/api/v1/teams"), api("/api/v1/agents"), api("/api/v1/labels"),
  ]);
  state.teams = new Map(teams.map((t) => [t.id, t]));
  state.agents = new Map(agents.map((a) => [a.id, a]));
  state.labels = new Map(labels.map((l) => [l.name, l.color]));
  fillTeamOptions();
  fillLabelNames();
  if (state.view) renderHeader();
  for (const entry of state.list.rows.values()) fillRow(entry, entry.c);
}

function fillTeamOptions() {
  const filter = $("filter-team");
  const chosen = filter.value;
  const options = [el("option", "", "Any team"), el("option", "", "No team")];
  options[0].value = "";
  options[1].value = "none";
  for (const t of state.teams.values()) {
    const option = el("option", "", t.name);
    option.value = String(t.id);
    options.push(option);
  }
  filter.replaceChildren(...options);
  filter.value = [...filter.options].some((o) => o.value === chosen) ? chosen : "";
}

function fillLabelNames() {
  $("label-names").replaceChildren(...[...state.labels.keys()].map((name) => {
    const option = el("option");
    option.value = name;
    return option;
  }));
}

/** A label's colour, only ever a #rrggbb value (set through the CSSOM, which the CSP allows). */
function labelColor(name) {
  const color = state.labels.get(name);
  return typeof color === "string" && /^#[0-9a-fA-F]{6}$/.test(color) ? color : "#64748b";
}

function labelChip(name) {
  const chip = el("span", "label", name);
  chip.style.setProperty("--label", labelColor(name));
  return chip;
}

function labelChips(labels) {
  const span = el("span", "chips");
  for (const name of labels) span.append(labelChip(name));
  return span;
}

function agentName(id) {
  if (state.me && id === state.me.id) return "you";
  const agent = state.agents.get(id);
  return agent ? agent.name : `agent #${id}`;
}

/** "3h 5m": the coarsest two units of a duration. */
function span(ms) {
  const minutes = Math.max(0, Math.floor(ms / 60000));
  if (minutes < 1) return "<1m";
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ${minutes % 60}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** The SLA targets still running, earliest first. */
function slaTargets(c) {
  const sla = c.sla;
  if (!sla || c.status === "resolved") return [];
  const targets = [];
  if (!sla.first_response_at && sla.first_response_due_at) targets.push({ what: "First reply", due: time(sla.first_response_due_at) });
  else if (sla.next_response_due_at) targets.push({ what: "Next reply", due: time(sla.next_response_due_at) });
  if (sla.resolution_due_at) targets.push({ what: "Resolution", due: time(sla.resolution_due_at) });
  return targets.filter((t) => t.due > 0).sort((a, b) => a.due - b.due);
}

/** A countdown to the next SLA target: red once it (or an earlier one) was missed. */
function showClock(node, c) {
  const target = slaTargets(c)[0];
  const missed = (c.sla && c.sla.breaches) || [];
  const now = Date.now();
  node.classList.remove("breached", "soon");
  if (!target) {
    node.textContent = missed.length ? `SLA missed: ${missed.join(", ").replace(/_/g, " ")}` : "";
    node.classList.toggle("breached", missed.length > 0);
    return;
  }
  const late = target.due <= now;
  node.textContent = late ? `${target.what} overdue by ${span(now - target.due)}` : `${target.what} due in ${span(target.due - now)}`;
  node.title = `${target.what} due ${when(new Date(target.due).toISOString())}`;
  if (late || missed.length) node.classList.add("breached");
  else if (target.due - now < 15 * 60000) node.classList.add("soon");
}

/** Every visible countdown moves on once a minute (no request: the due times do not change). */
function tickClocks() {
  for (const entry of state.list.rows.values()) {
    const node = entry.li.querySelector(".sla");
    if (node) showClock(node, entry.c);
  }
  if (state.view) showClock($("sla"), state.view.conversation);
}

function renderQueue(view) {
  const c = view.conversation;
  const busy = view.saving > 0;
  const priority = $("set-priority");
  priority.value = c.priority;
  priority.disabled = busy;
  $("priority-reason").textContent = c.priority_reason ? `· ${c.priority_reason}` : "";
  const team = $("set-team");
  const options = [el("option", "", "No team")];
  options[0].value = "";
  for (const t of state.teams.values()) {
    const option = el("option", "", t.name);
    option.value = String(t.id);
    options.push(option);
  }
  if (c.team_id && !state.teams.has(c.team_id)) {
    const option = el("option", "", c.team || `team #${c.team_id}`);
    option.value = String(c.team_id);
    options.push(option);
  }
  team.replaceChildren(...options);
  team.value = c.team_id ? String(c.team_id) : "";
  team.disabled = busy;
  const assignee = $("set-assignee");
  const people = [el("option", "", "Unassigned")];
  people[0].value = "";
  const ids = new Set(state.agents.keys());
  if (c.assignee_id) ids.add(c.assignee_id);
  for (const id of ids) {
    const agent = state.agents.get(id);
    if (agent && agent.disabled && id !== c.assignee_id) continue;
    const option = el("option", "", id === state.me.id ? `${agentName(id)} (${state.me.name})` : agentName(id));
    option.value = String(id);
    people.push(option);
  }
  assignee.replaceChildren(...people);
  assignee.value = c.assignee_id ? String(c.assignee_id) : "";
  assignee.disabled = busy;
  const list = $("labels");
  list.replaceChildren();
  for (const name of c.labels || []) {
    const li = el("li");
    const chip = labelChip(name);
    const remove = el("button", "remove", "×");
    remove.type = "button";
    remove.disabled = busy;
    remove.setAttribute("aria-label", `Remove label ${name}`);
    remove.addEventListener("click", () => patchConversation({ labels: (c.labels || []).filter((l) => l !== name) }, "Labels"));
    chip.append(remove);
    li.append(chip);
    list.append(li);
  }
  $("new-label").disabled = busy;
  $("queue").hidden = false;
  const clock = $("sla");
  showClock(clock, c);
  clock.hidden = !clock.textContent;
}

function addLabel() {
  const view = state.view;
  const name = $("new-label").value.trim();
  if (!view || !name) return;
  const labels = view.conversation.labels || [];
  $("new-label").value = "";
  if (labels.includes(name)) return;
  if (!state.labels.has(name)) loadQueueLists().catch(() => {});
  patchConversation({ labels: [...labels, name] }, "Labels");
}

/** Assigning to someone else than oneself: a colleague's conversation is never taken silently. */
function chooseAssignee() {
  const view = state.view;
  if (!view) return;
  const value = $("set-assignee").value;
  const id = value ? Number(value) : null;
  const other = view.conversation.assignee_id;
  if (id === other) return;
  const change = () => patchConversation({ assignee_id: id }, "Assignment");
  if (!other || other === state.me.id) { change(); return; }
  renderHeader(); // shows the saved assignee until confirmed
  state.confirm = { id: view.id, action: change };
  $("confirm-text").textContent = `This conversation is assigned to ${agentName(other)}. Reassign it${id ? ` to ${agentName(id)}` : ""}?`;
  $("confirm-yes").textContent = "Reassign";
  $("confirm").showModal();
}

const ACTORS = { urgency: "Urgency check", assignment: "Auto-assignment", front_desk: "Front desk", language: "Language routing", follow_up: "Follow-up", csat: "Survey" };
const FIELDS = { status: "status", priority: "priority", assignee: "assignee", team: "team", labels: "labels" };

function actorName(a) {
  if (a.agent_id) return agentName(a.agent_id).replace(/^you$/, "You");
  if (a.actor.startsWith("rule:")) return `Rule “${a.actor.slice(5)}”`;
  return ACTORS[a.actor] || a.actor;
}

/** One change in the timeline: who changed what, from what to what, and when. */
function activityText(a) {
  const value = (v) => (a.field === "assignee" && v ? agentName(Number(v)) : v);
  if (a.field === "canned_answer") return `sent the canned answer ${a.new_value}`;
  if (a.field === "reminder") return "reminded the customer, who has not answered";
  if (a.field === "survey") return "asked the customer to rate the help";
  if (a.field === "csat") return `recorded the customer's rating: ${a.new_value}/5`;
  if (a.field === "csat_comment") return "recorded the customer's comment on their rating";
  const field = FIELDS[a.field] || a.field;
  const [from, to] = [value(a.old_value), value(a.new_value)];
  if (!to) return `cleared the ${field} (was ${from})`;
  if (!from) return `set the ${field} to ${to}`;
  return `changed the ${field} from ${from} to ${to}`;
}

function renderActivity(a) {
  const li = el("li", "activity");
  li.append(el("span", "", `${actorName(a)} ${activityText(a)}`), el("span", "when", ` · ${when(a.at)}`));
  return li;
}

async function loadActivity(view) {
  try {
    const { activity } = await api(`/api/v1/conversations/${view.id}/activity`);
    if (state.view !== view) return;
    view.activity = activity;
    renderTimeline("follow");
  } catch (e) { /* the timeline just shows no changes */ }
}

/** Changes come in bursts (a rule sets team, labels and assignee at once): read them once. */
function scheduleActivityReload(view) {
  clearTimeout(state.activityReload);
  state.activityReload = setTimeout(() => { state.activityReload = null; if (state.view === view) loadActivity(view); }, 300);
}

// ---- composing ----

function saveDraft() {
  if (!state.view) return;
  const text = $("reply-text").value;
  if (text) state.drafts.set(state.view.id, text); else state.drafts.delete(state.view.id);
}

function updateComposer() {
  const busy = Boolean(state.view && state.sending.has(state.view.id));
  $("send").disabled = busy;
  $("note").disabled = busy;
}

async function send(kind) {
  // The composer belongs to the conversation on screen; while one loads there is none.
  const view = state.view;
  if (!view) return;
  const id = view.id;
  const text = $("reply-text").value;
  $("reply-error").textContent = "";
  if (!text.trim() || state.sending.has(id)) return;
  state.sending.add(id);
  updateComposer();
  try {
    const data = await api(`/api/v1/conversations/${id}/${kind === "note" ? "notes" : "messages"}`, { method: "POST", body: { text } });
    if (state.drafts.get(id) === text) state.drafts.delete(id);
    const current = state.view && state.view.id === id ? state.view : null;
    if (current && $("reply-text").value === text) $("reply-text").value = "";
    // The live events about this message (created, then delivered) may have come before this
    // answer; theirs is the newer state, so the answer only fills in what is still missing.
    if (data && data.message) {
      touchRow(id, data.message.created_at);
      if (current && !current.messages.has(data.message.id)) current.messages.set(data.message.id, data.message);
    }
    if (data && data.note && current && !current.notes.has(data.note.id)) current.notes.set(data.note.id, data.note);
    if (current) renderTimeline("bottom");
  } catch (e) {
    if (!quiet(e) && state.view && state.view.id === id) $("reply-error").textContent = e.message;
  } finally {
    state.sending.delete(id);
    updateComposer();
  }
}

// ---- front desk: intake answers, known issues, help articles ----

const INTAKE_LABELS = { category: "Category", chain: "Network", tx_hash: "Transaction", address: "Address", amount: "Amount", when: "When", screenshot: "Screenshot" };

/** What the customer told the front desk, as a card; a transaction links to its explorer. */
function renderIntake(intake) {
  const card = $("intake");
  card.replaceChildren();
  const entries = Object.entries(intake || {})
    .filter(([k, v]) => k !== "tx_url" && typeof v === "string")
    .sort(([a], [b]) => (b === "category") - (a === "category"));
  for (const [key, value] of entries) {
    card.append(el("dt", "", INTAKE_LABELS[key] || key));
    const dd = el("dd");
    const url = key === "tx_hash" && typeof intake.tx_url === "string" && intake.tx_url.startsWith("https://") ? intake.tx_url : null;
    if (url) {
      const a = el("a", "", value);
      a.href = url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      dd.append(a);
    } else {
      dd.textContent = value;
    }
    card.append(dd);
  }
  card.hidden = entries.length === 0;
}

async function loadNotices() {
  const { notices } = await api("/api/v1/notices");
  const now = Date.now();
  const list = $("notices");
  list.replaceChildren();
  for (const n of notices) {
    if (Date.parse(n.starts_at) > now) continue;
    const text = n.texts.en || Object.values(n.texts)[0] || "";
    list.append(el("li", "", `Known issue until ${when(n.ends_at)}: ${text}`));
  }
  list.hidden = list.childElementCount === 0;
}

/** Articles for the customer's latest message, offered for insertion into the reply. */
async function suggestArticles(view) {
  const select = $("articles");
  select.replaceChildren(el("option", "", "Help articles…"));
  select.firstChild.value = "";
  select.hidden = true;
  const last = [...view.messages.values()].filter((m) => m.direction === "inbound" && m.text.trim()).pop();
  if (!last) return;
  const q = encodeURIComponent(last.text.slice(0, 500));
  const lang = encodeURIComponent(view.conversation.language || "en");
  let found;
  try {
    found = await api(`/api/v1/knowledge?q=${q}&lang=${lang}`);
  } catch {
    return;
  }
  if (state.view !== view || !found.configured || !found.articles.length) return;
  for (const a of found.articles.slice(0, 5)) {
    const option = el("option", "", a.title);
    option.value = [a.title, a.summary, a.url || ""].filter(Boolean).join("\n");
    select.append(option);
  }
  select.hidden = false;
}

async function loadCanned() {
  const { canned_answers } = await api("/api/v1/canned_answers");
  const select = $("canned");
  select.replaceChildren(el("option", "", "Canned answers…"));
  select.firstChild.value = "";
  for (const c of canned_answers) {
    const option = el("option", "", `${c.shortcut} — ${c.title}`);
    option.value = c.text;
    select.append(option);
  }
}

// ---- reports ----

function openReports() {
  $("app").classList.add("reporting");
  $("reports").hidden = false;
  const team = $("report-team");
  const chosen = team.value;
  const options = [el("option", "", "All teams")];
  options[0].value = "";
  for (const t of state.teams.values()) {
    const option = el("option", "", t.name);
    option.value = String(t.id);
    options.push(option);
  }
  team.replaceChildren(...options);
  team.value = chosen;
  loadReports();
  $("close-reports").focus();
}

function closeReports() {
  $("app").classList.remove("reporting");
  $("reports").hidden = true;
  $("open-reports").focus();
}

/** The query of the chosen range and filters. */
function reportQuery() {
  const days = Number($("report-range").value) || 7;
  const to = new Date();
  const from = new Date(to.getTime() - days * 86400e3);
  const params = new URLSearchParams({ from: from.toISOString(), to: to.toISOString() });
  if ($("report-team").value) params.set("team", $("report-team").value);
  if ($("report-channel").value) params.set("channel", $("report-channel").value);
  return params;
}

/** Seconds as a short duration: 42 s, 5 min, 1 h 20 min, 2 d 3 h. */
function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}

const percent = (rate) => (rate === null || rate === undefined ? "—" : `${Math.round(rate * 1000) / 10} %`);

async function loadReports() {
  const session = state.session;
  const query = reportQuery();
  $("report-error").textContent = "";
  try {
    const summary = await api(`/api/v1/reports/summary?${query}`);
    if (session !== state.session || $("reports").hidden) return;
    renderTotals(summary.totals);
    renderCharts(summary);
    fillChannels(summary.by_channel);
  } catch (e) {
    if (!quiet(e)) $("report-error").textContent = `Reports not loaded: ${e.message}`;
    return;
  }
  const agentsQuery = reportQuery();
  agentsQuery.delete("team");
  agentsQuery.delete("channel");
  const body = $("report-agents").tBodies[0];
  // Per-agent figures are the admins' (the API answers others 403).
  if (!state.me || state.me.role !== "admin") {
    body.replaceChildren();
    $("agents-csv").hidden = true;
    $("agents-note").textContent = "Only admins see the figures of each agent.";
    return;
  }
  try {
    const { agents } = await api(`/api/v1/reports/agents?${agentsQuery}`);
    if (session !== state.session) return;
    $("agents-note").textContent = agents.length ? "All teams and channels." : "No agent activity in this range.";
    $("agents-csv").hidden = false;
    body.replaceChildren(...agents.map((a) => {
      const row = el("tr");
      const rating = a.csat.average === null ? "—" : `${a.csat.average} (${a.csat.responses})`;
      for (const value of [a.name || `#${a.agent_id}`, a.replies, a.conversations_replied, a.resolved, duration(a.first_response_seconds.p50), rating]) {
        row.append(el("td", "", String(value)));
      }
      return row;
    }));
  } catch (e) {
    if (quiet(e)) return;
    body.replaceChildren();
    $("agents-csv").hidden = true;
    $("agents-note").textContent = /403|admin/i.test(e.message) ? "Only admins see the figures of each agent." : `Not loaded: ${e.message}`;
  }
}

function renderTotals(t) {
  const card = (label, value, detail) => {
    const div = el("div");
    const dd = el("dd", "", value);
    if (detail) dd.append(" ", el("small", "", detail));
    div.append(el("dt", "", label), dd);
    return div;
  };
  $("report-totals").replaceChildren(
    card("New", String(t.new)),
    card("Resolved", String(t.resolved)),
    card("Reopened", String(t.reopened)),
    card("First reply p50", duration(t.first_response_seconds.p50), `p90 ${duration(t.first_response_seconds.p90)}`),
    card("Resolution p50", duration(t.resolution_seconds.p50), `p90 ${duration(t.resolution_seconds.p90)}`),
    card("SLA missed", percent(t.sla.rate), `${t.sla.breached} of ${t.sla.total}`),
    card("Rating", t.csat.average === null ? "—" : `${t.csat.average} / 5`, `${percent(t.csat.response_rate)} answered`),
  );
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attributes || {})) node.setAttribute(k, String(v));
  return node;
}

/** A horizontal bar chart of new and resolved per group; labels are text nodes. */
function barChart(title, groups, noKey) {
  const box = el("figure", "chart");
  box.append(el("h4", "", title));
  const shown = groups.slice(0, 8);
  if (!shown.length) {
    box.append(el("p", "meta", "Nothing in this range."));
    return box;
  }
  const max = Math.max(1, ...shown.map((g) => Math.max(g.new, g.resolved)));
  const row = 30, left = 110, width = 300;
  const chart = svg("svg", { viewBox: `0 0 ${left + width + 40} ${shown.length * row + 4}`, role: "img" });
  chart.append(Object.assign(svg("title"), { textContent: `${title}: new and resolved conversations` }));
  shown.forEach((g, i) => {
    const y = i * row + 2;
    const name = g.key === null ? noKey : g.key;
    const label = svg("text", { x: 0, y: y + 16 });
    label.textContent = name.length > 16 ? `${name.slice(0, 15)}…` : name;
    const tip = svg("title");
    tip.textContent = `${name}: ${g.new} new, ${g.resolved} resolved`;
    label.append(tip);
    chart.append(label);
    for (const [k, dy, cls] of [["new", 0, "bar-new"], ["resolved", 13, "bar-resolved"]]) {
      const w = Math.max(1, Math.round((g[k] / max) * width));
      chart.append(svg("rect", { x: left, y: y + dy, width: g[k] ? w : 0, height: 11, class: cls }));
      const n = svg("text", { x: left + (g[k] ? w : 0) + 4, y: y + dy + 10 });
      n.textContent = String(g[k]);
      chart.append(n);
    }
  });
  box.append(chart, el("p", "legend", "■ blue: new · ■ green: resolved"));
  return box;
}

function renderCharts(summary) {
  $("report-charts").replaceChildren(
    barChart("By channel", summary.by_channel, "—"),
    barChart("By team", summary.by_team, "No team"),
    barChart("By language", summary.by_language, "Unknown"),
    barChart("By category", summary.by_category, "No category"),
  );
}

function fillChannels(groups) {
  const select = $("report-channel");
  const chosen = select.value;
  const names = new Set(groups.map((g) => g.key).filter(Boolean));
  if (chosen) names.add(chosen);
  const options = [el("option", "", "All channels")];
  options[0].value = "";
  for (const name of [...names].sort()) {
    const option = el("option", "", name);
    option.value = name;
    options.push(option);
  }
  select.replaceChildren(...options);
  select.value = chosen;
}

/** Fetches a CSV with the token and hands it to the browser as a download. */
async function downloadCsv(which) {
  const query = reportQuery();
  if (which === "agents") { query.delete("team"); query.delete("channel"); }
  query.set("format", "csv");
  $("report-error").textContent = "";
  try {
    const response = await fetch(`/api/v1/reports/${which}?${query}`, { headers: { Authorization: `Bearer ${state.token}` } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const url = URL.createObjectURL(await response.blob());
    const link = el("a");
    link.href = url;
    link.download = `switchboard-${which}.csv`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (e) {
    $("report-error").textContent = `CSV not downloaded: ${e.message}`;
  }
}

// ---- live updates ----

/** Applies an event to an open timeline (or to its header); returns whether the timeline changed. */
function applyToView(view, event) {
  const data = event.data;
  if (event.type === "conversation.updated") {
    view.conversation = data;
    scheduleActivityReload(view);
    return false;
  }
  if (event.type === "note.created") {
    view.notes.set(data.id, data);
    return true;
  }
  // A message older than the loaded page appears when the agent loads older messages.
  const oldestLoaded = [...view.messages.keys()].reduce((least, k) => Math.min(least, k), Infinity);
  if (!view.messages.has(data.id) && view.nextBefore !== null && data.id < oldestLoaded) return false;
  view.messages.set(data.id, data);
  return true;
}

/** Points the event stream at a conversation; a failure only costs liveness there. */
function focusStream(id) {
  const stream = state.streamId;
  if (stream === null) return Promise.resolve();
  const put = () => (state.streamId === stream
    ? api(`/api/v1/events/${stream}/focus`, { method: "PUT", body: { conversation_id: id } }).catch(() => {})
    : null);
  state.focusing = state.focusing.then(put);
  return state.focusing;
}

/** Under load the stream sends the newest list changes only: reload the page now and then. */
function scheduleListResync() {
  if (state.listResync) return;
  state.listResync = setTimeout(() => { state.listResync = null; resyncList(); }, 5000);
}

function applyEvent(event) {
  const data = event.data || {};
  if (event.type === "list.more") { scheduleListResync(); return; }
  if (event.type === "conversation.activity") { touchRow(data.id, data.last_message_at); return; }
  if (event.type === "conversation.updated") patchRow(data, false);
  else if (event.type === "message.created") touchRow(data.conversation_id, data.created_at);
  else if (event.type !== "message.updated" && event.type !== "note.created") return;
  const id = event.type === "conversation.updated" ? data.id : data.conversation_id;
  if (id !== state.selected) return;
  const view = state.view;
  if (!view) { state.early.push(event); return; }
  // The customer may have typed the code: the outcome is recorded just after the message.
  if (event.type === "message.created" && view.verification && view.verification.status === "pending" && !state.verificationCheck) {
    state.verificationCheck = setTimeout(() => { state.verificationCheck = null; if (state.view === view) loadVerification(view); }, 500);
  }
  if (applyToView(view, event)) renderTimeline("follow");
  else renderHeader();
}

/** After missed events: merge the newest list page and the open timeline, resetting neither. */
async function resyncList() {
  const list = state.list;
  const generation = list.generation;
  try {
    const page = await api(`/api/v1/conversations?${filterParams()}`);
    if (generation === list.generation) for (const c of page.conversations) patchRow(c, true);
  } catch (e) { /* the next event or reload catches up */ }
}

/** Reloads what is shown; calls while one runs make it run once more after. */
async function resync() {
  if (state.resyncing) { state.resyncAgain = true; return; }
  state.resyncing = resyncOnce();
  try { await state.resyncing; } finally { state.resyncing = null; }
  if (state.resyncAgain) { state.resyncAgain = false; resync(); }
}

async function resyncOnce() {
  await resyncList();
  const view = state.view;
  if (!view) return;
  try {
    const [page, { notes }] = await Promise.all([
      api(`/api/v1/conversations/${view.id}/messages?limit=${PAGE}`), api(`/api/v1/conversations/${view.id}/notes`),
    ]);
    if (state.view !== view) return;
    for (const m of page.messages) view.messages.set(m.id, m);
    for (const n of notes) view.notes.set(n.id, n);
    renderTimeline("follow");
  } catch (e) { /* as above */ }
}

// Server-Sent Events, read with fetch because EventSource cannot send the token header.
async function listen(reconnected) {
  const session = state.session;
  const stream = new AbortController();
  state.stream = stream;
  try {
    // The inbox view: the open conversation in full, the list as its newest changes.
    const focused = state.selected;
    const focus = focused === null ? "" : `&conversation=${focused}`;
    const response = await fetch(`/api/v1/events?view=inbox${focus}`, { headers: { Authorization: `Bearer ${state.token}` }, signal: stream.signal });
    if (session !== state.session) return;
    if (response.status === 401) { logout("Your token was not accepted."); return; }
    if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done || session !== state.session) break;
      buffer += value.replace(/\r/g, "");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, end).split("\n");
        buffer = buffer.slice(end + 2);
        const name = (frame.find((l) => l.startsWith("event:")) || "").slice(6).trim();
        const data = frame.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
        if (name === "resync") { resync(); continue; }
        if (!data) continue;
        let event;
        try { event = JSON.parse(data); } catch (e) { continue; }
        if (event.type === "ready") {
          state.streamId = event.data.stream;
          // The agent may have opened another conversation while the stream connected.
          if (state.selected !== focused) await focusStream(state.selected);
          // Whatever happened before this stream followed what is on screen.
          resync();
          continue;
        }
        applyEvent(event);
      }
    }
  } catch (e) {
    if (stream.signal.aborted) return;
  }
  if (state.stream === stream) state.streamId = null;
  if (session !== state.session || stream.signal.aborted) return;
  state.reconnect = setTimeout(() => listen(true), 2000);
}

// ---- wiring ----

$("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const token = $("token").value.trim();
  if (!token) return;
  state.token = token;
  sessionStorage.setItem("sb-token", token);
  $("token").value = "";
  $("login-error").textContent = "";
  try { await start(); } catch (err) { if (!quiet(err)) logout(`Could not open the inbox: ${err.message}`); }
});
$("logout").addEventListener("click", () => logout());
$("open-reports").addEventListener("click", () => openReports());
$("close-reports").addEventListener("click", () => closeReports());
for (const id of ["report-range", "report-team", "report-channel"]) $(id).addEventListener("change", () => loadReports());
$("report-csv").addEventListener("click", () => downloadCsv("summary"));
$("agents-csv").addEventListener("click", () => downloadCsv("agents"));
$("status").addEventListener("change", () => loadConversations(true));
$("search").addEventListener("input", () => { clearTimeout(state.searchTimer); state.searchTimer = setTimeout(() => loadConversations(true), 250); });
$("more").addEventListener("click", () => loadConversations(false));
$("back").addEventListener("click", () => $("app").classList.remove("reading"));
$("reply").addEventListener("submit", (e) => { e.preventDefault(); send("reply"); });
$("note").addEventListener("click", () => send("note"));
$("reply-text").addEventListener("input", saveDraft);
$("articles").addEventListener("change", () => {
  const t = $("articles").value;
  if (t) { $("reply-text").value += t; $("articles").value = ""; saveDraft(); }
});
$("canned").addEventListener("change", () => {
  const t = $("canned").value;
  if (t) { $("reply-text").value += t; $("canned").value = ""; saveDraft(); }
});
$("set-status").addEventListener("change", statusChosen);
$("snooze").addEventListener("submit", submitSnooze);
$("snooze-cancel").addEventListener("click", closeSnooze);
$("snooze-for").addEventListener("change", () => {
  const custom = $("snooze-for").value === "at";
  $("snooze-at").hidden = !custom;
  if (custom) $("snooze-at").focus();
});
$("assign").addEventListener("click", assignToMe);
$("set-priority").addEventListener("change", () => patchConversation({ priority: $("set-priority").value }, "Priority"));
$("set-team").addEventListener("change", () => {
  const v = $("set-team").value;
  patchConversation({ team_id: v ? Number(v) : null }, "Team");
});
$("set-assignee").addEventListener("change", chooseAssignee);
$("add-label").addEventListener("submit", (e) => { e.preventDefault(); addLabel(); });
for (const id of ["filter-priority", "filter-team"]) $(id).addEventListener("change", () => loadConversations(true));
$("filter-label").addEventListener("change", () => loadConversations(true));
setInterval(tickClocks, 30000);
$("verify").addEventListener("click", openVerify);
$("verify-form").addEventListener("submit", (e) => { e.preventDefault(); sendVerification(); });
$("verify-cancel").addEventListener("click", () => $("verify-dialog").close());
$("confirm-yes").addEventListener("click", () => {
  const pending = state.confirm;
  closeConfirm();
  if (pending && state.view && state.view.id === pending.id) pending.action();
});
$("confirm-no").addEventListener("click", closeConfirm);
$("confirm").addEventListener("close", () => { state.confirm = null; });
$("messages").addEventListener("scroll", () => {
  const list = $("messages");
  if (list.scrollHeight - list.scrollTop - list.clientHeight < 40) $("jump").hidden = true;
});
$("jump").addEventListener("click", () => { const list = $("messages"); list.scrollTop = list.scrollHeight; $("jump").hidden = true; });

if (state.token) start().catch((err) => { if (!quiet(err)) logout(`Could not open the inbox: ${err.message}`); });
else $("login").hidden = false;
