// The interview around the editor: the question pane (Y.Map "question"), the status and timer
// (meta.interview), and the interviewer's controls (pick a question, start, end, report).
//
// The shared document says when something changed, so every page shows it at once whoever
// acted; what is shown is then read from REST, the server's own copy: any editor may write
// any part of the document, and a candidate must not be able to dress up the interviewer's
// page (a forged prompt, a forged end). The controls only call REST.
import DOMPurify from 'dompurify'
import { marked } from 'marked'
import { serverClockOffsetMs } from './session.js'
import { throttle } from './throttle.js'

const $ = (id) => document.getElementById(id)
const MAX_DURATION_MINUTES = 24 * 60
const RECHECKS = 5
const READ_EVERY_MS = 250 // what the document says changed is read again this often at most

/** Markdown from the question's author, as HTML that can run nothing, load nothing, and
 * neither take the id of one of the page's elements nor look like one of its controls. */
function renderMarkdown (source) {
  const html = marked.parse(String(source ?? ''), { async: false, gfm: true })
  return DOMPurify.sanitize(html, {
    USE_PROFILES: { html: true },
    FORBID_TAGS: ['style', 'img', 'form', 'input', 'select', 'option', 'textarea', 'button', 'label', 'iframe'],
    FORBID_ATTR: ['id', 'name', 'class', 'style', 'for', 'form']
  })
}

function element (tag, className, text) {
  const node = document.createElement(tag)
  if (className) node.className = className
  if (text !== undefined) node.textContent = text
  return node
}

/**
 * The question pane: the session's question as REST gives it to this caller (public parts for
 * a candidate; an interviewer's copy has the hidden cases too, which the pane only counts),
 * read again whenever the document's Y.Map "question" changes.
 */
export class QuestionPane {
  constructor (api, question, onChange = () => {}) {
    this.api = api
    this.onChange = onChange
    this.id = null
    this.reading = null
    question.observe(throttle(() => this.read(), READ_EVERY_MS)) // REST at a bounded rate
    this.read()
  }

  read () {
    this.reading = (this.reading ?? Promise.resolve()).then(() => this.fetch())
    return this.reading
  }

  async fetch () {
    let view = null
    try {
      view = await this.api.question()
    } catch (err) {
      if (err.status !== 404) console.warn('question:', err.message)
    }
    this.show(view)
    this.onChange(view)
  }

  show (view) {
    this.id = view?.id ?? null
    $('question').dataset.questionId = this.id ?? ''
    if (!view) {
      $('question-title').textContent = 'No question yet'
      for (const id of ['question-meta', 'question-hidden']) $(id).textContent = ''
      $('question-prompt').replaceChildren()
      $('question-tests').replaceChildren()
      return
    }
    $('question-title').textContent = view.title ?? ''
    const tags = Array.isArray(view.tags) ? view.tags.join(', ') : ''
    $('question-meta').textContent = [view.difficulty, tags].filter(Boolean).join(' · ')
    $('question-prompt').innerHTML = renderMarkdown(view.prompt)
    const tests = Array.isArray(view.tests) ? view.tests : []
    const visible = tests.filter((test) => !test.hidden)
    $('question-tests').replaceChildren(...visible.map((test) => {
      const item = element('li')
      item.dataset.testId = String(test.id ?? '')
      item.append(element('strong', '', test.name || test.id || 'example'))
      if (test.args?.length) item.append(element('div', 'args', `args: ${test.args.join(' ')}`))
      item.append(element('div', 'label', 'input'), element('pre', '', test.stdin ?? ''))
      item.append(element('div', 'label', 'expected output'), element('pre', '', test.expectedStdout ?? ''))
      return item
    }))
    const hiddenTests = tests.filter((test) => test.hidden)
    const hidden = view.hiddenTests ?? hiddenTests.length
    const points = view.hiddenPoints ?? hiddenTests.reduce((sum, test) => sum + (test.points ?? 0), 0)
    $('question-hidden').textContent = hidden
      ? `and ${hidden} hidden test${hidden === 1 ? '' : 's'} (${points} points)`
      : ''
  }
}

const STATUS_TEXT = { waiting: 'Not started', active: 'In progress', ended: 'Ended' }

