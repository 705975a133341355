// The official @electric-sql/client (pinned in package-lock.json), unchanged, against pgsync-serve's
// /v1/shape and the harness PostgreSQL: Shapes converge to their tables through every kind of
// change, resume, restarts, SSE and 409s, and the raw protocol details the client cannot see.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { FetchError } from '@electric-sql/client'

import {
  byId,
  catchUp,
  cleanup,
  converge,
  describeErrors,
  getShape,
  onCleanup,
  openShape,
  recordingFetch,
  shapeUrl,
  show,
  sleep,
  sql,
  startServe,
  tableRows,
  uniqueName,
  waitFor,
} from './harness.mjs'

// A test waits on a live long-poll's timeout with this server flag (seconds).
const kLongPollArgs = ['--long-poll-timeout', '5']
const kTestTimeout = { timeout: 90_000 }

after(cleanup)

// A fresh table (columns: SQL column definitions) with rows (SQL VALUES tuples), and a server for it.
async function tableAndServer(prefix, columns, rows = [], extraArgs = []) {
  const table = uniqueName(prefix)
  await sql(`CREATE TABLE ${table} (${columns})`)
  onCleanup(() => sql(`DROP TABLE IF EXISTS ${table}`))
  if (rows.length > 0) await sql(`INSERT INTO ${table} VALUES ${rows.join(', ')}`)
  const serve = await startServe({ tables: [table], extraArgs })
  return { table, serve }
}

test('pgsync-serve answers /v1/health with {"status":"active"}', kTestTimeout, async (t) => {
  t.after(cleanup)
  const { serve } = await tableAndServer('health', 'id int PRIMARY KEY')
  const response = await fetch(`${serve.url}/v1/health`)
  assert.equal(response.status, 200)
  assert.deepEqual(await response.json(), { status: 'active' })
})

test('the offset=-1 response carries offset 0_0, the schema, a week-long cache-control and an etag that revalidates to 304', kTestTimeout, async (t) => {
  t.after(cleanup)
  const { table, serve } = await tableAndServer(
    'raw',
    'id int PRIMARY KEY, title text NOT NULL',
    [`(1, 'a')`, `(2, 'b')`]
  )
  const first = await getShape(serve.url, { log: 'full', offset: '-1', table })
  assert.equal(first.status, 200, `offset=-1 answered ${first.status}: ${show(first.body)}`)
  const h = first.headers
  assert.equal(h.get('electric-offset'), '0_0')
  assert.ok(h.get('electric-handle'), 'electric-handle is missing')
  assert.equal(h.has('electric-up-to-date'), false, 'an offset=-1 response is never up-to-date')
  assert.equal(h.has('electric-cursor'), false, 'electric-cursor belongs to live responses only')
  assert.deepEqual(JSON.parse(h.get('electric-schema')), {
    id: { type: 'int4', not_null: true, pk_index: 0 },
    title: { type: 'text', not_null: true },
  })
  assert.equal(
    h.get('cache-control'),
    'public, max-age=604800, s-maxage=3600, stale-while-revalidate=2629746'
  )
  assert.match(h.get('content-type') ?? '', /^application\/json/)
  const etag = h.get('etag')
  assert.ok(etag, 'etag is missing')

  assert.ok(Array.isArray(first.body), `the body is not a JSON array: ${show(first.body)}`)
  const changes = first.body.filter((m) => 'key' in m)
  assert.deepEqual(
    changes.map((m) => [m.key, m.value, m.headers.operation, m.headers.relation]),
    [
      [`"public"."${table}"/"1"`, { id: '1', title: 'a' }, 'insert', ['public', table]],
      [`"public"."${table}"/"2"`, { id: '2', title: 'b' }, 'insert', ['public', table]],
    ]
  )

  const again = await getShape(
    serve.url,
    { log: 'full', offset: '-1', table },
    { headers: { 'If-None-Match': etag } }
  )
  assert.equal(again.status, 304, `If-None-Match: ${etag} answered ${again.status}`)
  assert.equal(again.body, null, 'a 304 has an empty body')
})

