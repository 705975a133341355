// The chat example (examples/chat) in a real browser: Debian's Chromium, driven by puppeteer-core,
// opens the page that the example's backend serves, signed in as a user of two of the three groups,
// against pgsync-serve run with the example's pgsync.yaml (tokens from POST /v1/token, the backend's
// row webhook) on a database of its own in the harness cluster. It shows, in order: the group's
// latest 50 messages; an INSERT appearing within a second; a message sent from the page's form;
// another group's messages never appearing; a 5-second token refreshed with no gap; a pgsync-serve
// restart with no message lost or repeated; a reload while pgsync-serve is down showing the
// messages kept in IndexedDB; rows passing the backend's row webhook, which refuses the group's
// next message once the user has left it. It saves a screenshot in $PGSYNC_TEST_TMP
// (build/test-tmp/chat-browser.png).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import puppeteer from 'puppeteer-core'

import {
  binDir,
  cleanup,
  onCleanup,
  show,
  sleep,
  sql,
  startProcess,
  stopProcess,
  testDsn,
  tmpRoot,
  uniqueName,
  waitFor,
} from './harness.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const exampleDir = path.join(root, 'examples/chat')
const chromiumPath = process.env.PGSYNC_CHROMIUM ?? '/usr/bin/chromium'
const kGroup = 'book-club'        // Priya's, with 60 more messages than the seed's so that 50 is a window
const kOtherGroup = 'weekend-hike' // not Priya's
const kTokenTtl = 5               // seconds: refreshed by the client every 2.5 s
const kTimeout = { timeout: 60_000 }

after(cleanup)

// --- the database, pgsync-serve, the backend and the browser ------------------------------------

function psqlIn(dsn, text) {
  return new Promise((resolve, reject) => {
    execFile('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', dsn, '-c', text],
      { env: { ...process.env, PGTZ: 'UTC' } }, (error, stdout, stderr) => {
        if (error) reject(new Error(`psql failed: ${stderr.trim() || error.message}\nSQL: ${text}`))
        else resolve(stdout.replace(/\n$/, ''))
      })
  })
}

function psqlFiles(dsn, files) {
  return new Promise((resolve, reject) => {
    const args = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', dsn]
    for (const file of files) args.push('-f', file)
    execFile('psql', args, { env: { ...process.env, PGOPTIONS: '-c client_min_messages=warning' } },
      (error, _stdout, stderr) => (error ? reject(new Error(`psql failed: ${stderr.trim()}`)) : resolve()))
  })
}

