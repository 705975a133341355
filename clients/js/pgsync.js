// pgsync's JavaScript client: live query results over pgsync-serve's /v1/ws protocol (see
// pgsync-serve(1), WEBSOCKET PROTOCOL), for browsers and Node. One WebSocket per client carries
// every subscription; reconnects, resumes, token refresh and persistence live here. No dependencies.

const kBackoffBaseMs = 500;
const kBackoffCapMs = 30_000;
const kStoreThrottleMs = 1_000;
const kRefreshFailuresBeforeReport = 3;
const kStorageVersion = 1;
const kMaxTimerMs = 2 ** 31 - 1;

// Error codes that end a subscription for good: asking again would get the same answer.
// (Unknown codes that name a subscription are treated the same way, rather than retried forever.)
const kFatalCodes = new Set([
  "bad-filter", "bad-frame", "bad-order", "forbidden", "not-allowed", "unknown-table",
  "unauthorized-row", "duplicate-id", "too-many-subscriptions", "too-expensive",
]);
// Error codes after which the subscription is tried again, with backoff, without telling the app.
const kRetryCodes = new Set(["load-failed", "server-busy", "authorization-unavailable"]);

/** An error given to an error callback: `code` is the server's error code or one of the client's. */
export class PgSyncError extends Error {
  constructor(code, message, { retrying = false, hint } = {}) {
    super(message);
    this.name = "PgSyncError";
    this.code = code;
    this.retrying = retrying;
    if (hint !== undefined) this.hint = hint;
  }
}

// --- helpers ---------------------------------------------------------------------------------

// "wss://host", "https://host/base", "host:8080" -> "wss://host/v1/ws" (the path is kept when it
// already ends with /v1/ws).
function endpointUrl(address) {
  let text = String(address).trim();
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) text = `ws://${text}`;
  const url = new URL(text);
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  else if (url.protocol !== "ws:" && url.protocol !== "wss:")
    throw new TypeError(`pgsync: "${address}" is not a ws://, wss://, http:// or https:// address`);
  if (!url.pathname.endsWith("/v1/ws")) url.pathname = `${url.pathname.replace(/\/+$/, "")}/v1/ws`;
  return url.toString();
}

function withToken(url, token) {
  const u = new URL(url);
  u.searchParams.set("token", token);
  return u.toString();
}

function base64UrlDecode(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "===".slice((base64.length + 3) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

// A JWT's claims, without checking anything (the server does): {} when it cannot be read.
export function decodeTokenClaims(token) {
  try {
    const claims = JSON.parse(base64UrlDecode(String(token).split(".")[1] ?? ""));
    return claims && typeof claims === "object" ? claims : {};
  } catch {
    return {};
  }
}

// A token's grant: its claims but those that change at every refresh (times, ids), as stable JSON.
// Offsets and stored results are valid only under the same scope.
const kTimingClaims = new Set(["exp", "iat", "nbf", "jti", "auth_time"]);
function stableJson(value) {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (value && typeof value === "object")
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stableJson(value[k])}`).join(",")}}`;
  return JSON.stringify(value ?? null);
}
export function tokenScope(token) {
  if (token === null || token === undefined) return "";
  const claims = decodeTokenClaims(token);
  return stableJson(Object.fromEntries(Object.entries(claims).filter(([k]) => !kTimingClaims.has(k))));
}

// When to refresh a token that was received at receivedMs: at 75% of its lifetime or 60 s before
// it expires, whichever comes first, but never before half of its lifetime (a token that lives
// under two minutes would otherwise be refreshed as soon as it arrives, in a loop).
export function refreshTime(claims, receivedMs) {
  if (typeof claims.exp !== "number") return null;
  const expMs = claims.exp * 1000;
  const startMs = typeof claims.iat === "number" ? Math.min(claims.iat * 1000, receivedMs) : receivedMs;
  const lifetime = Math.max(0, expMs - startMs);
  return Math.max(startMs + lifetime / 2, Math.min(startMs + lifetime * 0.75, expMs - 60_000));
}

// Exponential backoff with full jitter: a random time in [0, min(cap, base * 2^attempt)).
export function backoffDelay(attempt, { baseMs = kBackoffBaseMs, capMs = kBackoffCapMs, random = Math.random } = {}) {
  return random() * Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
}

// A row's identity: its replica identity columns in a fixed order.
function keyText(key) {
  return JSON.stringify(Object.keys(key ?? {}).sort().map((name) => [name, key[name]]));
}

export function quoteIdentifier(name) {
  if (typeof name !== "string" || name === "")
    throw new TypeError(`pgsync: a column or table name must be a non-empty string, not ${JSON.stringify(name)}`);
  return `"${name.replace(/"/g, '""')}"`;
}

function paramValue(value, column) {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return String(value); // NaN, Infinity: as PostgreSQL spells them
    return value;
  }
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new TypeError(`pgsync: an invalid Date for "${column}"`);
    return value.toISOString();
  }
  throw new TypeError(`pgsync: the value for "${column}" must be a string, number, bigint, boolean, Date or null`);
}

const kComparisons = new Set(["=", "<>", "!=", "<", "<=", ">", ">="]);

