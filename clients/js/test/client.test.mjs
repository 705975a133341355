// The client's own logic against a scripted fake server (fake_server.mjs): filters, one socket for
// every query, results only at up-to-date, windows with "before", must-refetch, slow-consumer,
// tokens (4001, HTTP 401, the auth frame, bad-token), errors, backoff, persistence and dispose.
// What a real pgsync-serve does is in server.test.mjs.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'

import { WebSocket, sleep, waitFor } from '../../../tests/js/harness.mjs'
import {
  PgSync,
  backoffDelay,
  buildFilter,
  decodeTokenClaims,
  memoryStorage,
  refreshTime,
} from '../pgsync.js'
import { FakeServer, insert, remove, update, upToDate } from './fake_server.mjs'

const kTimeout = { timeout: 30_000 }
const servers = []
const clients = []
after(async () => {
  for (const c of clients) c.dispose()
  for (const s of servers) await s.close()
})

async function fakeServer(options) {
  const server = await FakeServer.start(options)
  servers.push(server)
  return server
}

// A client with fast backoff, quiet, and disposed after the tests.
function client(url, refresh = null, options = {}) {
  const c = PgSync.create(url, refresh, {
    WebSocket, backoffBaseMs: 20, backoffCapMs: 200, logger: false, ...options,
  })
  clients.push(c)
  return c
}

// A query's results and errors, as arrays the test can wait on.
function collect() {
  const results = []
  const errors = []
  return {
    results,
    errors,
    onResult: (rows) => results.push(rows),
    onError: (error) => errors.push(error),
    last: () => results[results.length - 1],
  }
}

async function waitResults(c, n) {
  return waitFor(() => c.results.length >= n && c.results[n - 1], {
    timeoutMs: 5_000,
    describe: () => `${n} results; got ${JSON.stringify(c.results)} errors ${c.errors.map((e) => e.code)}`,
  })
}

// An unsigned token with these claims: the client reads exp and sub, the fake server checks nothing.
function token(claims) {
  const part = (v) => Buffer.from(JSON.stringify(v)).toString('base64url')
  return `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}.sig`
}
const nowSeconds = () => Math.floor(Date.now() / 1000)

// --- pure functions ----------------------------------------------------------------------------

test('where() becomes filter text with quoted identifiers and $n parameters, never the values', () => {
  const c = client('ws://127.0.0.1:1')
  const shape = c.selectFrom('messages').schema('Other')
    .where('group_name', '=', "party'chat")
    .where('Weird "Col"', '>=', new Date('2024-05-14T00:00:00Z'))
    .where('n', 'in', [1, 2n, null])
    .where('deleted_at', 'is', null)
    .where('title', 'not ilike', '%x%')
    .where('score', 'between', [1, 9])
    .where('tags', 'not in', [])
    .toShape()
  assert.deepEqual(shape, {
    table: '"Other"."messages"',
    where: '"group_name" = $1 AND "Weird ""Col""" >= $2 AND "n" IN ($3, $4, $5) AND ' +
      '"deleted_at" IS NULL AND "title" NOT ILIKE $6 AND "score" BETWEEN $7 AND $8 AND TRUE',
    params: ["party'chat", '2024-05-14T00:00:00.000Z', 1, '2', null, '%x%', 1, 9],
  })
  assert.deepEqual(buildFilter([]), {})
  assert.deepEqual(c.selectFrom('t').where('a', 'is not', null).toShape(), { table: '"public"."t"', where: '"a" IS NOT NULL' })
  assert.deepEqual(c.selectFrom('t').where('a', 'in', []).toShape(), { table: '"public"."t"', where: 'FALSE' })
})

test('where() refuses an unknown operator, = null, and a limit without orderBy, at the call', () => {
  const c = client('ws://127.0.0.1:1')
  const q = c.selectFrom('t')
  assert.throws(() => q.where('a', '~', 'x'), /unknown operator "~"/)
  assert.throws(() => q.where('a', '=', null), /use "is" null/)
  assert.throws(() => q.where('a', 'in', 3), /needs an array/)
  assert.throws(() => q.where('a', '=', { x: 1 }), /must be a string, number/)
  assert.throws(() => q.limit(0), /limit must be an integer from 1 to 1000/)
  assert.throws(() => q.limit(10).toShape(), /limit needs orderBy/)
  assert.deepEqual(q.orderBy('ts', 'desc').orderBy('id', 'asc', 'first').limit(50).toShape(), {
    table: '"public"."t"', orderBy: '"ts" desc, "id" asc nulls first', limit: 50,
  })
})