function runTool(name, args) {
  return new Promise((resolve, reject) => {
    execFile(path.join(binDir(), name), args, (error, stdout, stderr) =>
      error ? reject(new Error(`${name} failed: ${stderr.trim() || error.message}`)) : resolve(stdout))
  })
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

async function readyAddress(proc, file, what) {
  return waitFor(
    () => {
      if (!proc.running()) throw new Error(`${what} exited before listening:\n${proc.stderr().trim()}`)
      if (!existsSync(file)) return null
      const text = readFileSync(file, 'utf8').trim()
      return text.includes(':') ? text : null
    },
    { timeoutMs: 15_000, describe: () => `${what} to write ${file}; its output:\n${proc.stderr()}` }
  )
}

const env = {}      // what the steps share: dsn, serve, backend, browser, page
const timings = {}  // measured, printed at the end

// A database of its own (the example's table names are generic), loaded with the example's schema
// and seed plus 60 newer messages in kGroup, whose latest 50 are then not simply the seed's.
async function createDatabase() {
  const name = uniqueName('chat_browser')
  await sql(`CREATE DATABASE ${name}`)
  const dsn = testDsn().replace(/dbname=\S+/, `dbname=${name}`)
  onCleanup(async () => {
    // Its slot first: a database with a logical slot cannot be dropped.
    await psqlIn(dsn, 'SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots ' +
      'WHERE active_pid IS NOT NULL').catch(() => {})
    await sleep(100)
    await psqlIn(dsn, 'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots').catch(() => {})
    await sql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  })
  await psqlFiles(dsn, [path.join(exampleDir, 'schema.sql'), path.join(exampleDir, 'seed.sql')])
  await psqlIn(dsn,
    `INSERT INTO messages (group_name, sender_name, message_text, message_timestamp) ` +
      `SELECT '${kGroup}', 'Tom', 'Earlier message ' || i, now() - (61 - i) * interval '1 second' ` +
      `FROM generate_series(1, 60) AS i`)
  return { name, dsn }
}

// pgsync-serve with examples/chat/pgsync.yaml; only the webhook's URL (the backend's port) is
// changed, and the command line gives the database, slot, port and storage, as the file allows.
async function startServe(dsn, backendUrl, port) {
  const name = uniqueName('chat')
  const slot = `${name}_slot`
  const publication = `${name}_pub`
  await runTool('pgsync-init', ['-d', dsn, '-S', slot, '-P', publication, '-t', 'public.messages'])
  const dir = mkdtempSync(path.join(tmpRoot(), 'chat-browser-'))
  onCleanup(async () => rmSync(dir, { recursive: true, force: true }))
  const config = readFileSync(path.join(exampleDir, 'pgsync.yaml'), 'utf8')
  const webhook = 'http://127.0.0.1:8000/authorize-row'
  assert.ok(config.includes(webhook), `examples/chat/pgsync.yaml no longer names ${webhook}`)
  const configFile = path.join(dir, 'pgsync.yaml')
  writeFileSync(configFile, config.replace(webhook, `${backendUrl}/authorize-row`))
  const readyFile = path.join(dir, 'ready')
  const args = ['--config', configFile, '-d', dsn, '-S', slot, '-P', publication,
    '--listen', `127.0.0.1:${port}`, '--storage-dir', path.join(dir, 'data'),
    '--ready-file', readyFile, '--allow-origin', backendUrl,
    '--threads', process.env.PGSYNC_TEST_SERVE_THREADS ?? '1']
  const serveEnv = { ...process.env, PGSYNC_JWT_SECRET: env.jwtSecret, PGSYNC_API_KEY: env.apiKey,
    CHAT_WEBHOOK_SECRET: env.webhookSecret }
  let proc = null
  const serve = {
    async start() {
      rmSync(readyFile, { force: true })
      proc = startProcess(path.join(binDir(), 'pgsync-serve'), args, { env: serveEnv })
      await readyAddress(proc, readyFile, 'pgsync-serve')
    },
    async stop() {
      const { code, signal } = await stopProcess(proc, 'SIGTERM')
      assert.equal(code, 0, `pgsync-serve exited with ${code ?? signal} on SIGTERM:\n${proc.stderr()}`)
    },
    stderr: () => proc?.stderr() ?? '',
  }
  onCleanup(async () => { if (proc) await stopProcess(proc, 'SIGKILL') })
  await serve.start()
  return serve
}

async function startBackend(dsn, servePort) {
  const dir = mkdtempSync(path.join(tmpRoot(), 'chat-backend-'))
  onCleanup(async () => rmSync(dir, { recursive: true, force: true }))
  const readyFile = path.join(dir, 'ready')
  const proc = startProcess(path.join(exampleDir, 'backend.py'),
    ['--listen', '127.0.0.1:0', '--dsn', dsn, '--pgsync-url', `http://127.0.0.1:${servePort}`,
      '--token-ttl', String(kTokenTtl), '--ready-file', readyFile],
    { env: { ...process.env, PGSYNC_API_KEY: env.apiKey, CHAT_WEBHOOK_SECRET: env.webhookSecret } })
  onCleanup(async () => stopProcess(proc, 'SIGTERM', 5_000))
  const address = await readyAddress(proc, readyFile, 'the chat backend')
  return { url: `http://${address}`, proc }
}

async function launchBrowser() {
  if (!existsSync(chromiumPath)) {
    throw new Error(`${chromiumPath} does not exist: this test needs Debian's chromium\n` +
      'hint: Run scripts/install-deps (it installs the "chromium" package), or set PGSYNC_CHROMIUM.')
  }
  const args = ['--disable-dev-shm-usage', '--no-first-run']
  if (process.getuid?.() === 0) args.push('--no-sandbox') // Chromium refuses its sandbox as root
  const browser = await puppeteer.launch({ executablePath: chromiumPath, headless: true, args })
  onCleanup(async () => browser.close())
  return browser
}

// --- what the page shows, and what it should -----------------------------------------------------

const pageIds = (page) => page.$$eval('#messages li', (items) => items.map((li) => li.dataset.id))

// The message ids of the group's latest 50, oldest first: the window pgsync-serve keeps
// (message_timestamp desc, ties by key), reversed as the page shows it.
async function latest50(group = kGroup) {
  const text = await psqlIn(env.dsn,
    `SELECT coalesce(json_agg(message_id ORDER BY message_timestamp, message_id DESC), '[]') FROM ` +
      `(SELECT message_id, message_timestamp FROM messages WHERE group_name = '${group}' ` +
      `ORDER BY message_timestamp DESC, message_id LIMIT 50) latest`)
  return JSON.parse(text)
}

async function insertMessage(group, text) {
  return psqlIn(env.dsn,
    `INSERT INTO messages (group_name, sender_name, message_text) VALUES ('${group}', 'psql', '${text}') ` +
      `RETURNING message_id`)
}

// Waits until the page shows exactly the group's latest 50, in order.
async function pageShowsLatest(page, timeoutMs = 10_000) {
  let expected = []
  let actual = []
  await waitFor(async () => {
    expected = await latest50()
    actual = await pageIds(page)
    return actual.length === expected.length && actual.every((id, i) => id === expected[i])
  }, {
    timeoutMs,
    describe: async () => `the page to show the latest 50 of ${kGroup}\n` +
      `  page (${actual.length}): ${show(actual)}\n  database (${expected.length}): ${show(expected)}\n` +
      `  errors: ${show(await page.evaluate(() => window.chatDebug.errors))}\n` +
      `  states: ${show(await page.evaluate(() => window.chatDebug.states.slice(-5)))}\n` +
      `pgsync-serve:\n${env.serve.stderr().split('\n').slice(-15).join('\n')}`,
  })
  return actual
}

async function stats() {
  const response = await fetch(`${env.backend.url}/stats`)
  return response.json()
}

async function assertNoErrors(page) {
  const { errors, badRenders } = await page.evaluate(() => window.chatDebug)
  assert.deepEqual(errors, [], 'the page showed errors')
  assert.deepEqual(badRenders, [], 'the page rendered a duplicate or out-of-order message')
  const shown = await page.$$eval('#errors li', (items) => items.map((li) => li.textContent))
  assert.deepEqual(shown, [], 'the page shows errors')
}

before(async () => {
  const started = Date.now()
  env.jwtSecret = randomBytes(32).toString('hex')
  env.apiKey = randomBytes(24).toString('hex')
  env.webhookSecret = randomBytes(24).toString('hex')
  const database = await createDatabase()
  env.dsn = database.dsn
  env.servePort = await freePort()
  env.backend = await startBackend(env.dsn, env.servePort)
  env.serve = await startServe(env.dsn, env.backend.url, env.servePort)
  env.browser = await launchBrowser()
  env.page = await env.browser.newPage()
  env.page.on('pageerror', (error) => env.pageErrors.push(String(error)))
  env.page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warn') env.console.push(message.text())
  })
  timings.startMs = Date.now() - started
}, kTimeout)
env.pageErrors = []
env.console = []