// One condition as filter text with $n parameters (pgsync-serve(1), FILTERS); values never go
// into the text. params is appended to.
function conditionText(column, op, value, params) {
  const name = quoteIdentifier(column);
  const operator = String(op).trim().toLowerCase().replace(/\s+/g, " ");
  const param = (v) => {
    params.push(paramValue(v, column));
    return `$${params.length}`;
  };
  if (kComparisons.has(operator)) {
    if (value === null || value === undefined)
      throw new TypeError(`pgsync: "${column}" ${op} null matches no row in SQL: use "is" null or "is not" null`);
    return `${name} ${operator} ${param(value)}`;
  }
  switch (operator) {
    case "in":
    case "not in": {
      if (!Array.isArray(value)) throw new TypeError(`pgsync: "${op}" needs an array of values for "${column}"`);
      if (value.length === 0) return operator === "in" ? "FALSE" : "TRUE";
      return `${name} ${operator.toUpperCase()} (${value.map(param).join(", ")})`;
    }
    case "is":
    case "is not":
      if (value !== null && value !== undefined)
        throw new TypeError(`pgsync: "${op}" takes null only (for "${column}")`);
      return `${name} ${operator.toUpperCase()} NULL`;
    case "like":
    case "not like":
    case "ilike":
    case "not ilike":
      if (typeof value !== "string") throw new TypeError(`pgsync: "${op}" needs a string pattern for "${column}"`);
      return `${name} ${operator.toUpperCase()} ${param(value)}`;
    case "between":
    case "not between":
      if (!Array.isArray(value) || value.length !== 2)
        throw new TypeError(`pgsync: "${op}" needs [low, high] for "${column}"`);
      return `${name} ${operator.toUpperCase()} ${param(value[0])} AND ${param(value[1])}`;
    default:
      throw new TypeError(`pgsync: unknown operator "${op}" (=, <>, !=, <, <=, >, >=, in, not in, is, is not, like, ilike, between)`);
  }
}

// The filter of conditions [{column, op, value}] ANDed: {where, params}, or {} without conditions.
export function buildFilter(conditions) {
  if (conditions.length === 0) return {};
  const params = [];
  const where = conditions.map((c) => conditionText(c.column, c.op, c.value, params)).join(" AND ");
  return params.length > 0 ? { where, params } : { where };
}

// orderBy entries [{column, direction, nulls}] as the server's order_by text.
function orderByText(order) {
  return order
    .map((o) => `${quoteIdentifier(o.column)} ${o.direction}${o.nulls ? ` nulls ${o.nulls}` : ""}`)
    .join(", ");
}

// The rank of a value's kind, for sorting rows of mixed kinds deterministically.
function kindRank(v) {
  if (typeof v === "boolean") return 0;
  if (typeof v === "number") return 1;
  if (typeof v === "string") return 2;
  return 3;
}

function compareStrings(a, b) {
  // By code point, as PostgreSQL compares text under COLLATE "C" (UTF-8 byte order).
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done === y.done ? 0 : x.done ? -1 : 1;
    if (x.value !== y.value) return x.value.codePointAt(0) - y.value.codePointAt(0);
  }
}

function compareValues(a, b) {
  if (typeof a === "string" && typeof b === "string") return a === b ? 0 : compareStrings(a, b);
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "boolean" && typeof b === "boolean") return Number(a) - Number(b);
  const ka = kindRank(a);
  const kb = kindRank(b);
  if (ka !== kb) return ka - kb;
  return compareStrings(JSON.stringify(a), JSON.stringify(b));
}

// A comparator of [keyText, row] entries for a client-side ORDER BY: nulls last ascending and
// first descending (PostgreSQL's default), ties by key.
function rowComparator(order) {
  return ([ka, a], [kb, b]) => {
    for (const { column, direction, nulls } of order) {
      const x = a[column];
      const y = b[column];
      const xNull = x === null || x === undefined;
      const yNull = y === null || y === undefined;
      const desc = direction === "desc";
      if (xNull || yNull) {
        if (xNull && yNull) continue;
        const nullsFirst = nulls ? nulls === "first" : desc;
        return xNull === nullsFirst ? -1 : 1;
      }
      const c = compareValues(x, y);
      if (c !== 0) return desc ? -c : c;
    }
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  };
}

/** A storage that lives as long as the page or process: for tests, and as a model. */
export function memoryStorage() {
  const entries = new Map();
  const copy = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));
  return {
    async get(key) { return copy(entries.get(key)); },
    async set(key, value) { entries.set(key, copy(value)); },
    async delete(key) { entries.delete(key); },
    async clear() { entries.clear(); },
  };
}

/** A storage in the browser's IndexedDB, database `name`, one object store "results". */
export function indexedDbStorage(name = "pgsync") {
  const kStore = "results";
  let opened = null;
  const database = () => {
    if (!opened) {
      opened = new Promise((resolve, reject) => {
        if (typeof indexedDB === "undefined") {
          reject(new Error("pgsync: indexedDB is not available here"));
          return;
        }
        const request = indexedDB.open(name, 1);
        request.onupgradeneeded = () => request.result.createObjectStore(kStore);
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
        request.onblocked = () => reject(new Error(`pgsync: IndexedDB "${name}" is blocked by another tab`));
      });
      opened.catch(() => { opened = null; });
    }
    return opened;
  };
  const run = async (mode, act) => {
    const db = await database();
    return new Promise((resolve, reject) => {
      const transaction = db.transaction(kStore, mode);
      const request = act(transaction.objectStore(kStore));
      transaction.oncomplete = () => resolve(request.result);
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error ?? new Error("pgsync: IndexedDB transaction aborted"));
    });
  };
  return {
    get: (key) => run("readonly", (store) => store.get(key)),
    set: (key, value) => run("readwrite", (store) => store.put(value, key)).then(() => undefined),
    delete: (key) => run("readwrite", (store) => store.delete(key)).then(() => undefined),
    clear: () => run("readwrite", (store) => store.clear()).then(() => undefined),
  };
}