test('backoff is exponential with full jitter, capped', () => {
  const top = [0, 1, 2, 3, 4, 5, 6, 7, 20].map((n) => backoffDelay(n, { random: () => 1 }))
  assert.deepEqual(top, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000])
  assert.equal(backoffDelay(5, { random: () => 0 }), 0)
  assert.equal(backoffDelay(3, { random: () => 0.5, baseMs: 100, capMs: 1000 }), 400)
})

test('a token is refreshed at 75% of its life or 60 s before expiry, whichever is first, never before half', () => {
  const t0 = 1_700_000_000
  const at = (lifetime, iat = t0) => (refreshTime({ iat, exp: t0 + lifetime }, t0 * 1000) - t0 * 1000) / 1000
  assert.equal(at(3600), 2700)     // 75%
  assert.equal(at(200), 140)       // 60 s before
  assert.equal(at(3), 1.5)         // half, not in a loop
  assert.equal(refreshTime({}, 0), null)
  assert.deepEqual(decodeTokenClaims(token({ sub: 'u1', exp: 5 })), { sub: 'u1', exp: 5 })
  assert.deepEqual(decodeTokenClaims('garbage'), {})
})

// --- queries over one socket -------------------------------------------------------------------

test('every query shares one socket (ids q1, q2), and a result comes only at up-to-date', kTimeout, async () => {
  const server = await fakeServer()
  const c = client(server.url)
  const a = collect()
  const b = collect()
  c.selectFrom('messages').where('group_name', '=', 'g').onQueryResultChange(a.onResult, a.onError)
  c.selectFrom('other').orderBy('n', 'desc').onQueryResultChange(b.onResult, b.onError)
  const conn = await server.connection(0)
  const s1 = await conn.subscribe(0)
  const s2 = await conn.subscribe(1)
  assert.deepEqual(s1, { type: 'subscribe', id: 'q1', table: '"public"."messages"', where: '"group_name" = $1', params: ['g'] })
  assert.deepEqual(s2, { type: 'subscribe', id: 'q2', table: '"public"."other"' })
  assert.equal(conn.token, null, 'no refresh function: no token')

  conn.send(insert('q1', { id: 1, t: 'a' }, { snapshot: true, offset: 'o1' }), insert('q1', { id: 2, t: 'b' }, { snapshot: true }))
  conn.send(insert('q2', { id: 1, n: 1 }, { snapshot: true }), insert('q2', { id: 2, n: null }, { snapshot: true }),
    insert('q2', { id: 3, n: 5 }, { snapshot: true }))
  await sleep(100)
  assert.deepEqual(a.results, [], 'no result before up-to-date')
  conn.send(upToDate('q1', 'o2'), upToDate('q2', 'o2'))
  assert.deepEqual(await waitResults(a, 1), [{ id: 1, t: 'a' }, { id: 2, t: 'b' }])
  // orderBy without limit: sorted by the client, nulls first for desc as in PostgreSQL.
  assert.deepEqual(await waitResults(b, 1), [{ id: 2, n: null }, { id: 3, n: 5 }, { id: 1, n: 1 }])

  // A transaction: nothing shows until its up-to-date.
  conn.send(update('q1', { id: 1, t: 'A' }, { offset: 'o3' }), remove('q1', 2, { offset: 'o4' }))
  await sleep(100)
  assert.equal(a.results.length, 1, 'half a transaction was shown')
  conn.send(insert('q1', { id: 3, t: 'c' }, { offset: 'o5' }), upToDate('q1', 'o5'))
  assert.deepEqual(await waitResults(a, 2), [{ id: 1, t: 'A' }, { id: 3, t: 'c' }])
  assert.equal(server.connections.length, 1)
  c.dispose()
})