function clock (ms) {
  const total = Math.max(0, Math.round(ms / 1000))
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const s = String(total % 60).padStart(2, '0')
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`
}

/**
 * The status and the timer. A change of meta.interview in the document says when to look;
 * the state shown (`{status, startedAt, endedAt, durationMs}`) is the session's over REST.
 * `onChange(status)` is called with the status each time it is shown.
 */
export class InterviewClock {
  constructor (api, meta, initial, onChange) {
    this.api = api
    this.meta = meta
    this.onChange = onChange
    this.state = { status: 'waiting' }
    this.timer = setInterval(() => this.tick(), 1000)
    const soon = throttle(() => this.refresh(), READ_EVERY_MS)
    meta.observe((event) => {
      if (event.keysChanged.has('interview')) soon()
    })
    this.use(initial)
  }

  /** The session's state (a REST session view). */
  use (session) {
    const { status, startedAt, endedAt, durationMs } = session ?? {}
    const endsAt = typeof startedAt === 'number' && typeof durationMs === 'number' ? startedAt + durationMs : null
    this.state = { status, startedAt, endedAt, endsAt }
    this.show()
  }

  /** The server's state; while it does not say what the document does yet (the document
   * can be told first, or be forged), asked again a few times. */
  async refresh (attempt = 0) {
    let session
    try {
      session = await this.api.session()
    } catch (err) {
      console.warn('interview state:', err.message)
      return
    }
    this.use(session)
    const claimed = this.meta.get('interview')?.status
    if (claimed && claimed !== session.status && attempt < RECHECKS) {
      setTimeout(() => this.refresh(attempt + 1), 250 * (attempt + 1))
    }
  }

  get status () {
    return STATUS_TEXT[this.state.status] ? this.state.status : 'waiting'
  }

  show () {
    const status = this.status
    $('interview').dataset.status = status
    $('interview-status').textContent = STATUS_TEXT[status]
    this.tick()
    this.onChange(status)
  }

  tick () {
    const { startedAt, endedAt, endsAt } = this.state
    const timer = $('timer')
    const now = Date.now() + serverClockOffsetMs
    if (this.status === 'active' && typeof endsAt === 'number') {
      const left = endsAt - now
      timer.textContent = left >= 0 ? `${clock(left)} left` : `${clock(-left)} over time`
      timer.dataset.over = String(left < 0)
    } else if (this.status === 'active' && typeof startedAt === 'number') {
      timer.textContent = clock(now - startedAt)
      timer.dataset.over = 'false'
    } else if (this.status === 'ended' && typeof startedAt === 'number' && typeof endedAt === 'number') {
      timer.textContent = `took ${clock(endedAt - startedAt)}`
      timer.dataset.over = 'false'
    } else {
      timer.textContent = ''
    }
    timer.hidden = !timer.textContent
  }
}

/**
 * The interviewer's controls: the question picker, Start (with an optional length), End (asked
 * twice, for everyone), and the report link. `say(message, isError)` reports what happened.
 */
export class InterviewerControls {
  constructor (api, clock, say) {
    this.api = api
    this.clock = clock
    this.say = say
    for (const node of document.querySelectorAll('.interviewer-only')) node.hidden = false
    $('report').href = api.reportUrl()
    $('start').addEventListener('click', () => this.start())
    $('end').addEventListener('click', () => this.askToEnd(true))
    $('end-no').addEventListener('click', () => this.askToEnd(false))
    $('end-yes').addEventListener('click', () => this.end())
    $('attach').addEventListener('click', () => this.attach())
    $('duration').max = String(MAX_DURATION_MINUTES)
    this.loadQuestions()
  }

  async loadQuestions () {
    const select = $('question-pick')
    try {
      const questions = await this.api.questions()
      select.replaceChildren(new Option(questions.length ? 'Choose a question…' : 'The bank is empty', ''))
      for (const q of questions) select.add(new Option(`${q.title} (${q.difficulty})`, q.id))
    } catch (err) {
      select.replaceChildren(new Option('The bank cannot be read here', ''))
      this.say(`Question bank: ${err.message}`, true)
    }
  }

  async act (button, what, call) {
    button.disabled = true
    try {
      await call()
      this.say(what)
    } catch (err) {
      this.say(`${err.message}`, true)
    } finally {
      this.update(this.clock.status)
    }
  }

  attach () {
    const id = $('question-pick').value
    if (!id) return this.say('Choose a question first.', true)
    return this.act($('attach'), 'Question given to the session.', () => this.api.attachQuestion(id))
  }

  start () {
    const minutes = Number($('duration').value)
    const ms = Number.isFinite(minutes) && minutes > 0 ? Math.round(Math.min(minutes, MAX_DURATION_MINUTES) * 60000) : null
    return this.act($('start'), 'Interview started.', () => this.api.start(ms))
  }

  askToEnd (asking) {
    $('end').hidden = asking
    $('end-confirm').hidden = !asking
  }

  end () {
    this.askToEnd(false)
    return this.act($('end'), 'Interview ended.', () => this.api.end())
  }

  /** Enable what the interview's status allows. */
  update (status) {
    $('start').disabled = status !== 'waiting'
    $('start').hidden = status !== 'waiting'
    $('duration-field').hidden = status !== 'waiting'
    $('end').disabled = status === 'ended'
    $('end').hidden = status === 'ended' || !$('end-confirm').hidden
    if (status === 'ended') $('end-confirm').hidden = true
    $('attach').disabled = status === 'ended'
    $('question-pick').disabled = status === 'ended'
  }
}
