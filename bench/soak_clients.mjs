#!/usr/bin/env node
/**
 * The Yjs side of bench/soak.py: many stock y-websocket providers in one Node process, each
 * typing and moving its cursor on its own, with edit round-trip latency measured in here.
 *
 *   SOAK_NODE_MODULES=/path/to/tests/node/node_modules node bench/soak_clients.mjs
 *
 * Speaks the line protocol of tests/node/yclient.mjs (so tests/support/node_client.py drives
 * it): `{"id", "cmd", ...}` in, `{"type":"reply", "id", "ok", ...}` out. Unlike yclient it
 * reports no event per edit or awareness change (200 providers would flood the pipe): the
 * typing loop runs here, and `stats` returns what happened since the last call. The only
 * events are `ready`, `closed` (a permanent close, 4400-4499: the session is gone) and
 * `error`.
 *
 * Latency: after a local edit the sender's clock is noted; every other provider of the room
 * in this process that is synced counts the time until its document holds that clock
 * (`Y.getState`), i.e. sender -> server -> receiver, on one clock.
 */
import path from 'node:path'
import readline from 'node:readline'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'

const modules = process.env.SOAK_NODE_MODULES
if (!modules) throw new Error('SOAK_NODE_MODULES must name tests/node/node_modules')
// the stock packages, by file: this script lives outside tests/node, where they are installed
const load = (file) => import(pathToFileURL(path.join(modules, file)).href)
const Y = await load('yjs/dist/yjs.mjs')
const { WebsocketProvider } = await load('y-websocket/src/y-websocket.js')
const { default: WebSocket } = await load('ws/wrapper.mjs')

// each provider adds a process 'exit' listener (removed by destroy): hundreds are expected
process.setMaxListeners(0)

const ALPHABET = Array.from('abcdefghijklmnopqrstuvwxyz     ()=:.,_+\n\n\n\téñü😀🎉')
const MAX_CHARS = 3000 // past it the typists mostly delete
const PROBE_TIMEOUT_MS = 15000

/**
 * @typedef {{ name: string, room: string, doc: Y.Doc, provider: WebsocketProvider,
 *   typist: boolean, rand: () => number, timer: any, burst: number, cursor: any,
 *   user: object, alive: boolean }} Client
 */
/** @type {Map<string, Client>} */
const clients = new Map()
/** @type {Map<string, { members: Set<Client>, probes: Array<{ sender: Client, clock: number, t0: number, waiting: Set<Client> }> }>} */
const rooms = new Map()
let paused = false

// ---------------------------------------------------------------- stats, reset by `stats`

const loopDelay = monitorEventLoopDelay({ resolution: 10 })
loopDelay.enable()
const fresh = () => ({
  latencies: [],
  timeouts: 0,
  keystrokes: 0,
  cursorMoves: 0,
  closes: {},
  connectionErrors: 0,
  connects: 0,
  leaves: 0
})
let tally = fresh()

const stats = () => {
  const sorted = tally.latencies.sort((a, b) => a - b)
  const connected = [...clients.values()].filter((c) => c.provider.wsconnected).length
  const synced = [...clients.values()].filter((c) => c.provider.synced).length
  const result = {
    latencies: sorted.map((ms) => Math.round(ms * 10) / 10),
    timeouts: tally.timeouts,
    keystrokes: tally.keystrokes,
    cursorMoves: tally.cursorMoves,
    closes: tally.closes,
    connectionErrors: tally.connectionErrors,
    connects: tally.connects,
    leaves: tally.leaves,
    clients: clients.size,
    connected,
    synced,
    loopDelayP99: loopDelay.percentile(99) / 1e6,
    loopDelayMax: loopDelay.max / 1e6,
    rssMb: process.memoryUsage().rss / 1048576
  }
  tally = fresh()
  loopDelay.reset()
  return result
}

// ---------------------------------------------------------------- output

const write = (msg) => process.stdout.write(JSON.stringify(msg) + '\n')
const errorText = (err) => (err instanceof Error ? err.message : String(err))

/** mulberry32: the same seed replays the same choices. */
const makeRandom = (seed) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const requireClient = (name) => {
  const client = clients.get(name)
  if (client === undefined) throw new Error(`no client named ${JSON.stringify(name)}`)
  return client
}

const roomOf = (id) => {
  let room = rooms.get(id)
  if (room === undefined) {
    room = { members: new Set(), probes: [] }
    rooms.set(id, room)
  }
  return room
}

// ---------------------------------------------------------------- latency probes