// --- the steps, in order: each uses the page the previous one left ------------------------------

test('the page signs in through the backend and shows the group\'s latest 50 messages, oldest first', kTimeout, async () => {
  const { page } = env
  await page.goto(`${env.backend.url}/#${kGroup}`)
  await page.waitForSelector('#signin-user', { visible: true })
  await page.type('#signin-user', 'Priya')
  const started = Date.now()
  await page.click('#signin button[type=submit]')
  const shown = await pageShowsLatest(page)
  timings.firstResultMs = Date.now() - started
  assert.equal(shown.length, 50)
  assert.equal(await page.$eval('#user', (e) => e.textContent), 'Priya')
  assert.equal(await page.$eval('#badge', (e) => e.textContent), 'live')
  await assertNoErrors(page)
  assert.deepEqual(env.pageErrors, [])
})

test('a message written with INSERT appears on the page within a second', kTimeout, async () => {
  const { page } = env
  const latencies = []
  for (let i = 0; i < 5; i += 1) {
    const before = Date.now()
    const id = await insertMessage(kGroup, `Within a second ${i}`)
    const seen = await waitFor(() => page.evaluate((key) => window.chatDebug.firstSeen[key], id),
      { timeoutMs: 5_000, describe: () => `message ${id} on the page` })
    latencies.push(seen - before)
    await sleep(100)
  }
  timings.insertToPageMs = latencies
  assert.ok(Math.max(...latencies) < 1000, `INSERT to page took ${show(latencies)} ms: not within a second`)
  await pageShowsLatest(page)
})

