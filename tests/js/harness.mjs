// Helpers for the JavaScript tests (pgsync-serve's Electric shape API, and clients/js): psql against the harness
// cluster ($PGSYNC_TEST_DSN), pgsync-serve processes with a slot of their own, /metrics, polling
// waits that fail with both sides shown, and cleanup that kills every process and drops every slot
// even when a test fails (call cleanup() from an after() hook; process exit kills the rest).
import { execFile, spawn } from 'node:child_process'
import { createHmac, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { AssertionError } from 'node:assert'
import { inspect, isDeepStrictEqual } from 'node:util'

// The ws package (pinned in package-lock.json), for tests outside tests/js that cannot resolve it:
// Node 20 has no global WebSocket, and clients/js's tests run fake servers with it.
export { WebSocket, WebSocketServer } from 'ws'

export function testDsn() {
  const dsn = process.env.PGSYNC_TEST_DSN
  if (!dsn) {
    throw new Error(
      'PGSYNC_TEST_DSN is not set: these tests need the harness PostgreSQL cluster.\n' +
        'hint: Run them through scripts/test, or in one shell: ' +
        'eval "$(tests/harness/pg-cluster start .pgsync/dev)"'
    )
  }
  return dsn
}

export function binDir() {
  const dir = process.env.PGSYNC_BIN_DIR
  if (!dir) throw new Error('PGSYNC_BIN_DIR is not set (the directory of the built pgsync tools)')
  return dir
}

function toolPath(name) {
  const file = path.join(binDir(), name)
  if (!existsSync(file)) {
    throw new Error(`${file} does not exist\nhint: Build it: cmake --build build --target ${name}`)
  }
  return file
}

export function tmpRoot() {
  const root = process.env.PGSYNC_TEST_TMP || os.tmpdir()
  mkdirSync(root, { recursive: true })
  return root
}

let nameCounter = 0
// A lower-case identifier unique to this process and call, safe unquoted in SQL (under 63 bytes).
export function uniqueName(prefix) {
  nameCounter += 1
  return `${prefix}_${process.pid}_${nameCounter}_${randomBytes(3).toString('hex')}`.toLowerCase()
}

// Runs a command, resolving {code, stdout, stderr}; never rejects for a non-zero exit.
function run(file, args, options = {}) {
  return new Promise((resolve) => {
    execFile(file, args, { maxBuffer: 64 << 20, ...options }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0
      resolve({ code, stdout, stderr: stderr || (error && code === -1 ? String(error) : '') })
    })
  })
}

// psql's session settings are Electric's (DateStyle ISO, TimeZone UTC, ...), so that value::text
// here is the text the server sends.
const psqlEnv = {
  ...process.env,
  PGTZ: 'UTC',
  PGDATESTYLE: 'ISO, DMY',
  PGOPTIONS: `${process.env.PGOPTIONS ?? ''} -c extra_float_digits=1 -c intervalstyle=iso_8601`,
}

// Runs text (one or more statements, one transaction) with psql; resolves to the unaligned,
// tuples-only output of the last statement. Rejects with psql's error.
export async function sql(text) {
  const result = await run(
    'psql',
    ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', testDsn(), '-c', text],
    { env: psqlEnv }
  )
  if (result.code !== 0) {
    throw new Error(`psql failed (exit ${result.code}): ${result.stderr.trim()}\nSQL: ${text}`)
  }
  return result.stdout.replace(/\n$/, '')
}

export function quoteIdent(name) {
  return `"${name.replaceAll('"', '""')}"`
}

// --- values as the Electric client parses them -----------------------------------------------

