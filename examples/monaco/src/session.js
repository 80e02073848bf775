// The REST side of the page: create or join a session, remember who we are, and the calls the
// interview panes make (runs, tests, notes, the question bank, start and end).

const API = '/api/v1'

/** How far the server's clock is ahead of ours (ms), from the Date of its last answer. */
export let serverClockOffsetMs = 0

export class ApiError extends Error {
  constructor (message, status, code) {
    super(message)
    this.status = status
    this.code = code
  }
}

export async function call (method, path, body, token) {
  const init = { method, headers: { Accept: 'application/json' } }
  if (token) init.headers.Authorization = `Bearer ${token}`
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json'
    init.body = JSON.stringify(body)
  }
  const response = await fetch(API + path, init)
  const date = Date.parse(response.headers.get('Date') ?? '')
  if (!Number.isNaN(date)) serverClockOffsetMs = date + 500 - Date.now() // Date is whole seconds
  const payload = response.status === 204 ? null : await response.json().catch(() => null)
  if (!response.ok) {
    const message = payload?.error ?? `HTTP ${response.status}`
    throw new ApiError(message, response.status, payload?.code ?? 'HTTP_ERROR')
  }
  return payload
}

// sessionStorage is per tab: a reload rejoins as the same participant, a new tab is someone new.
const storageKey = (sessionId) => `codeinterview:participant:${sessionId}`

function recall (sessionId) {
  try {
    return JSON.parse(sessionStorage.getItem(storageKey(sessionId)) ?? 'null')
  } catch {
    return null
  }
}

function remember (sessionId, participant, token) {
  const saved = { id: participant.id, name: participant.name, token }
  sessionStorage.setItem(storageKey(sessionId), JSON.stringify(saved))
}

// localStorage is per browser: it remembers which sessions this browser runs as interviewer (a
// name and, without tokens, the participant id: never a token, which anyone at a shared laptop
// could then use), so opening the candidate link in another tab asks first instead of joining
// a second candidate.
const interviewerKey = (sessionId) => `codeinterview:interviewer:${sessionId}`

function interviewerHere (sessionId) {
  try {
    return JSON.parse(localStorage.getItem(interviewerKey(sessionId)) ?? 'null')
  } catch {
    return null
  }
}

function rememberRole (sessionId, me, withTokens) {
  if (me?.role !== 'interviewer') return
  try {
    const known = withTokens ? { name: me.name } : { id: me.id, name: me.name }
    localStorage.setItem(interviewerKey(sessionId), JSON.stringify(known))
  } catch {} // storage full or disabled: the warning is a courtesy
}

/** The claims of a token (read only to know which participant it names; the server checks it). */
function claims (token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')
    return JSON.parse(atob(part + '='.repeat((4 - part.length % 4) % 4)))
  } catch {
    return {}
  }
}