test('a message sent with the page\'s form is written by the backend and comes back through pgsync-serve', kTimeout, async () => {
  const { page } = env
  const text = `Sent from the page ${Date.now()}`
  await page.type('#text', text)
  await page.click('#send')
  const item = await page.waitForSelector(`xpath///li[div[@class="text"]="${text}"]`, { timeout: 5_000 })
  const { sender, mine } = await item.evaluate((li) =>
    ({ sender: li.querySelector('.sender').textContent, mine: li.classList.contains('mine') }))
  assert.deepEqual({ sender, mine }, { sender: 'Priya', mine: true })
  assert.equal(await page.$eval('#text', (e) => e.value), '', 'the form was not cleared')
  assert.equal(await psqlIn(env.dsn, `SELECT sender_name FROM messages WHERE message_text = '${text}'`), 'Priya')
  await pageShowsLatest(page)
  await assertNoErrors(page)
})

test('another group\'s messages never reach the page, not even when it asks for that group', kTimeout, async () => {
  const { page } = env
  const otherIds = [
    await insertMessage(kOtherGroup, 'Not for Priya'),
    await insertMessage('platform-team', 'Another of her groups'),
  ]
  // A message of the group shown, written after them: once it is on the page, they would be too.
  const sentinel = await insertMessage(kGroup, 'After the others')
  await waitFor(() => page.evaluate((key) => window.chatDebug.firstSeen[key], sentinel),
    { timeoutMs: 5_000, describe: () => `message ${sentinel} on the page` })
  const seen = await page.evaluate(() => Object.keys(window.chatDebug.firstSeen))
  for (const id of otherIds) assert.ok(!seen.includes(id), `message ${id} of another group was shown`)

  // A second tab asks for a group Priya is not in: pgsync-serve sends it nothing.
  const intruder = await env.browser.newPage()
  try {
    await intruder.goto(`${env.backend.url}/#${kOtherGroup}`)
    const render = await waitFor(
      () => intruder.evaluate(() => window.chatDebug?.renders.find((r) => !r.fromStorage)),
      { timeoutMs: 10_000, describe: () => `the ${kOtherGroup} tab's first result from pgsync-serve` })
    assert.deepEqual(render.ids, [], `the ${kOtherGroup} tab was shown messages`)
    const otherGroupIds = JSON.parse(await psqlIn(env.dsn,
      `SELECT json_agg(message_id) FROM messages WHERE group_name = '${kOtherGroup}'`))
    const intruderSeen = await intruder.evaluate(() => Object.keys(window.chatDebug.firstSeen))
    assert.deepEqual(intruderSeen.filter((id) => otherGroupIds.includes(id)), [])
  } finally {
    await intruder.close()
  }
})

test('a 5-second token is refreshed in place: no reconnect, no error, no message missed', kTimeout, async () => {
  const { page } = env
  const since = Date.now()
  const tokensBefore = await page.evaluate(() => window.chatDebug.tokens)
  const ids = []
  // 7 s of messages, one every 350 ms: the token is refreshed at least twice meanwhile.
  while (Date.now() - since < 7_000) {
    ids.push(await insertMessage(kGroup, `Across the refresh ${ids.length}`))
    await sleep(350)
  }
  await pageShowsLatest(page)
  const debug = await page.evaluate(() => window.chatDebug)
  const refreshes = debug.tokens - tokensBefore
  assert.ok(refreshes >= 2, `the token was refreshed ${refreshes} times in 7 s (it lives ${kTokenTtl} s)`)
  const missing = ids.filter((id) => debug.firstSeen[id] === undefined)
  assert.deepEqual(missing, [], 'messages written across the token refresh never appeared')
  const states = debug.states.filter((s) => s.at >= since)
  assert.deepEqual(states, [], 'the connection changed state across the token refresh (a reconnect)')
  assert.deepEqual(debug.notices, [])
  await assertNoErrors(page)
  timings.tokenRefreshes = refreshes
})

test('a pgsync-serve restart is survived with no message missing or repeated', kTimeout, async () => {
  const { page } = env
  const stopped = Date.now()
  await env.serve.stop()
  const ids = []
  for (let i = 0; i < 3; i += 1) {
    ids.push(await insertMessage(kGroup, `While pgsync-serve is down ${i}`))
    await sleep(150)
  }
  await env.serve.start()
  for (let i = 0; i < 2; i += 1) ids.push(await insertMessage(kGroup, `Just after the restart ${i}`))
  await pageShowsLatest(page, 20_000)
  timings.restartToCaughtUpMs = Date.now() - stopped
  const debug = await page.evaluate(() => window.chatDebug)
  assert.deepEqual(ids.filter((id) => debug.firstSeen[id] === undefined), [])
  assert.ok(debug.states.some((s) => s.at >= stopped && s.state === 'waiting'),
    'the page never noticed the restart')
  await assertNoErrors(page)
})

