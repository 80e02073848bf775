// The player at /demo/playback/?session=ID[&token=T]: watch a session again.
//
// The raw log (GET /updates, every accepted change with its time and author) is replayed here
// into a Yjs document, so playing at any speed costs the server nothing; a checkpoint of the
// document every CHECKPOINT_EVERY changes makes a scrub backwards cheap. The timeline (GET
// /timeline) gives the tracks (each participant's bursts of typing) and the markers (runs,
// gradings, pastes, focus losses...). Colouring the text by author asks the server who wrote
// what at that moment (GET /state?at=). The token is an interviewer's or a playback link's.
import * as Y from 'yjs'
import { configureWorkers, createEditor, modeFor, monaco } from './editor.js'
import { throttle } from './throttle.js'

const CHECKPOINT_EVERY = 200
const SPEEDS = [1, 2, 4, 8, 16, 32]
/** Playing skips a pause between changes longer than this (session time), to just before the next. */
const IDLE_SKIP_MS = 3000
const LEAD_IN_MS = 400
const MARKERS = {
  started: 'Interview started',
  question: 'Question attached',
  ran: 'Ran the code',
  tested: 'Ran the tests',
  paste: 'Pasted',
  focusLost: 'Left the editor',
  language: 'Changed the language',
  idle: 'Idle',
  ended: 'Interview ended'
}
const $ = (id) => document.getElementById(id)
const CSS_COLOR = /^(#[0-9a-f]{3,8}|(rgb|hsl)a?\([\d\s.,%]+\))$/i

class PlaybackError extends Error {
  constructor (status, message) {
    super(message)
    this.status = status
  }
}

async function fetchOk (url, token) {
  const response = await fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {} })
  if (!response.ok) {
    let message = response.statusText
    try { message = (await response.json()).error ?? message } catch {}
    throw new PlaybackError(response.status, message)
  }
  return response
}

function decode (base64) {
  const bytes = atob(base64)
  const out = new Uint8Array(bytes.length)
  for (let i = 0; i < bytes.length; i++) out[i] = bytes.charCodeAt(i)
  return out
}

/** The log replayed into a document, forwards change by change, backwards from a checkpoint. */
class Replay {
  constructor (entries) {
    this.entries = entries
    // a change's time as the latest up to it: entries are in commit order, and merged runs of
    // different authors may carry times a little out of order
    let latest = -Infinity
    this.times = entries.map((entry) => (latest = Math.max(latest, entry.at)))
    this.checkpoints = new Map()
    this.reset(null)
  }

  reset (checkpoint) {
    this.doc = new Y.Doc()
    this.applied = -1
    if (checkpoint) {
      Y.applyUpdate(this.doc, checkpoint.state)
      this.applied = checkpoint.index
    }
  }

  /** The index of the last change at or before `t` (-1: none yet). */
  indexAt (t) {
    let lo = 0
    let hi = this.times.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.times[mid] <= t) lo = mid + 1
      else hi = mid
    }
    return lo - 1
  }

  /** When the change after `t` was accepted, or null. */
  nextAfter (t) {
    const next = this.indexAt(t) + 1
    return next < this.times.length ? this.times[next] : null
  }

  moveTo (index) {
    if (index < this.applied) {
      let best = null
      for (const [at, checkpoint] of this.checkpoints) {
        if (at <= index && (!best || at > best.index)) best = checkpoint
      }
      this.reset(best)
    }
    while (this.applied < index) {
      this.applied += 1
      Y.applyUpdate(this.doc, this.entries[this.applied].update)
      if ((this.applied + 1) % CHECKPOINT_EVERY === 0 && !this.checkpoints.has(this.applied)) {
        this.checkpoints.set(this.applied, { index: this.applied, state: Y.encodeStateAsUpdate(this.doc) })
      }
    }
  }

  get code () { return this.doc.getText('code').toString() }
  get language () { return this.doc.getMap('meta').get('language') }
}

function clock (ms) {
  const s = Math.max(0, Math.floor(ms / 1000))
  const hms = [Math.floor(s / 3600), Math.floor(s / 60) % 60, s % 60]
  return (hms[0] ? `${hms[0]}:` : '') + hms.slice(1).map((n) => String(n).padStart(2, '0')).join(':')
}

