// TypeScript declarations for pgsync.js, pgsync's JavaScript client (see README.md).

/** A row as pgsync-serve sends it: column name to JSON value (pgsync-snapshot(1), VALUES). */
export type Row = Record<string, unknown>;

/** A value a filter may compare with: sent as a $n parameter, never written into the filter text. */
export type FilterValue = string | number | bigint | boolean | Date;

export type ComparisonOperator = "=" | "<>" | "!=" | "<" | "<=" | ">" | ">=";

/** A function that resolves to a JWT for pgsync-serve (called at connect, ahead of expiry, and after a refusal). */
export type RefreshAuthToken = () => Promise<string>;

/** Where results are kept between page loads; `indexedDbStorage()` and `memoryStorage()` are two. */
export interface PgSyncStorage {
  get(key: string): Promise<unknown | undefined>;
  set(key: string, value: unknown): Promise<void>;
  delete?(key: string): Promise<void>;
  clear?(): Promise<void>;
}

/** What the client uses of a WebSocket (the browser's, Node 22's, or the "ws" package's). */
export interface WebSocketLike {
  onopen: ((event: any) => void) | null;
  onmessage: ((event: { data: any }) => void) | null;
  onerror: ((event: any) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type ConnectionState = "idle" | "connecting" | "open" | "waiting" | "disposed";

export interface PgSyncOptions {
  /** The WebSocket constructor (default globalThis.WebSocket; in Node before 22, the "ws" package's). */
  WebSocket?: new (url: string) => WebSocketLike;
  /** Keeps each query's last result (and, for unlimited queries, its offset) across reloads. */
  storage?: PgSyncStorage | null;
  /** At most one write per query per this many milliseconds (default 1000). */
  storeThrottleMs?: number;
  /** Reconnect backoff: a random delay in [0, min(cap, base * 2^attempt)) (defaults 500 and 30000 ms). */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** The source of randomness for the jitter (default Math.random). */
  random?: () => number;
  /** Told of every change of the connection's state; "waiting" comes with {reason, delayMs, attempt}. */
  onConnectionStateChange?: (state: ConnectionState, detail: { reason?: string; delayMs?: number; attempt?: number }) => void;
  /** Where the client's warnings go (default console); false: nowhere. */
  logger?: { warn(message: string): void } | false | null;
}

/**
 * What reaches an error callback. `code` is the server's error code (bad-filter, forbidden,
 * not-allowed, unknown-table, bad-order, unauthorized-row, duplicate-id, too-many-subscriptions,
 * too-expensive, bad-frame, ...) or the client's: windows-unsupported, token-refresh-failed.
 * With `retrying` true the query goes on (the client keeps trying); otherwise it has ended.
 */
export class PgSyncError extends Error {
  readonly name: "PgSyncError";
  readonly code: string;
  readonly retrying: boolean;
  readonly hint?: string;
  constructor(code: string, message: string, options?: { retrying?: boolean; hint?: string });
}

/** An immutable query description; every method returns a new builder. */
export class QueryBuilder {
  /** The table's schema (default "public"). Names are exact: they are double-quoted, not folded. */
  schema(name: string): QueryBuilder;
  /** Only these columns in each row (the primary key still identifies rows). */
  columns(...names: Array<string | string[]>): QueryBuilder;
  /** A condition, ANDed with the others. */
  where(column: string, op: ComparisonOperator, value: FilterValue): QueryBuilder;
  where(column: string, op: "in" | "not in" | "IN" | "NOT IN", values: Array<FilterValue | null>): QueryBuilder;
  where(column: string, op: "is" | "is not" | "IS" | "IS NOT", value: null): QueryBuilder;
  where(column: string, op: "like" | "not like" | "ilike" | "not ilike" | "LIKE" | "NOT LIKE" | "ILIKE" | "NOT ILIKE", pattern: string): QueryBuilder;
  where(column: string, op: "between" | "not between" | "BETWEEN" | "NOT BETWEEN", range: [FilterValue, FilterValue]): QueryBuilder;
  /** Order of the result; with limit() the server keeps the window, without it the client sorts. */
  orderBy(column: string, direction?: "asc" | "desc", nulls?: "first" | "last"): QueryBuilder;
  /** At most n rows (1 to 1000), the first in orderBy's order; needs orderBy. */
  limit(n: number): QueryBuilder;
  /** The storage key for this query's result (default: derived from the server and the query); false: none. */
  persist(key?: string | boolean): QueryBuilder;
  /** The subscription this query sends (table, where, params, columns, orderBy, limit). */
  toShape(): Shape;
  /**
   * Starts the query. onResult receives the whole result, in the query's order, at each consistent
   * point (never half a transaction); onError is called when the query cannot go on (and, with
   * error.retrying, when the token refresh keeps failing). Returns a function that ends the query.
   */
  onQueryResultChange(onResult: (rows: Row[]) => void, onError?: (error: PgSyncError) => void): () => void;
}

/** A subscription in the server's own terms (pgsync-serve(1), WEBSOCKET PROTOCOL). */
export interface Shape {
  /** schema.name or name, as SQL reads identifiers (unquoted parts fold to lower case). */
  table: string;
  /** A filter (pgsync-serve(1), FILTERS) with $1, $2 ... for params. */
  where?: string;
  params?: Array<string | number | boolean | null>;
  columns?: string[];
  /** With limit, a window kept by the server: "column [asc|desc] [nulls first|last], ...". */
  orderBy?: string;
  limit?: number;
  /** Resume after this offset (without initial rows); ignored for windows. */
  offset?: string;
}

/** A channel's events (pgsync.yaml tables[].channels): no initial rows; without offset, from now on. */
export interface ChannelSubscription {
  channel: string;
  /** Resume after this offset. */
  offset?: string;
}

export interface Change {
  /** "truncate" only on a channel that lists it (then no key). */
  op: "insert" | "update" | "delete" | "truncate";
  /** Channels: the change's table, schema.name. */
  table?: string;
  /** The row's primary key columns. */
  key: Row;
  /** The row after the change (insert, update); an update may leave out unchanged TOASTed columns. */
  new?: Row;
  /** The row before the change, when the server knows it. */
  old?: Row;
  offset?: string;
  /** One of the initial rows. */
  snapshot: boolean;
  /** Windows only: the key of the row this one now sits before, null for the end. */
  before?: Row | null;
}

export interface SubscriptionHandlers {
  onChange?(change: Change): void;
  /** What was received is consistent with a committed state; offset is the place to resume from. */
  onUpToDate?(upToDate: { offset: string }): void;
  /** Drop every row held for this subscription: initial rows follow (after must-refetch, or a window's resubscription). */
  onReset?(reason: string): void;
  onError?(error: PgSyncError): void;
}

export class PgSync {
  /** A client of the pgsync-serve at address (ws://, wss://, http://, https:// or host:port). */
  static create(address: string, refreshAuthToken?: RefreshAuthToken | null, options?: PgSyncOptions): PgSync;
  constructor(address: string, refreshAuthToken?: RefreshAuthToken | null, options?: PgSyncOptions);
  /** The /v1/ws URL the client connects to (without the token). */
  readonly url: string;
  readonly connectionState: ConnectionState;
  /** The `sub` of the latest token, or null. */
  readonly tokenSubject: string | null;
  /** The `sub` of the token the open connection holds, or null. */
  readonly connectionSubject: string | null;
  /** The grant of the token the open connection holds (see tokenScope). */
  readonly connectionScope: string;
  /** A query on table, in schema "public" unless .schema() says otherwise. */
  selectFrom(table: string): QueryBuilder;
  /** Row-level changes of one subscription. Returns a function that ends it. */
  subscribe(shape: Shape | ChannelSubscription, handlers?: SubscriptionHandlers): () => void;
  setAuthTokenRefreshFunction(fn: RefreshAuthToken | null): void;
  /** Ends every query, closes the connection and leaves no timer behind. */
  dispose(): void;
}

export default PgSync;

/** Results in the browser's IndexedDB, database `name` (default "pgsync"). */
export function indexedDbStorage(name?: string): Required<PgSyncStorage>;
/** Results in memory (a Map holding JSON copies). */
export function memoryStorage(): Required<PgSyncStorage>;

/** The filter text and parameters of conditions ANDed (what where() builds). */
export function buildFilter(conditions: Array<{ column: string; op: string; value: unknown }>): { where?: string; params?: Array<string | number | boolean | null> };
export function quoteIdentifier(name: string): string;
/** A token's claims but the timing ones (exp, iat, nbf, jti, auth_time), as stable JSON: offsets are resumed only under the same scope. */
export function tokenScope(token: string | null): string;
/** A JWT's claims, unverified ({} when unreadable). */
export function decodeTokenClaims(token: string): Record<string, unknown>;
/** When a token received at receivedMs is refreshed (epoch milliseconds), or null without exp. */
export function refreshTime(claims: { exp?: number; iat?: number }, receivedMs: number): number | null;
/** A reconnect delay: random() * min(capMs, baseMs * 2^attempt). */
export function backoffDelay(attempt: number, options?: { baseMs?: number; capMs?: number; random?: () => number }): number;
