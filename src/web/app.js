// Switchboard's web inbox: plain DOM, every customer-provided string set with textContent
// (never parsed as HTML), so message content can never become markup or script.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { token: sessionStorage.getItem("sb-token"), me: null, current: null, cursor: null, stream: null };

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { ...options, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  if (response.status === 401) { logout("Your token was not accepted."); throw new Error("unauthorized"); }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
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

function logout(message) {
  sessionStorage.removeItem("sb-token");
  state.token = null;
  if (state.stream) state.stream.abort();
  $("app").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
}

async function start() {
  $("login").hidden = true;
  $("app").hidden = false;
  state.me = (await api("/api/v1/me")).agent;
  await Promise.all([loadConversations(true), loadCanned()]);
  listen();
}

async function loadConversations(reset) {
  if (reset) { state.cursor = null; $("conversations").replaceChildren(); }
  const params = new URLSearchParams();
  if ($("status").value) params.set("status", $("status").value);
  if ($("search").value.trim()) params.set("q", $("search").value.trim());
  if (state.cursor) params.set("cursor", state.cursor);
  const page = await api(`/api/v1/conversations?${params}`);
  for (const c of page.conversations) {
    const li = el("li", c.id === state.current ? "active" : "");
    li.dataset.id = c.id;
    li.append(el("div", "name", c.contact.display_name));
    const meta = el("div", "meta");
    meta.append(el("span", "", `${c.channel} · ${c.status}${c.assignee_id ? "" : " · unassigned"}`), el("span", "", when(c.last_message_at)));
    li.append(meta);
    if (c.subject) li.append(el("div", "meta", c.subject));
    li.addEventListener("click", () => openConversation(c.id));
    $("conversations").append(li);
  }
  state.cursor = page.next_cursor;
  $("more").hidden = !state.cursor;
}

async function openConversation(id) {
  state.current = id;
  for (const li of $("conversations").children) li.classList.toggle("active", Number(li.dataset.id) === id);
  const [{ conversation, participants }, { messages }, { notes }] = await Promise.all([
    api(`/api/v1/conversations/${id}`), api(`/api/v1/conversations/${id}/messages`), api(`/api/v1/conversations/${id}/notes`),
  ]);
  $("title").textContent = `${conversation.contact.display_name} · ${conversation.channel}${conversation.subject ? " · " + conversation.subject : ""}`;
  // Who else gets the reply (email Cc), so nobody is copied by surprise.
  $("participants").textContent = participants && participants.length ? `On this thread: ${participants.join(", ")}` : "";
  $("set-status").value = conversation.status;
  $("actions").hidden = false;
  $("reply").hidden = false;
  const items = [...messages.map((m) => ({ at: m.created_at, m })), ...notes.map((n) => ({ at: n.created_at, n }))];
  items.sort((a, b) => a.at.localeCompare(b.at));
  const list = $("messages");
  list.replaceChildren(...items.map((i) => (i.m ? renderMessage(i.m) : renderNote(i.n))));
  list.scrollTop = list.scrollHeight;
}

function renderMessage(m) {
  const li = el("li", m.direction);
  li.append(el("div", "who", `${m.sender.display_name} · ${when(m.sent_at || m.created_at)}${m.edited_at ? " · edited" : ""}${m.auto_generated ? " · automatic" : ""}`));
  li.append(el("div", m.deleted_at ? "deleted" : "", m.text));
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
    const status = el("div", `status ${m.delivery_status}`, m.delivery_status + (m.error ? `: ${m.error}` : ""));
    if (m.delivery_status === "failed") {
      const retry = el("button", "", "Retry");
      retry.type = "button";
      retry.addEventListener("click", () => api(`/api/v1/messages/${m.id}/retry`, { method: "POST" }).then(() => openConversation(state.current)));
      status.append(" ", retry);
    }
    li.append(status);
  }
  return li;
}

function renderNote(n) {
  const li = el("li", "note");
  li.append(el("div", "who", `Note by ${n.agent_name} · ${when(n.created_at)}`), el("div", "", n.text));
  return li;
}

async function download(attachment) {
  // The token travels in a header, so files are fetched and handed over as a blob.
  const response = await fetch(attachment.url, { headers: { Authorization: `Bearer ${state.token}` } });
  const link = el("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = attachment.filename;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
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

async function send(kind) {
  const text = $("reply-text").value;
  $("reply-error").textContent = "";
  if (!text.trim() || !state.current) return;
  const path = `/api/v1/conversations/${state.current}/${kind === "note" ? "notes" : "messages"}`;
  try {
    await api(path, { method: "POST", body: { text } });
    $("reply-text").value = "";
    await openConversation(state.current);
  } catch (e) {
    $("reply-error").textContent = e.message;
  }
}

// Live updates over SSE, read with fetch because EventSource cannot send the token header.
async function listen() {
  state.stream = new AbortController();
  let refresh = null;
  try {
    const response = await fetch("/api/v1/events", { headers: { Authorization: `Bearer ${state.token}` }, signal: state.stream.signal });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = frame.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        if (!data) continue;
        const event = JSON.parse(data);
        const conversation = event.data && (event.data.conversation_id || event.data.id);
        if (state.current && conversation === state.current && event.type !== "conversation.updated") openConversation(state.current);
        clearTimeout(refresh);
        refresh = setTimeout(() => loadConversations(true), 300);
      }
    }
  } catch (e) {
    if (state.stream.signal.aborted) return;
  }
  setTimeout(listen, 2000);
}

$("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  state.token = $("token").value.trim();
  sessionStorage.setItem("sb-token", state.token);
  try { await start(); } catch (err) { if (err.message !== "unauthorized") $("login-error").textContent = err.message; }
});
$("logout").addEventListener("click", () => logout());
$("status").addEventListener("change", () => loadConversations(true));
$("search").addEventListener("input", () => { clearTimeout(state.searchTimer); state.searchTimer = setTimeout(() => loadConversations(true), 250); });
$("more").addEventListener("click", () => loadConversations(false));
$("reply").addEventListener("submit", (e) => { e.preventDefault(); send("reply"); });
$("note").addEventListener("click", () => send("note"));
$("canned").addEventListener("change", () => { const t = $("canned").value; if (t) { $("reply-text").value += t; $("canned").value = ""; } });
$("set-status").addEventListener("change", () => api(`/api/v1/conversations/${state.current}`, { method: "PATCH", body: { status: $("set-status").value } }).then(() => loadConversations(true)));
$("assign").addEventListener("click", () => api(`/api/v1/conversations/${state.current}`, { method: "PATCH", body: { assignee_id: state.me.id } }).then(() => loadConversations(true)));

if (state.token) start().catch(() => {}); else $("login").hidden = false;