test('CORS: the Origin is echoed, the electric headers are exposed, and OPTIONS answers 204', kTestTimeout, async (t) => {
  t.after(cleanup)
  const { table, serve } = await tableAndServer('cors', 'id int PRIMARY KEY', ['(1)'])
  const response = await fetch(shapeUrl(serve.url, { log: 'full', offset: '-1', table }), {
    headers: { Origin: 'http://example.com' },
  })
  assert.equal(response.status, 200, `offset=-1 answered ${response.status}`)
  assert.equal(response.headers.get('access-control-allow-origin'), 'http://example.com')
  const exposed = (response.headers.get('access-control-expose-headers') ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
  for (const name of [
    'electric-offset',
    'electric-handle',
    'electric-schema',
    'electric-cursor',
    'electric-up-to-date',
    'electric-snapshot',
    'retry-after',
  ]) {
    assert.ok(exposed.includes(name), `access-control-expose-headers lacks ${name}: ${exposed}`)
  }
  await response.arrayBuffer()

  const preflight = await fetch(`${serve.url}/v1/shape?table=${table}&offset=-1`, {
    method: 'OPTIONS',
    headers: {
      Origin: 'http://example.com',
      'Access-Control-Request-Method': 'GET',
      'Access-Control-Request-Headers': 'if-none-match',
    },
  })
  assert.equal(preflight.status, 204)
  assert.equal(preflight.headers.get('access-control-allow-origin'), 'http://example.com')
  assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /GET/)
})

test('a live long-poll answers a commit at once and an idle one with up-to-date after --long-poll-timeout', kTestTimeout, async (t) => {
  t.after(cleanup)
  const { table, serve } = await tableAndServer(
    'poll',
    'id int PRIMARY KEY, title text',
    [`(1, 'a')`],
    kLongPollArgs
  )
  const { handle, offset } = await catchUp(serve.url, { table })
  const live = { cursor: '', handle, live: 'true', log: 'full', offset, table }

  // A commit while the request waits: answered with the change and up-to-date, well before 5 s.
  const pending = getShape(serve.url, live)
  await sleep(500)
  await sql(`INSERT INTO ${table} VALUES (2, 'b')`)
  const changed = await pending
  assert.equal(changed.status, 200, show(changed.body))
  assert.ok(changed.ms < 4000, `the change took ${changed.ms} ms to arrive`)
  const next = changed.headers.get('electric-offset')
  assert.notEqual(next, offset)
  assert.ok(!next.startsWith('0_'), `a live change's offset is a real LSN: ${next}`)
  assert.ok(changed.headers.get('electric-cursor'), 'a live response carries electric-cursor')
  assert.ok(changed.headers.has('electric-up-to-date'))
  assert.equal(changed.headers.has('electric-schema'), false, 'live responses carry no schema')
  const [insert, upToDate] = changed.body
  assert.equal(insert.key, `"public"."${table}"/"2"`)
  assert.deepEqual(insert.value, { id: '2', title: 'b' })
  assert.equal(insert.headers.operation, 'insert')
  assert.match(insert.headers.lsn, /^[0-9]+$/, 'lsn is a decimal string')
  assert.equal(insert.headers.last, true)
  assert.equal(upToDate.headers.control, 'up-to-date')
  assert.match(upToDate.headers.global_last_seen_lsn, /^[0-9]+$/)

  // Nothing more: after the timeout, 200 [up-to-date] at the same offset with a new cursor.
  const cursor = changed.headers.get('electric-cursor')
  const idle = await getShape(serve.url, { ...live, cursor, offset: next })
  assert.equal(idle.status, 200, show(idle.body))
  assert.ok(idle.ms >= 4000 && idle.ms < 10_000, `the idle long-poll took ${idle.ms} ms`)
  assert.equal(idle.headers.get('electric-offset'), next)
  assert.ok(idle.headers.has('electric-up-to-date'))
  assert.notEqual(idle.headers.get('electric-cursor'), cursor, 'the cursor moves on')
  assert.deepEqual(
    idle.body.map((m) => m.headers.control),
    ['up-to-date']
  )
})

