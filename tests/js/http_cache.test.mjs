// examples/http-cache/nginx.conf in front of pgsync-serve: a thousand long-polling clients of one
// shape through a real nginx all see every change, while the origin gets a handful of requests per
// change (nginx collapses identical requests with proxy_cache_lock).
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import {
  cleanup,
  metric,
  onCleanup,
  shapeUrl,
  show,
  sleep,
  sql,
  startProcess,
  startServe,
  stopProcess,
  tmpRoot,
  uniqueName,
  waitFor,
} from './harness.mjs'

const kClients = 1000
const kChanges = 10
const kMaxOriginRequestsPerChange = 10
// The counter of /v1/shape requests pgsync-serve exposes on /metrics.
const kRequestsMetric = 'pgsync_serve_shape_requests_total'
const kTemplate = fileURLToPath(new URL('../../examples/http-cache/nginx.conf', import.meta.url))
const kNginx = process.env.PGSYNC_NGINX || '/usr/sbin/nginx'

after(cleanup)

async function freePort() {
  const server = net.createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

// Starts nginx with the example configuration in front of upstream (HOST:PORT); resolves to its
// base URL once it proxies /v1/health. Stopped and removed at cleanup.
async function startNginx(upstream) {
  if (!existsSync(kNginx)) {
    throw new Error(`${kNginx} does not exist\nhint: Run scripts/install-deps (it installs nginx).`)
  }
  const prefix = mkdtempSync(path.join(tmpRoot(), 'nginx-'))
  mkdirSync(path.join(prefix, 'tmp'))
  const port = await freePort()
  let conf = readFileSync(kTemplate, 'utf8')
    .replaceAll('@PREFIX@', prefix)
    .replaceAll('@UPSTREAM@', upstream)
    .replaceAll('@PORT@', String(port))
  // As root, nginx would run its workers as www-data, who cannot write the private prefix.
  if (process.getuid?.() === 0) conf = `user root;\n${conf}`
  const confPath = path.join(prefix, 'nginx.conf')
  writeFileSync(confPath, conf)

  const errorLog = path.join(prefix, 'error.log')
  const proc = startProcess(kNginx, ['-p', prefix, '-c', confPath, '-e', errorLog, '-g', 'daemon off;'])
  onCleanup(async () => {
    await stopProcess(proc, 'SIGTERM')
    rmSync(prefix, { recursive: true, force: true })
  })
  const log = () => (existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '')
  const url = `http://127.0.0.1:${port}`
  await waitFor(
    async () => {
      if (!proc.running()) {
        throw new Error(`nginx exited before serving:\n${proc.stderr()}\n${log()}`)
      }
      try {
        const response = await fetch(`${url}/v1/health`)
        await response.arrayBuffer()
        return response.status === 200
      } catch {
        return false
      }
    },
    { timeoutMs: 15_000, describe: () => `nginx to proxy /v1/health:\n${proc.stderr()}\n${log()}` }
  )
  return { url, log }
}

// One GET with node:http (lighter than fetch for a thousand clients): {status, headers, body}.
function httpGet(url, agent) {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent }, (response) => {
      const chunks = []
      response.on('data', (chunk) => chunks.push(chunk))
      response.on('end', () =>
        resolve({
          status: response.statusCode,
          headers: response.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        })
      )
      response.on('error', reject)
    })
    request.setTimeout(90_000, () => request.destroy(new Error('no response in 90 s')))
    request.on('error', reject)
  })
}

// A client of one shape that requests exactly the URLs @electric-sql/client would: offset=-1,
// then electric-offset and electric-handle until up-to-date, then live=true with electric-cursor
// (empty before the first live response); a 409 starts over with the new handle. rows: key ->
// value (text), as the messages left them.
class RawShapeClient {
  constructor(baseUrl, table, agent, stats) {
    Object.assign(this, { baseUrl, table, agent, stats })
    this.offset = '-1'
    this.handle = undefined
    this.cursor = ''
    this.live = false
    this.rows = new Map()
    this.errors = []
    this.stopped = false
  }

  nextUrl() {
    const params = { log: 'full', offset: this.offset, table: this.table }
    if (this.handle) params.handle = this.handle
    if (this.live) Object.assign(params, { live: 'true', cursor: this.cursor })
    return shapeUrl(this.baseUrl, params)
  }

  async run() {
    while (!this.stopped) {
      let response
      try {
        response = await httpGet(this.nextUrl(), this.agent)
      } catch (error) {
        if (this.stopped) return
        this.errors.push(String(error))
        await sleep(500)
        continue
      }
      const status = response.headers['x-cache-status'] ?? 'none'
      this.stats[status] = (this.stats[status] ?? 0) + 1
      if (response.status === 200) {
        this.apply(JSON.parse(response.body || '[]'))
        this.offset = response.headers['electric-offset']
        this.handle = response.headers['electric-handle']
        if (response.headers['electric-cursor'] !== undefined) {
          this.cursor = response.headers['electric-cursor']
        }
        if (response.headers['electric-up-to-date'] !== undefined) this.live = true
      } else if (response.status === 409) {
        this.handle = response.headers['electric-handle']
        Object.assign(this, { offset: '-1', cursor: '', live: false })
        this.rows.clear()
      } else {
        this.errors.push(`${response.status}: ${response.body.slice(0, 200)}`)
        await sleep(500)
      }
    }
  }