/** A v4 UUID; crypto.randomUUID only exists in secure contexts (https or localhost). */
function newId () {
  if (crypto.randomUUID) return crypto.randomUUID()
  const b = crypto.getRandomValues(new Uint8Array(16))
  b[6] = (b[6] & 0x0f) | 0x40
  b[8] = (b[8] & 0x3f) | 0x80
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/**
 * With `?token=` (a link from the session's creation or an invite): a participant's token
 * opens the session as that participant; an invite joins once (a reload reuses the token the
 * join gave). Returns `{session, me, token}`.
 */
async function withToken (sessionId, token, name, ask) {
  const saved = recall(sessionId)
  let own = claims(token).pid ? token : saved?.token
  const interviewer = interviewerHere(sessionId)
  if (!own && interviewer) await ask(claims(token).role ?? 'candidate', interviewer, false)
  if (!own) {
    const user = name ? { name } : {}
    const { data } = await call('POST', `/sessions/${encodeURIComponent(sessionId)}/join`, { user }, token)
    own = data.token
  }
  const { data: session } = await call('GET', `/sessions/${encodeURIComponent(sessionId)}`, undefined, own)
  const me = session.participants.find((p) => p.id === claims(own).pid)
  remember(session.id, me, own)
  rememberRole(session.id, me, true)
  return { session, me, token: own }
}

/**
 * `?session=ID` joins that session (as the participant this tab was before, if any);
 * no `session` creates one. `?name=` is the name to use. Returns `{session, me, token}`.
 * `ask(role, interviewer, canOpen)` is asked before this browser's interviewer would join the
 * session again as someone new (`role`); it resolves to 'join', or (`canOpen`: without tokens,
 * where an id is all it takes) 'interviewer' to open it as them.
 */
export async function createOrJoin (params, ask) {
  const name = params.get('name')?.trim() || undefined
  const sessionId = params.get('session')?.trim()
  const token = params.get('token')?.trim()
  if (sessionId && token) return withToken(sessionId, token, name, ask)
  if (!sessionId) {
    const { data: session } = await call('POST', '/sessions', { creator: name ? { name } : {} })
    const me = session.participants.find((p) => p.id === session.creatorId)
    remember(session.id, me)
    rememberRole(session.id, me, false)
    return { session, me, token: null }
  }
  let saved = recall(sessionId)
  const interviewer = interviewerHere(sessionId)
  if (!saved && interviewer?.id && (await ask('candidate', interviewer, true)) === 'interviewer') {
    saved = interviewer
  }
  // The join answer lists every participant but does not say which one we are, so a first
  // join brings its own id (the server accepts any) and later joins reuse it.
  const user = { id: saved?.id ?? newId() }
  const wanted = name ?? saved?.name
  if (wanted) user.name = wanted
  const { data: session } = await call('POST', `/sessions/${encodeURIComponent(sessionId)}/join`, { user })
  const me = session.participants.find((p) => p.id === user.id)
  remember(session.id, me)
  rememberRole(session.id, me, false)
  return { session, me, token: null }
}

export async function listParticipants (sessionId, token) {
  const path = `/sessions/${encodeURIComponent(sessionId)}/participants`
  const { participants } = await call('GET', path, undefined, token)
  return participants
}

/** The calls the interview panes make, for one session as one caller. */
export class SessionApi {
  constructor (sessionId, token) {
    this.base = `/sessions/${encodeURIComponent(sessionId)}`
    this.token = token
  }

  async data (method, path, body) {
    return (await call(method, this.base + path, body, this.token))?.data
  }

  run (userId) {
    return this.data('POST', '/execute', this.token ? {} : { userId })
  }

  runTests () {
    return this.data('POST', '/tests', {})
  }

  /** The session's gradings, hidden cases whole (interviewers). */
  gradings () {
    return this.data('GET', '/tests')
  }


  start (durationMs) {
    return this.data('POST', '/start', durationMs ? { durationMs } : {})
  }

  end () {
    return this.data('POST', '/end', {})
  }

  notes () {
    return this.data('GET', '/notes')
  }

  writeNotes (notes, baseVersion) {
    return this.data('PUT', '/notes', { notes, baseVersion })
  }

  /** The session as REST shows it to this caller. */
  session () {
    return this.data('GET', '')
  }

  /** The session's question (whole for interviewers); 404 while it has none. */
  question () {
    return this.data('GET', '/question')
  }

  scorecards () {
    return this.data('GET', '/scorecards')
  }

  submitScorecard (scorecard) {
    return this.data('PUT', '/scorecard', scorecard)
  }

  attachQuestion (questionId) {
    return this.data('PUT', '/question', { questionId })
  }

  /** The bank, for an interviewer to pick from (the first page is plenty for a picker). */
  async questions () {
    return (await call('GET', '/questions?limit=100', undefined, this.token)).data
  }

  /** The languages this host can run: `{data: [{name, version, runtime}], sandboxed}`. */
  static async languages () {
    return call('GET', '/execute/languages')
  }

  reportUrl () {
    const query = this.token ? `&token=${encodeURIComponent(this.token)}` : ''
    return `${API}${this.base}/report?format=html${query}`
  }
}