test('a filtered Shape with params and columns converges under inserts, updates, deletes and rows entering and leaving the filter', kTestTimeout, async (t) => {
  t.after(cleanup)
  const { table, serve } = await tableAndServer(
    'items',
    'id int PRIMARY KEY, grp text NOT NULL, title text, n int8, secret text',
    [`(1, 'a', 'one', 10, 's1')`, `(2, 'b', 'two', 20, 's2')`, `(3, 'a', 'three', 30, 's3')`]
  )
  const columns = ['id', 'grp', 'title', 'n']
  const view = { columns, where: `grp = 'a'` }
  const handle = await openShape(serve.url, {
    table,
    where: 'grp = $1',
    params: ['a'],
    columns,
  })
  await converge(handle, table, view)
  assert.equal(handle.shape.currentRows.length, 2)

  const steps = [
    `INSERT INTO ${table} VALUES (4, 'a', 'four', 40, 's4'), (5, 'b', 'five', 50, 's5')`,
    `UPDATE ${table} SET title = 'ONE' WHERE id = 1; UPDATE ${table} SET title = 'TWO' WHERE id = 2`,
    `UPDATE ${table} SET grp = 'a' WHERE id = 2`, // enters the filter
    `UPDATE ${table} SET grp = 'b', title = 'gone' WHERE id = 3`, // leaves it
    `UPDATE ${table} SET secret = 'unseen' WHERE id = 4`, // only an unselected column
    `DELETE FROM ${table} WHERE id = 1; DELETE FROM ${table} WHERE id = 5`,
    `INSERT INTO ${table} VALUES (6, 'a', 'six', NULL, NULL); UPDATE ${table} SET n = n + 1 ` +
      `WHERE id = 4; DELETE FROM ${table} WHERE id = 2; UPDATE ${table} SET grp = 'a' WHERE id = 3`,
  ]
  for (const step of steps) {
    await sql(step)
    await converge(handle, table, view)
  }
  assert.deepEqual(
    byId(handle.shape.currentRows).map((r) => r.id),
    [3, 4, 6]
  )
})

test('values parse to JavaScript types: int8 as BigInt, arrays, jsonb, bool, NULLs; numeric and timestamptz stay strings', kTestTimeout, async (t) => {
  t.after(cleanup)
  const { table, serve } = await tableAndServer(
    'typed',
    'id int PRIMARY KEY, big int8, ints int4[], grid int4[][], texts text[], doc jsonb, ' +
      'flag bool, label text NOT NULL, note text, amount numeric(12,2), at timestamptz',
    [
      `(1, 9007199254740993, '{1,2,3}', '{{1,2},{3,4}}', ARRAY['a b', NULL, 'c"d'], ` +
        `'{"k": [1, {"x": null}], "s": "é"}', true, 'L1', 'n1', 12.5, '2024-01-02 03:04:05+00')`,
      `(2, -1, '{}', NULL, NULL, NULL, false, 'L2', NULL, NULL, NULL)`,
    ]
  )
  const handle = await openShape(serve.url, { table })
  const expected1 = {
    id: 1,
    big: 9007199254740993n,
    ints: [1, 2, 3],
    grid: [
      [1, 2],
      [3, 4],
    ],
    texts: ['a b', null, 'c"d'],
    doc: { k: [1, { x: null }], s: 'é' },
    flag: true,
    label: 'L1',
    note: 'n1',
    amount: '12.50',
    at: '2024-01-02 03:04:05+00',
  }
  const expected2 = {
    id: 2,
    big: -1n,
    ints: [],
    grid: null,
    texts: null,
    doc: null,
    flag: false,
    label: 'L2',
    note: null,
    amount: null,
    at: null,
  }
  await converge(handle, table)
  assert.deepEqual(byId(handle.shape.currentRows), [expected1, expected2])

  // The same types through the replication path (bool as "t"/"f" there), and an update that
  // sets values to NULL and back.
  await sql(
    `INSERT INTO ${table} VALUES (3, 9223372036854775807, '{-5}', '{{7}}', '{"x,y"}', ` +
      `'[true, 1.5, "z"]', true, 'L3', '', 0.01, '1999-12-31 23:59:59.5+00'); ` +
      `UPDATE ${table} SET flag = false, note = NULL, big = NULL, doc = '"s"' WHERE id = 1; ` +
      `UPDATE ${table} SET note = 'back', amount = 3, at = '2000-01-01 00:00:00+00' WHERE id = 2`
  )
  await converge(handle, table)
  assert.deepEqual(byId(handle.shape.currentRows), [
    { ...expected1, flag: false, note: null, big: null, doc: 's' },
    { ...expected2, note: 'back', amount: '3.00', at: '2000-01-01 00:00:00+00' },
    {
      id: 3,
      big: 9223372036854775807n,
      ints: [-5],
      grid: [[7]],
      texts: ['x,y'],
      doc: [true, 1.5, 'z'],
      flag: true,
      label: 'L3',
      note: '',
      amount: '0.01',
      at: '1999-12-31 23:59:59.5+00',
    },
  ])
})

