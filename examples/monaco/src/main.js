// The /demo/ page: a collaborative Monaco editor on one interview session.
//
//   /demo/                        creates a session and puts its id in the URL
//   /demo/?session=ID&name=Ada    joins session ID as Ada (a reload rejoins as the same participant)
//   /demo/?session=ID&token=T     with --auth token: the links a session's creation answers; an
//                                 observer's page is read-only and hides what it may not do
//
// Monaco is bound to Y.Text "code" with y-monaco, over the stock y-websocket provider; the language
// is Y.Map "meta" key "language"; everyone's cursor and name travel in awareness.
import './style.css'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { MonacoBinding } from 'y-monaco'
import { LANGUAGES, configureWorkers, createEditor, modeFor, monaco } from './editor.js'
import { RemoteCursors } from './cursors.js'
import { createOrJoin, listParticipants } from './session.js'

const PARTICIPANTS_EVERY_MS = 5000
const $ = (id) => document.getElementById(id)

const CLOSE_REASONS = {
  4400: 'The session id is malformed.',
  4401: 'Your link is no longer valid: it was replaced, or you were removed from the session.',
  4403: 'You are not allowed in this session from here.',
  4404: 'This session does not exist, or you are not one of its participants.',
  4410: 'This session has ended: it expired or was deleted.'
}

const STATUS_TEXT = {
  connecting: 'Connecting…',
  connected: 'Connected, syncing…',
  synced: 'Online',
  offline: 'Offline, reconnecting…',
  disconnected: 'Disconnected',
  closed: 'Closed'
}

function setStatus (status) {
  const el = $('status')
  el.dataset.status = status
  el.textContent = STATUS_TEXT[status] ?? status
}

function showBanner (message) {
  const el = $('banner')
  el.textContent = message
  el.hidden = false
}

function fillLanguages (select) {
  for (const language of LANGUAGES) select.add(new Option(language, language))
}

function renderParticipants (participants, meId) {
  const list = $('participants')
  list.replaceChildren(...participants.map((p) => {
    const item = document.createElement('li')
    item.dataset.participantId = p.id
    item.dataset.online = String(p.isOnline)
    const dot = item.appendChild(document.createElement('span'))
    dot.className = 'dot'
    dot.title = p.isOnline ? 'online' : 'offline'
    const swatch = item.appendChild(document.createElement('span'))
    swatch.className = 'swatch'
    swatch.style.backgroundColor = p.color
    const name = item.appendChild(document.createElement('span'))
    name.className = 'name'
    name.textContent = p.id === meId ? `${p.name} (you)` : p.name
    const role = item.appendChild(document.createElement('span'))
    role.className = 'role'
    role.textContent = p.role
    return item
  }))
}

/** Run `fn` at most once per `ms`, and always after the last call. */
function throttle (fn, ms) {
  let timer = null
  return () => {
    timer ??= setTimeout(() => {
      timer = null
      fn()
    }, ms)
  }
}

async function start () {
  setStatus('connecting')
  const params = new URLSearchParams(location.search)
  const { session, me, token } = await createOrJoin(params)
  const readOnly = me.role === 'observer'
  document.body.dataset.role = me.role
  if (params.get('session') !== session.id) {
    params.set('session', session.id)
    history.replaceState(null, '', `${location.pathname}?${params}`)
  }
  $('session-id').textContent = session.id
  $('invite').href = `${location.pathname}?session=${encodeURIComponent(session.id)}`
  $('invite').hidden = Boolean(token) // with tokens, invites come from the session's creator
  $('observing').hidden = !readOnly
  $('me').textContent = me.name
  $('me').style.borderColor = me.color

  configureWorkers()
  const { editor, model } = createEditor($('editor'), session.language)
  editor.updateOptions({ readOnly: true }) // until synced; for good when observing
  const doc = new Y.Doc()
  const ytext = doc.getText('code')
  const meta = doc.getMap('meta')
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  const provider = new WebsocketProvider(`${scheme}://${location.host}/ws/sessions`, session.id, doc, {
    params: token ? { token } : { userId: me.id }
  })
  const awareness = provider.awareness
  awareness.setLocalStateField('user', { id: me.id, name: me.name, color: me.color })
  const binding = new MonacoBinding(ytext, model, new Set([editor]), awareness)
  const cursors = new RemoteCursors(editor, ytext, awareness)
  editor.onDidChangeCursorPosition(({ position }) => {
    // y-monaco publishes `selection` (relative positions); JSON clients read `cursor`
    awareness.setLocalStateField('cursor', { lineNumber: position.lineNumber, column: position.column })
  })

  // language: the select and Monaco's mode follow meta.language; choosing one sets it
  const select = $('language')
  fillLanguages(select)
  select.disabled = readOnly
  const showLanguage = () => {
    const language = meta.get('language') ?? session.language
    if (![...select.options].some((o) => o.value === language)) select.add(new Option(language, language))
    select.value = language
    monaco.editor.setModelLanguage(model, modeFor(language))
  }
  select.addEventListener('change', () => meta.set('language', select.value))
  meta.observe(showLanguage)
  showLanguage()

  // participants: REST is the roster (with online dots); awareness changes say when to look again
  let closed = false
  const refreshParticipants = async () => {
    if (closed) return
    try {
      renderParticipants(await listParticipants(session.id, token), me.id)
    } catch (err) {
      console.warn('participants:', err.message)
    }
  }
  const soon = throttle(refreshParticipants, 250)
  const poll = setInterval(refreshParticipants, PARTICIPANTS_EVERY_MS)
  awareness.on('change', ({ added, removed }) => {
    if (added.length || removed.length) soon() // someone came or went (cursor moves don't count)
  })
  refreshParticipants()

  provider.on('status', ({ status }) => {
    if (closed) return
    if (status === 'disconnected') setStatus(provider.shouldConnect ? 'offline' : 'disconnected')
    else setStatus(status)
  })
  provider.on('sync', (synced) => {
    if (!synced || closed) return
    setStatus('synced')
    editor.updateOptions({ readOnly })
    showLanguage()
    soon() // we are online now
  })
  provider.on('connection-close', (event) => {
    if (!event || event.code < 4400 || event.code > 4499) return // transient: the provider retries
    // permanent: the provider stops by itself; disconnect so nothing restarts it, and say why
    closed = true
    queueMicrotask(() => provider.disconnect())
    clearInterval(poll)
    editor.updateOptions({ readOnly: true })
    setStatus('closed')
    const why = CLOSE_REASONS[event.code] ?? `The server closed the connection (${event.code}).`
    showBanner(`${why} Editing is disabled; reload to try again.`)
  })

  // for tests and for poking around in the console
  window.demo = { Y, monaco, doc, ytext, meta, provider, awareness, editor, model, binding, cursors, session, me }
}

start().catch((err) => {
  console.error(err)
  setStatus('closed')
  showBanner(err.status ? `Could not open the session: ${err.message}.` : `Could not start: ${err.message}`)
})
