// The interview around the editor: the question pane (Y.Map "question"), the status and timer
// (meta.interview), and the interviewer's controls (pick a question, start, end, report).
//
// Everything shown comes from the shared document, so every page shows the same thing at once
// whoever acted; the controls only call REST, and the server writes the document.
import DOMPurify from 'dompurify'
import { marked } from 'marked'
import { serverClockOffsetMs } from './session.js'

const $ = (id) => document.getElementById(id)
const MAX_DURATION_MINUTES = 24 * 60

/** Markdown from the question's author, as HTML that can run nothing. */
function renderMarkdown (source) {
  const html = marked.parse(String(source ?? ''), { async: false, gfm: true })
  return DOMPurify.sanitize(html, { USE_PROFILES: { html: true }, FORBID_TAGS: ['style', 'img'] })
}

function element (tag, className, text) {
  const node = document.createElement(tag)
  if (className) node.className = className
  if (text !== undefined) node.textContent = text
  return node
}

/** The question as the document holds it (its public view: no solution, no hidden case). */
export function showQuestion (question) {
  const view = question.toJSON()
  const pane = $('question')
  pane.dataset.questionId = view.id ?? ''
  if (!view.id) {
    $('question-title').textContent = 'No question yet'
    $('question-meta').textContent = ''
    $('question-prompt').replaceChildren()
    $('question-tests').replaceChildren()
    $('question-hidden').textContent = ''
    return
  }
  $('question-title').textContent = view.title ?? ''
  const tags = Array.isArray(view.tags) ? view.tags.join(', ') : ''
  $('question-meta').textContent = [view.difficulty, tags].filter(Boolean).join(' · ')
  $('question-prompt').innerHTML = renderMarkdown(view.prompt)
  const tests = Array.isArray(view.tests) ? view.tests : []
  $('question-tests').replaceChildren(...tests.map((test) => {
    const item = element('li')
    item.dataset.testId = String(test.id ?? '')
    item.append(element('strong', '', test.name || test.id || 'example'))
    if (test.args?.length) item.append(element('div', 'args', `args: ${test.args.join(' ')}`))
    item.append(element('div', 'label', 'input'), element('pre', '', test.stdin ?? ''))
    item.append(element('div', 'label', 'expected output'), element('pre', '', test.expectedStdout ?? ''))
    return item
  }))
  const hidden = Number(view.hiddenTests) || 0
  $('question-hidden').textContent = hidden
    ? `and ${hidden} hidden test${hidden === 1 ? '' : 's'} (${Number(view.hiddenPoints) || 0} points)`
    : ''
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
 * The status and the timer, from meta.interview: `{status, startedAt, endedAt, endsAt}`;
 * `onChange(status)` is called with the status each time it is shown.
 */
export class InterviewClock {
  constructor (meta, onChange) {
    this.meta = meta
    this.onChange = onChange
    this.timer = setInterval(() => this.tick(), 1000)
    meta.observe((event) => {
      if (event.keysChanged.has('interview')) this.show()
    })
    this.show()
  }

  get state () {
    const value = this.meta.get('interview')
    return value && typeof value === 'object' ? value : { status: 'waiting' }
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