test('after a close, the client reconnects and resumes unlimited queries from their offset, without a reload', kTimeout, async () => {
  const server = await fakeServer()
  const states = []
  const c = client(server.url, null, { onConnectionStateChange: (s) => states.push(s) })
  const a = collect()
  c.selectFrom('t').onQueryResultChange(a.onResult, a.onError)
  const first = await server.connection(0)
  await first.subscribe(0)
  first.send(insert('q1', { id: 1 }, { snapshot: true }), upToDate('q1', 'o1'))
  first.send(insert('q1', { id: 2 }, { offset: 'o2' }), upToDate('q1', 'o2'))
  await waitResults(a, 2)
  first.close(1001, 'server shutting down')

  const second = await server.connection(1)
  const again = await second.subscribe(0)
  assert.deepEqual(again, { type: 'subscribe', id: 'q2', table: '"public"."t"', offset: 'o2' })
  second.send(upToDate('q2', 'o2'))
  second.send(insert('q2', { id: 3 }, { offset: 'o3' }), upToDate('q2', 'o3'))
  assert.deepEqual(await waitResults(a, 3), [{ id: 1 }, { id: 2 }, { id: 3 }])
  assert.equal(a.results.length, 3, 'an up-to-date with nothing new gave a callback')
  assert.ok(states.includes('waiting') && states.at(-1) === 'open', `states: ${states}`)
  c.dispose()
})

test('must-refetch drops the rows and subscribes again without offset, and the app sees only whole results', kTimeout, async () => {
  const server = await fakeServer()
  const c = client(server.url)
  const a = collect()
  c.selectFrom('t').onQueryResultChange(a.onResult, a.onError)
  const conn = await server.connection(0)
  await conn.subscribe(0)
  conn.send(insert('q1', { id: 1 }, { snapshot: true }), insert('q1', { id: 2 }, { snapshot: true }), upToDate('q1', 'o1'))
  await waitResults(a, 1)
  conn.send({ type: 'must-refetch', id: 'q1', reason: 'truncated' })
  const again = await conn.subscribe(1)
  assert.equal(again.offset, undefined)
  assert.equal(again.id, 'q2')
  conn.send(insert('q2', { id: 7 }, { snapshot: true }))
  // A late frame for the ended q1 is ignored.
  conn.send(insert('q1', { id: 99 }, { offset: 'x' }))
  await sleep(100)
  assert.equal(a.results.length, 1, 'an empty or half result was shown')
  conn.send(upToDate('q2', 'o9'))
  assert.deepEqual(await waitResults(a, 2), [{ id: 7 }])
  assert.deepEqual(a.errors, [])
  c.dispose()
})

test('a window applies "before", keeps the server\'s order, and after a reconnect replaces the result at the first up-to-date', kTimeout, async () => {
  const server = await fakeServer()
  const c = client(server.url)
  const a = collect()
  c.selectFrom('messages').where('g', '=', 'x').orderBy('ts', 'desc').limit(3).onQueryResultChange(a.onResult, a.onError)
  const conn = await server.connection(0)
  const sub = await conn.subscribe(0)
  assert.deepEqual(sub, {
    type: 'subscribe', id: 'q1', table: '"public"."messages"', where: '"g" = $1', params: ['x'],
    order_by: '"ts" desc', limit: 3,
  })
  const row = (id, ts) => ({ id, ts })
  conn.send(
    insert('q1', row(3, 30), { snapshot: true, before: null }),
    insert('q1', row(1, 10), { snapshot: true, before: null }),
    insert('q1', row(2, 20), { snapshot: true, before: { id: 1 } }),
    upToDate('q1', 'o1')
  )
  assert.deepEqual(await waitResults(a, 1), [row(3, 30), row(2, 20), row(1, 10)])
  // A newer row arrives at the top and pushes the oldest out: one transaction.
  conn.send(remove('q1', 1, { offset: 'o2' }), insert('q1', row(4, 40), { offset: 'o2', before: { id: 3 } }), upToDate('q1', 'o2'))
  assert.deepEqual(await waitResults(a, 2), [row(4, 40), row(3, 30), row(2, 20)])
  // An update moves a row (it is removed, then inserted before its new neighbour).
  conn.send(update('q1', row(2, 50), { offset: 'o3', before: { id: 4 } }), upToDate('q1', 'o3'))
  assert.deepEqual(await waitResults(a, 3), [row(2, 50), row(4, 40), row(3, 30)])

  conn.close(1001)
  const second = await server.connection(1)
  const again = await second.subscribe(0)
  assert.equal(again.offset, undefined, 'a window resubscribes without offset')
  assert.equal(again.limit, 3)
  // The same window again: no callback at all (no flicker, no duplicates).
  second.send(insert('q2', row(2, 50), { snapshot: true, before: null }), insert('q2', row(4, 40), { snapshot: true, before: null }),
    insert('q2', row(3, 30), { snapshot: true, before: null }), upToDate('q2', 'o3'))
  await sleep(150)
  assert.equal(a.results.length, 3, 'an identical window was given again')
  second.send(remove('q2', 3, { offset: 'o4' }), insert('q2', row(5, 60), { offset: 'o4', before: { id: 2 } }), upToDate('q2', 'o4'))
  assert.deepEqual(await waitResults(a, 4), [row(5, 60), row(2, 50), row(4, 40)])
  c.dispose()
})

