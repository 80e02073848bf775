#!/usr/bin/env node
/**
 * A real Yjs browser client, minus the browser: hosts one or more stock
 * `y-websocket` WebsocketProviders so that Python tests can check our server
 * against the client code that production actually runs.
 *
 * Protocol (one JSON object per line, both directions):
 *   stdin   {"id": 1, "cmd": "connect", "client": "main", ...fields}
 *   stdout  {"type": "reply", "id": 1, "cmd": "connect", "ok": true, ...result}
 *           {"type": "reply", "id": 1, "cmd": "insert", "ok": false, "error": "..."}
 *           {"type": "event", "event": "synced", "client": "main", ...fields}
 *
 * `client` names one provider + Y.Doc inside this process (default "main").
 * Commands run concurrently; match replies by `id`. The process exits on stdin
 * EOF, so a test that dies never leaves a client behind.
 * Nothing else may write to stdout: library warnings go to stderr.
 */
import readline from 'node:readline'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'

const DEFAULT_CLIENT = 'main'
const DEFAULT_WAIT_MS = 10000
const TEXT_DEBOUNCE_MS = 10
const DEFAULT_ALPHABET = 'abcdefghij ñé\n😀🎉'

/** @typedef {{ name: string, doc: Y.Doc, provider: WebsocketProvider, textTimer: any }} Client */

/** @type {Map<string, Client>} */
const clients = new Map()

// ---------------------------------------------------------------- output

const write = (msg) => process.stdout.write(JSON.stringify(msg) + '\n')

const emit = (client, event, fields = {}) =>
  write({ type: 'event', event, client: client.name, ...fields })

const errorText = (err) => (err instanceof Error ? err.message : String(err))

// ---------------------------------------------------------------- helpers

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Small seeded PRNG (mulberry32): the same seed replays the same edits. */
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

const randomInt = (rand, maxInclusive) => Math.floor(rand() * (maxInclusive + 1))

/** UTF-16 offsets where a code point starts, plus the end: safe edit positions. */
const codePointBoundaries = (text) => {
  const bounds = [0]
  for (const ch of text) bounds.push(bounds[bounds.length - 1] + ch.length)
  return bounds
}

const requireClient = (name = DEFAULT_CLIENT) => {
  const client = clients.get(name)
  if (client === undefined) throw new Error(`no client named ${JSON.stringify(name)}`)
  return client
}

const requireInt = (value, field) => {
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`${field} must be a non-negative integer, got ${JSON.stringify(value)}`)
  }
  return value
}

const requireString = (value, field) => {
  if (typeof value !== 'string') throw new Error(`${field} must be a string`)
  return value
}

/**
 * Resolve once `isDone()` holds, re-checking whenever `subscribe` calls back;
 * reject after `timeoutMs`. `subscribe(check)` must return an unsubscribe function.
 */
