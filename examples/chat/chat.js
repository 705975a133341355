// The chat page's logic (examples/chat/index.html): the pgsync-serve /v1/ws protocol, kept
// in a file of its own so the page runs under a Content-Security-Policy without inline script.
"use strict";

// The protocol is in pgsync-serve(1), WEBSOCKET PROTOCOL. What this page keeps per (server,
// group), in memory and in localStorage: the rows it holds, by key, and the offset they are
// consistent with. It saves both together at each up-to-date, so a reload resumes from exactly
// the rows on screen; without saved rows it never resumes, since the server would not send them.

const TABLE = "public.messages";
const WHERE = "group_name = $1";
const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 30000;

const $ = (id) => document.getElementById(id);

let socket = null;         // the open WebSocket, or null
let settings = null;       // {host, group, token} of the current connection
let rows = new Map();      // key text -> row (the "new" image, merged)
let offset = null;         // offset of the last change or up-to-date applied; null: none usable
let fetching = false;      // the current subscription is reading its initial rows
let subscriptionId = null; // the id of the current subscription
let subscriptionCount = 0; // ids are never reused, so a late frame for an old one is recognised
let attempt = 0;           // reconnects since the last healthy connection
let retryTimer = null;
let stopped = true;        // true when reconnecting must not happen (by the user, or a dead token)

function storageKey() { return `pgsync-chat:${settings.host}:${settings.group}`; }

function load() {
  rows = new Map(); offset = null;
  try {
    const saved = JSON.parse(localStorage.getItem(storageKey()) || "null");
    if (saved && typeof saved.offset === "string" && Array.isArray(saved.rows)) {
      for (const [key, row] of saved.rows) rows.set(key, row);
      offset = saved.offset;
    }
  } catch (e) { /* unreadable state: start afresh */ }
}

function save() {
  try {
    localStorage.setItem(storageKey(), JSON.stringify({offset, rows: [...rows]}));
  } catch (e) { showError(`could not save the offset: ${e.message}`); }
}

function forget() {
  localStorage.removeItem(storageKey());
  rows = new Map(); offset = null;
}

// A row's identity: its replica identity columns, in a fixed order.
function keyText(key) {
  return JSON.stringify(Object.keys(key).sort().map((name) => [name, key[name]]));
}

function setStatus(kind, text, detail = "") {
  $("badge").className = kind;
  $("badge").textContent = text;
  $("detail").textContent = detail;
}

function showError(text) {
  const item = document.createElement("li");
  item.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  $("errors").prepend(item);
  while ($("errors").children.length > 5) $("errors").lastChild.remove();
}

let freshKeys = new Set(); // keys changed since the last render, to highlight

function render() {
  const list = $("messages");
  const sorted = [...rows].sort(([ka, a], [kb, b]) =>
    String(a.message_timestamp).localeCompare(String(b.message_timestamp)) || ka.localeCompare(kb));
  list.replaceChildren(...sorted.map(([key, row]) => {
    const item = document.createElement("li");
    if (freshKeys.has(key)) item.className = "fresh";
    const meta = document.createElement("div");
    meta.className = "meta";
    const sender = document.createElement("span");
    sender.className = "sender";
    sender.textContent = row.sender_name ?? "?";
    const time = new Date(row.message_timestamp);
    meta.append(sender, isNaN(time) ? String(row.message_timestamp ?? "") : time.toLocaleString());
    const text = document.createElement("div");
    text.className = "text";
    text.textContent = row.message_text ?? "";
    item.append(meta, text);
    return item;
  }));
  $("empty").hidden = rows.size > 0;
  freshKeys = new Set();
}

function send(frame) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
}

// Opens a new subscription for the group on the open connection, ending the current one if
// endCurrent: resuming after `offset` when there is one, fetching the rows afresh otherwise.
function subscribe(endCurrent = false) {
  if (endCurrent && subscriptionId) send({type: "unsubscribe", id: subscriptionId});
  subscriptionId = `messages-${++subscriptionCount}`;
  fetching = offset === null;
  const frame = {type: "subscribe", id: subscriptionId, table: TABLE, where: WHERE,
                 params: [settings.group]};
  if (fetching) rows = new Map();   // the initial rows come first
  else frame.offset = offset;       // only the changes after it
  send(frame);
  setStatus("loading", offset !== null ? "catching up" : "loading",
            offset !== null ? `resuming after ${offset}` : "reading the group's messages");
  render();
}

function onChange(frame) {
  const key = keyText(frame.key || {});
  if (frame.op === "insert" || frame.op === "update") {
    // Merge: an update may leave out a column whose value did not change (TOAST).
    rows.set(key, {...(rows.get(key) || {}), ...frame.new});
    freshKeys.add(key);
  } else if (frame.op === "delete") {
    rows.delete(key); // a key this page does not hold is fine (see FILTERS in pgsync-serve(1))
  }
  // Initial rows are not a place to resume from: until their up-to-date, offset stays null, so a
  // reconnect fetches again. Later changes are: the rows in memory are as of each one.
  if (!fetching && frame.offset) offset = frame.offset;
  if (!fetching) render();
}