// --- one subscription on the wire ------------------------------------------------------------

// A logical subscription: it lives across reconnects and must-refetch, each time under a new wire
// id (ids are never reused, so a late frame for an old one is recognised and dropped). handlers:
// onChange(change), onUpToDate({offset}), onReset(reason), onError(PgSyncError).
class Subscription {
  constructor(client, shape, handlers) {
    this.client = client;
    this.shape = shape;
    this.handlers = handlers;
    this.window = shape.limit !== undefined && shape.limit !== null;
    this.offset = this.window ? null : shape.offset ?? null; // where to resume; null: afresh
    // The grant the offset was received under (see tokenScope; undefined: an offset the app gave,
    // trusted as it is).
    this.offsetScope = shape.offsetScope;
    this.wireId = null;
    this.loading = false;     // the current wire subscription has not reached its first up-to-date
    this.ended = false;
    this.retryAttempt = 0;
    this.retryTimer = null;
  }

  // Sends subscribe on the open connection (the client calls this on open and on demand).
  send() {
    if (this.ended || this.retryTimer !== null || this.wireId !== null) return;
    // An offset obtained under another user's token, or another grant (whose mandatory filter
    // may differ), is not a place to resume from: the rows held were filtered differently.
    if (this.offset !== null && this.offsetScope !== undefined && this.offsetScope !== this.client.connectionScope)
      this.offset = null;
    const fresh = this.offset === null;
    if (fresh) this.handlers.onReset?.("subscribe");
    this.wireId = this.client.registerWireId(this);
    this.loading = fresh;
    const frame = this.shape.channel !== undefined
      ? { type: "subscribe", id: this.wireId, channel: this.shape.channel }
      : { type: "subscribe", id: this.wireId, table: this.shape.table };
    if (this.shape.where !== undefined) frame.where = this.shape.where;
    if (this.shape.params !== undefined) frame.params = this.shape.params;
    if (this.shape.columns !== undefined) frame.columns = this.shape.columns;
    if (this.window) {
      frame.order_by = this.shape.orderBy;
      frame.limit = this.shape.limit;
    } else if (!fresh) {
      frame.offset = this.offset;
    }
    this.client.sendFrame(frame);
  }

  onFrame(frame) {
    switch (frame.type) {
      case "change": {
        if (this.window && frame.op !== "delete" && !("before" in frame)) {
          // A server without ordered windows ignores order_by and limit: say so, do not mislead.
          this.fail(new PgSyncError("windows-unsupported",
            "this pgsync-serve does not support orderBy with limit (its change frames carry no \"before\")"));
          return;
        }
        if (!this.loading && !this.window && typeof frame.offset === "string") {
          this.offset = frame.offset;
          this.offsetScope = this.client.connectionScope;
        }
        this.handlers.onChange?.({
          op: frame.op, key: frame.key, new: frame.new, old: frame.old, offset: frame.offset,
          snapshot: frame.snapshot === true, ...(this.window ? { before: frame.before ?? null } : {}),
          ...(frame.table !== undefined ? { table: frame.table } : {}),
        });
        return;
      }
      case "up-to-date":
        this.loading = false;
        this.retryAttempt = 0;
        if (!this.window && typeof frame.offset === "string") {
          this.offset = frame.offset;
          this.offsetScope = this.client.connectionScope;
        }
        this.client.healthy();
        this.handlers.onUpToDate?.({ offset: frame.offset });
        return;
      case "must-refetch":
        // The subscription is over on the server: start again from nothing, silently. A channel
        // whose table changed shape goes on from its offset (its events are still in the log).
        this.client.releaseWireId(this);
        if (!(this.shape.channel !== undefined && frame.reason === "schema-changed")) this.offset = null;
        this.handlers.onReset?.(frame.reason ?? "must-refetch");
        this.send();
        return;
      case "error":
        this.client.releaseWireId(this);
        this.onError(frame);
        return;
      default:
    }
  }

  onError(frame) {
    const code = String(frame.code ?? "error");
    if (code === "bad-offset" && this.offset !== null) {
      this.offset = null; // not an offset of this server (a restored backup, another server)
      this.send();
    } else if (kRetryCodes.has(code)) {
      const delay = this.client.backoff(this.retryAttempt++);
      this.retryTimer = this.client.setTimer(() => {
        this.retryTimer = null;
        if (this.client.isOpen()) this.send();
      }, delay);
    } else {
      this.fail(new PgSyncError(code, String(frame.message ?? code), frame.hint !== undefined ? { hint: frame.hint } : {}));
    }
  }

  // The connection is gone: the next open subscribes again (afresh when the initial rows were
  // not all there).
  onDisconnect() {
    this.wireId = null;
    if (this.loading) this.offset = null;
    this.loading = false;
  }

  // slow-consumer gave the offset of the last change delivered to this subscription.
  onSlowConsumer(offset) {
    if (!this.window && !this.loading && typeof offset === "string") {
      this.offset = offset;
      this.offsetScope = this.client.connectionScope;
    }
  }

  fail(error) {
    if (this.ended) return;
    this.end();
    this.handlers.onError?.(error);
  }

  end() {
    if (this.ended) return;
    this.ended = true;
    if (this.retryTimer !== null) this.client.clearTimer(this.retryTimer);
    this.retryTimer = null;
    if (this.wireId !== null) {
      this.client.sendFrame({ type: "unsubscribe", id: this.wireId });
      this.client.releaseWireId(this);
    }
    this.client.removeSubscription(this);
  }
}