test('a window on a server that ignores order_by (no "before") fails with windows-unsupported, once', kTimeout, async () => {
  const server = await fakeServer()
  const c = client(server.url)
  const a = collect()
  c.selectFrom('t').orderBy('id').limit(2).onQueryResultChange(a.onResult, a.onError)
  const conn = await server.connection(0)
  await conn.subscribe(0)
  conn.send(insert('q1', { id: 1 }, { snapshot: true }), insert('q1', { id: 2 }, { snapshot: true }), upToDate('q1', 'o1'))
  await waitFor(() => a.errors.length === 1)
  assert.equal(a.errors[0].code, 'windows-unsupported')
  await conn.frame((f) => f.type === 'unsubscribe' && f.id === 'q1')
  await sleep(100)
  assert.deepEqual(a.results, [])
  assert.equal(a.errors.length, 1)
  c.dispose()
})

test('slow-consumer (4008): the client reconnects and resumes each query from the offset the error gave', kTimeout, async () => {
  const server = await fakeServer()
  const c = client(server.url)
  const a = collect()
  const b = collect()
  c.selectFrom('t').onQueryResultChange(a.onResult, a.onError)
  c.selectFrom('u').onQueryResultChange(b.onResult, b.onError)
  const conn = await server.connection(0)
  await conn.subscribe(1)
  conn.send(upToDate('q1', 'a1'), insert('q1', { id: 1 }, { offset: 'a2' }), upToDate('q1', 'a2'))
  conn.send(insert('q2', { id: 1 }, { snapshot: true })) // q2 never reached up-to-date
  conn.send(insert('q1', { id: 2 }, { offset: 'a3' }))
  conn.send({ type: 'error', code: 'slow-consumer', message: 'too slow', offsets: { q1: 'a3', q2: 'b1' } })
  conn.close(4008, 'too slow')
  const second = await server.connection(1)
  const frames = [await second.subscribe(0), await second.subscribe(1)].sort((x, y) => x.table.localeCompare(y.table))
  assert.equal(frames[0].offset, 'a3')
  assert.equal(frames[1].offset, undefined, 'a query without its initial rows starts again')
  second.send(upToDate(frames[0].id, 'a3'))
  assert.deepEqual(await waitResults(a, 3), [{ id: 1 }, { id: 2 }])
  c.dispose()
})

// --- errors ------------------------------------------------------------------------------------

test('a refused query calls the error callback once and is not retried; load-failed is retried silently', kTimeout, async () => {
  const server = await fakeServer()
  const c = client(server.url)
  const refused = collect()
  const flaky = collect()
  c.selectFrom('secret').onQueryResultChange(refused.onResult, refused.onError)
  c.selectFrom('t').onQueryResultChange(flaky.onResult, flaky.onError)
  const conn = await server.connection(0)
  await conn.subscribe(1)
  conn.send({ type: 'error', id: 'q1', code: 'forbidden', message: 'the token does not grant "public.secret"' })
  conn.send({ type: 'error', id: 'q2', code: 'load-failed', message: 'try later' })
  const retry = await conn.subscribe(2)
  assert.equal(retry.table, '"public"."t"')
  conn.send(upToDate(retry.id, 'o1'))
  assert.deepEqual(await waitResults(flaky, 1), [])
  assert.equal(refused.errors.length, 1)
  assert.equal(refused.errors[0].code, 'forbidden')
  assert.equal(refused.errors[0].message, 'the token does not grant "public.secret"')
  assert.equal(refused.errors[0].retrying, false)
  assert.deepEqual(flaky.errors, [])
  await sleep(100)
  assert.equal(conn.subscribes().length, 3, 'the refused query was tried again')
  c.dispose()
})