const waitFor = (isDone, subscribe, timeoutMs, what) => new Promise((resolve, reject) => {
  if (isDone()) return resolve()
  let unsubscribe = () => {}
  const timer = setTimeout(() => {
    unsubscribe()
    reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`))
  }, timeoutMs)
  unsubscribe = subscribe(() => {
    if (!isDone()) return
    clearTimeout(timer)
    unsubscribe()
    resolve()
  })
})

// ---------------------------------------------------------------- client setup

/** Forward provider, awareness and document events to stdout. */
const wireEvents = (client) => {
  const { doc, provider } = client
  provider.on('status', ({ status }) => emit(client, 'status', { status }))
  provider.on('synced', (synced) => emit(client, 'synced', { synced }))
  provider.on('connection-close', (event, p) => emit(client, 'closed', {
    // `event` is null when we closed the socket ourselves (disconnect/destroy)
    code: event?.code ?? null,
    reason: event?.reason ?? '',
    local: event == null,
    // y-websocket v3 stops reconnecting on 4400-4499 (its `shouldReconnect`)
    permanent: event != null && !p.shouldReconnect(event, p)
  }))
  provider.on('connection-error', (event) =>
    emit(client, 'connection_error', { message: event?.message ?? String(event?.type ?? event) }))
  provider.awareness.on('change', ({ added, updated, removed }, origin) =>
    emit(client, 'awareness_changed', { added, updated, removed, local: origin === 'local' }))
  doc.getText('code').observe(() => {
    // debounced: a burst of edits yields one event carrying the final text
    clearTimeout(client.textTimer)
    client.textTimer = setTimeout(() =>
      emit(client, 'text_changed', { text: doc.getText('code').toString() }), TEXT_DEBOUNCE_MS)
  })
  doc.getMap('meta').observe(() =>
    emit(client, 'meta_changed', { meta: doc.getMap('meta').toJSON() }))
}

const connect = ({ client: name = DEFAULT_CLIENT, url, room, params = {}, awareness }) => {
  requireString(url, 'url')
  requireString(room, 'room')
  if (clients.has(name)) throw new Error(`client ${JSON.stringify(name)} exists; destroy it first`)
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(url, room, doc, {
    connect: false, // connect below, once our listeners are attached
    params: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])),
    WebSocketPolyfill: WebSocket,
    disableBc: true
  })
  if (awareness !== undefined) provider.awareness.setLocalState(awareness)
  const client = { name, doc, provider, textTimer: null }
  clients.set(name, client)
  wireEvents(client)
  provider.connect()
  return { clientId: doc.clientID, url: provider.url }
}

// ---------------------------------------------------------------- edits

/** One random insert or delete on code point boundaries (never splits a surrogate pair). */
const randomEdit = (ytext, rand, chars, deleteProbability) => {
  const bounds = codePointBoundaries(ytext.toString())
  const codePoints = bounds.length - 1
  if (codePoints > 0 && rand() < deleteProbability) {
    const start = randomInt(rand, codePoints - 1)
    const count = 1 + randomInt(rand, Math.min(3, codePoints - start) - 1)
    ytext.delete(bounds[start], bounds[start + count] - bounds[start])
    return 'delete'
  }
  const length = 1 + randomInt(rand, 3)
  let text = ''
  for (let i = 0; i < length; i++) text += chars[randomInt(rand, chars.length - 1)]
  ytext.insert(bounds[randomInt(rand, codePoints)], text)
  return 'insert'
}

const randomEdits = async (msg) => {
  const { count, seed = 1, maxDelayMs = 0, alphabet = DEFAULT_ALPHABET, deleteProbability = 0.3 } = msg
  requireInt(count, 'count')
  requireInt(maxDelayMs, 'maxDelayMs')
  const chars = Array.from(requireString(alphabet, 'alphabet'))
  if (chars.length === 0) throw new Error('alphabet must not be empty')
  const client = requireClient(msg.client)
  const rand = makeRandom(seed)
  const done = { insert: 0, delete: 0 }
  for (let i = 0; i < count; i++) {
    if (clients.get(client.name) !== client) throw new Error('client destroyed during random_edits')
    done[randomEdit(client.doc.getText('code'), rand, chars, deleteProbability)]++
    if (maxDelayMs > 0) await sleep(randomInt(rand, maxDelayMs))
  }
  return { inserts: done.insert, deletes: done.delete, text: client.doc.getText('code').toString() }
}

const insert = ({ client, index, text }) => {
  const ytext = requireClient(client).doc.getText('code')
  requireInt(index, 'index')
  requireString(text, 'text')
  if (index > ytext.length) throw new Error(`index ${index} is past the end (${ytext.length})`)
  ytext.insert(index, text)
  return { length: ytext.length }
}

const del = ({ client, index, length }) => {
  const ytext = requireClient(client).doc.getText('code')
  requireInt(index, 'index')
  requireInt(length, 'length')
  if (index + length > ytext.length) throw new Error(`range ${index}+${length} is past the end (${ytext.length})`)
  ytext.delete(index, length)
  return { length: ytext.length }
}

const setMeta = ({ client, key, ...rest }) => {
  const meta = requireClient(client).doc.getMap('meta')
  requireString(key, 'key')
  // no `value` field at all means "remove the key"
  if ('value' in rest) meta.set(key, rest.value)
  else meta.delete(key)
  return { meta: meta.toJSON() }
}

// ---------------------------------------------------------------- awareness

const awarenessSet = ({ client, ...rest }) => {
  const awareness = requireClient(client).provider.awareness
  if ('field' in rest) awareness.setLocalStateField(requireString(rest.field, 'field'), rest.value)
  else awareness.setLocalState(rest.state ?? null)
  return { state: awareness.getLocalState() }
}

const awarenessStates = ({ client }) => {
  const { doc, provider } = requireClient(client)
  return {
    clientId: doc.clientID,
    states: Object.fromEntries(provider.awareness.getStates())
  }
}

// ---------------------------------------------------------------- waiting

const waitSynced = ({ client: name, timeoutMs = DEFAULT_WAIT_MS }) => {
  const { provider } = requireClient(name)
  return waitFor(() => provider.synced, (check) => {
    provider.on('synced', check)
    return () => provider.off('synced', check)
  }, timeoutMs, 'synced').then(() => ({ synced: true }))
}

const waitText = ({ client: name, text, timeoutMs = DEFAULT_WAIT_MS }) => {
  const ytext = requireClient(name).doc.getText('code')
  requireString(text, 'text')
  return waitFor(() => ytext.toString() === text, (check) => {
    ytext.observe(check)
    return () => ytext.unobserve(check)
  }, timeoutMs, `text ${JSON.stringify(text)} (have ${JSON.stringify(ytext.toString())})`)
    .then(() => ({ text }))
}

// ---------------------------------------------------------------- lifecycle

/** Destroy a client; resolves once its socket is closed (or after 1 s). */
const destroyClient = async (client) => {
  const ws = client.provider.ws
  const closed = ws === null || ws.readyState === WebSocket.CLOSED
    ? Promise.resolve()
    : new Promise((resolve) => ws.once('close', resolve))
  clearTimeout(client.textTimer)
  clients.delete(client.name)
  // provider.destroy() sends our "awareness: null" before closing the socket
  client.provider.destroy()
  client.doc.destroy()
  await Promise.race([closed, sleep(1000)])
}

let exiting = false
const shutdown = async (code) => {
  if (exiting) return
  exiting = true
  await Promise.all([...clients.values()].map(destroyClient))
  process.exit(code)
}

const stateVector = ({ client }) => {
  const sv = Y.encodeStateVector(requireClient(client).doc)
  return {
    stateVector: Object.fromEntries(Y.decodeStateVector(sv)),
    base64: Buffer.from(sv).toString('base64')
  }
}

// ---------------------------------------------------------------- dispatch

const commands = {
  ping: () => ({ clients: [...clients.keys()] }),
  connect,
  wait_synced: waitSynced,
  insert,
  delete: del,
  random_edits: randomEdits,
  text: ({ client }) => ({ text: requireClient(client).doc.getText('code').toString() }),
  wait_text: waitText,
  meta: ({ client }) => ({ meta: requireClient(client).doc.getMap('meta').toJSON() }),
  map: ({ client, name }) => ({ map: requireClient(client).doc.getMap(name).toJSON() }),
  set_meta: setMeta,
  awareness_set: awarenessSet,
  awareness: awarenessStates,
  disconnect: ({ client }) => { requireClient(client).provider.disconnect(); return {} },
  reconnect: ({ client }) => { requireClient(client).provider.connect(); return {} },
  destroy: async ({ client }) => { await destroyClient(requireClient(client)); return {} },
  state_vector: stateVector,
  encode_state: ({ client }) => ({
    update: Buffer.from(Y.encodeStateAsUpdate(requireClient(client).doc)).toString('base64')
  }),
  exit: () => { setImmediate(() => shutdown(0)); return {} }
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
    const result = await handler(msg)
    write({ type: 'reply', id, cmd, ok: true, ...result })
  } catch (err) {
    write({ type: 'reply', id, cmd, ok: false, error: errorText(err) })
  }
}

const main = () => {
  // report, don't die: a test should see the problem, and the other clients keep running
  process.on('uncaughtException', (err) =>
    write({ type: 'event', event: 'error', client: null, error: err?.stack ?? String(err) }))
  process.on('unhandledRejection', (err) =>
    write({ type: 'event', event: 'error', client: null, error: err?.stack ?? String(err) }))
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
  rl.on('line', handleLine)
  rl.on('close', () => shutdown(0)) // stdin EOF: the test is gone or done with us
  write({ type: 'event', event: 'ready', client: null, pid: process.pid, node: process.version })
}

main()