// --- a live query's result set -----------------------------------------------------------------

// Materialises a Subscription into the query's result set, and calls onResult with the whole set
// at each up-to-date (never half a transaction). Persists it when the client has a storage.
class LiveQuery {
  constructor(client, query, onResult, onError) {
    this.client = client;
    this.query = query;
    this.onResult = onResult;
    this.onErrorCallback = onError;
    this.window = query.limit !== undefined;
    this.rows = new Map();       // keyText -> row (unlimited queries)
    this.list = [];              // [keyText, row] in order (windows)
    this.published = null;       // the rows last given to onResult
    this.changedSincePublish = false;
    this.reset = false;          // the working set was dropped since the last publish
    this.subscription = null;
    this.ended = false;
    this.storeKey = client.storage && query.persist !== false
      ? (typeof query.persist === "string" ? query.persist : `pgsync:${client.url}:${query.identity}`)
      : null;
    this.storeTimer = null;
    this.pendingEntry = null;
    this.lastStoreMs = -Infinity;
  }

  start() {
    if (!this.storeKey) {
      this.subscribe(null);
      return;
    }
    let stored;
    Promise.resolve()
      .then(() => this.client.storage.get(this.storeKey))
      .then((entry) => { stored = entry; }, () => { stored = undefined; })
      .then(() => {
        if (this.ended) return;
        const entry = this.usable(stored) ? stored : null;
        if (entry) {
          for (const [key, row] of entry.rows) {
            if (this.window) this.list.push([key, row]);
            else this.rows.set(key, row);
          }
          this.publish(true);
        }
        this.subscribe(entry);
      });
  }

  usable(entry) {
    if (!entry || typeof entry !== "object" || entry.v !== kStorageVersion) return false;
    if (entry.query !== this.query.identity || !Array.isArray(entry.rows)) return false;
    // Rows stored for another user are not shown (the token's subject, once known, must match).
    const subject = this.client.tokenSubject;
    return subject === null || entry.subject === subject;
  }

  subscribe(entry) {
    const shape = { ...this.query.shape };
    if (entry && !this.window && typeof entry.offset === "string") {
      shape.offset = entry.offset;
      shape.offsetScope = typeof entry.scope === "string" ? entry.scope : null;
    }
    this.subscription = this.client.openSubscription(shape, {
      onChange: (change) => this.apply(change),
      onUpToDate: ({ offset }) => this.upToDate(offset),
      onReset: () => {
        this.rows = new Map();
        this.list = [];
        this.reset = true;
      },
      onError: (error) => this.error(error),
      onWarning: (error) => this.warnRetrying(error),
    });
  }

  apply(change) {
    const key = keyText(change.key);
    this.changedSincePublish = true;
    if (this.window) {
      const at = this.list.findIndex(([k]) => k === key);
      if (at >= 0) this.list.splice(at, 1);
      if (change.op === "delete") return;
      const row = change.new ?? {};
      const before = change.before === null || change.before === undefined ? -1
        : this.list.findIndex(([k]) => k === keyText(change.before));
      if (before < 0) this.list.push([key, row]);
      else this.list.splice(before, 0, [key, row]);
      return;
    }
    if (change.op === "delete") {
      this.rows.delete(key);
    } else {
      // An update may leave out a TOASTed column that did not change: keep the value held.
      const held = change.op === "update" ? this.rows.get(key) : undefined;
      this.rows.set(key, held ? { ...held, ...change.new } : change.new ?? {});
    }
  }

  entries() {
    if (this.window) return this.list;
    const entries = [...this.rows];
    if (this.query.order.length > 0) entries.sort(rowComparator(this.query.order));
    return entries;
  }

  upToDate(offset) {
    if (this.ended) return;
    const entries = this.publish(false);
    if (entries) this.store(entries, offset);
  }

  // Gives the result to onResult when it may differ from the last one; returns the entries given.
  publish(fromStorage) {
    if (!fromStorage && this.published !== null && !this.changedSincePublish && !this.reset) return null;
    const entries = this.entries();
    const rows = entries.map(([, row]) => row);
    const wasReset = this.reset;
    this.changedSincePublish = false;
    this.reset = false;
    // After a resubscription the same rows often come again: no callback for an identical result.
    if (wasReset && this.published !== null && rows.length === this.published.length &&
        JSON.stringify(rows) === JSON.stringify(this.published)) {
      return entries;
    }
    this.published = rows;
    this.client.call(() => this.onResult(rows.slice()));
    return entries;
  }

  store(entries, offset) {
    if (!this.storeKey) return;
    this.pendingEntry = {
      v: kStorageVersion, query: this.query.identity, subject: this.client.connectionSubject,
      scope: this.client.connectionScope,
      offset: this.window ? null : offset ?? null, rows: entries.map(([k, r]) => [k, r]),
    };
    if (this.storeTimer !== null) return;
    const wait = this.lastStoreMs + this.client.storeThrottleMs - Date.now();
    if (wait <= 0) this.flush();
    else this.storeTimer = this.client.setTimer(() => { this.storeTimer = null; this.flush(); }, wait);
  }

  flush() {
    if (this.storeTimer !== null) this.client.clearTimer(this.storeTimer);
    this.storeTimer = null;
    if (!this.pendingEntry) return;
    const entry = this.pendingEntry;
    this.pendingEntry = null;
    this.lastStoreMs = Date.now();
    Promise.resolve()
      .then(() => this.client.storage.set(this.storeKey, entry))
      .catch((error) => this.client.warn(`could not store the result of ${this.storeKey}: ${error?.message ?? error}`));
  }