test('a callback that throws does not break the client', kTimeout, async () => {
  const server = await fakeServer()
  const c = client(server.url)
  const seen = []
  c.selectFrom('t').onQueryResultChange((rows) => {
    seen.push(rows)
    throw new Error('app bug')
  })
  const conn = await server.connection(0)
  await conn.subscribe(0)
  conn.send(upToDate('q1', 'o1'), insert('q1', { id: 1 }, { offset: 'o2' }), upToDate('q1', 'o2'))
  await waitFor(() => seen.length === 2)
  c.dispose()
})

// --- tokens ------------------------------------------------------------------------------------

test('a token travels as ?token=; on 4001 the client refreshes it and resumes', kTimeout, async () => {
  const server = await fakeServer()
  let calls = 0
  const refresh = async () => token({ sub: 'u1', exp: nowSeconds() + 3600, jti: ++calls })
  const c = client(server.url, refresh)
  const a = collect()
  c.selectFrom('t').onQueryResultChange(a.onResult, a.onError)
  const first = await server.connection(0)
  assert.equal(decodeTokenClaims(first.token).jti, 1)
  await first.subscribe(0)
  first.send(upToDate('q1', 'o1'))
  await waitResults(a, 1)
  first.send({ type: 'error', code: 'token-expired', message: 'expired' })
  first.close(4001, 'token expired')
  const second = await server.connection(1)
  assert.equal(decodeTokenClaims(second.token).jti, 2)
  assert.equal((await second.subscribe(0)).offset, 'o1')
  assert.deepEqual(a.errors, [])
  c.dispose()
})

test('an offset is not resumed from under a token with another grant: the query loads afresh, silently', kTimeout, async () => {
  const server = await fakeServer()
  let calls = 0
  const grants = [{ 'public.t': { where: 'g = $1', params: ['a'] } }, { 'public.t': { where: 'g = $1', params: ['b'] } }]
  const c = client(server.url, async () => token({ sub: 'u1', exp: nowSeconds() + 3600, jti: ++calls, pgsync: { tables: grants[calls - 1] } }))
  const a = collect()
  c.selectFrom('t').onQueryResultChange(a.onResult, a.onError)
  const first = await server.connection(0)
  await first.subscribe(0)
  first.send(insert('q1', { id: 1, g: 'a' }, { snapshot: true }), upToDate('q1', 'o1'))
  await waitResults(a, 1)
  first.close(4001)
  const second = await server.connection(1)
  const again = await second.subscribe(0)
  assert.equal(again.offset, undefined, 'resumed under another grant')
  second.send(insert('q2', { id: 2, g: 'b' }, { snapshot: true }), upToDate('q2', 'o2'))
  assert.deepEqual(await waitResults(a, 2), [{ id: 2, g: 'b' }])
  assert.deepEqual(a.errors, [])
  c.dispose()
})

test('a token that lives a year is not refreshed at once (timers cannot hold such delays)', kTimeout, async () => {
  const server = await fakeServer()
  const overflows = []
  const onWarning = (warning) => { if (warning.name === 'TimeoutOverflowWarning') overflows.push(warning.message) }
  process.on('warning', onWarning)
  let calls = 0
  const c = client(server.url, async () => token({ sub: 'u1', iat: nowSeconds(), exp: nowSeconds() + 365 * 86400, jti: ++calls }))
  c.selectFrom('t').onQueryResultChange(() => {})
  const conn = await server.connection(0)
  await conn.subscribe(0)
  conn.send(upToDate('q1', 'o1'))
  await sleep(1_500)
  process.off('warning', onWarning)
  assert.equal(calls, 1)
  assert.deepEqual(conn.frames.filter((f) => f.type === 'auth'), [])
  assert.deepEqual(overflows, [], 'a timer was set past 2^31 - 1 ms (it fires at once)')
  c.dispose()
})

