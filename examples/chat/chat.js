// The chat page's logic (examples/chat/index.html): signs in through the backend (backend.py),
// then shows one group's latest 50 messages with pgsync's JavaScript client, which keeps them live,
// refreshes the token from the backend's /token, reconnects and keeps the last result in IndexedDB.
import { PgSync, indexedDbStorage } from "./pgsync.js";

const kLimit = 50;
const kHistory = 1000; // renders remembered in chatDebug

const $ = (id) => document.getElementById(id);

// What the page did, for the browser test (tests/js/chat_browser.test.mjs) and for a look in the
// console: when each message was first shown, every render's order, connection states, errors.
const debug = {
  renders: [],      // {at, ids, fromStorage}: each result shown, ids oldest first
  firstSeen: {},    // message_id -> Date.now() when first shown
  badRenders: [],   // renders with a duplicate id or out of order (never expected)
  states: [],       // {at, state, reason}
  errors: [],       // what was shown in the error list
  notices: [],      // transient problems the client recovers from (error.retrying)
  tokens: 0,        // tokens fetched from the backend
};
window.chatDebug = debug;

let session = null;      // {user, groups, pgsyncUrl} from the backend
let client = null;
let storage = null;
let unsubscribe = null;
let group = null;
let shown = [];          // the rows on screen, oldest first
let everLive = false;    // a result has come from pgsync-serve (not only from storage) for this group

