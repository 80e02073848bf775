#!/usr/bin/env node
// Follow a session from Node with the stock y-websocket provider; print every change.
//
//   (cd examples && npm ci)          # once: yjs, y-websocket and ws, pinned in package-lock.json
//   node examples/node_client.mjs http://127.0.0.1:8000 SESSION_ID [--name Bot] [--insert TEXT]
//        [--language python] [--exit-after-ms N]
//
// Prints one JSON object per line: {"event":"synced","code":...,"language":...}, then "change"
// (code), "language", "peers" (names in awareness) as they happen. --name joins over REST first
// (so the bot is a participant, online while connected); --insert appends TEXT once synced.
// Stops after --exit-after-ms, on Ctrl-C, or when the server closes for good (4400-4499:
// exit status 2, e.g. the session was deleted).
import { randomUUID } from 'node:crypto'
import { parseArgs } from 'node:util'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    name: { type: 'string' },
    insert: { type: 'string' },
    language: { type: 'string' },
    'exit-after-ms': { type: 'string' }
  }
})
if (positionals.length !== 2) {
  console.error('usage: node node_client.mjs BASE_URL SESSION_ID [--name N] [--insert TEXT] [--language L] [--exit-after-ms N]')
  process.exit(64)
}
const [base, sessionId] = positionals
const print = (event, fields) => console.log(JSON.stringify({ event, ...fields }))

// --name: become a participant (we bring our own id, so we know which one we are)
const params = {}
let user = null
if (opts.name) {
  user = { id: randomUUID(), name: opts.name }
  const res = await fetch(new URL(`/api/v1/sessions/${sessionId}/join`, base), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user })
  })
  const body = await res.json()
  if (!res.ok) {
    print('error', { status: res.status, code: body.code, message: body.error })
    process.exit(2)
  }
  user = body.data.participants.find((p) => p.id === user.id)
  params.userId = user.id
}

const doc = new Y.Doc()
const code = doc.getText('code')
const meta = doc.getMap('meta')
const wsBase = new URL('/ws/sessions', base).href.replace(/^http/, 'ws')
const provider = new WebsocketProvider(wsBase, sessionId, doc, { WebSocketPolyfill: WebSocket, params })
if (user) provider.awareness.setLocalStateField('user', { id: user.id, name: user.name, color: user.color })

let synced = false
provider.on('sync', (isSynced) => {
  if (!isSynced || synced) return
  synced = true
  print('synced', { code: code.toString(), language: meta.get('language') ?? null })
  if (opts.insert) code.insert(code.length, opts.insert)
  if (opts.language) meta.set('language', opts.language)
})
// the initial state is reported once, by "synced"; after that every change
code.observe(() => synced && print('change', { code: code.toString() }))
meta.observe(() => synced && print('language', { language: meta.get('language') ?? null }))

const peerNames = () => [...provider.awareness.getStates()]
  .filter(([id, state]) => id !== doc.clientID && state.user)
  .map(([, state]) => String(state.user.name ?? state.user.id ?? "anonymous")).sort()
let lastPeers = '[]'
provider.awareness.on('change', () => {
  const names = peerNames()
  if (JSON.stringify(names) !== lastPeers) {
    lastPeers = JSON.stringify(names)
    print('peers', { names })
  }
})

function stop (status) {
  provider.destroy() // sends what is queued, then closes the socket
  setTimeout(() => process.exit(status), 100)
}
provider.on('closed', ({ code: closeCode, reason }) => {
  print('closed', { code: closeCode, reason })
  stop(2)
})
process.on('SIGINT', () => stop(0))
process.on('SIGTERM', () => stop(0))
if (opts['exit-after-ms']) setTimeout(() => stop(0), Number(opts['exit-after-ms']))