// A PostgreSQL array literal ({1,2}, {"a b",NULL}, {{1,2},{3,4}}) as nested arrays of strings and
// nulls; written here, not taken from the client, so that the tests do not check it against itself.
export function parsePgArray(text) {
  let i = 0
  function parseArray() {
    if (text[i] !== '{') throw new Error(`bad array literal ${text} at ${i}`)
    i += 1
    const out = []
    if (text[i] === '}') {
      i += 1
      return out
    }
    for (;;) {
      if (text[i] === '{') {
        out.push(parseArray())
      } else if (text[i] === '"') {
        i += 1
        let element = ''
        while (text[i] !== '"') {
          if (text[i] === '\\') i += 1
          if (i >= text.length) throw new Error(`unterminated element in ${text}`)
          element += text[i]
          i += 1
        }
        i += 1
        out.push(element)
      } else {
        let end = i
        while (text[end] !== ',' && text[end] !== '}') end += 1
        const element = text.slice(i, end).trim()
        out.push(element === 'NULL' ? null : element)
        i = end
      }
      if (text[i] === ',') {
        i += 1
      } else if (text[i] === '}') {
        i += 1
        return out
      } else {
        throw new Error(`bad array literal ${text} at ${i}`)
      }
    }
  }
  return parseArray()
}

// The client's default parser for one non-NULL scalar of type typname (electric-schema's "type").
function parseScalar(text, typname) {
  switch (typname) {
    case 'int2':
    case 'int4':
    case 'float4':
    case 'float8':
      return Number(text)
    case 'int8':
      return BigInt(text)
    case 'bool':
      return text === 'true' || text === 't'
    case 'json':
    case 'jsonb':
      return JSON.parse(text)
    default:
      return text
  }
}

export function parseValue(text, typname, isArray) {
  if (text === null) return null
  if (!isArray) return parseScalar(text, typname)
  const walk = (v) => (Array.isArray(v) ? v.map(walk) : v === null ? null : parseScalar(v, typname))
  return walk(parsePgArray(text))
}

// [{name, type, isArray}] of a table's columns in order: type is the element type for arrays.
export async function columnTypes(table) {
  const text = await sql(
    `SELECT json_agg(json_build_array(a.attname, CASE WHEN t.typcategory = 'A' THEN e.typname ` +
      `ELSE t.typname END, t.typcategory = 'A') ORDER BY a.attnum) FROM pg_attribute a ` +
      `JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_type e ON e.oid = t.typelem ` +
      `WHERE a.attrelid = '${table.replaceAll("'", "''")}'::regclass AND a.attnum > 0 ` +
      `AND NOT a.attisdropped`
  )
  return JSON.parse(text).map(([name, type, isArray]) => ({ name, type, isArray }))
}

// The table's rows as the client should hold them: the given columns (default all), rows matching
// where (SQL), each value read as text and parsed by the client's rules, sorted by orderBy.
export async function tableRows(table, { columns, where = 'true', orderBy = 'id' } = {}) {
  const types = await columnTypes(table)
  const selected = columns
    ? columns.map((c) => types.find((t) => t.name === c) ?? { name: c, type: 'text' })
    : types
  const list = selected.map((c) => `${quoteIdent(c.name)}::text`).join(', ')
  const text = await sql(
    `SELECT coalesce(json_agg(json_build_array(${list}) ORDER BY ${orderBy}), '[]') ` +
      `FROM ${table} WHERE ${where}`
  )
  return JSON.parse(text).map((values) =>
    Object.fromEntries(selected.map((c, k) => [c.name, parseValue(values[k], c.type, c.isArray)]))
  )
}

export function show(value) {
  return inspect(value, { depth: 6, breakLength: 100, maxArrayLength: 50 })
}

// --- waiting ------------------------------------------------------------------------------------

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// Polls check() (sync or async) every 50 ms until it returns a truthy value, which it resolves to.
// On timeout throws an AssertionError with describe()'s text. check may throw to fail at once.
export async function waitFor(check, { timeoutMs = 15_000, describe = () => 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) {
      throw new AssertionError({
        message: `timed out after ${timeoutMs} ms waiting for ${await describe()}`,
      })
    }
    await sleep(50)
  }
}