function onUpToDate(frame) {
  fetching = false;
  offset = frame.offset;
  attempt = 0; // the connection works: the next failure starts the backoff afresh
  save();
  send({type: "ack", id: subscriptionId, offset});
  render();
  setStatus("live", "up to date", `${rows.size} messages in "${settings.group}", offset ${offset}`);
}

function onMustRefetch(frame) {
  // The subscription is over (pgsync-serve(1)); what the page holds is of no use any more.
  showError(`must-refetch (${frame.reason}): reading the group again`);
  forget();
  subscribe();
}

function onError(frame) {
  // An unsubscribe of a subscription the server had already ended: nothing to show.
  if (frame.id !== undefined && frame.id !== subscriptionId) return;
  showError(`${frame.code}: ${frame.message}`);
  if (frame.code === "slow-consumer") {
    // The server closes with 4008 next, and the page reconnects. frame.offsets has the last
    // offset delivered per subscription; the rows in memory are exactly as of our own offset,
    // which is that one or an earlier one, so resuming from ours misses nothing (a change that
    // comes twice is applied twice by key, harmlessly).
  } else if (frame.code === "token-expired") {
    stopped = true; // the server closes with 4001: reconnecting with the same token cannot work
  } else if (frame.code === "load-failed") {
    retryLater("the initial query failed"); // try again, with backoff
  } else if (frame.code === "bad-offset" && frame.id !== undefined) {
    forget();   // the stored offset is not one of this server's: read the group afresh
    subscribe();
  } else if (frame.id !== undefined && frame.code !== "bad-ack") {
    // bad-filter, unknown-table, forbidden, not-allowed, too-many-subscriptions: trying again
    // would get the same answer.
    stopped = true;
    setStatus("down", "refused", "the subscription was refused: see the error above");
  }
}

function onMessage(event) {
  let frame;
  try { frame = JSON.parse(event.data); } catch (e) { showError("a frame that is not JSON"); return; }
  if (frame.id !== undefined && frame.id !== subscriptionId && frame.type !== "error") return;
  switch (frame.type) {
    case "change": onChange(frame); break;
    case "up-to-date": onUpToDate(frame); break;
    case "must-refetch": onMustRefetch(frame); break;
    case "error": onError(frame); break;
  }
}

function connect() {
  clearTimeout(retryTimer);
  const base = /^wss?:\/\//.test(settings.host) ? settings.host.replace(/\/+$/, "")
                                                  : `ws://${settings.host}`;
  const url = settings.token ? `${base}/v1/ws?token=${encodeURIComponent(settings.token)}`
                             : `${base}/v1/ws`;
  setStatus("loading", "connecting", base);
  let ws;
  try { ws = new WebSocket(url); } catch (e) {
    setStatus("down", "bad address", e.message); stopped = true; return;
  }
  socket = ws;
  ws.onopen = () => { if (socket === ws) subscribe(); };
  ws.onmessage = (event) => { if (socket === ws) onMessage(event); };
  ws.onclose = (event) => {
    if (socket !== ws) return;
    socket = null;
    const reasons = {1001: "server shutting down", 1009: "frame too large",
                     4001: "token expired", 4008: "too slow"};
    const why = event.reason || reasons[event.code] ||
      (event.code === 1006 ? "connection failed (a refused token looks the same to a browser)" : "");
    if (stopped) { setStatus("down", "disconnected", `closed ${event.code} ${why}`); return; }
    retryLater(`closed ${event.code} ${why}`);
  };
}

// Exponential backoff with full jitter: wait a random time between 0 and min(cap, base * 2^n).
function retryLater(why = "") {
  if (stopped) return;
  if (socket) { const ws = socket; socket = null; ws.close(); }
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
  const delay = Math.random() * ceiling;
  attempt++;
  setStatus("down", "reconnecting", `${why}; next try in ${(delay / 1000).toFixed(1)} s`);
  clearTimeout(retryTimer);
  retryTimer = setTimeout(connect, delay);
}

function start() {
  stopped = true;
  if (socket) { const ws = socket; socket = null; ws.close(1000); }
  clearTimeout(retryTimer);
  settings = {host: $("host").value.trim(), group: $("group").value.trim(),
              token: $("token").value.trim()};
  localStorage.setItem("pgsync-chat:settings", JSON.stringify({host: settings.host,
                                                              group: settings.group}));
  $("errors").replaceChildren();
  load();
  render();
  stopped = false;
  attempt = 0;
  connect();
}

// Served by pgsync-serve itself (--static-dir), the page talks to the server it came from.
if (location.protocol === "http:" || location.protocol === "https:") $("host").value = location.host;
$("settings").addEventListener("submit", (event) => { event.preventDefault(); start(); });
$("forget").addEventListener("click", () => {
  if (!settings) return;
  forget();
  render();
  if (socket && socket.readyState === WebSocket.OPEN) subscribe(true); // fetch the group again
});

try {
  const saved = JSON.parse(localStorage.getItem("pgsync-chat:settings") || "null");
  if (saved) { $("host").value = saved.host || $("host").value; $("group").value = saved.group || $("group").value; }
} catch (e) { /* keep the defaults */ }
start();