const probe = (sender) => {
  const room = roomOf(sender.room)
  const waiting = new Set([...room.members].filter((c) => c !== sender && c.provider.synced))
  if (waiting.size === 0) return
  const clock = Y.getState(sender.doc.store, sender.doc.clientID)
  room.probes.push({ sender, clock, t0: performance.now(), waiting })
}

const received = (receiver) => {
  const room = rooms.get(receiver.room)
  if (room === undefined || room.probes.length === 0) return
  const now = performance.now()
  for (const p of room.probes) {
    if (p.waiting.has(receiver) &&
        Y.getState(receiver.doc.store, p.sender.doc.clientID) >= p.clock) {
      tally.latencies.push(now - p.t0)
      p.waiting.delete(receiver)
    }
  }
  room.probes = room.probes.filter((p) => p.waiting.size > 0)
}

setInterval(() => {
  const now = performance.now()
  for (const room of rooms.values()) {
    room.probes = room.probes.filter((p) => {
      if (now - p.t0 < PROBE_TIMEOUT_MS) return true
      // only receivers still here and synced count: one that left or dropped owes nothing
      tally.timeouts += [...p.waiting].filter((c) => c.alive && c.provider.synced).length
      return false
    })
  }
}, 1000).unref()

// ---------------------------------------------------------------- typing and cursors

const isHigh = (code) => code >= 0xd800 && code <= 0xdbff
const isLow = (code) => code >= 0xdc00 && code <= 0xdfff
/** Move an index that falls inside a surrogate pair to the pair's start. */
const snap = (text, index) =>
  index > 0 && index < text.length && isLow(text.charCodeAt(index)) &&
  isHigh(text.charCodeAt(index - 1))
    ? index - 1
    : index

const cursorIndex = (c, ytext, text) => {
  if (c.cursor !== null && c.rand() > 0.1) { // now and then the user clicks elsewhere
    const abs = Y.createAbsolutePositionFromRelativePosition(c.cursor, c.doc)
    if (abs !== null) return snap(text, Math.min(abs.index, text.length))
  }
  return snap(text, Math.floor(c.rand() * (text.length + 1)))
}

/** What y-monaco publishes (a selection of relative positions), plus the `cursor` field the
 * server relays to JSON clients as cursor_position. */
const publishCursor = (c, text, index) => {
  const ytext = c.doc.getText('code')
  c.cursor = Y.createRelativePositionFromTypeIndex(ytext, index)
  const before = text.slice(0, index)
  const lineStart = before.lastIndexOf('\n') + 1
  const rel = Y.relativePositionToJSON(c.cursor)
  c.provider.awareness.setLocalState({
    user: c.user,
    cursor: { lineNumber: before.split('\n').length, column: index - lineStart + 1 },
    selection: { anchor: rel, head: rel }
  })
  tally.cursorMoves++
}

const keystroke = (c) => {
  const ytext = c.doc.getText('code')
  const text = ytext.toString()
  let index = cursorIndex(c, ytext, text)
  const deleting = text.length > MAX_CHARS ? 0.8 : 0.2
  if (index > 0 && c.rand() < deleting) {
    let start = index - 1 // backspace one code point
    if (start > 0 && isLow(text.charCodeAt(start)) && isHigh(text.charCodeAt(start - 1))) start--
    ytext.delete(start, index - start)
    index = start
  } else {
    const ch = ALPHABET[Math.floor(c.rand() * ALPHABET.length)]
    ytext.insert(index, ch)
    index += ch.length
  }
  tally.keystrokes++
  probe(c)
  publishCursor(c, ytext.toString(), index)
}

/** Bursts of keystrokes 80-250 ms apart, pauses between; watchers mostly move the cursor. */
const step = (c) => {
  if (!c.alive) return
  let next
  if (paused || !c.provider.synced) {
    next = 500
  } else if (c.burst > 0) {
    keystroke(c)
    c.burst--
    next = 80 + c.rand() * 170
  } else if (c.typist) {
    c.burst = 1 + Math.floor(c.rand() * 12)
    next = 1000 + c.rand() * 6000
  } else {
    if (c.rand() < 0.25) c.burst = 1 + Math.floor(c.rand() * 4)
    else {
      const text = c.doc.getText('code').toString()
      publishCursor(c, text, snap(text, Math.floor(c.rand() * (text.length + 1))))
    }
    next = 3000 + c.rand() * 12000
  }
  c.timer = setTimeout(() => step(c), next)
}