// Sorts rows by their "id" (numbers or BigInts) for comparison.
export function byId(rows) {
  return [...rows].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

// Waits until the Shape's rows deep-equal the table's (see tableRows; options as there). Fails at
// once when the stream reported an error (errors: the array openShape's onError fills).
export async function converge(handle, table, options = {}) {
  const { timeoutMs = 15_000, ...rowOptions } = options
  let expected = []
  let actual = []
  await waitFor(
    async () => {
      if (handle.errors.length > 0) {
        throw new AssertionError({
          message: `the shape stream failed before converging on ${table}: ${describeErrors(handle.errors)}`,
        })
      }
      expected = await tableRows(table, rowOptions)
      actual = byId(handle.shape.currentRows)
      return isDeepStrictEqual(actual, expected)
    },
    {
      timeoutMs,
      describe: () =>
        `the Shape of ${table} to converge to the table\n` +
        `  Shape (${actual.length} rows): ${show(actual)}\n` +
        `  table (${expected.length} rows): ${show(expected)}\n` +
        `  stream: handle ${handle.stream.shapeHandle}, offset ${handle.stream.lastOffset}, ` +
        `up-to-date ${handle.stream.isUpToDate}, errors ${describeErrors(handle.errors)}`,
    }
  )
}

export function describeErrors(errors) {
  if (errors.length === 0) return 'none'
  return errors
    .map((e) => {
      const status = e.status !== undefined ? ` (status ${e.status})` : ''
      const text = e.json ? JSON.stringify(e.json) : e.text ?? ''
      const body = text && !String(e.message).includes(text) ? ` ${text}` : ''
      return `${e.name}${status}: ${e.message}${body}`
    })
    .join('; ')
}

// --- cleanup ------------------------------------------------------------------------------------

const cleanups = [] // async functions, run last-registered first
const liveChildren = new Set()

export function onCleanup(fn) {
  cleanups.push(fn)
}

// Runs every registered cleanup (kills, aborts, slot drops), each even when another fails; reports
// the failures together.
export async function cleanup() {
  const failures = []
  while (cleanups.length > 0) {
    const fn = cleanups.pop()
    try {
      await fn()
    } catch (error) {
      failures.push(error)
    }
  }
  if (failures.length > 0) {
    throw new Error(`cleanup failed: ${failures.map((e) => e.message).join('; ')}`)
  }
}

// Whatever escaped cleanup() (a crash, a runner timeout): no process outlives the test run.
process.on('exit', () => {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL')
    } catch {}
  }
})

// An AbortController aborted at cleanup: every stream must stop, or node never exits.
export function abortAtCleanup() {
  const controller = new AbortController()
  onCleanup(async () => controller.abort())
  return controller
}

// --- processes ----------------------------------------------------------------------------------

// A child process with its stderr kept (the last 64 KiB) and an exit promise.
export function startProcess(file, args, options = {}) {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options })
  liveChildren.add(child)
  let stderr = ''
  const keep = (chunk) => {
    stderr = (stderr + chunk.toString()).slice(-65536)
  }
  child.stderr.on('data', keep)
  child.stdout.on('data', keep)
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      liveChildren.delete(child)
      resolve({ code, signal })
    })
    child.on('error', (error) => {
      liveChildren.delete(child)
      stderr += String(error)
      resolve({ code: -1, signal: null })
    })
  })
  return {
    child,
    exited,
    stderr: () => stderr,
    running: () => child.exitCode === null && child.signalCode === null,
  }
}

// Sends signal and waits up to timeoutMs for the exit, then SIGKILLs; resolves to {code, signal}.
export async function stopProcess(proc, signal = 'SIGTERM', timeoutMs = 20_000) {
  if (!proc.running()) return proc.exited
  proc.child.kill(signal)
  let timer
  const expired = new Promise((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs)
  })
  const outcome = await Promise.race([proc.exited, expired])
  clearTimeout(timer) // a pending timer would keep node (and so the test run) alive
  if (outcome === 'timeout') proc.child.kill('SIGKILL')
  return proc.exited
}

export async function dropSlot(slot) {
  // The walsender of a killed server may linger a moment: end it, then drop, retrying briefly.
  let lastError
  for (let attempt = 0; attempt < 20; attempt += 1) {
    try {
      await sql(
        `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots ` +
          `WHERE slot_name = '${slot}' AND active_pid IS NOT NULL`
      )
      await sql(
        `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots ` +
          `WHERE slot_name = '${slot}'`
      )
      return
    } catch (error) {
      lastError = error
      await sleep(100)
    }
  }
  throw new Error(`could not drop replication slot "${slot}": ${lastError.message}`)
}