  apply(messages) {
    for (const message of messages) {
      if ('key' in message) {
        const { operation } = message.headers
        if (operation === 'delete') this.rows.delete(message.key)
        else this.rows.set(message.key, { ...this.rows.get(message.key), ...message.value })
      } else if (message.headers.control === 'must-refetch') {
        this.rows.clear()
      }
    }
  }
}

test(`${kClients} long-polling clients through nginx converge on every change, and the origin sees at most ${kMaxOriginRequestsPerChange} requests per change`, { timeout: 280_000 }, async (t) => {
  t.after(cleanup)
  const table = uniqueName('cached')
  await sql(`CREATE TABLE ${table} (id int PRIMARY KEY, n int NOT NULL)`)
  onCleanup(() => sql(`DROP TABLE IF EXISTS ${table}`))
  await sql(`INSERT INTO ${table} SELECT g, 0 FROM generate_series(1, 3) g`)
  const serve = await startServe({ tables: [table] })
  const nginx = await startNginx(`127.0.0.1:${serve.port}`)
  const originRequests = () => metric(serve.port, kRequestsMetric)
  assert.notEqual(
    await originRequests(),
    null,
    `pgsync-serve's /metrics has no ${kRequestsMetric}: the test counts origin requests with it`
  )

  // The table as every client should hold it: key -> value with every value as text.
  const expectedRows = async () => {
    const text = await sql(
      `SELECT coalesce(json_object_agg('"public"."${table}"/"' || id || '"', ` +
        `json_build_object('id', id::text, 'n', n::text)), '{}') FROM ${table}`
    )
    return new Map(Object.entries(JSON.parse(text)))
  }
  const matches = (client, expected) =>
    client.rows.size === expected.size &&
    [...expected].every(([key, value]) => {
      const row = client.rows.get(key)
      return row && row.id === value.id && row.n === value.n
    })

  const agent = new http.Agent({ keepAlive: true, maxSockets: kClients + 100 })
  onCleanup(async () => agent.destroy())
  const stats = {}
  const clients = Array.from(
    { length: kClients },
    () => new RawShapeClient(nginx.url, table, agent, stats)
  )
  onCleanup(async () => {
    for (const client of clients) client.stopped = true
  })
  const waitAllConverged = async (what, timeoutMs) => {
    const expected = await expectedRows()
    return waitFor(() => clients.every((c) => matches(c, expected) && c.live), {
      timeoutMs,
      describe: () => {
        const behind = clients.filter((c) => !(matches(c, expected) && c.live))
        const sample = behind[0]
        return (
          `${what}: ${behind.length} of ${kClients} clients behind; one holds ` +
          `${show(sample && Object.fromEntries(sample.rows))} at offset ${sample?.offset} ` +
          `(live ${sample?.live}, errors ${show(sample?.errors.slice(-3))}), ` +
          `the table ${show(Object.fromEntries(expected))}; cache statuses ${show(stats)}` +
          `\nnginx error.log:\n${nginx.log().slice(-2000)}`
        )
      },
    })
  }

  const startRequests = await originRequests()
  const started = Date.now()
  for (const client of clients) client.run().catch((error) => client.errors.push(String(error)))
  await waitAllConverged('the initial sync', 60_000)
  const initialRequests = (await originRequests()) - startRequests
  console.log(
    `initial sync of ${kClients} clients: ${Date.now() - started} ms, ` +
      `${initialRequests} requests at the origin`
  )
  await sleep(1000) // every client parks its first live request

  const perChange = []
  for (let k = 1; k <= kChanges; k += 1) {
    const before = await originRequests()
    const changeStarted = Date.now()
    // Each change is one transaction; odd ones also insert a row, every third deletes one.
    const statements = [`UPDATE ${table} SET n = ${k} WHERE id = 1`]
    if (k % 2 === 1) statements.push(`INSERT INTO ${table} VALUES (${100 + k}, ${k})`)
    if (k % 3 === 0) statements.push(`DELETE FROM ${table} WHERE id = ${100 + k - 2}`)
    await sql(statements.join('; '))
    await waitAllConverged(`change ${k}`, 20_000)
    const requests = (await originRequests()) - before
    perChange.push({ change: k, originRequests: requests, convergedMs: Date.now() - changeStarted })
  }
  const errors = clients.flatMap((c) => c.errors)
  console.log(`per change: ${show(perChange)}`)
  console.log(`nginx cache statuses over all client requests: ${show(stats)}`)
  console.log(`client errors: ${errors.length}${errors.length ? ` e.g. ${errors[0]}` : ''}`)

  const worst = Math.max(...perChange.map((c) => c.originRequests))
  assert.ok(
    worst <= kMaxOriginRequestsPerChange,
    `a change cost ${worst} origin requests (at most ${kMaxOriginRequestsPerChange} allowed) ` +
      `for ${kClients} clients: ${show(perChange)}`
  )
  assert.deepEqual(errors, [], 'no client saw an error')
})
