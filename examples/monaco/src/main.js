// The /demo/ page: a collaborative Monaco editor on one interview session.
//
//   /demo/                        creates a session and puts its id in the URL
//   /demo/?session=ID&name=Ada    joins session ID as Ada (a reload rejoins as the same participant)
//   /demo/?session=ID&token=T     with --auth token: the links a session's creation answers; an
//                                 observer's page is read-only and hides what it may not do
//
// Monaco is bound to Y.Text "code" with y-monaco, over the stock y-websocket provider; the language
// is Y.Map "meta" key "language"; everyone's cursor and name travel in awareness. The interview
// (question, runs, test results, status and timer) changes in the same document (Y.Map
// "question", Y.Arrays "runs" and "testRuns", meta "interview"), which tells every page at
// once; what the page shows of it is read from REST where any editor could forge it, and what
// the page does goes through REST, the server writing the document.
import './style.css'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { MonacoBinding } from 'y-monaco'
import { configureWorkers, createEditor, modeFor, monaco } from './editor.js'
import { RemoteCursors } from './cursors.js'
import { InterviewClock, InterviewerControls, QuestionPane } from './interview.js'
import { Notes } from './notes.js'
import { Output } from './output.js'
import { ScorecardForm } from './scorecard.js'
import { playerFailed, startPlayer } from './player.js'
import { SessionApi, createOrJoin, listParticipants } from './session.js'
import { throttle } from './throttle.js'

const PARTICIPANTS_EVERY_MS = 5000
const $ = (id) => document.getElementById(id)