test('a ShapeStream resumes from a saved handle and offset without refetching the snapshot', kTestTimeout, async (t) => {
  t.after(cleanup)
  const { table, serve } = await tableAndServer('resume', 'id int PRIMARY KEY, title text', [
    `(1, 'a')`,
    `(2, 'b')`,
  ])
  const first = await openShape(serve.url, { table })
  await converge(first, table)
  await waitFor(() => first.stream.isUpToDate, { describe: () => 'the first stream up-to-date' })
  const handle = first.stream.shapeHandle
  const offset = first.stream.lastOffset
  assert.ok(handle && offset && offset !== '-1', `saved handle ${handle}, offset ${offset}`)
  first.controller.abort()

  await sql(
    `INSERT INTO ${table} VALUES (3, 'c'); UPDATE ${table} SET title = 'B' WHERE id = 2`
  )

  const { fetchClient, requests } = recordingFetch()
  const resumed = await openShape(serve.url, { table }, { handle, offset, fetchClient })
  const received = []
  resumed.stream.subscribe((messages) => {
    for (const m of messages) if ('key' in m) received.push([m.headers.operation, m.value])
  })
  await waitFor(
    () =>
      resumed.errors.length > 0 ||
      received.some(([op, v]) => op === 'update' && v.id === 2),
    { describe: () => `the later changes; received ${show(received)}, requests ${show(requests)}` }
  )
  assert.equal(resumed.errors.length, 0, describeErrors(resumed.errors))
  const offsets = requests.map((r) => new URL(r.url).searchParams.get('offset'))
  assert.ok(!offsets.includes('-1'), `the resumed stream refetched from -1: ${show(offsets)}`)
  assert.equal(offsets[0], offset, 'the first request starts at the saved offset')
  assert.equal(new URL(requests[0].url).searchParams.get('handle'), handle)
  assert.deepEqual(received, [
    ['insert', { id: 3, title: 'c' }],
    ['update', { id: 2, title: 'B' }],
  ])
})

test('a Shape converges across a restart of pgsync-serve', kTestTimeout, async (t) => {
  t.after(cleanup)
  const { table, serve } = await tableAndServer('restart', 'id int PRIMARY KEY, title text', [
    `(1, 'a')`,
  ])
  // Short backoff: the client retries the refused connections while the server restarts.
  const handle = await openShape(
    serve.url,
    { table },
    { backoffOptions: { initialDelay: 100, maxDelay: 1000, multiplier: 1.5 } }
  )
  await converge(handle, table)
  await sql(`INSERT INTO ${table} VALUES (2, 'b')`)
  await converge(handle, table)

  await serve.restart()
  await sql(`INSERT INTO ${table} VALUES (3, 'c'); UPDATE ${table} SET title = 'A' WHERE id = 1`)
  await converge(handle, table, { timeoutMs: 30_000 })
  await sql(`DELETE FROM ${table} WHERE id = 2`)
  await converge(handle, table)
})