// A JWT signed with HS256 and secret, as pgsync-serve verifies them (tests/support: sign_hs256).
export function signHs256(claims, secret) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const body = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`
}

// Starts pgsync-serve for tables (existing tables, SQL names): creates their publication and slot
// with pgsync-init, then the server on a free loopback port with its own storage directory, in
// insecure mode (so DELETE /v1/shape is allowed), or, with jwtSecret, requiring HS256 tokens
// signed with it (signHs256). configYaml, when given, is written to a pgsync.yaml(5) file passed
// with --config (e.g. serve.auth.row_webhook); the command-line options above win over it. Resolves
// to {url, wsUrl, port, slot, publication, storageDir, stderr(), stop(), kill(), start(), restart()};
// cleanup() kills the server and drops the slot and publication.
export async function startServe({ tables, extraArgs = [], jwtSecret = null, configYaml = null }) {
  const name = uniqueName('js')
  const slot = `${name}_slot`
  const publication = `${name}_pub`
  // tests/support/serve_support.cpp create_slot: the same invocation.
  const initArgs = ['-d', testDsn(), '-S', slot, '-P', publication]
  for (const table of tables) initArgs.push('-t', table)
  const init = await run(toolPath('pgsync-init'), initArgs)
  onCleanup(async () => {
    await dropSlot(slot)
    await sql(`DROP PUBLICATION IF EXISTS ${publication}`)
  })
  if (init.code !== 0) {
    throw new Error(`pgsync-init failed (exit ${init.code}): ${init.stderr.trim()}`)
  }

  const storageDir = mkdtempSync(path.join(tmpRoot(), `${name}-`))
  const readyFile = `${storageDir}.ready`
  const configFile = `${storageDir}.yaml`
  onCleanup(async () => {
    rmSync(storageDir, { recursive: true, force: true })
    rmSync(readyFile, { force: true })
    rmSync(configFile, { force: true })
  })
  const threads = process.env.PGSYNC_TEST_SERVE_THREADS
  const baseArgs = ['-d', testDsn(), '-S', slot, '-P', publication]
  const tailArgs = ['--storage-dir', storageDir, '--ready-file', readyFile]
  const env = { ...process.env }
  if (jwtSecret === null) {
    tailArgs.push('--insecure')
  } else {
    tailArgs.push('--jwt-secret-env', 'PGSYNC_TEST_JWT')
    env.PGSYNC_TEST_JWT = jwtSecret
  }
  if (configYaml !== null) {
    writeFileSync(configFile, configYaml)
    tailArgs.push('--config', configFile)
  }
  if (threads && !extraArgs.includes('--threads')) tailArgs.push('--threads', threads)
  tailArgs.push(...extraArgs)

  let proc = null
  let port = 0
  const launch = async (listen) => {
    rmSync(readyFile, { force: true })
    proc = startProcess(toolPath('pgsync-serve'), [...baseArgs, '--listen', listen, ...tailArgs], {
      env,
    })
    const current = proc
    const address = await waitFor(
      () => {
        if (!current.running()) {
          throw new Error(
            `pgsync-serve exited (${current.child.exitCode ?? current.child.signalCode}) before ` +
              `listening:\n${current.stderr().trim()}`
          )
        }
        if (!existsSync(readyFile)) return null
        const text = readFileSync(readyFile, 'utf8').trim()
        return text.includes(':') ? text : null
      },
      {
        timeoutMs: 15_000,
        describe: () => `pgsync-serve to write ${readyFile}; its stderr:\n${current.stderr()}`,
      }
    )
    port = Number(address.slice(address.lastIndexOf(':') + 1))
  }
  onCleanup(async () => {
    if (proc) await stopProcess(proc, 'SIGKILL')
  })
  await launch('127.0.0.1:0')

  const serve = {
    slot,
    publication,
    storageDir,
    get port() {
      return port
    },
    get url() {
      return `http://127.0.0.1:${port}`
    },
    get wsUrl() {
      return `ws://127.0.0.1:${port}`
    },
    stderr: () => proc.stderr(),
    // SIGTERM and wait: resolves to {code, signal}.
    stop: () => stopProcess(proc, 'SIGTERM'),
    // SIGKILL: no shutdown at all, as a crash.
    kill: () => stopProcess(proc, 'SIGKILL'),
    // Starts the stopped server again on the same port and storage directory.
    start: () => launch(`127.0.0.1:${port}`),
    // Stops the server (SIGTERM) and starts it again on the same port and storage directory.
    restart: async () => {
      const { code, signal } = await stopProcess(proc, 'SIGTERM')
      if (code !== 0) {
        throw new Error(`pgsync-serve exited with ${code ?? signal} on SIGTERM:\n${proc.stderr()}`)
      }
      await launch(`127.0.0.1:${port}`)
    },
  }
  return serve
}

