// The client against a real pgsync-serve and the harness PostgreSQL (tests/js/harness.mjs): results
// equal the SQL query after every transaction and never show half of one, resume by offset across
// a server restart, must-refetch after TRUNCATE, HS256 tokens that expire (HTTP 401, 4001), refusals,
// persistence, ordered windows (and bad-order), the app's row webhook (served here with node:http),
// and tokens refreshed on the open connection (the auth frame); an index made after the server
// started, a refused update or delete that leaves only the key behind; a channel's events.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'

import {
  WebSocket,
  cleanup,
  metric,
  onCleanup,
  show,
  signHs256,
  sleep,
  sql,
  startServe,
  uniqueName,
  waitFor,
} from '../../../tests/js/harness.mjs'
import { PgSync, memoryStorage } from '../pgsync.js'

const kTimeout = { timeout: 120_000 }
const kSecret = 'client-test-secret-of-at-least-32-bytes!'

after(cleanup)

// A WebSocket class that records every frame both ways and every connection (log entries:
// {dir: 'open', url} | {dir: 'out'|'in', frame}).
function spyWebSocket(log) {
  return class SpyWebSocket extends WebSocket {
    constructor(url, ...rest) {
      super(url, ...rest)
      log.push({ dir: 'open', url: String(url) })
      this.addEventListener('message', (event) => log.push({ dir: 'in', frame: JSON.parse(event.data) }))
      this.addEventListener('close', (event) => log.push({ dir: 'close', code: event.code }))
    }

    send(data, ...rest) {
      log.push({ dir: 'out', frame: JSON.parse(data) })
      return super.send(data, ...rest)
    }
  }
}

function newClient(url, refresh = null, options = {}) {
  const log = []
  const client = PgSync.create(url, refresh, {
    WebSocket: spyWebSocket(log), backoffBaseMs: 50, backoffCapMs: 1000, logger: false, ...options,
  })
  onCleanup(async () => client.dispose())
  return { client, log }
}

function collect() {
  const results = []
  const errors = []
  return { results, errors, onResult: (rows) => results.push(rows), onError: (error) => errors.push(error) }
}

// A fresh table (columns: SQL) with rows (SQL VALUES tuples).
async function table(prefix, columns, rows = []) {
  const name = uniqueName(prefix)
  await sql(`CREATE TABLE ${name} (${columns})`)
  onCleanup(() => sql(`DROP TABLE IF EXISTS ${name}`))
  if (rows.length > 0) await sql(`INSERT INTO ${name} VALUES ${rows.join(', ')}`)
  return name
}

// The rows of SELECT * FROM name WHERE where ORDER BY orderBy [LIMIT], as pgsync sends them.
async function selectRows(name, where, orderBy, limit = null) {
  const text = await sql(
    `SELECT coalesce(json_agg(r), '[]') FROM (SELECT * FROM ${name} t WHERE ${where} ` +
      `ORDER BY ${orderBy}${limit ? ` LIMIT ${limit}` : ''}) r`
  )
  return JSON.parse(text)
}

// Waits until the latest result deep-equals the SQL query's rows.
async function converge(collected, name, where, orderBy, limit = null) {
  let expected
  await waitFor(
    async () => {
      if (collected.errors.length > 0) throw new Error(`the query failed: ${collected.errors.map((e) => `${e.code}: ${e.message}`)}`)
      expected = await selectRows(name, where, orderBy, limit)
      const last = collected.results.at(-1)
      return last !== undefined && JSON.stringify(last) === JSON.stringify(expected)
    },
    {
      timeoutMs: 15_000,
      describe: () => `the result to equal the table\n  result: ${show(collected.results.at(-1))}\n  table:  ${show(expected)}`,
    }
  )
}

function token(claims, lifetimeSeconds) {
  const now = Math.floor(Date.now() / 1000)
  return signHs256({ sub: 'u1', iat: now, exp: now + lifetimeSeconds, ...claims }, kSecret)
}

test('a query\'s result equals its SQL after every transaction, and never shows half of one', kTimeout, async () => {
  const name = await table('cq', 'id int PRIMARY KEY, grp text, n int, "Note" text',
    [`(1, 'a', 1, 'x')`, `(2, 'a', 5, NULL)`, `(3, 'b', 9, 'y')`, `(4, 'a', 7, 'it''s')`])
  const serve = await startServe({ tables: [name] })
  const { client, log } = newClient(serve.wsUrl)
  const q = collect()
  client.selectFrom(name).where('grp', '=', 'a').where('n', '>=', 2).orderBy('n', 'desc')
    .onQueryResultChange(q.onResult, q.onError)
  await converge(q, name, `grp = 'a' AND n >= 2`, 'n DESC, id')

  // Fifty rows in one transaction: every result has all or none of them.
  await sql(`INSERT INTO ${name} SELECT g, 'a', 100 + g, 'bulk' FROM generate_series(100, 149) g`)
  await sql(`UPDATE ${name} SET n = 3, "Note" = 'moved' WHERE id = 4; DELETE FROM ${name} WHERE id = 2; ` +
    `UPDATE ${name} SET grp = 'a' WHERE id = 3`)
  await converge(q, name, `grp = 'a' AND n >= 2`, 'n DESC, id')
  for (const rows of q.results) {
    const bulk = rows.filter((r) => r.Note === 'bulk').length
    assert.ok(bulk === 0 || bulk === 50, `a result showed ${bulk} of the 50 rows of one transaction`)
  }
  // One socket, one subscription.
  assert.equal(log.filter((e) => e.dir === 'open').length, 1)
  assert.deepEqual(log.filter((e) => e.dir === 'out').map((e) => e.frame.type), ['subscribe'])
})