test('an upgrade refused with HTTP 401 gets a fresh token before the next try', kTimeout, async () => {
  const server = await fakeServer({ refuse: (url) => (decodeTokenClaims(url.searchParams.get('token')).jti === 1 ? 401 : 0) })
  let calls = 0
  const c = client(server.url, async () => token({ sub: 'u1', exp: nowSeconds() + 3600, jti: ++calls }))
  const a = collect()
  c.selectFrom('t').onQueryResultChange(a.onResult, a.onError)
  const conn = await server.connection(0)
  assert.equal(decodeTokenClaims(conn.token).jti, 2)
  assert.equal(server.attempts.length, 2)
  await conn.subscribe(0)
  c.dispose()
})

test('a server that is down is retried with backoff, and the token is not refreshed for it', kTimeout, async () => {
  const server = await fakeServer({ refuse: () => 503 })
  let calls = 0
  const waits = []
  const c = client(server.url, async () => token({ sub: 'u1', exp: nowSeconds() + 3600, jti: ++calls }), {
    random: () => 1, backoffBaseMs: 10, backoffCapMs: 80,
    onConnectionStateChange: (state, detail) => { if (state === 'waiting') waits.push(detail.delayMs) },
  })
  c.selectFrom('t').onQueryResultChange(() => {})
  await waitFor(() => waits.length >= 6)
  assert.deepEqual(waits.slice(0, 6), [10, 20, 40, 80, 80, 80])
  assert.equal(calls, 1)
  c.dispose()
})

test('ahead of expiry the token is refreshed and handed over with an auth frame, on the same socket', kTimeout, async () => {
  const server = await fakeServer()
  let calls = 0
  const c = client(server.url, async () => {
    calls += 1
    return token({ sub: 'u1', iat: nowSeconds(), exp: nowSeconds() + (calls === 1 ? 2 : 3600), jti: calls })
  })
  const a = collect()
  c.selectFrom('t').onQueryResultChange(a.onResult, a.onError)
  const conn = await server.connection(0)
  await conn.subscribe(0)
  conn.send(upToDate('q1', 'o1'))
  const auth = await conn.frame((f) => f.type === 'auth')
  assert.equal(decodeTokenClaims(auth.token).jti, 2)
  conn.send({ type: 'auth-ok', expires_at: nowSeconds() + 3600 })
  await sleep(300)
  assert.equal(server.connections.length, 1, 'the client reconnected instead of using the auth frame')
  assert.equal(calls, 2)
  c.dispose()
})

test('an auth frame refused with bad-token makes the client reconnect with a fresh token', kTimeout, async () => {
  const server = await fakeServer()
  let calls = 0
  const c = client(server.url, async () => {
    calls += 1
    return token({ sub: 'u1', iat: nowSeconds(), exp: nowSeconds() + (calls <= 2 ? 2 : 3600), jti: calls })
  })
  c.selectFrom('t').onQueryResultChange(() => {})
  const conn = await server.connection(0)
  await conn.subscribe(0)
  conn.send(upToDate('q1', 'o1'))
  await conn.frame((f) => f.type === 'auth')
  conn.send({ type: 'error', code: 'bad-token', message: 'signature does not verify' })
  const second = await server.connection(1)
  assert.equal(decodeTokenClaims(second.token).jti, 3)
  assert.equal((await second.subscribe(0)).offset, 'o1')
  c.dispose()
})