/** Edit `model` into `text` by replacing only what differs (the view keeps its place). */
function showText (editor, model, text) {
  const old = model.getValue()
  if (old === text) return
  let start = 0
  const max = Math.min(old.length, text.length)
  while (start < max && old.charCodeAt(start) === text.charCodeAt(start)) start++
  let end = 0
  while (end < max - start && old.charCodeAt(old.length - 1 - end) === text.charCodeAt(text.length - 1 - end)) end++
  const from = model.getPositionAt(start)
  const to = model.getPositionAt(old.length - end)
  model.applyEdits([{ range: new monaco.Range(from.lineNumber, from.column, to.lineNumber, to.column), text: text.slice(start, text.length - end) }])
  editor.revealPositionInCenterIfOutsideViewport(model.getPositionAt(text.length - end)) // where it changed
}

export async function startPlayer () {
  const params = new URLSearchParams(location.search)
  const sid = params.get('session')
  const token = params.get('token')
  const status = $('player-status')
  if (!sid || !/^[0-9a-f]{8}$/.test(sid)) throw new PlaybackError(400, 'the link names no session (?session=ID)')
  const base = `/api/v1/sessions/${encodeURIComponent(sid)}`
  status.textContent = 'Loading the timeline…'
  const workers = configureWorkers()
  const [{ data: timeline }, log] = await Promise.all([
    fetchOk(`${base}/timeline`, token).then((r) => r.json()),
    fetchOk(`${base}/updates`, token).then((r) => r.text())
  ])
  const entries = log.split('\n').filter(Boolean).map((line) => {
    const entry = JSON.parse(line)
    return { at: entry.at, author: entry.author, inserted: entry.inserted, update: decode(entry.update) }
  })
  const replay = new Replay(entries)
  const firstChange = entries.length > 1 ? entries[1].at : timeline.createdAt
  const start = Math.min(timeline.startedAt ?? Infinity, firstChange, timeline.until) - LEAD_IN_MS
  const end = Math.max(timeline.until, replay.times.at(-1) ?? 0, start + 1)
  const span = end - start
  const people = new Map(timeline.participants.map((p, i) => [p.id, { ...p, index: i }]))
  const nameOf = (id) => people.get(id)?.name ?? (id ? 'someone who left' : 'the server')

  $('player-session').textContent = sid
  $('player-end').textContent = clock(span)
  const summary = timeline.endedAt ? `ended after ${clock(timeline.durationMs)}` : 'not ended'
  status.textContent = `${entries.length} changes, ${people.size} participants, ${summary}`

  await workers
  const { editor, model } = createEditor($('player-editor'), 'plaintext')
  editor.updateOptions({ readOnly: true, domReadOnly: true })

  // author colours: a class per participant (colours are the server's, checked again here)
  const rules = [...people.values()].map((p) => {
    const color = CSS_COLOR.test(p.color) ? p.color : '#888'
    return `.author-${p.index} { background: color-mix(in srgb, ${color} 28%, transparent); }`
  })
  const style = document.head.appendChild(document.createElement('style'))
  style.textContent = rules.join('\n')

  const scrub = $('scrub')
  scrub.min = '0'
  scrub.max = String(span)
  scrub.step = '1'
  const speed = $('speed')
  for (const s of SPEEDS) speed.add(new Option(`${s}x`, String(s)))
  speed.value = '4'

  // tracks: a lane per participant with their bursts; the markers' lane above them
  const lane = (at) => `${(100 * (at - start)) / span}%`
  const tracks = $('tracks')
  for (const p of people.values()) {
    const row = tracks.appendChild(document.createElement('div'))
    row.className = 'track'
    row.dataset.participantId = p.id
    const label = row.appendChild(document.createElement('span'))
    label.className = 'track-label'
    label.textContent = `${p.name} (${p.role})`
    label.title = `${p.edits} changes, ${p.chars} characters, ${p.pastes} pastes, ` +
      `${p.focusLost} focus losses, ${p.runs} runs`
    label.style.borderColor = CSS_COLOR.test(p.color) ? p.color : '#888'
    const bar = row.appendChild(document.createElement('span'))
    bar.className = 'track-bar'
    for (const burst of timeline.bursts.filter((b) => b.userId === p.id)) {
      const piece = bar.appendChild(document.createElement('span'))
      piece.className = 'burst'
      piece.style.left = lane(burst.from)
      piece.style.width = `max(2px, ${(100 * (burst.to - burst.from)) / span}%)`
      piece.style.background = CSS_COLOR.test(p.color) ? p.color : '#888'
      piece.title = `${burst.edits} changes at ${clock(burst.from - start)}`
      piece.addEventListener('click', () => seek(burst.from))
    }
  }
  const markers = $('markers')
  const list = $('events')
  for (const event of timeline.events) {
    const what = MARKERS[event.type]
    if (!what) continue
    const who = event.userId ? ` (${nameOf(event.userId)})` : ''
    const detail = event.type === 'paste'
      ? `: ${event.chars} characters`
      : event.type === 'language'
        ? `: ${event.language}`
        : event.type === 'idle'
          ? `: ${clock(event.durationMs)}`
          : event.type === 'tested' && event.score
            ? `: ${event.score.points}/${event.score.max}`
            : ''
    const text = `${what}${who}${detail}`
    const mark = markers.appendChild(document.createElement('button'))
    mark.type = 'button'
    mark.className = 'marker'
    mark.dataset.type = event.type
    mark.style.left = lane(Math.max(start, event.at))
    mark.title = `${clock(event.at - start)} ${text}`
    mark.setAttribute('aria-label', mark.title)
    mark.addEventListener('click', () => seek(event.at))
    const item = list.appendChild(document.createElement('li'))
    item.dataset.type = event.type
    const time = item.appendChild(document.createElement('button'))
    time.type = 'button'
    time.textContent = clock(event.at - start)
    time.addEventListener('click', () => seek(event.at))
    item.append(` ${text}`)
  }

  // the moment shown, and what follows it
  let t = start
  let playing = false
  let last = 0
  let decorations = editor.createDecorationsCollection([])
  const byAuthor = $('by-author')

  const colour = throttle(async () => {
    if (!byAuthor.checked) return decorations.clear()
    const at = Math.round(t)
    try {
      const { data } = await (await fetchOk(`${base}/state?at=${at}`, token)).json()
      if (!byAuthor.checked || data.code !== model.getValue()) return // moved on meanwhile
      const ranges = []
      let offset = 0
      for (const [author, length] of data.authorship) {
        let end = offset
        for (let k = 0; k < length; k++) end += data.code.codePointAt(end) > 0xffff ? 2 : 1
        const p = people.get(author)
        if (p && end > offset) {
          const a = model.getPositionAt(offset)
          const b = model.getPositionAt(end)
          ranges.push({ range: new monaco.Range(a.lineNumber, a.column, b.lineNumber, b.column), options: { inlineClassName: `author-${p.index}`, hoverMessage: { value: `written by ${p.name}` } } })
        }
        offset = end
      }
      decorations.clear()
      decorations = editor.createDecorationsCollection(ranges)
    } catch (err) {
      status.textContent = `Could not colour by author: ${err.message}`
    }
  }, 300)

  function render () {
    replay.moveTo(replay.indexAt(t))
    showText(editor, model, replay.code)
    monaco.editor.setModelLanguage(model, modeFor(replay.language ?? 'plaintext'))
    scrub.value = String(Math.round(t - start))
    $('player-clock').textContent = clock(t - start)
    $('playhead').style.left = `calc(130px + (100% - 130px) * ${(t - start) / span})`
    document.body.dataset.at = String(Math.round(t))
    if (byAuthor.checked) colour()
  }

  function seek (at) {
    t = Math.min(end, Math.max(start, at))
    render()
  }

  function frame (now) {
    if (!playing) return
    let next = t + (now - last) * Number(speed.value)
    last = now
    const ahead = replay.nextAfter(t) // null: nothing more happens; the rest is idle too
    if ($('skip-idle').checked && (ahead ?? end) - next > IDLE_SKIP_MS) {
      next = ahead === null ? end : ahead - LEAD_IN_MS
    }
    if (next >= end) {
      seek(end)
      return pause()
    }
    seek(next)
    requestAnimationFrame(frame)
  }

  function play () {
    if (t >= end) seek(start)
    playing = true
    last = performance.now()
    $('play').textContent = 'Pause'
    requestAnimationFrame(frame)
  }

  function pause () {
    playing = false
    $('play').textContent = 'Play'
  }

  $('play').addEventListener('click', () => (playing ? pause() : play()))
  scrub.addEventListener('input', () => seek(start + Number(scrub.value)))
  byAuthor.addEventListener('change', () => colour())
  document.addEventListener('keydown', (e) => {
    if (e.target instanceof HTMLInputElement && e.target.type !== 'range') return
    if (e.key === ' ') { e.preventDefault(); playing ? pause() : play() }
  })
  seek(start)
  document.body.dataset.ready = 'true'

  // for tests and for poking around in the console
  window.player = {
    Y, monaco, editor, model, replay, timeline, start, end, seek, play, pause,
    get t () { return t },
    get playing () { return playing }
  }
}

export function playerFailed (err) {
  console.error(err)
  const why = err.status === 401
    ? 'This link has expired or is not valid; ask for a new one.'
    : err.status === 403
      ? 'This link may not watch this session (interviewers and playback links only).'
      : err.message
  $('player-status').textContent = ''
  const banner = $('banner')
  banner.textContent = `Could not play the session back: ${why}`
  banner.hidden = false
  document.body.dataset.ready = 'failed'
}