test('where() operators filter as the same SQL does (IN, IS NULL, LIKE, quoted names, quotes in values)', kTimeout, async () => {
  const name = await table('ops', 'id int PRIMARY KEY, "Title" text, n int, ts timestamptz',
    [`(1, 'it''s', 1, '2024-05-14T00:00:00Z')`, `(2, 'abc', NULL, '2024-05-15T00:00:00Z')`,
     `(3, 'abd', 3, NULL)`, `(4, 'x', 4, '2024-05-16T12:00:00Z')`])
  const serve = await startServe({ tables: [name] })
  const { client } = newClient(serve.wsUrl)
  const cases = [
    [(b) => b.where('Title', '=', "it's"), `"Title" = 'it''s'`],
    [(b) => b.where('n', 'in', [1, 3, 99]), 'n IN (1, 3, 99)'],
    [(b) => b.where('n', 'is', null), 'n IS NULL'],
    [(b) => b.where('Title', 'like', 'ab%').where('n', 'is not', null), `"Title" LIKE 'ab%' AND n IS NOT NULL`],
    [(b) => b.where('ts', '>=', new Date('2024-05-15T00:00:00Z')), `ts >= '2024-05-15T00:00:00Z'`],
    [(b) => b.where('n', '<>', 4).where('n', 'between', [0, 3]), 'n <> 4 AND n BETWEEN 0 AND 3'],
  ]
  const queries = cases.map(([build]) => {
    const q = collect()
    build(client.selectFrom(name)).orderBy('id').onQueryResultChange(q.onResult, q.onError)
    return q
  })
  for (const [k, [, where]] of cases.entries()) await converge(queries[k], name, where, 'id')
  await sql(`INSERT INTO ${name} VALUES (5, 'abz', 2, '2024-06-01Z'), (6, 'it''s', NULL, NULL)`)
  for (const [k, [, where]] of cases.entries()) await converge(queries[k], name, where, 'id')
})

test('across a pgsync-serve restart the client reconnects and resumes from its offset, without reloading', kTimeout, async () => {
  const name = await table('resume', 'id int PRIMARY KEY, v text', [`(1, 'a')`, `(2, 'b')`])
  const serve = await startServe({ tables: [name] })
  const { client, log } = newClient(serve.wsUrl)
  const q = collect()
  client.selectFrom(name).orderBy('id').onQueryResultChange(q.onResult, q.onError)
  await converge(q, name, 'true', 'id')
  await sql(`INSERT INTO ${name} VALUES (3, 'c')`)
  await converge(q, name, 'true', 'id')

  await serve.stop()
  await sql(`INSERT INTO ${name} VALUES (4, 'd'); UPDATE ${name} SET v = 'A' WHERE id = 1`)
  await sleep(1_500) // the client retries against a closed port meanwhile
  const before = log.length
  await serve.start()
  await converge(q, name, 'true', 'id')
  await sql(`DELETE FROM ${name} WHERE id = 2`)
  await converge(q, name, 'true', 'id')

  const after = log.slice(before)
  const subscribe = after.find((e) => e.dir === 'out' && e.frame.type === 'subscribe')
  assert.ok(subscribe?.frame.offset, `the subscription after the restart carried no offset: ${show(subscribe)}`)
  const snapshots = after.filter((e) => e.dir === 'in' && e.frame.snapshot)
  assert.deepEqual(snapshots, [], 'the rows were loaded again after the restart')
  assert.deepEqual(q.errors, [])
})

test('TRUNCATE: must-refetch is handled silently, and no empty result is shown in between', kTimeout, async () => {
  const name = await table('trunc', 'id int PRIMARY KEY', ['(1)', '(2)', '(3)'])
  const serve = await startServe({ tables: [name] })
  const { client, log } = newClient(serve.wsUrl)
  const q = collect()
  client.selectFrom(name).orderBy('id').onQueryResultChange(q.onResult, q.onError)
  await converge(q, name, 'true', 'id')
  await sql(`TRUNCATE ${name}; INSERT INTO ${name} VALUES (10), (11)`)
  await converge(q, name, 'true', 'id')
  assert.ok(log.some((e) => e.dir === 'in' && e.frame.type === 'must-refetch' && e.frame.reason === 'truncated'),
    'the server sent no must-refetch')
  assert.ok(q.results.every((rows) => rows.length > 0), `an empty result was shown: ${show(q.results)}`)
  assert.deepEqual(q.errors, [])
})