  error(error) {
    this.stop();
    if (this.onErrorCallback) this.client.call(() => this.onErrorCallback(error));
    else this.client.warn(`query on ${this.query.shape.table} failed: ${error.code}: ${error.message}`);
  }

  // A non-fatal problem (a failing token refresh): the query goes on.
  warnRetrying(error) {
    if (this.onErrorCallback) this.client.call(() => this.onErrorCallback(error));
  }

  stop() {
    if (this.ended) return;
    this.ended = true;
    this.flush();
    this.subscription?.end();
    this.client.removeQuery(this);
  }
}

// --- the query builder -----------------------------------------------------------------------

/** An immutable description of a query; each method returns a new builder. */
export class QueryBuilder {
  #client;
  #state;
  constructor(client, state) {
    this.#client = client;
    this.#state = Object.freeze(state);
  }

  #with(changes) {
    return new QueryBuilder(this.#client, { ...this.#state, ...changes });
  }

  /** The table's schema (default "public"). */
  schema(name) {
    quoteIdentifier(name);
    return this.#with({ schema: name });
  }

  /** Only these columns in each row (the key columns still identify rows). */
  columns(...names) {
    const list = names.flat();
    list.forEach(quoteIdentifier);
    return this.#with({ columns: list });
  }

  /** A condition, ANDed with the others: = <> != < <= > >=, in, not in, is, is not, like, ilike, between. */
  where(column, op, value) {
    // Build the text now so that a bad operator or value throws here, at the call.
    const condition = { column, op, value };
    conditionText(column, op, value, []);
    return this.#with({ conditions: [...this.#state.conditions, condition] });
  }

  orderBy(column, direction = "asc", nulls) {
    quoteIdentifier(column);
    const dir = String(direction).toLowerCase();
    if (dir !== "asc" && dir !== "desc") throw new TypeError(`pgsync: orderBy direction must be "asc" or "desc", not "${direction}"`);
    const n = nulls === undefined ? undefined : String(nulls).toLowerCase().replace(/^nulls\s+/, "");
    if (n !== undefined && n !== "first" && n !== "last") throw new TypeError(`pgsync: orderBy nulls must be "first" or "last"`);
    return this.#with({ order: [...this.#state.order, { column, direction: dir, nulls: n }] });
  }

  /** At most n rows (1..1000), kept by the server; needs orderBy. */
  limit(n) {
    if (!Number.isInteger(n) || n < 1 || n > 1000) throw new RangeError(`pgsync: limit must be an integer from 1 to 1000, not ${n}`);
    return this.#with({ limit: n });
  }

  /** The storage key of this query's result (default: derived from the query); false: do not persist. */
  persist(key = true) {
    if (key !== true && key !== false && (typeof key !== "string" || key === ""))
      throw new TypeError("pgsync: persist takes a non-empty string, true or false");
    return this.#with({ persist: key });
  }

  /** What would be sent: {table, where, params, columns, orderBy, limit}. */
  toShape() {
    return this.#compile().shape;
  }

  #compile() {
    const s = this.#state;
    if (s.limit !== undefined && s.order.length === 0)
      throw new TypeError("pgsync: limit needs orderBy (a window is kept in an order)");
    const shape = { table: `${quoteIdentifier(s.schema)}.${quoteIdentifier(s.table)}`, ...buildFilter(s.conditions) };
    if (s.columns !== undefined) shape.columns = [...s.columns];
    if (s.limit !== undefined) {
      shape.orderBy = orderByText(s.order);
      shape.limit = s.limit;
    }
    const identity = JSON.stringify([shape.table, shape.where ?? null, shape.params ?? null,
      shape.columns ?? null, s.order, s.limit ?? null]);
    return { shape, identity, order: s.limit !== undefined ? [] : s.order, limit: s.limit, persist: s.persist };
  }

  /**
   * Starts the query: onResult(rows) with the whole result at each consistent point, onError(error)
   * once if the query cannot go on. Returns a function that ends it.
   */
  onQueryResultChange(onResult, onError) {
    if (typeof onResult !== "function") throw new TypeError("pgsync: onQueryResultChange needs a callback");
    return this.#client.startQuery(this.#compile(), onResult, onError);
  }
}

// --- the client --------------------------------------------------------------------------------

export class PgSync {
  /** A client of the pgsync-serve at address; refreshAuthToken() resolves to a JWT, or is null. */
  static create(address, refreshAuthToken, options = {}) {
    return new PgSync(address, refreshAuthToken, options);
  }

  #WebSocket;
  #refresh;
  #random;
  #baseMs;
  #capMs;
  #onState;
  #log;
  #subscriptions = new Set();
  #queries = new Set();
  #wire = new Map();        // wire id -> Subscription
  #nextWireId = 1;
  #timers = new Set();
  #socket = null;
  #socketToken = null;      // the token the socket was opened with
  #open = false;
  #connecting = false;
  #connectGeneration = 0;
  #attempt = 0;             // reconnects since the last sign of a healthy connection
  #reconnectTimer = null;
  #disposed = false;
  #state = "idle";
  #token = null;
  #tokenRefreshAtMs = null;
  #tokenSuspect = false;    // the server refused the token, or may have: get a new one first
  #refreshTimer = null;
  #refreshFailures = 0;
  #refreshReported = false;
  #refreshing = null;       // the refresh in progress (a Promise), shared by whoever needs a token
  #authInFlight = false;
  #authUnsupported = false; // the server answered the auth frame with bad-frame