test('a server without the auth frame (bad-frame): the refreshed token is used at the 4001 without another refresh', kTimeout, async () => {
  const server = await fakeServer()
  let calls = 0
  const c = client(server.url, async () => {
    calls += 1
    return token({ sub: 'u1', iat: nowSeconds(), exp: nowSeconds() + (calls === 1 ? 2 : 3600), jti: calls })
  })
  c.selectFrom('t').onQueryResultChange(() => {})
  const conn = await server.connection(0)
  await conn.subscribe(0)
  conn.send(upToDate('q1', 'o1'))
  await conn.frame((f) => f.type === 'auth')
  conn.send({ type: 'error', code: 'bad-frame', message: 'unknown frame type "auth" (subscribe, ack or unsubscribe)' })
  conn.send({ type: 'error', code: 'token-expired', message: 'expired' })
  conn.close(4001)
  const second = await server.connection(1)
  assert.equal(decodeTokenClaims(second.token).jti, 2)
  assert.equal(calls, 2)
  c.dispose()
})

test('a refresh function that keeps failing is retried with backoff and reported once, as retrying', kTimeout, async () => {
  const server = await fakeServer()
  let calls = 0
  const c = client(server.url, async () => {
    calls += 1
    if (calls <= 5) throw new Error('auth backend down')
    return token({ sub: 'u1', exp: nowSeconds() + 3600 })
  })
  const a = collect()
  c.selectFrom('t').onQueryResultChange(a.onResult, a.onError)
  const conn = await server.connection(0)
  await conn.subscribe(0)
  conn.send(upToDate('q1', 'o1'))
  await waitResults(a, 1)
  assert.equal(calls, 6)
  assert.equal(a.errors.length, 1)
  assert.equal(a.errors[0].code, 'token-refresh-failed')
  assert.equal(a.errors[0].retrying, true)
  c.dispose()
})

// --- low-level subscribe -------------------------------------------------------------------------

test('subscribe() gives row changes, up-to-date and a reset on must-refetch; an offset given resumes', kTimeout, async () => {
  const server = await fakeServer()
  const c = client(server.url)
  const events = []
  const stop = c.subscribe({ table: 'public.t', where: 'id > $1', params: [0], columns: ['id'], offset: 'given' }, {
    onChange: (change) => events.push(['change', change.op, change.key, change.new, change.offset]),
    onUpToDate: ({ offset }) => events.push(['up-to-date', offset]),
    onReset: (reason) => events.push(['reset', reason]),
  })
  const conn = await server.connection(0)
  assert.deepEqual(await conn.subscribe(0), {
    type: 'subscribe', id: 'q1', table: 'public.t', where: 'id > $1', params: [0], columns: ['id'], offset: 'given',
  })
  conn.send(insert('q1', { id: 1 }, { offset: 'o1' }), upToDate('q1', 'o1'), { type: 'must-refetch', id: 'q1', reason: 'offset-expired' })
  await conn.subscribe(1)
  await waitFor(() => events.length >= 3)
  assert.deepEqual(events.slice(0, 3), [['change', 'insert', { id: 1 }, { id: 1 }, 'o1'], ['up-to-date', 'o1'], ['reset', 'offset-expired']])
  stop()
  await conn.frame((f) => f.type === 'unsubscribe' && f.id === 'q2')
  c.dispose()
})

// --- persistence ---------------------------------------------------------------------------------

test('with a storage, a new client shows the stored result at once and resumes from its offset', kTimeout, async () => {
  const server = await fakeServer()
  const storage = memoryStorage()
  const first = client(server.url, null, { storage, storeThrottleMs: 0 })
  const a = collect()
  first.selectFrom('t').persist('chat:t').onQueryResultChange(a.onResult, a.onError)
  const conn = await server.connection(0)
  await conn.subscribe(0)
  conn.send(insert('q1', { id: 1 }, { snapshot: true }), upToDate('q1', 'o1'), insert('q1', { id: 2 }, { offset: 'o2' }), upToDate('q1', 'o2'))
  await waitResults(a, 2)
  await waitFor(async () => (await storage.get('chat:t'))?.offset === 'o2')
  first.dispose()

  // The server is "down" for the new client's first moments: the stored rows show anyway.
  const second = client(server.url, null, { storage })
  const b = collect()
  second.selectFrom('t').persist('chat:t').onQueryResultChange(b.onResult, b.onError)
  assert.deepEqual(await waitResults(b, 1), [{ id: 1 }, { id: 2 }])
  const conn2 = await server.connection(1)
  assert.equal((await conn2.subscribe(0)).offset, 'o2')
  conn2.send(upToDate('q1', 'o2'), insert('q1', { id: 3 }, { offset: 'o3' }), upToDate('q1', 'o3'))
  assert.deepEqual(await waitResults(b, 2), [{ id: 1 }, { id: 2 }, { id: 3 }])

  // The same key for another query is not used (its rows are not this query's).
  const third = client(server.url, null, { storage })
  const d = collect()
  third.selectFrom('t').where('id', '=', 1).persist('chat:t').onQueryResultChange(d.onResult, d.onError)
  const conn3 = await server.connection(2)
  assert.equal((await conn3.subscribe(0)).offset, undefined)
  assert.deepEqual(d.results, [])
  second.dispose()
  third.dispose()
})

