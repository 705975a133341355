// A scripted stand-in for pgsync-serve's /v1/ws, built on the ws package, for tests of the client's
// own logic (windows, the auth frame, close codes): the test plays the server's frames by hand, as
// pgsync-serve(1) WEBSOCKET PROTOCOL and .pgsync/issue12-design.md describe them.
import { WebSocketServer, waitFor } from '../../../tests/js/harness.mjs'

export class FakeServer {
  // refuse(request) -> HTTP status to refuse the upgrade with, or 0 to accept.
  static async start({ refuse = () => 0 } = {}) {
    const server = new FakeServer()
    server.refuse = refuse
    server.wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      verifyClient: (info, done) => {
        const url = new URL(info.req.url, 'http://x')
        server.attempts.push({ path: url.pathname, token: url.searchParams.get('token') })
        const status = server.refuse(url)
        if (status) done(false, status, 'refused')
        else done(true)
      },
    })
    await new Promise((resolve) => server.wss.on('listening', resolve))
    server.wss.on('connection', (socket, request) => {
      const url = new URL(request.url, 'http://x')
      const connection = new FakeConnection(socket, url)
      server.connections.push(connection)
    })
    return server
  }

  constructor() {
    this.connections = []
    this.attempts = [] // every upgrade request, refused or not: {path, token}
  }

  get url() {
    return `ws://127.0.0.1:${this.wss.address().port}`
  }

  // The nth connection (0-based), waiting for it.
  connection(n, timeoutMs = 5_000) {
    return waitFor(() => this.connections[n], {
      timeoutMs,
      describe: () => `connection #${n} (have ${this.connections.length})`,
    })
  }

  async close() {
    for (const c of this.connections) c.socket.terminate()
    await new Promise((resolve) => this.wss.close(resolve))
  }
}

export class FakeConnection {
  constructor(socket, url) {
    this.socket = socket
    this.token = url.searchParams.get('token')
    this.frames = [] // every frame the client sent, parsed
    this.closed = null
    socket.on('message', (data) => this.frames.push(JSON.parse(data.toString())))
    socket.on('close', (code) => {
      this.closed = { code }
    })
  }

  // The first frame the client sent matching predicate (at index >= from), waiting for it.
  frame(predicate, { from = 0, timeoutMs = 5_000 } = {}) {
    return waitFor(() => this.frames.slice(from).find(predicate), {
      timeoutMs,
      describe: () => `a client frame matching ${predicate}; got ${JSON.stringify(this.frames)}`,
    })
  }

  subscribes() {
    return this.frames.filter((f) => f.type === 'subscribe')
  }

  // The nth subscribe frame (0-based), waiting for it.
  subscribe(n = 0, timeoutMs = 5_000) {
    return waitFor(() => this.subscribes()[n], {
      timeoutMs,
      describe: () => `subscribe #${n}; got ${JSON.stringify(this.frames)}`,
    })
  }

  send(...frames) {
    for (const frame of frames) this.socket.send(JSON.stringify(frame))
  }

  close(code, reason = '') {
    this.socket.close(code, reason)
  }
}

// Frames as the server writes them.
export const insert = (id, row, extra = {}) => ({
  type: 'change', id, op: 'insert', key: { id: row.id }, new: row, ...extra,
})
export const update = (id, row, extra = {}) => ({
  type: 'change', id, op: 'update', key: { id: row.id }, new: row, ...extra,
})
export const remove = (id, keyId, extra = {}) => ({
  type: 'change', id, op: 'delete', key: { id: keyId }, ...extra,
})
export const upToDate = (id, offset) => ({ type: 'up-to-date', id, offset })