// ---------------------------------------------------------------- lifecycle

const connect = ({ client: name, url, room, params = {}, user, typist = true, seed = 1 }) => {
  if (clients.has(name)) throw new Error(`client ${JSON.stringify(name)} exists`)
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(url, room, doc, {
    connect: false,
    params: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])),
    WebSocketPolyfill: WebSocket,
    disableBc: true
  })
  /** @type {Client} */
  const c = {
    name, room, doc, provider, typist, rand: makeRandom(seed), timer: null, burst: 0,
    cursor: null, user, alive: true
  }
  provider.awareness.setLocalState({ user })
  provider.on('connection-close', (event) => {
    if (event != null) tally.closes[event.code] = (tally.closes[event.code] ?? 0) + 1
  })
  provider.on('connection-error', () => { tally.connectionErrors++ })
  provider.on('closed', ({ code, reason }) =>
    write({ type: 'event', event: 'closed', client: name, code, reason }))
  doc.on('update', (_update, origin) => { if (origin === provider) received(c) })
  clients.set(name, c)
  roomOf(room).members.add(c)
  provider.connect()
  tally.connects++
  c.timer = setTimeout(() => step(c), 200 + c.rand() * 2000)
  return { clientId: doc.clientID }
}

/** Leave like a closed tab: the provider says goodbye (awareness null) and closes. */
const leave = async (c) => {
  c.alive = false
  clearTimeout(c.timer)
  clients.delete(c.name)
  const room = rooms.get(c.room)
  room?.members.delete(c)
  for (const p of room?.probes ?? []) p.waiting.delete(c)
  if (room !== undefined && room.members.size === 0) rooms.delete(c.room)
  const ws = c.provider.ws
  const closed = ws === null || ws.readyState === WebSocket.CLOSED
    ? Promise.resolve()
    : new Promise((resolve) => ws.once('close', resolve))
  c.provider.destroy()
  c.doc.destroy()
  tally.leaves++
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000))])
}

/** A newcomer's view of a room: connect, sync, read, leave. */
const freshText = ({ url, room, timeoutMs = 20000 }) => new Promise((resolve, reject) => {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(url, room, doc, {
    WebSocketPolyfill: WebSocket, disableBc: true
  })
  const started = performance.now()
  const done = (fn) => {
    clearTimeout(timer)
    provider.destroy()
    doc.destroy()
    fn()
  }
  const timer = setTimeout(() => done(() => reject(new Error('fresh client never synced'))), timeoutMs)
  provider.on('sync', (synced) => {
    if (!synced) return
    const text = doc.getText('code').toString()
    done(() => resolve({ text, ms: performance.now() - started }))
  })
})

const texts = ({ room }) => {
  const out = {}
  for (const c of rooms.get(room)?.members ?? []) {
    out[c.name] = { text: c.doc.getText('code').toString(), synced: c.provider.synced }
  }
  return { texts: out }
}

// ---------------------------------------------------------------- dispatch

const commands = {
  connect,
  leave: async ({ client }) => { await leave(requireClient(client)); return {} },
  leave_all: async () => { await Promise.all([...clients.values()].map(leave)); return {} },
  pause: () => { paused = true; return {} },
  resume: () => { paused = false; return {} },
  texts,
  fresh: freshText,
  stats
}

const handleLine = async (line) => {
  if (line.trim() === '') return
  let msg
  try {
    msg = JSON.parse(line)
  } catch (err) {
    return write({ type: 'reply', id: null, ok: false, error: `invalid JSON: ${errorText(err)}` })
  }
  const { id = null, cmd } = msg
  try {
    const handler = Object.hasOwn(commands, cmd) ? commands[cmd] : undefined
    if (handler === undefined) throw new Error(`unknown command ${JSON.stringify(cmd)}`)
    write({ type: 'reply', id, cmd, ok: true, ...(await handler(msg)) })
  } catch (err) {
    write({ type: 'reply', id, cmd, ok: false, error: errorText(err) })
  }
}

process.on('uncaughtException', (err) =>
  write({ type: 'event', event: 'error', client: null, error: err?.stack ?? String(err) }))
process.on('unhandledRejection', (err) =>
  write({ type: 'event', event: 'error', client: null, error: err?.stack ?? String(err) }))
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
rl.on('line', handleLine)
rl.on('close', async () => {
  await Promise.all([...clients.values()].map(leave))
  process.exit(0)
})
write({ type: 'event', event: 'ready', client: null, pid: process.pid, node: process.version })