test('tokens: an expired one is refused (401) and refreshed; one that expires while connected (4001) is replaced, nothing lost', kTimeout, async () => {
  const name = await table('tok', 'id int PRIMARY KEY', ['(1)'])
  const serve = await startServe({ tables: [name], jwtSecret: kSecret })
  const grant = { pgsync: { tables: { [`public.${name}`]: {} } } }
  const issued = []
  const refresh = async () => {
    // 1: already expired; 2: lives 4 s; then an hour.
    const lifetime = issued.length === 0 ? -100 : issued.length === 1 ? 4 : 3600
    issued.push(token(grant, lifetime))
    return issued.at(-1)
  }
  const { client, log } = newClient(serve.wsUrl, refresh)
  const q = collect()
  client.selectFrom(name).orderBy('id').onQueryResultChange(q.onResult, q.onError)
  await converge(q, name, 'true', 'id')
  const opens = () => log.filter((e) => e.dir === 'open')
  assert.ok(opens()[0].url.includes(issued[0]) && opens()[1].url.includes(issued[1]), 'the refused token was not replaced')

  // The 4 s token expires while rows keep coming; the client carries on with the next token.
  for (let id = 2; id <= 8; id += 1) {
    await sql(`INSERT INTO ${name} VALUES (${id})`)
    await sleep(700)
  }
  await converge(q, name, 'true', 'id')
  assert.deepEqual(q.errors, [])
  assert.equal(issued.length, 3, `tokens issued: ${issued.length}`)
  const authFrames = log.filter((e) => e.dir === 'out' && e.frame.type === 'auth')
  const closed4001 = log.some((e) => e.dir === 'close' && e.code === 4001)
  const authOk = log.some((e) => e.dir === 'in' && e.frame.type === 'auth-ok')
  // Today's server answers the auth frame with bad-frame and closes with 4001 at expiry; a server
  // with the auth frame (issue 12) answers auth-ok and keeps the connection.
  assert.equal(authFrames.length, 1)
  assert.ok(authOk ? !closed4001 : closed4001, `auth-ok ${authOk}, 4001 ${closed4001}`)
  if (closed4001) assert.ok(opens().at(-1).url.includes(issued[2]), 'the reconnect after 4001 did not use the new token')
})

test('a refreshed token with another mandatory filter: the result follows the new grant, never a mix of both', kTimeout, async () => {
  const name = await table('grant', 'id int PRIMARY KEY, grp text NOT NULL',
    [`(1, 'a')`, `(2, 'b')`, `(3, 'a')`, `(4, 'b')`])
  await sql(`ALTER TABLE ${name} REPLICA IDENTITY FULL`) // a grant's filter needs it (pgsync-serve(1))
  const serve = await startServe({ tables: [name], jwtSecret: kSecret })
  const grant = (group) => ({ pgsync: { tables: { [`public.${name}`]: { where: 'grp = $1', params: [group] } } } })
  let calls = 0
  // The first token (group a) lives 4 s; the next ones grant group b.
  const refresh = async () => (++calls === 1 ? token(grant('a'), 4) : token(grant('b'), 3600))
  const { client } = newClient(serve.wsUrl, refresh)
  const q = collect()
  client.selectFrom(name).orderBy('id').onQueryResultChange(q.onResult, q.onError)
  await converge(q, name, `grp = 'a'`, 'id')
  await sql(`INSERT INTO ${name} VALUES (5, 'a'), (6, 'b')`)
  await converge(q, name, `grp = 'b'`, 'id')
  await sql(`INSERT INTO ${name} VALUES (7, 'a'), (8, 'b')`)
  await converge(q, name, `grp = 'b'`, 'id')
  for (const rows of q.results) {
    const groups = new Set(rows.map((r) => r.grp))
    assert.ok(groups.size <= 1, `a result mixed the two grants: ${show(rows)}`)
  }
  assert.deepEqual(q.errors, [])
})

test('a refused query (forbidden, bad-filter, unknown-table) calls its error callback once and is not retried', kTimeout, async () => {
  const name = await table('refuse', 'id int PRIMARY KEY', ['(1)'])
  const other = await table('refuse_other', 'id int PRIMARY KEY')
  const serve = await startServe({ tables: [name, other], jwtSecret: kSecret })
  const grant = { pgsync: { tables: { [`public.${name}`]: {} } } }
  const { client, log } = newClient(serve.wsUrl, async () => token(grant, 3600))
  const forbidden = collect()
  const badFilter = collect()
  const unknown = collect()
  const fine = collect()
  client.selectFrom(other).onQueryResultChange(forbidden.onResult, forbidden.onError)
  client.selectFrom(name).where('nope', '=', 1).onQueryResultChange(badFilter.onResult, badFilter.onError)
  client.selectFrom('no_such_table_here').onQueryResultChange(unknown.onResult, unknown.onError)
  client.selectFrom(name).onQueryResultChange(fine.onResult, fine.onError)
  await converge(fine, name, 'true', 'id')
  await waitFor(() => forbidden.errors.length && badFilter.errors.length && unknown.errors.length)
  await sleep(500)
  assert.deepEqual([forbidden, badFilter, unknown].map((q) => q.errors.map((e) => e.code)),
    [['forbidden'], ['bad-filter'], ['unknown-table']])
  assert.match(badFilter.errors[0].message, /nope/)
  assert.equal(log.filter((e) => e.dir === 'out' && e.frame.type === 'subscribe').length, 4)
  assert.deepEqual([forbidden, badFilter, unknown].map((q) => q.results.length), [0, 0, 0])
})