// A metric's value from a server's /metrics (Prometheus text): the sum of its samples (any
// labels), or null when the server does not expose it.
export async function metric(port, name) {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`)
  if (!response.ok) throw new Error(`/metrics answered ${response.status}`)
  const text = await response.text()
  let sum = null
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) {
      const value = Number(line.slice(line.lastIndexOf(' ') + 1))
      sum = (sum ?? 0) + value
    }
  }
  return sum
}

// A fetch that records every request (URL, method, status, content-type) made through it.
export function recordingFetch() {
  const requests = []
  const fetchClient = async (input, init) => {
    const url = typeof input === 'string' ? input : input.url ?? String(input)
    const entry = { url, method: init?.method ?? 'GET', status: null, contentType: null }
    requests.push(entry)
    const response = await fetch(input, init)
    entry.status = response.status
    entry.contentType = response.headers.get('content-type')
    return response
  }
  return { fetchClient, requests }
}

// --- Electric client and raw protocol ---------------------------------------------------------

// A ShapeStream and Shape of ${url}/v1/shape with params. errors collects what reaches onError
// (which stops the stream: the tests want the first error, not retries). Aborted at cleanup.
export async function openShape(url, params, options = {}) {
  const { ShapeStream, Shape } = await import('@electric-sql/client')
  const controller = abortAtCleanup()
  const errors = []
  const stream = new ShapeStream({
    url: `${url}/v1/shape`,
    params,
    signal: controller.signal,
    onError: (error) => {
      errors.push(error)
    },
    ...options,
  })
  const shape = new Shape(stream)
  return { stream, shape, errors, controller }
}

// ${url}/v1/shape with params (sorted, as the client sends them).
export function shapeUrl(url, params) {
  const search = new URLSearchParams(params)
  search.sort()
  return `${url}/v1/shape?${search}`
}

// A raw GET of /v1/shape: {status, headers, body (parsed JSON or the text), ms}.
export async function getShape(url, params, init = {}) {
  const started = Date.now()
  const response = await fetch(shapeUrl(url, params), {
    signal: AbortSignal.timeout(30_000),
    ...init,
  })
  const text = await response.text()
  let body = text
  try {
    body = text === '' ? null : JSON.parse(text)
  } catch {}
  return { status: response.status, headers: response.headers, body, ms: Date.now() - started }
}

// Follows a fresh shape from offset=-1 through non-live requests to its first up-to-date, as the
// client does: resolves to {handle, offset, responses}.
export async function catchUp(url, params) {
  let offset = '-1'
  let handle
  const responses = []
  for (let i = 0; i < 50; i += 1) {
    const query = { ...params, log: 'full', offset }
    if (handle) query.handle = handle
    const response = await getShape(url, query)
    responses.push(response)
    if (response.status !== 200) {
      throw new AssertionError({
        message: `GET ${shapeUrl(url, query)} answered ${response.status}: ${show(response.body)}`,
      })
    }
    offset = response.headers.get('electric-offset')
    handle = response.headers.get('electric-handle')
    if (response.headers.has('electric-up-to-date')) return { handle, offset, responses }
  }
  throw new AssertionError({ message: `no up-to-date after 50 non-live requests of ${show(params)}` })
}