test('SSE: live_sse gets text/event-stream, and a liveSse Shape converges over it', kTestTimeout, async (t) => {
  t.after(cleanup)
  const { table, serve } = await tableAndServer('sse', 'id int PRIMARY KEY, title text', [
    `(1, 'a')`,
  ])

  // The client does not check the content-type (it would fall back to long-polling): check it.
  const { handle: shapeHandle, offset } = await catchUp(serve.url, { table })
  const abort = new AbortController()
  const timer = setTimeout(() => abort.abort(), 10_000)
  try {
    const url =
      shapeUrl(serve.url, { cursor: '', handle: shapeHandle, live: 'true', log: 'full', offset, table }) +
      '&live_sse=true&experimental_live_sse=true'
    const response = await fetch(url, {
      headers: { Accept: 'text/event-stream, text/event-stream' },
      signal: abort.signal,
    }).catch((error) => {
      // A JSON long-poll would hold the headers back until it ends; an event stream starts at once.
      throw new assert.AssertionError({
        message: `no response headers to live_sse=true within 10 s (${error.message})`,
      })
    })
    assert.equal(response.status, 200)
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/)
    assert.ok(response.headers.get('electric-handle'))
    assert.ok(response.headers.get('electric-offset'))
    assert.ok(response.headers.get('electric-cursor'))
  } finally {
    clearTimeout(timer)
    abort.abort()
  }

  const { fetchClient, requests } = recordingFetch()
  const handle = await openShape(serve.url, { table }, { liveSse: true, fetchClient })
  await converge(handle, table)
  for (const step of [
    `INSERT INTO ${table} VALUES (2, 'b'), (3, 'c')`,
    `UPDATE ${table} SET title = 'A' WHERE id = 1`,
    `DELETE FROM ${table} WHERE id = 2`,
  ]) {
    await sql(step)
    await converge(handle, table)
  }
  const sse = requests.filter((r) => new URL(r.url).searchParams.get('live_sse') === 'true')
  assert.ok(sse.length > 0, `the client made no SSE request: ${show(requests.map((r) => r.url))}`)
  assert.ok(
    sse.every((r) => r.status !== 200 || (r.contentType ?? '').startsWith('text/event-stream')),
    `an SSE request got another content-type: ${show(sse)}`
  )
})

test('a malformed where reaches onError as a 400 FetchError within seconds', kTestTimeout, async (t) => {
  t.after(cleanup)
  const { table, serve } = await tableAndServer('badwhere', 'id int PRIMARY KEY', ['(1)'])
  const started = Date.now()
  const handle = await openShape(serve.url, { table, where: 'id = = 1' })
  await waitFor(() => handle.errors.length > 0, {
    timeoutMs: 5000,
    describe: () => 'onError to receive the 400 (the stream must not hang)',
  })
  const [error] = handle.errors
  assert.ok(error instanceof FetchError, `not a FetchError: ${describeErrors(handle.errors)}`)
  assert.equal(error.status, 400, describeErrors(handle.errors))
  assert.ok(error.json?.errors?.where, `the 400 body names the where: ${show(error.json ?? error.text)}`)
  assert.ok(Date.now() - started < 5000)
})

test('409: a bogus handle gets must-refetch and the current handle', kTestTimeout, async (t) => {
  t.after(cleanup)
  const { table, serve } = await tableAndServer('conflict', 'id int PRIMARY KEY', ['(1)'])
  const first = await getShape(serve.url, { log: 'full', offset: '-1', table })
  assert.equal(first.status, 200, show(first.body))
  const handle = first.headers.get('electric-handle')
  const offset = first.headers.get('electric-offset')

  const stale = await getShape(serve.url, { handle: 'bogus-1', log: 'full', offset, table })
  assert.equal(stale.status, 409, show(stale.body))
  assert.deepEqual(stale.body, [{ headers: { control: 'must-refetch' } }])
  const newHandle = stale.headers.get('electric-handle')
  assert.ok(newHandle, 'a 409 carries electric-handle')
  assert.notEqual(newHandle, 'bogus-1')
  assert.equal(newHandle, handle, "the 409 names the definition's current handle")
})