test('persistence: a new client shows the stored result at once and resumes from the stored offset', kTimeout, async () => {
  const name = await table('persist', 'id int PRIMARY KEY, v text', [`(1, 'a')`, `(2, 'b')`])
  const serve = await startServe({ tables: [name] })
  const storage = memoryStorage()
  const first = newClient(serve.wsUrl, null, { storage, storeThrottleMs: 0 })
  const q1 = collect()
  first.client.selectFrom(name).orderBy('id').persist('test:persist').onQueryResultChange(q1.onResult, q1.onError)
  await converge(q1, name, 'true', 'id')
  await waitFor(async () => (await storage.get('test:persist'))?.rows.length === 2)
  first.client.dispose()

  await serve.stop()
  await sql(`INSERT INTO ${name} VALUES (3, 'c')`)
  const second = newClient(serve.wsUrl, null, { storage })
  const q2 = collect()
  second.client.selectFrom(name).orderBy('id').persist('test:persist').onQueryResultChange(q2.onResult, q2.onError)
  // The server is down: the stored result shows anyway.
  await waitFor(() => q2.results.length === 1)
  assert.deepEqual(q2.results[0], [{ id: 1, v: 'a' }, { id: 2, v: 'b' }])
  await serve.start()
  await converge(q2, name, 'true', 'id')
  const subscribe = second.log.find((e) => e.dir === 'out' && e.frame.type === 'subscribe')
  assert.ok(subscribe.frame.offset, 'the stored offset was not used')
  assert.deepEqual(second.log.filter((e) => e.dir === 'in' && e.frame.snapshot), [])
})

// Ordered windows are issue 12's server work: today's pgsync-serve ignores order_by and limit. The
// client then fails the query with windows-unsupported (client.test.mjs shows the window logic
// against a fake server); once the server has windows, this test runs for real.
async function serverHasWindows(client, name) {
  return new Promise((resolve) => {
    let stop = null
    const done = (answer) => {
      stop?.()
      resolve(answer)
    }
    stop = client.subscribe({ table: name, orderBy: 'id', limit: 1 }, {
      onUpToDate: () => done(true),
      onError: (error) => done(error.code === 'windows-unsupported' || error.code === 'bad-frame' ? false : error),
    })
  })
}

test('a window (orderBy + limit) equals SELECT ... ORDER BY ... LIMIT after every transaction and across a restart', kTimeout, async (t) => {
  const name = await table('win', 'id int PRIMARY KEY, grp text NOT NULL, ts bigint NOT NULL',
    Array.from({ length: 20 }, (_, k) => `(${k + 1}, '${k % 2 ? 'a' : 'b'}', ${100 + k})`))
  await sql(`CREATE INDEX ON ${name} (grp, ts)`)
  const serve = await startServe({ tables: [name] })
  const { client } = newClient(serve.wsUrl)
  const probe = await serverHasWindows(client, name)
  if (probe !== true) {
    if (probe instanceof Error) throw probe
    t.skip('this pgsync-serve has no ordered windows yet (issue 12, the lead\'s server work)')
    return
  }
  const q = collect()
  client.selectFrom(name).where('grp', '=', 'a').orderBy('ts', 'desc').limit(5).onQueryResultChange(q.onResult, q.onError)
  const where = `grp = 'a'`
  const order = 'ts DESC, id'
  await converge(q, name, where, order, 5)
  await sql(`INSERT INTO ${name} VALUES (100, 'a', 500)`)            // enters at the top
  await converge(q, name, where, order, 5)
  await sql(`DELETE FROM ${name} WHERE id = 100`)                     // leaves: the next row refills
  await converge(q, name, where, order, 5)
  await sql(`UPDATE ${name} SET ts = 50 WHERE id = 20; UPDATE ${name} SET grp = 'a' WHERE id = 19`)
  await converge(q, name, where, order, 5)
  const shown = q.results.length
  await serve.restart()
  await sql(`INSERT INTO ${name} VALUES (101, 'a', 600)`)
  await converge(q, name, where, order, 5)
  assert.ok(q.results.slice(shown).every((rows) => rows.length === 5), `a partial window was shown: ${show(q.results.slice(shown))}`)
  assert.deepEqual(q.errors, [])
})

test('a window no index serves reaches onError once with bad-order and the index to create, and is not retried', kTimeout, async () => {
  const name = await table('noidx', 'id int PRIMARY KEY, n int', ['(1, 10)', '(2, 20)'])
  const serve = await startServe({ tables: [name] })
  const { client, log } = newClient(serve.wsUrl)
  const q = collect()
  client.selectFrom(name).orderBy('n', 'desc').limit(5).onQueryResultChange(q.onResult, q.onError)
  const fine = collect() // the same connection goes on serving other queries
  client.selectFrom(name).orderBy('id').onQueryResultChange(fine.onResult, fine.onError)
  await converge(fine, name, 'true', 'id')
  await waitFor(() => q.errors.length > 0)
  await sleep(1_000) // a retry would show by now (backoff at most 1 s here)
  assert.deepEqual(q.errors.map((e) => e.code), ['bad-order'])
  assert.equal(q.errors[0].retrying, false)
  const hint = `Create an index that serves it: CREATE INDEX ON public.${name} (n DESC);`
  assert.ok(q.errors[0].message.endsWith(hint), `the message does not end with the hint:\n  ${q.errors[0].message}`)
  assert.deepEqual(q.results, [])
  const windows = log.filter((e) => e.dir === 'out' && e.frame.type === 'subscribe' && e.frame.limit !== undefined)
  assert.equal(windows.length, 1, `the refused window was subscribed ${windows.length} times`)
  assert.equal(log.filter((e) => e.dir === 'open').length, 1)
})