  constructor(address, refreshAuthToken, options = {}) {
    this.url = endpointUrl(address);
    this.#WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this.#WebSocket !== "function")
      throw new TypeError("pgsync: no WebSocket here: pass options.WebSocket (in Node before 22: the \"ws\" package)");
    if (refreshAuthToken !== null && refreshAuthToken !== undefined && typeof refreshAuthToken !== "function")
      throw new TypeError("pgsync: refreshAuthToken must be a function returning a Promise of a token, or null");
    this.#refresh = refreshAuthToken ?? null;
    this.storage = options.storage ?? null;
    this.storeThrottleMs = options.storeThrottleMs ?? kStoreThrottleMs;
    this.#random = options.random ?? Math.random;
    this.#baseMs = options.backoffBaseMs ?? kBackoffBaseMs;
    this.#capMs = options.backoffCapMs ?? kBackoffCapMs;
    this.#onState = options.onConnectionStateChange ?? null;
    this.#log = options.logger ?? null;
    this.tokenSubject = null;      // the sub of the latest token
    this.connectionSubject = null; // the sub of the token the connection now holds
    this.connectionScope = tokenScope(null);
  }

  /** "idle", "connecting", "open", "waiting" (to reconnect) or "disposed". */
  get connectionState() {
    return this.#state;
  }

  /** A query builder on table (in schema "public" unless .schema() says otherwise). */
  selectFrom(table) {
    this.#checkAlive();
    quoteIdentifier(table);
    return new QueryBuilder(this, { table, schema: "public", conditions: [], order: [], columns: undefined, limit: undefined, persist: true });
  }

  /**
   * Row-level subscription. shape: {table, where, params, columns, orderBy, limit, offset} in the
   * server's syntax, or {channel, offset} for a channel's events (pgsync.yaml tables[].channels);
   * handlers: {onChange, onUpToDate, onReset, onError}. Returns unsubscribe().
   */
  subscribe(shape, handlers = {}) {
    this.#checkAlive();
    const byChannel = shape && typeof shape.channel === "string";
    if (!shape || (typeof shape.table !== "string" && !byChannel)) throw new TypeError("pgsync: subscribe needs {table} or {channel}");
    if (byChannel && ["table", "where", "params", "columns", "orderBy", "limit"].some((k) => shape[k] !== undefined))
      throw new TypeError("pgsync: a channel defines its table and rows: give {channel} with at most an offset");
    if ((shape.orderBy === undefined) !== (shape.limit === undefined))
      throw new TypeError("pgsync: orderBy and limit go together (a window)");
    const wrapped = {};
    for (const name of ["onChange", "onUpToDate", "onReset", "onError"]) {
      if (typeof handlers[name] === "function") wrapped[name] = (arg) => this.call(() => handlers[name](arg));
    }
    // A non-fatal report (error.retrying) goes to onError too; the subscription goes on.
    if (wrapped.onError) wrapped.onWarning = wrapped.onError;
    const { offsetScope, ...wireShape } = shape; // eslint-disable-line no-unused-vars
    const subscription = this.openSubscription(wireShape, wrapped);
    return () => subscription.end();
  }

  setAuthTokenRefreshFunction(fn) {
    if (fn !== null && typeof fn !== "function") throw new TypeError("pgsync: the refresh function must be a function or null");
    this.#refresh = fn;
  }