async function api(path, { method = "GET", body } = {}) {
  const init = { method, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers = { "Content-Type": "application/json" };
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let answer = null;
  try { answer = await response.json(); } catch { /* not JSON: the status says enough */ }
  if (!response.ok) {
    const error = new Error(answer?.error ?? `${path}: HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return answer;
}

// The client's refresh function: a token for the signed-in user, from the backend, which gets it
// from pgsync-serve's POST /v1/token with the API key. A failure is retried by the client.
async function refreshAuthToken() {
  const { token } = await api("/token");
  debug.tokens += 1;
  return token;
}

function setBadge(kind, text) {
  $("badge").className = kind;
  $("badge").textContent = text;
}

function setDetail(text) {
  $("detail").textContent = text;
}

function showError(text) {
  debug.errors.push({ at: Date.now(), text });
  const item = document.createElement("li");
  item.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  $("errors").prepend(item);
  while ($("errors").children.length > 5) $("errors").lastChild.remove();
}

function onConnectionState(state, detail = {}) {
  debug.states.push({ at: Date.now(), state, reason: detail.reason ?? "" });
  switch (state) {
    case "connecting": setBadge("loading", "connecting"); break;
    case "open":
      setBadge("live", "live");
      setDetail(`${shown.length} messages`);
      break;
    case "waiting":
      setBadge("down", "offline");
      setDetail(`${detail.reason ?? ""}; retrying in ${((detail.delayMs ?? 0) / 1000).toFixed(1)} s`);
      break;
    case "idle": setBadge("", "idle"); break;
    case "disposed": setBadge("", "signed out"); break;
  }
}

function messageItem(row, fresh) {
  const item = document.createElement("li");
  item.dataset.id = row.message_id;
  if (fresh) item.classList.add("fresh");
  if (row.sender_name === session.user) item.classList.add("mine");
  const meta = document.createElement("div");
  meta.className = "meta";
  const sender = document.createElement("span");
  sender.className = "sender";
  sender.textContent = row.sender_name ?? "?";
  const time = new Date(row.message_timestamp);
  meta.append(sender, Number.isNaN(time.getTime()) ? String(row.message_timestamp ?? "") : time.toLocaleString());
  const text = document.createElement("div");
  text.className = "text";
  text.textContent = row.message_text ?? "";
  item.append(meta, text);
  return item;
}

// rows: the query's result, newest first (the window's order); shown oldest first.
function onRows(rows) {
  const fromStorage = client.connectionState !== "open";
  if (!fromStorage) everLive = true;
  const before = new Set(shown.map((row) => row.message_id));
  shown = rows.slice().reverse();
  const now = Date.now();
  const ids = shown.map((row) => row.message_id);
  const ordered = shown.every((row, i) => i === 0 ||
    Date.parse(shown[i - 1].message_timestamp) <= Date.parse(row.message_timestamp));
  if (new Set(ids).size !== ids.length || !ordered) debug.badRenders.push({ at: now, ids });
  debug.renders.push({ at: now, ids, fromStorage });
  if (debug.renders.length > kHistory) debug.renders.shift();
  for (const id of ids) debug.firstSeen[id] ??= now;

  const list = $("messages");
  const nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
  list.replaceChildren(...shown.map((row) => messageItem(row, before.size > 0 && !before.has(row.message_id))));
  $("empty").hidden = shown.length > 0;
  setDetail(`${shown.length} messages${fromStorage && !everLive ? " (saved copy, not live yet)" : ""}`);
  if (nearBottom) window.scrollTo(0, document.body.scrollHeight);
}

function onQueryError(error) {
  const text = `${error.code}: ${error.message}${error.hint ? ` (${error.hint})` : ""}`;
  if (error.retrying) {
    // The client goes on (e.g. the token refresh failing while pgsync-serve restarts).
    debug.notices.push({ at: Date.now(), text });
    setDetail(text);
    return;
  }
  showError(text);
  setBadge("down", "stopped");
}

function openGroup(name) {
  unsubscribe?.();
  group = name;
  shown = [];
  everLive = false;
  $("messages").replaceChildren();
  $("empty").hidden = true;
  $("errors").replaceChildren();
  const hash = `#${encodeURIComponent(name)}`;
  if (location.hash !== hash) history.replaceState(null, "", hash);
  unsubscribe = client
    .selectFrom("messages")
    .where("group_name", "=", name)
    .orderBy("message_timestamp", "desc")
    .limit(kLimit)
    .onQueryResultChange(onRows, onQueryError);
}

function startChat() {
  $("signin").hidden = true;
  $("account").hidden = false;
  $("chat").hidden = false;
  $("user").textContent = session.user;
  // One storage per user, cleared at sign-out: rows stored for one user are never shown to another.
  storage = indexedDbStorage(`pgsync-chat-${session.user}`);
  client = PgSync.create(session.pgsyncUrl, refreshAuthToken, {
    storage,
    onConnectionStateChange: onConnectionState,
  });
  // A group in the address that is not one of the user's is shown too: pgsync-serve then sends
  // none of its messages (the token's filter and the row webhook see to that), which is the point.
  const wanted = decodeURIComponent(location.hash.slice(1));
  const groups = [...session.groups];
  if (wanted && !groups.includes(wanted)) groups.push(wanted);
  $("group").replaceChildren(...groups.map((name) => {
    const option = document.createElement("option");
    option.value = option.textContent = name;
    if (!session.groups.includes(name)) option.textContent += " (not a member)";
    return option;
  }));
  const first = wanted || session.groups[0];
  $("group").value = first;
  openGroup(first);
}

async function signIn(event) {
  event.preventDefault();
  try {
    session = await api("/signin", { method: "POST", body: { user: $("signin-user").value } });
    startChat();
  } catch (error) {
    $("signin").querySelector(".note").textContent = error.message;
  }
}

async function signOut() {
  unsubscribe?.();
  client?.dispose();
  try { await storage?.clear(); } catch { /* nothing stored */ }
  try { await api("/signout", { method: "POST", body: {} }); } catch { /* signed out anyway */ }
  location.hash = "";
  location.reload();
}

async function send(event) {
  event.preventDefault();
  const text = $("text").value;
  if (!text.trim()) return;
  $("send").disabled = true;
  try {
    // The message comes back through pgsync-serve like everyone else's: no optimistic copy.
    await api("/messages", { method: "POST", body: { group, text } });
    $("text").value = "";
  } catch (error) {
    showError(`could not send: ${error.message}`);
  } finally {
    $("send").disabled = false;
    $("text").focus();
  }
}

async function boot() {
  $("signin").addEventListener("submit", signIn);
  $("signout").addEventListener("click", signOut);
  $("compose").addEventListener("submit", send);
  $("group").addEventListener("change", () => openGroup($("group").value));
  // Ends the subscriptions and writes the last result to storage before the page goes.
  window.addEventListener("pagehide", () => client?.dispose());
  try {
    session = await api("/session");
  } catch (error) {
    if (error.status === 401) {
      $("signin").hidden = false;
      $("signin-user").focus();
      return;
    }
    $("chat").hidden = false;
    setBadge("down", "no backend");
    showError(`could not reach the backend: ${error.message}`);
    return;
  }
  startChat();
}

boot();