test('a persisted window shows its stored rows at once and replaces them at the first up-to-date', kTimeout, async () => {
  const server = await fakeServer()
  const storage = memoryStorage()
  const query = (c) => c.selectFrom('t').orderBy('id', 'desc').limit(2)
  const first = client(server.url, null, { storage, storeThrottleMs: 0 })
  const a = collect()
  query(first).onQueryResultChange(a.onResult, a.onError)
  const conn = await server.connection(0)
  await conn.subscribe(0)
  conn.send(insert('q1', { id: 2 }, { snapshot: true, before: null }), insert('q1', { id: 1 }, { snapshot: true, before: null }), upToDate('q1', 'o1'))
  await waitResults(a, 1)
  await waitFor(async () => (await storage.get(`pgsync:${first.url}:${JSON.stringify(['"public"."t"', null, null, null, [{ column: 'id', direction: 'desc' }], 2])}`)))
  first.dispose()

  const second = client(server.url, null, { storage })
  const b = collect()
  query(second).onQueryResultChange(b.onResult, b.onError)
  assert.deepEqual(await waitResults(b, 1), [{ id: 2 }, { id: 1 }])
  const conn2 = await server.connection(1)
  const sub = await conn2.subscribe(0)
  assert.equal(sub.offset, undefined)
  conn2.send(insert('q1', { id: 3 }, { snapshot: true, before: null }))
  await sleep(100)
  assert.equal(b.results.length, 1, 'the stored rows were dropped before the new window was whole')
  conn2.send(insert('q1', { id: 2 }, { snapshot: true, before: null }), upToDate('q1', 'o2'))
  assert.deepEqual(await waitResults(b, 2), [{ id: 3 }, { id: 2 }])
  second.dispose()
})

// --- dispose ---------------------------------------------------------------------------------------

test('dispose() leaves nothing running: a Node process exits by itself, even while waiting to reconnect', kTimeout, async () => {
  const server = await fakeServer()
  const script = `
    import { WebSocket } from ${JSON.stringify(new URL('../../../tests/js/harness.mjs', import.meta.url).href)}
    import { PgSync, memoryStorage } from ${JSON.stringify(new URL('../pgsync.js', import.meta.url).href)}
    const part = (v) => Buffer.from(JSON.stringify(v)).toString('base64url')
    const token = () => part({alg:'HS256'}) + '.' + part({sub:'u', exp: Math.floor(Date.now()/1000) + 3600}) + '.s'
    const c = PgSync.create(process.argv[1], async () => token(), { WebSocket, storage: memoryStorage(), logger: false })
    c.selectFrom('t').onQueryResultChange((rows) => {
      console.log('result', rows.length)
      c.selectFrom('u').onQueryResultChange(() => {})
      setTimeout(() => { c.dispose(); console.log('disposed') }, 200)
    })
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, server.url], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d) => { output += d })
  child.stderr.on('data', (d) => { output += d })
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)))
  const conn = await server.connection(0)
  await conn.subscribe(0)
  conn.send(upToDate('q1', 'o1'))
  await conn.subscribe(1)
  // The second query is refused with a retryable error: a retry timer is pending at dispose.
  conn.send({ type: 'error', id: 'q2', code: 'server-busy', message: 'busy' })
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
  const code = await exited
  clearTimeout(timer)
  assert.equal(code, 0, `the process did not exit by itself after dispose(): ${output}`)
  assert.match(output, /result 0\ndisposed\n/)
  await waitFor(() => conn.closed)
  assert.equal(conn.closed.code, 1000)
})