// Server bug (reported, not fixed here): pgsync-serve reads the tables' indexes at start (and after
// a schema or publication change) only, so the index its bad-order hint asks for goes unnoticed
// until it restarts, and the window is still refused.
test('after CREATE INDEX as bad-order\'s hint says, the same window is served without restarting pgsync-serve',
  kTimeout, async () => {
  const name = await table('lateidx', 'id int PRIMARY KEY, n int', ['(1, 10)', '(2, 20)'])
  const serve = await startServe({ tables: [name] })
  const { client } = newClient(serve.wsUrl)
  const refused = collect()
  client.selectFrom(name).orderBy('n', 'desc').limit(5).onQueryResultChange(refused.onResult, refused.onError)
  await waitFor(() => refused.errors.length > 0)
  assert.equal(refused.errors[0].code, 'bad-order')
  await sql(`CREATE INDEX ON ${name} (n DESC)`)
  // pgsync-serve reads a table's indexes again at most once a second (pgsync-serve(1)).
  await new Promise((resolve) => setTimeout(resolve, 1100))
  const q = collect()
  client.selectFrom(name).orderBy('n', 'desc').limit(5).onQueryResultChange(q.onResult, q.onError)
  await converge(q, name, 'true', 'n DESC, id', 5)
})

// --- the row webhook: the app authorises each row (pgsync-serve(1), "Rows authorised by the app")