  /** Closes the connection, ends every query and leaves no timer behind. */
  dispose() {
    if (this.#disposed) return;
    for (const query of [...this.#queries]) query.stop();
    for (const subscription of [...this.#subscriptions]) subscription.end();
    this.#disposed = true;
    this.#closeSocket(1000, "client disposed");
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#reconnectTimer = null;
    this.#refreshTimer = null;
    this.#setState("disposed");
  }

  // --- internals shared with Subscription and LiveQuery (not part of the API) ---

  startQuery(compiled, onResult, onError) {
    this.#checkAlive();
    const query = new LiveQuery(this, compiled, onResult, onError);
    this.#queries.add(query);
    query.start();
    return () => query.stop();
  }

  openSubscription(shape, handlers) {
    const subscription = new Subscription(this, shape, handlers);
    this.#subscriptions.add(subscription);
    if (this.#open) subscription.send();
    else this.#connect();
    return subscription;
  }

  removeSubscription(subscription) { this.#subscriptions.delete(subscription); }
  removeQuery(query) { this.#queries.delete(query); }

  registerWireId(subscription) {
    const id = `q${this.#nextWireId++}`;
    this.#wire.set(id, subscription);
    return id;
  }

  releaseWireId(subscription) {
    if (subscription.wireId !== null) this.#wire.delete(subscription.wireId);
    subscription.wireId = null;
  }

  isOpen() { return this.#open; }

  sendFrame(frame) {
    if (!this.#open || !this.#socket) return;
    try {
      this.#socket.send(JSON.stringify(frame));
    } catch (error) {
      this.warn(`could not send a frame: ${error?.message ?? error}`);
    }
  }

  healthy() { this.#attempt = 0; }

  backoff(attempt) {
    return backoffDelay(attempt, { baseMs: this.#baseMs, capMs: this.#capMs, random: this.#random });
  }

  // setTimeout, remembered for dispose(). Delays are clamped to what timers hold (2^31 - 1 ms; a
  // longer one would fire at once).
  setTimer(fn, ms) {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, Math.min(kMaxTimerMs, Math.max(0, ms)));
    this.#timers.add(timer);
    return timer;
  }

  clearTimer(timer) {
    clearTimeout(timer);
    this.#timers.delete(timer);
  }

  // Runs an application callback: its exceptions are reported, never thrown into the client.
  call(fn) {
    try {
      fn();
    } catch (error) {
      this.warn(`a callback threw: ${error?.stack ?? error}`);
    }
  }

  warn(text) {
    if (this.#log?.warn) this.#log.warn(`pgsync: ${text}`);
    else if (this.#log === null && typeof console !== "undefined") console.warn(`pgsync: ${text}`);
  }

  // --- connection ---

  #checkAlive() {
    if (this.#disposed) throw new Error("pgsync: this client has been disposed");
  }

  #setState(state, detail = {}) {
    this.#state = state;
    if (this.#onState) this.call(() => this.#onState(state, detail));
  }

  #connect() {
    if (this.#disposed || this.#socket || this.#connecting || this.#reconnectTimer !== null) return;
    if (this.#subscriptions.size === 0) return;
    this.#connecting = true;
    const generation = ++this.#connectGeneration;
    this.#setState("connecting", { attempt: this.#attempt });
    this.#tokenForConnect().then(
      (token) => {
        if (generation !== this.#connectGeneration || this.#disposed) return;
        this.#openSocket(token);
      },
      (error) => {
        if (generation !== this.#connectGeneration || this.#disposed) return;
        this.#connecting = false;
        this.#scheduleReconnect(`token refresh failed: ${error?.message ?? error}`);
      }
    );
  }

  async #tokenForConnect() {
    if (!this.#refresh) return null;
    const due = this.#tokenRefreshAtMs !== null && Date.now() >= this.#tokenRefreshAtMs;
    if (this.#token !== null && !this.#tokenSuspect && !due) return this.#token;
    return this.#refreshToken();
  }

  // Calls the refresh function (one call at a time): resolves to the new token, or rejects after
  // counting the failure (reported once, to every query, after a few in a row).
  #refreshToken() {
    if (this.#refreshing) return this.#refreshing;
    const fn = this.#refresh;
    this.#refreshing = (async () => {
      try {
        const token = await fn();
        if (typeof token !== "string" || token === "") throw new TypeError("the refresh function did not resolve to a token (a non-empty string)");
        this.#setToken(token);
        return token;
      } catch (error) {
        this.#refreshFailures += 1;
        if (this.#refreshFailures >= kRefreshFailuresBeforeReport && !this.#refreshReported && !this.#disposed) {
          this.#refreshReported = true;
          const report = new PgSyncError("token-refresh-failed",
            `the token refresh function failed ${this.#refreshFailures} times in a row (last: ${error?.message ?? error}); still retrying`,
            { retrying: true });
          for (const subscription of this.#subscriptions) subscription.handlers.onWarning?.(report);
        }
        throw error;
      } finally {
        this.#refreshing = null;
      }
    })();
    return this.#refreshing;
  }

  #setToken(token) {
    const previous = this.#token;
    const now = Date.now();
    const claims = decodeTokenClaims(token);
    this.#token = token;
    this.#tokenSuspect = false;
    this.#refreshFailures = 0;
    this.#refreshReported = false;
    this.tokenSubject = typeof claims.sub === "string" ? claims.sub : null;
    let at = refreshTime(claims, now);
    // The same token again (an app that caches): ask again later, not in a loop.
    if (at !== null && token === previous) at = Math.max(at, now + 5_000);
    this.#tokenRefreshAtMs = at;
    if (this.#refreshTimer !== null) this.clearTimer(this.#refreshTimer);
    this.#refreshTimer = null;
    if (at !== null && !this.#disposed) this.#scheduleRefresh(at, now);
  }

  #scheduleRefresh(at, now) {
    this.#refreshTimer = this.setTimer(() => {
      this.#refreshTimer = null;
      // A clamped timer (a token living weeks) fires early: wait on.
      if (Date.now() < at - 1_000) this.#scheduleRefresh(at, Date.now());
      else this.#refreshAhead(0);
    }, Math.max(1_000, at - now));
  }

  // The token is due: get a new one and hand it to the open connection (auth frame).
  #refreshAhead(failures) {
    if (this.#disposed || !this.#refresh) return;
    if (!this.#socket) return; // nothing to keep alive: the next connect gets a token
    this.#refreshToken().then(
      (token) => this.#sendAuth(token),
      () => {
        if (this.#disposed || this.#refreshTimer !== null) return;
        this.#refreshTimer = this.setTimer(() => {
          this.#refreshTimer = null;
          this.#refreshAhead(failures + 1);
        }, this.backoff(failures));
      }
    );
  }

  #sendAuth(token) {
    if (!this.#open || this.#authUnsupported || token === this.#socketToken) return;
    this.#authInFlight = true;
    this.sendFrame({ type: "auth", token });
  }

  // The connection now holds token: offsets from here on are under its grant.
  #useSocketToken(token) {
    this.#socketToken = token;
    this.connectionScope = tokenScope(token);
    const sub = token ? decodeTokenClaims(token).sub : undefined;
    this.connectionSubject = typeof sub === "string" ? sub : null;
  }

  #openSocket(token) {
    const url = token ? withToken(this.url, token) : this.url;
    let socket;
    try {
      socket = new this.#WebSocket(url);
    } catch (error) {
      this.#connecting = false;
      this.#scheduleReconnect(`could not open a WebSocket: ${error?.message ?? error}`);
      return;
    }
    this.#socket = socket;
    this.#useSocketToken(token);
    this.#authInFlight = false;
    this.#authUnsupported = false; // probed again on each connection: the server may have been upgraded
    let opened = false;
    let failure = "";
    socket.onopen = () => {
      if (this.#socket !== socket) return;
      opened = true;
      this.#open = true;
      this.#connecting = false;
      this.#setState("open");
      for (const subscription of [...this.#subscriptions]) subscription.send();
      // A token refreshed while connecting: hand it over at once.
      if (this.#token !== null && this.#token !== token) this.#sendAuth(this.#token);
    };
    socket.onmessage = (event) => {
      if (this.#socket !== socket) return;
      this.#onMessage(event.data);
    };
    socket.onerror = (event) => {
      if (this.#socket !== socket) return;
      failure = String(event?.message ?? event?.error?.message ?? "");
    };
    socket.onclose = (event) => {
      if (this.#socket !== socket) return;
      this.#onClose(event?.code ?? 1006, event?.reason ?? "", opened, failure, token);
    };
  }

  #onMessage(data) {
    let frame;
    try {
      frame = JSON.parse(typeof data === "string" ? data : new TextDecoder().decode(data));
    } catch {
      this.warn("the server sent a frame that is not JSON");
      return;
    }
    if (!frame || typeof frame !== "object") return;
    if (frame.type === "auth-ok") {
      this.#authInFlight = false;
      this.#useSocketToken(this.#token);
      this.healthy();
      return;
    }
    if (frame.type === "error" && (frame.id === undefined || frame.id === null)) {
      this.#onConnectionError(frame);
      return;
    }
    const subscription = this.#wire.get(frame.id);
    if (subscription) subscription.onFrame(frame); // else: a frame for a wire id already ended
  }

  #onConnectionError(frame) {
    switch (frame.code) {
      case "token-expired":
        // Closed with 4001 next; a token refreshed meanwhile (auth unsupported) is used as it is.
        if (this.#token === this.#socketToken) this.#tokenSuspect = true;
        return;
      case "slow-consumer":
        for (const [id, offset] of Object.entries(frame.offsets ?? {})) this.#wire.get(id)?.onSlowConsumer(offset);
        return;
      case "bad-token":
        // The new token was refused: the connection lives on with the old one until it expires;
        // connect again now with a fresh one instead.
        this.#authInFlight = false;
        this.#tokenSuspect = true;
        this.#dropSocket(4000, "token refused");
        return;
      case "bad-frame":
        if (this.#authInFlight) {
          // A server without the auth frame: keep the new token for the next connect (at 4001).
          this.#authInFlight = false;
          this.#authUnsupported = true;
          return;
        }
        this.warn(`the server refused a frame: ${frame.message ?? ""}`);
        return;
      default:
        this.warn(`server error ${frame.code}: ${frame.message ?? ""}`);
    }
  }

  // Closes the socket on our side and handles it as closed now (the close event is ignored).
  #dropSocket(code, reason) {
    const token = this.#socketToken;
    const opened = this.#open;
    this.#closeSocket(code, reason);
    this.#onClose(code, reason, opened, "", token, true);
  }

  #closeSocket(code, reason) {
    const socket = this.#socket;
    this.#socket = null;
    this.#open = false;
    this.#connecting = false;
    this.#connectGeneration++;
    if (!socket) return;
    // Keep an error handler: the ws package throws an unhandled "error" when a socket that is
    // still connecting is closed and nobody listens.
    socket.onopen = null;
    socket.onmessage = null;
    socket.onclose = null;
    socket.onerror = () => {};
    try {
      socket.close(code, reason);
    } catch {
      try { socket.close(); } catch { /* already closed */ }
    }
  }

  #onClose(code, reason, opened, failure, token, alreadyClosed = false) {
    if (!alreadyClosed) {
      const socket = this.#socket;
      this.#socket = null;
      this.#open = false;
      this.#connecting = false;
      if (socket) socket.onerror = () => {};
    }
    this.#wire.clear();
    for (const subscription of this.#subscriptions) subscription.onDisconnect();
    if (this.#disposed) return;
    if (!opened) {
      // Refused before the upgrade. Node's ws says the HTTP status; a browser says nothing, and a
      // refused token looks like any failure there: get a fresh token before the next try.
      const status = /Unexpected server response: (\d+)/.exec(failure);
      if ((status && status[1] === "401") || (!status && failure === "")) {
        if (this.#token === token) this.#tokenSuspect = true;
      }
    } else if (code === 4001 && this.#token === token) {
      this.#tokenSuspect = true;
    }
    const why = `closed ${code}${reason ? ` ${reason}` : ""}${failure ? ` (${failure})` : ""}`;
    if (this.#subscriptions.size === 0) {
      this.#setState("idle", { reason: why });
      return;
    }
    this.#scheduleReconnect(why);
  }

  #scheduleReconnect(why) {
    if (this.#disposed || this.#reconnectTimer !== null) return;
    if (this.#subscriptions.size === 0) {
      this.#setState("idle", { reason: why });
      return;
    }
    const delay = this.backoff(this.#attempt++);
    this.#setState("waiting", { reason: why, delayMs: delay, attempt: this.#attempt });
    this.#reconnectTimer = this.setTimer(() => {
      this.#reconnectTimer = null;
      this.#connect();
    }, delay);
  }
}

export default PgSync;