test('409: a Shape whose shape is DELETEd refetches and converges again', kTestTimeout, async (t) => {
  t.after(cleanup)
  const { table, serve } = await tableAndServer('rotate', 'id int PRIMARY KEY, title text', [
    `(1, 'a')`,
    `(2, 'b')`,
  ])
  const handle = await openShape(serve.url, { table })
  await converge(handle, table)
  await waitFor(() => handle.stream.isUpToDate, { describe: () => 'the stream up-to-date' })
  const before = handle.stream.shapeHandle

  const deleted = await fetch(`${serve.url}/v1/shape?table=${table}`, { method: 'DELETE' })
  assert.equal(deleted.status, 202, `DELETE answered ${deleted.status}: ${await deleted.text()}`)
  await sql(`INSERT INTO ${table} VALUES (3, 'c'); UPDATE ${table} SET title = 'A' WHERE id = 1`)
  await waitFor(() => handle.errors.length > 0 || handle.stream.shapeHandle !== before, {
    describe: () => `a new handle after the DELETE (still ${before})`,
  })
  await converge(handle, table)
  await sql(`DELETE FROM ${table} WHERE id = 2`)
  await converge(handle, table)
  assert.notEqual(handle.stream.shapeHandle, before)
})

test('log=changes_only: requestSnapshot (GET) injects a subset whose later changes stream, fetchSnapshot (POST) returns one', kTestTimeout, async (t) => {
  t.after(cleanup)
  const { table, serve } = await tableAndServer(
    'subset',
    'id int PRIMARY KEY, grp text NOT NULL, n int',
    [`(1, 'a', 1)`, `(2, 'b', 2)`, `(3, 'a', 3)`, `(4, 'a', 4)`]
  )
  const handle = await openShape(serve.url, { table }, { log: 'changes_only' })
  await waitFor(() => handle.stream.isUpToDate, {
    describe: () => `the changes_only stream to be up-to-date (errors: ${describeErrors(handle.errors)})`,
  })
  assert.equal(handle.shape.currentRows.length, 0, 'changes_only sends no rows up front')

  const { data, metadata } = await handle.stream.requestSnapshot({
    where: 'grp = $1',
    params: { 1: 'a' },
    orderBy: 'id',
    limit: 2,
  })
  assert.deepEqual(data.map((m) => m.value.id), [1, 3])
  assert.ok(BigInt(metadata.database_lsn) > 0n, 'database_lsn is a decimal LSN')
  await converge(handle, table, { where: 'id IN (1, 3)' })
  // A change to an injected row streams after the snapshot, once.
  await sql(`UPDATE ${table} SET n = 10 WHERE id = 1`)
  await converge(handle, table, { where: 'id IN (1, 3)' })

  const fetched = await handle.stream.fetchSnapshot({
    where: 'n >= $1',
    params: { 1: '3' },
    orderBy: 'id DESC',
    method: 'POST',
  })
  assert.deepEqual(fetched.data.map((m) => m.value.id), [4, 3, 1])
  assert.equal(handle.shape.currentRows.length, 2, 'fetchSnapshot does not inject its rows')
  assert.equal(handle.errors.length, 0, describeErrors(handle.errors))
})

test('tableRows reads the table as the client parses it (the oracle the other tests use)', async () => {
  // Guards the comparison itself: a broken oracle would make converge() pass or fail for nothing.
  const table = uniqueName('oracle')
  await sql(`CREATE TABLE ${table} (id int PRIMARY KEY, big int8, a text[], j jsonb, b bool)`)
  try {
    await sql(`INSERT INTO ${table} VALUES (2, 5, '{"x y",NULL}', '{"k": 1}', true), (1, NULL, NULL, NULL, false)`)
    assert.deepEqual(await tableRows(table), [
      { id: 1, big: null, a: null, j: null, b: false },
      { id: 2, big: 5n, a: ['x y', null], j: { k: 1 }, b: true },
    ])
    assert.deepEqual(await tableRows(table, { columns: ['id', 'b'], where: 'b' }), [
      { id: 2, b: true },
    ])
  } finally {
    await sql(`DROP TABLE ${table}`)
  }
})