const CLOSE_REASONS = {
  4400: 'The session id is malformed.',
  4401: 'Your link is no longer valid: it was replaced, or you were removed from the session.',
  4403: 'You are not allowed in this session from here.',
  4404: 'This session does not exist, or you are not one of its participants.',
  4409: 'This interview has ended: the session is read-only.',
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

/** `kind`: 'error' (the default) or 'ended', for its colours. */
function showBanner (message, kind = 'error') {
  const el = $('banner')
  el.textContent = message
  el.dataset.kind = kind
  el.hidden = false
}

/** The languages this host can run (an unknown or missing list: the session's own only). */
async function runnableLanguages () {
  try {
    const { data } = await SessionApi.languages()
    return data.map((language) => ({ name: language.name, title: language.runtime }))
  } catch (err) {
    console.warn('languages:', err.message)
    return []
  }
}

function fillLanguages (select, languages) {
  for (const { name, title } of languages) {
    const option = new Option(name, name)
    option.title = title
    select.add(option)
  }
}

/** `stale`: the page is disconnected, so nobody's presence is known: every dot greys. */
function renderParticipants (participants, meId, stale) {
  const list = $('participants')
  list.dataset.stale = String(stale)
  list.replaceChildren(...participants.map((p) => {
    const item = document.createElement('li')
    item.dataset.participantId = p.id
    item.dataset.online = stale ? 'unknown' : String(p.isOnline)
    const dot = item.appendChild(document.createElement('span'))
    dot.className = 'dot'
    dot.title = stale ? 'unknown while disconnected' : p.isOnline ? 'online' : 'offline'
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

/**
 * Asked before this browser's interviewer joins their own session again as someone new (the
 * candidate link opened in another tab): 'join' to go on, or (`canOpen`) 'interviewer' to open
 * it as them. With tokens the page cannot: the interviewer's own link does.
 */
function askInterviewer (role, interviewer, canOpen) {
  const notice = $('notice')
  const how = canOpen ? '' : ' To go on as the interviewer, open your interviewer link instead.'
  $('notice-text').textContent =
    `This browser is ${interviewer.name ?? 'the interviewer'}, this session's interviewer. ` +
    `This link would join you as another ${role}.${how}`
  $('as-interviewer').hidden = !canOpen
  notice.hidden = false
  return new Promise((resolve) => {
    const choose = (answer) => () => {
      notice.hidden = true
      resolve(answer)
    }
    $('as-interviewer').onclick = choose('interviewer')
    $('as-invited').textContent = `Join as ${role}`
    $('as-invited').onclick = choose('join')
  })
}

async function start () {
  setStatus('connecting')
  const params = new URLSearchParams(location.search)
  const workers = configureWorkers()
  const languages = runnableLanguages()
  const { session, me, token } = await createOrJoin(params, askInterviewer)
  const readOnly = me.role === 'observer'
  const interviewer = me.role === 'interviewer'
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
  const api = new SessionApi(session.id, token)

  await workers
  const { editor, model } = createEditor($('editor'), session.language)
  const doc = new Y.Doc()
  const ytext = doc.getText('code')
  const meta = doc.getMap('meta')
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  const provider = new WebsocketProvider(`${scheme}://${location.host}/ws/sessions`, session.id, doc, {
    params: token ? { token } : { userId: me.id }
  })
  const awareness = provider.awareness
  awareness.setLocalStateField('user', { id: me.id, name: me.name, color: me.color })
  // whether this page has the focus, for playback's timeline (the candidate left the editor)
  const reportFocus = (focused) => awareness.setLocalStateField('focused', focused)
  window.addEventListener('blur', () => reportFocus(false))
  window.addEventListener('focus', () => reportFocus(true))
  document.addEventListener('visibilitychange', () => {
    reportFocus(document.visibilityState === 'visible' && document.hasFocus())
  })
  reportFocus(document.hasFocus())
  const binding = new MonacoBinding(ytext, model, new Set([editor]), awareness)
  const cursors = new RemoteCursors(editor, ytext, awareness)
  editor.onDidChangeCursorPosition(({ position }) => {
    // y-monaco publishes `selection` (relative positions); JSON clients read `cursor`
    awareness.setLocalStateField('cursor', { lineNumber: position.lineNumber, column: position.column })
  })

  // what may be typed: nothing before the first sync, nothing by an observer, nothing once it
  // ended; while offline after that, edits are kept and merge when the socket is back
  let closed = false
  let ended = false
  let synced = false
  const select = $('language')
  const applyEditable = () => {
    const locked = readOnly || ended || closed || !synced
    editor.updateOptions({ readOnly: locked })
    select.disabled = readOnly || ended || closed
  }

  // language: the select and Monaco's mode follow meta.language; choosing one sets it
  fillLanguages(select, await languages)
  const showLanguage = () => {
    const language = meta.get('language') ?? session.language
    if (![...select.options].some((o) => o.value === language)) {
      const option = new Option(`${language} (cannot run here)`, language)
      select.add(option)
    }
    select.value = language
    monaco.editor.setModelLanguage(model, modeFor(language))
  }
  select.addEventListener('change', () => meta.set('language', select.value))
  meta.observe(showLanguage)
  showLanguage()

  // participants: REST is the roster (with online dots); awareness changes say when to look again
  const names = new Map()
  const nameOf = (id) => names.get(id) ?? (id ? 'someone who left' : 'the interviewer’s tools')
  let roster = []
  const stale = () => closed || !provider.synced
  const refreshParticipants = async () => {
    if (closed) return
    try {
      roster = await listParticipants(session.id, token)
      for (const p of roster) names.set(p.id, p.name)
    } catch (err) {
      console.warn('participants:', err.message)
    }
    renderParticipants(roster, me.id, stale())
  }
  const soon = throttle(refreshParticipants, 250)
  const poll = setInterval(refreshParticipants, PARTICIPANTS_EVERY_MS)
  awareness.on('change', ({ added, removed }) => {
    if (added.length || removed.length) soon() // someone came or went (cursor moves don't count)
  })
  refreshParticipants()

  // the interview: the question, Run and Run tests with their output, the status and timer
  const output = new Output({
    runs: doc.getArray('runs'), testRuns: doc.getArray('testRuns'), api, me, nameOf, whole: interviewer
  })
  let controls = null
  let notes = null
  let scorecard = null
  const pane = new QuestionPane(api, doc.getMap('question'), (view) => {
    output.questionChanged(view)
    scorecard?.setRubric(view?.rubric)
  })
  const clock = new InterviewClock(api, meta, session, (status) => {
    controls?.update(status)
    if (status !== 'ended' || ended) return
    ended = true
    output.freeze()
    applyEditable()
    const report = interviewer ? ' The report is ready.' : ''
    showBanner(`This interview has ended: the code is read-only.${report}`, 'ended')
  })
  if (interviewer) {
    controls = new InterviewerControls(api, clock, (message, isError) => output.say(message, isError))
    controls.update(clock.status)
    const who = token ? `token=${encodeURIComponent(token)}` : `userId=${encodeURIComponent(me.id)}`
    notes = new Notes(api, `${scheme}://${location.host}/ws/sessions/${encodeURIComponent(session.id)}?protocol=json&${who}`)
    scorecard = new ScorecardForm(api, me)
    pane.read() // its rubric, now that the form is there
  }

  provider.on('status', ({ status }) => {
    if (closed) return
    if (status === 'disconnected') setStatus(provider.shouldConnect ? 'offline' : 'disconnected')
    else setStatus(status)
    applyEditable()
    renderParticipants(roster, me.id, stale())
  })
  provider.on('sync', (isSynced) => {
    if (!isSynced || closed) return
    setStatus('synced')
    synced = true
    applyEditable()
    showLanguage()
    soon() // we are online now
  })
  provider.on('connection-close', (event) => {
    if (!event || event.code < 4400 || event.code > 4499) return // transient: the provider retries
    // permanent: the provider stops by itself; disconnect so nothing restarts it, and say why
    closed = true
    queueMicrotask(() => provider.disconnect())
    clearInterval(poll)
    notes?.stop()
    output.freeze()
    applyEditable()
    renderParticipants(roster, me.id, true)
    setStatus('closed')
    const why = CLOSE_REASONS[event.code] ?? `The server closed the connection (${event.code}).`
    showBanner(`${why} Editing is disabled; reload to try again.`)
  })

  // for tests and for poking around in the console
  window.demo = {
    Y, monaco, doc, ytext, meta, provider, awareness, editor, model, binding, cursors, session, me,
    api, output, clock, pane, controls, notes, scorecard
  }
}

if (document.body.dataset.page === 'playback') {
  startPlayer().catch(playerFailed)
} else {
  start().catch((err) => {
    console.error(err)
    setStatus('closed')
    showBanner(err.status ? `Could not open the session: ${err.message}.` : `Could not start: ${err.message}`)
  })
}