test('a reload while pgsync-serve is down shows the messages kept in IndexedDB, then goes live again', kTimeout, async () => {
  const { page } = env
  const expected = await pageShowsLatest(page)
  await sleep(1_500) // the client writes a result at most once a second
  await env.serve.stop()
  await page.reload()
  const render = await waitFor(() => page.evaluate(() => window.chatDebug?.renders[0]),
    { timeoutMs: 10_000, describe: () => 'a result on the reloaded page' })
  assert.equal(render.fromStorage, true, 'the first result after the reload did not come from storage')
  assert.deepEqual(await pageIds(page), expected)
  assert.notEqual(await page.$eval('#badge', (e) => e.textContent), 'live')
  await sleep(500)
  assert.deepEqual(await pageIds(page), expected, 'the saved messages did not stay while pgsync-serve is down')

  // Back up: the page goes live again and shows a message written meanwhile.
  const id = await insertMessage(kGroup, 'Welcome back')
  await env.serve.start()
  await pageShowsLatest(page, 20_000)
  assert.ok((await pageIds(page)).includes(id))
  await assertNoErrors(page)

  const screenshot = path.join(tmpRoot(), 'chat-browser.png')
  await page.screenshot({ path: screenshot, fullPage: true })
  console.log(`chat-browser: screenshot ${screenshot}`)
})

test('every row reached the page through the backend\'s row webhook, which the token\'s filter left nothing to refuse', kTimeout, async () => {
  const counts = await stats()
  assert.ok(counts.webhook_calls > 0, 'pgsync-serve never called the row webhook')
  // At least the first window's 50 rows were asked about, in batches (batch_size: 50).
  assert.ok(counts.webhook_checks >= 50, `the webhook was asked about ${counts.webhook_checks} rows`)
  assert.ok(counts.webhook_calls < counts.webhook_checks, 'the webhook was called once per row: no batching')
  assert.equal(counts.webhook_denied, 0)
  assert.ok(counts.tokens >= 4, `the backend issued ${counts.tokens} tokens`)
  assert.equal(counts.messages, 1, 'the backend wrote one message (the form\'s)')
  timings.backend = counts
})

test('the row webhook answers only pgsync-serve, which sends the secret of row_webhook.secret_env', kTimeout, async () => {
  const check = { userId: 'Priya', sourceDbId: 'chat', schema: 'public', table: 'messages', row: { group_name: 'book-club' } }
  const ask = (headers) => fetch(`${env.backend.url}/authorize-row`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(check),
  })
  assert.equal((await ask({})).status, 401)
  assert.equal((await ask({ Authorization: 'Bearer not-the-secret' })).status, 401)
  const answered = await ask({ Authorization: `Bearer ${env.webhookSecret}` })
  assert.equal(answered.status, 200)
  assert.equal((await answered.json()).delivery_authorized, true)
})

test('a user removed from the group gets none of its new messages: the row webhook refuses them', kTimeout, async () => {
  const { page } = env
  // Right after a token refresh, so that the next one (whose grant would leave the group out)
  // is 2.5 s away: what stops the message here is the webhook, not the token.
  const tokens = await page.evaluate(() => window.chatDebug.tokens)
  await waitFor(async () => (await page.evaluate(() => window.chatDebug.tokens)) > tokens,
    { timeoutMs: 10_000, describe: () => 'a token refresh' })
  const denied = (await stats()).webhook_denied
  await psqlIn(env.dsn, `DELETE FROM group_members WHERE user_name = 'Priya' AND group_name = '${kGroup}'`)
  const inserted = Date.now()
  const id = await insertMessage(kGroup, 'After Priya left')
  const error = await waitFor(
    () => page.evaluate(() => window.chatDebug.errors.find((e) => e.text.startsWith('unauthorized-row'))),
    { timeoutMs: 5_000, describe: () => 'the error unauthorized-row on the page' })
  assert.ok((await stats()).webhook_denied > denied, 'the webhook denied nothing')
  assert.equal(await page.evaluate((key) => window.chatDebug.firstSeen[key], id), undefined,
    'the message was shown')
  assert.match(await page.$eval('#errors', (e) => e.textContent), /unauthorized-row/)
  timings.insertToDenialShownMs = error.at - inserted
  assert.deepEqual(env.pageErrors, [], 'uncaught exceptions on the page')
  console.log(`chat-browser: timings ${JSON.stringify(timings)}`)
  if (env.console.length > 0) console.log(`chat-browser: the page's console:\n  ${env.console.join('\n  ')}`)
})