// The app's row webhook, served by the test: a row is authorised for a user when its owner column
// is the user's id. While hook.failing(check) is true it answers HTTP 500 (for a whole batch when
// any check in it fails). Records every check it answered.
async function startRowWebhook() {
  const hook = { checks: [], failures: 0, failing: null }
  const server = http.createServer((request, response) => {
    let body = ''
    request.on('data', (chunk) => { body += chunk })
    request.on('end', () => {
      let checks
      try {
        checks = JSON.parse(body)
      } catch {
        response.writeHead(400).end()
        return
      }
      if (hook.failing && [checks].flat().some((check) => hook.failing(check))) {
        hook.failures += 1
        response.writeHead(500, { 'content-type': 'text/plain' }).end('the app is down')
        return
      }
      const answer = (check) => {
        hook.checks.push(check)
        return { delivery_authorized: check.row?.owner === check.userId }
      }
      const verdicts = Array.isArray(checks) ? checks.map(answer) : answer(checks)
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(verdicts))
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  onCleanup(() => new Promise((resolve) => {
    server.closeAllConnections?.()
    server.close(resolve)
  }))
  hook.url = `http://127.0.0.1:${server.address().port}/authorize-row`
  return hook
}

function webhookConfig(hook, onDeny) {
  return `serve:\n  auth:\n    row_webhook:\n      url: ${hook.url}\n      timeout: 1s\n` +
    `      cache_ttl: 60s\n      on_deny: ${onDeny}\n`
}

// A refresh function for user's token granting tables (every table when none is named).
function userTokens(user, tables = null, lifetimeSeconds = 3600) {
  const grant = { pgsync: { tables: tables ? Object.fromEntries(tables.map((t) => [`public.${t}`, {}])) : { '*': {} } } }
  return async () => token({ ...grant, sub: user }, lifetimeSeconds)
}

const ownerRows = (user) => `owner = '${user}'`

test('row webhook, on_deny drop: each user\'s result holds only the rows the app authorised, initial and live', kTimeout, async () => {
  const hook = await startRowWebhook()
  const name = await table('hookdrop', 'id int PRIMARY KEY, owner text NOT NULL, body text',
    [`(1, 'u1', 'a')`, `(2, 'u2', 'b')`, `(3, 'u1', 'c')`, `(4, 'u3', 'd')`])
  const serve = await startServe({ tables: [name], jwtSecret: kSecret, configYaml: webhookConfig(hook, 'drop') })
  const u1 = newClient(serve.wsUrl, userTokens('u1', [name]))
  const u2 = newClient(serve.wsUrl, userTokens('u2', [name]))
  const q1 = collect()
  const q2 = collect()
  u1.client.selectFrom(name).orderBy('id').onQueryResultChange(q1.onResult, q1.onError)
  u2.client.selectFrom(name).orderBy('id').onQueryResultChange(q2.onResult, q2.onError)
  await converge(q1, name, ownerRows('u1'), 'id')
  await converge(q2, name, ownerRows('u2'), 'id')
  assert.ok(hook.checks.some((c) => c.userId === 'u1' && c.table === name && c.schema === 'public' && c.row.id === 2),
    `the app was not asked about u2's row for u1: ${show(hook.checks)}`)

  // Live: rows of every owner in one transaction; a row that changes hands to the user appears.
  await sql(`INSERT INTO ${name} VALUES (5, 'u1', 'e'), (6, 'u2', 'f'), (7, 'u3', 'g'), (8, 'u1', 'h')`)
  await sql(`UPDATE ${name} SET owner = 'u1' WHERE id = 4; UPDATE ${name} SET body = 'B' WHERE id = 2; ` +
    `UPDATE ${name} SET body = 'A' WHERE id = 1`)
  await converge(q1, name, ownerRows('u1'), 'id')
  await converge(q2, name, ownerRows('u2'), 'id')
  await sql(`DELETE FROM ${name} WHERE id IN (3, 6)`)
  await converge(q1, name, ownerRows('u1'), 'id')
  await converge(q2, name, ownerRows('u2'), 'id')

  for (const [user, q] of [['u1', q1], ['u2', q2]]) {
    const foreign = q.results.flat().filter((row) => row.owner !== user)
    assert.deepEqual(foreign, [], `${user} was shown rows the app did not authorise`)
    assert.deepEqual(q.errors, [])
  }
  // Nothing was refused at the subscription level: one subscription each.
  for (const { log } of [u1, u2])
    assert.equal(log.filter((e) => e.dir === 'out' && e.frame.type === 'subscribe').length, 1)
})

// Server bug (reported, not fixed here): with on_deny: drop, a denied update is dropped whole, so a
// row the user already holds keeps its old, authorised version instead of leaving the result.
test('row webhook, on_deny drop: a row the user saw that changes hands leaves their result',
  kTimeout, async () => {
  const hook = await startRowWebhook()
  const name = await table('hookmove', 'id int PRIMARY KEY, owner text NOT NULL, body text',
    [`(1, 'u1', 'a')`, `(2, 'u1', 'b')`])
  const serve = await startServe({ tables: [name], jwtSecret: kSecret, configYaml: webhookConfig(hook, 'drop') })
  const { client } = newClient(serve.wsUrl, userTokens('u1', [name]))
  const q = collect()
  client.selectFrom(name).orderBy('id').onQueryResultChange(q.onResult, q.onError)
  await converge(q, name, ownerRows('u1'), 'id')
  // Row 2 now belongs to u2: the app refuses its new version to u1, who must not keep the old one.
  await sql(`UPDATE ${name} SET owner = 'u2', body = 'now u2''s' WHERE id = 2; INSERT INTO ${name} VALUES (3, 'u1', 'c')`)
  await converge(q, name, ownerRows('u1'), 'id')
})

// Server bug (reported, not fixed here): deletes are not gated by the row webhook (only "new" rows
// are), so with REPLICA IDENTITY FULL the delete's "old" hands every subscriber the whole row.
test('row webhook: the delete of a row the app never authorised for the user carries none of its content',
  kTimeout, async () => {
  const hook = await startRowWebhook()
  const name = await table('hookdel', 'id int PRIMARY KEY, owner text NOT NULL, body text',
    [`(1, 'u1', 'a')`, `(2, 'u2', 'u2-secret')`])
  await sql(`ALTER TABLE ${name} REPLICA IDENTITY FULL`) // deletes then carry the whole old row
  const serve = await startServe({ tables: [name], jwtSecret: kSecret, configYaml: webhookConfig(hook, 'drop') })
  const { client, log } = newClient(serve.wsUrl, userTokens('u1', [name]))
  const q = collect()
  client.selectFrom(name).orderBy('id').onQueryResultChange(q.onResult, q.onError)
  await converge(q, name, ownerRows('u1'), 'id')
  await sql(`DELETE FROM ${name} WHERE id = 2; INSERT INTO ${name} VALUES (3, 'u1', 'c')`)
  await converge(q, name, ownerRows('u1'), 'id')
  const leaked = log.filter((e) => e.dir === 'in' && JSON.stringify(e.frame).includes('u2-secret'))
  assert.deepEqual(leaked, [], 'u1 received the content of a row the app never authorised for u1')
})

test('row webhook, on_deny cancel: a refused row ends the query with unauthorized-row, once, not retried', kTimeout, async () => {
  const hook = await startRowWebhook()
  const name = await table('hookcancel', 'id int PRIMARY KEY, owner text NOT NULL, body text',
    [`(1, 'u1', 'a')`, `(2, 'u1', 'b')`])
  const serve = await startServe({ tables: [name], jwtSecret: kSecret, configYaml: webhookConfig(hook, 'cancel') })
  const { client, log } = newClient(serve.wsUrl, userTokens('u1', [name]))
  const q = collect()
  client.selectFrom(name).orderBy('id').onQueryResultChange(q.onResult, q.onError)
  await converge(q, name, 'true', 'id')
  await sql(`INSERT INTO ${name} VALUES (3, 'u1', 'c')`)
  await converge(q, name, 'true', 'id')
  const shown = q.results.length

  await sql(`INSERT INTO ${name} VALUES (4, 'u1', 'd'), (5, 'u2', 'not for u1')`)
  await waitFor(() => q.errors.length > 0)
  await sql(`INSERT INTO ${name} VALUES (6, 'u1', 'f')`)
  await sleep(1_500) // a retry would show by now
  assert.deepEqual(q.errors.map((e) => [e.code, e.retrying]), [['unauthorized-row', false]])
  // The transaction with the refused row was never shown, not even its authorised half.
  assert.equal(q.results.length, shown, `results after the refusal: ${show(q.results.slice(shown))}`)
  assert.deepEqual(q.results.flat().filter((row) => row.owner !== 'u1'), [])
  assert.equal(log.filter((e) => e.dir === 'out' && e.frame.type === 'subscribe').length, 1)
  assert.ok(log.some((e) => e.dir === 'in' && e.frame.type === 'error' && e.frame.code === 'unauthorized-row'))
})

test('row webhook failing (HTTP 500) for a while: retried silently, no partial result, then converges with nothing lost', kTimeout, async () => {
  const hook = await startRowWebhook()
  const name = await table('hookfail', 'id int PRIMARY KEY, owner text NOT NULL, batch int NOT NULL',
    [`(1, 'u1', 0)`, `(2, 'u2', 0)`, `(3, 'u1', 0)`])
  const serve = await startServe({ tables: [name], jwtSecret: kSecret, configYaml: webhookConfig(hook, 'drop') })
  const { client, log } = newClient(serve.wsUrl, userTokens('u1', [name]))
  const q = collect()
  client.selectFrom(name).orderBy('id').onQueryResultChange(q.onResult, q.onError)
  await converge(q, name, ownerRows('u1'), 'id')
  const logBefore = log.length
  const unavailable = () => log.slice(logBefore).filter((e) => e.dir === 'in' && e.frame.type === 'error' &&
    e.frame.code === 'authorization-unavailable')
  // Transactions of three rows (u1, u2, u1), ids 10b, 10b + 1, 10b + 2 for batch b.
  const insertBatch = (b) => sql(`INSERT INTO ${name} VALUES (${10 * b}, 'u1', ${b}), (${10 * b + 1}, 'u2', ${b}), ` +
    `(${10 * b + 2}, 'u1', ${b})`)

  // 1. The app is down: every check fails.
  hook.failing = () => true
  const shown = q.results.length
  for (let b = 1; b <= 3; b += 1) {
    await insertBatch(b)
    await sleep(300)
  }
  await waitFor(() => unavailable().length >= 3, { describe: () => `3 authorization-unavailable errors (${unavailable().length})` })
  assert.equal(q.results.length, shown, `a result was shown while no row could be authorised: ${show(q.results.slice(shown))}`)
  hook.failing = null
  await converge(q, name, ownerRows('u1'), 'id')

  // 2. The app fails on the last row of each transaction only: its first rows are authorised and
  // reach the client before the failure ends the subscription, mid-transaction.
  const failuresBefore = unavailable().length
  hook.failing = (check) => check.row?.id % 10 === 2
  for (let b = 4; b <= 6; b += 1) {
    await insertBatch(b)
    await sleep(300)
  }
  await waitFor(() => unavailable().length >= failuresBefore + 3, { describe: () => 'more authorization-unavailable errors' })
  hook.failing = null
  await converge(q, name, ownerRows('u1'), 'id')

  await insertBatch(7)
  await converge(q, name, ownerRows('u1'), 'id')
  assert.deepEqual(q.errors, [])
  assert.ok(hook.failures > 0)
  for (const rows of q.results) {
    assert.deepEqual(rows.filter((row) => row.owner !== 'u1'), [], 'a result held a row the app did not authorise')
    for (let b = 1; b <= 7; b += 1) {
      const held = rows.filter((row) => row.batch === b).length
      assert.ok(held === 0 || held === 2, `a result held ${held} of batch ${b}'s two rows: ${show(rows)}`)
    }
  }
  // Each retry resumed from an offset on the same connection: nothing was loaded afresh.
  const after = log.slice(logBefore)
  const subscribes = after.filter((e) => e.dir === 'out' && e.frame.type === 'subscribe')
  assert.ok(subscribes.length >= 6, `retries: ${subscribes.length}`)
  assert.ok(subscribes.every((e) => typeof e.frame.offset === 'string'), `a retry carried no offset: ${show(subscribes)}`)
  assert.deepEqual(after.filter((e) => e.dir === 'in' && e.frame.snapshot), [])
  assert.equal(log.filter((e) => e.dir === 'open').length, 1, 'the client reconnected')
})

// --- token refresh on the open connection (the auth frame) ------------------------------------------

test('token refresh in place: short-lived tokens are replaced by auth frames on one connection, nothing lost', kTimeout, async () => {
  const name = await table('inplace', 'id int PRIMARY KEY', ['(1)'])
  const serve = await startServe({ tables: [name], jwtSecret: kSecret })
  const issued = []
  const refresh = async () => {
    issued.push(token({ sub: 'u1', pgsync: { tables: { [`public.${name}`]: {} } } }, 4))
    return issued.at(-1)
  }
  const states = []
  const { client, log } = newClient(serve.wsUrl, refresh, { onConnectionStateChange: (state) => states.push(state) })
  const q = collect()
  client.selectFrom(name).orderBy('id').onQueryResultChange(q.onResult, q.onError)
  await converge(q, name, 'true', 'id')

  // 11 s: well past the expiry of the first tokens (4 s each); a change every 700 ms.
  const clients = []
  const started = Date.now()
  for (let id = 2; Date.now() - started < 11_000; id += 1) {
    await sql(`INSERT INTO ${name} VALUES (${id})`)
    clients.push(await metric(serve.port, 'pgsync_serve_clients'))
    await sleep(700)
  }
  await converge(q, name, 'true', 'id')
  assert.deepEqual(q.errors, [])
  const authFrames = log.filter((e) => e.dir === 'out' && e.frame.type === 'auth')
  const authOks = log.filter((e) => e.dir === 'in' && e.frame.type === 'auth-ok')
  assert.ok(authFrames.length >= 3, `auth frames: ${authFrames.length} (tokens issued: ${issued.length})`)
  assert.equal(authOks.length, authFrames.length)
  assert.deepEqual(authFrames.map((e) => e.frame.token), issued.slice(1, authFrames.length + 1))
  assert.equal(log.filter((e) => e.dir === 'open').length, 1, 'the client reconnected')
  assert.deepEqual(log.filter((e) => e.dir === 'close'), [])
  assert.deepEqual(log.filter((e) => e.dir === 'in' && e.frame.type === 'error'), [])
  assert.deepEqual(states.filter((s) => s === 'connecting'), ['connecting'])
  assert.ok(clients.every((n) => n === 1), `pgsync_serve_clients: ${clients}`)
  assert.equal(log.filter((e) => e.dir === 'out' && e.frame.type === 'subscribe').length, 1)
})

test('token refresh in place refused (a token of another sub): bad-token, the client reconnects with a fresh token, the result stays right', kTimeout, async () => {
  const name = await table('othersub', 'id int PRIMARY KEY', ['(1)', '(2)'])
  const serve = await startServe({ tables: [name], jwtSecret: kSecret })
  const grant = { pgsync: { tables: { [`public.${name}`]: {} } } }
  const issued = []
  // 1: u1 for 4 s; 2: another user's (refused on this connection); then u1 for an hour.
  const refresh = async () => {
    const n = issued.length
    issued.push(n === 0 ? token({ ...grant, sub: 'u1' }, 4) : n === 1 ? token({ ...grant, sub: 'intruder' }, 3600)
      : token({ ...grant, sub: 'u1' }, 3600))
    return issued.at(-1)
  }
  const { client, log } = newClient(serve.wsUrl, refresh)
  const q = collect()
  client.selectFrom(name).orderBy('id').onQueryResultChange(q.onResult, q.onError)
  await converge(q, name, 'true', 'id')
  for (let id = 3; id <= 10; id += 1) {
    await sql(`INSERT INTO ${name} VALUES (${id})`)
    await sleep(700)
  }
  await converge(q, name, 'true', 'id')
  assert.deepEqual(q.errors, [])
  assert.equal(issued.length, 3, `tokens issued: ${issued.length}`)
  const authFrames = log.filter((e) => e.dir === 'out' && e.frame.type === 'auth')
  assert.deepEqual(authFrames.map((e) => e.frame.token), [issued[1]])
  const refused = log.find((e) => e.dir === 'in' && e.frame.type === 'error' && e.frame.code === 'bad-token')
  assert.ok(refused, 'the server did not answer bad-token')
  assert.equal(refused.frame.id, undefined)
  // The client acted on bad-token at once: it did not wait for the old token to expire (4001).
  assert.deepEqual(log.filter((e) => (e.dir === 'in' && e.frame.code === 'token-expired') || (e.dir === 'close' && e.code === 4001)), [])
  const opens = log.filter((e) => e.dir === 'open')
  assert.equal(opens.length, 2)
  assert.ok(opens[1].url.includes(issued[2]), 'the reconnect did not use a fresh token')
  // It resumed from its offset under the same user: nothing loaded afresh.
  const subscribes = log.filter((e) => e.dir === 'out' && e.frame.type === 'subscribe')
  assert.equal(subscribes.length, 2)
  assert.equal(typeof subscribes[1].frame.offset, 'string')
  const reconnectedAt = log.indexOf(opens[1])
  assert.deepEqual(log.slice(reconnectedAt).filter((e) => e.dir === 'in' && e.frame.snapshot), [])
  // Every result was a whole prefix of the inserts: never a row missing in between, never empty.
  for (const rows of q.results) assert.deepEqual(rows.map((r) => r.id), rows.map((_, k) => k + 1))
  await waitFor(async () => (await metric(serve.port, 'pgsync_serve_clients')) === 1)
})

test('subscribe({channel}) gets the channel\'s inserts only, with their table, and resumes from its offset after a reconnect', kTimeout, async () => {
  const name = await table('chan', 'id int PRIMARY KEY, grp text', [])
  const channel = `${name}-added`
  const serve = await startServe({
    tables: [name],
    configYaml: `tables:\n  - name: ${name}\n    channels:\n      - name: ${channel}\n        operations: [insert]\n`,
  })
  const changes = []
  const upToDate = []
  const errors = []
  const { client, log } = newClient(serve.wsUrl)
  client.subscribe({ channel }, {
    onChange: (change) => changes.push(change),
    onUpToDate: (u) => upToDate.push(u),
    onError: (e) => errors.push(e),
  })
  await waitFor(() => upToDate.length > 0, { describe: () => 'the first up-to-date' })
  await sql(`INSERT INTO ${name} VALUES (1, 'a')`)
  await sql(`UPDATE ${name} SET grp = 'b' WHERE id = 1`)
  await sql(`INSERT INTO ${name} VALUES (2, 'a')`)
  await waitFor(() => changes.length >= 2, { describe: () => show(changes) })
  assert.deepEqual(changes.map((c) => [c.op, c.new.id, c.table]), [['insert', 1, `public.${name}`], ['insert', 2, `public.${name}`]])
  // The server restarts: the client resumes with the offset it has, and misses nothing.
  await serve.restart()
  await sql(`INSERT INTO ${name} VALUES (3, 'a')`)
  await waitFor(() => changes.length >= 3, { timeoutMs: 30_000, describe: () => show(changes) })
  assert.deepEqual(changes.map((c) => c.new.id), [1, 2, 3])
  const subscribes = log.filter((e) => e.dir === 'out' && e.frame.type === 'subscribe')
  assert.equal(subscribes[0].frame.channel, channel)
  assert.equal(subscribes[0].frame.table, undefined)
  assert.equal(typeof subscribes.at(-1).frame.offset, 'string')
  assert.deepEqual(errors, [])
  assert.throws(() => client.subscribe({ channel, table: name }), TypeError)
})
