// Run and Run tests, and what they gave: the newest entry of the document's `runs` (stdout,
// stderr, exit code, time) and of `testRuns` (each case passed or not, the score). Whoever ran,
// every page shows the result, since the server appends it to the shared document. Any editor
// may write those arrays, so an interviewer's page shows the gradings the server kept (REST,
// hidden cases whole), the document only saying when to read them.

import { throttle } from './throttle.js'

const $ = (id) => document.getElementById(id)

/** Judge0's status names, for a case's statusId (the grading's own status has its name). */
const STATUS_NAMES = {
  3: 'Accepted',
  4: 'Wrong Answer',
  5: 'Time Limit Exceeded',
  6: 'Compilation Error',
  7: 'Runtime Error (SIGSEGV)',
  8: 'Runtime Error (SIGXFSZ)',
  9: 'Runtime Error (SIGFPE)',
  10: 'Runtime Error (SIGABRT)',
  11: 'Runtime Error (NZEC)',
  12: 'Runtime Error (Other)',
  13: 'Internal Error'
}

function element (tag, className, text) {
  const node = document.createElement(tag)
  if (className) node.className = className
  if (text !== undefined) node.textContent = String(text)
  return node
}

function block (label, text, className = '') {
  const section = element('div', `stream ${className}`)
  section.append(element('div', 'label', label), element('pre', '', text))
  return section
}

const newest = (array) => {
  const items = array.toArray()
  const last = items[items.length - 1]
  return last && typeof last === 'object' ? last : null
}

export class Output {
  /**
   * `runs`, `testRuns`: the document's arrays; `nameOf(userId)`: a participant's name;
   * `api`: the session's REST calls; `me`: this page's participant; `whole`: whether this page
   * reads gradings from REST (an interviewer: hidden cases whole, nothing forged).
   */
  constructor ({ runs, testRuns, api, me, nameOf, whole = false }) {
    this.api = api
    this.whole = whole
    this.me = me
    this.nameOf = nameOf
    this.hasQuestion = false
    this.frozen = false
    this.busy = false
    for (const tab of document.querySelectorAll('.output-tabs button')) {
      tab.addEventListener('click', () => this.showTab(tab.dataset.tab))
    }
    $('run').addEventListener('click', () => this.run())
    $('run-tests').addEventListener('click', () => this.runTests())
    this.runs = runs
    this.testRuns = testRuns
    runs.observe(() => this.showRun(true))
    testRuns.observe(throttle(() => this.showTests(true), 250)) // an interviewer's: REST
    this.showRun(false)
    this.showTests(false)
    this.update()
  }

  /** Enable the buttons for what may be done now. */
  update () {
    const canRun = this.me.role !== 'observer' && !this.frozen && !this.busy
    $('run').disabled = !canRun
    const hasQuestion = this.hasQuestion
    $('run-tests').disabled = !canRun || !hasQuestion
    $('run-tests').title = hasQuestion ? 'Grade the code against the question’s tests' : 'The session has no question yet'
  }

  /** Whether the session has a question to run tests against (the question pane says). */
  questionChanged (view) {
    this.hasQuestion = Boolean(view)
    this.update()
  }

  freeze () {
    this.frozen = true
    this.update()
  }

  say (message, isError = false) {
    const status = $('action-status')
    status.textContent = message
    status.dataset.error = String(isError)
  }

  async act (what, call) {
    this.busy = true
    this.update()
    this.say(`${what}…`)
    try {
      await call()
      this.say('')
    } catch (err) {
      this.say(err.message, true)
    } finally {
      this.busy = false
      this.update()
    }
  }

  run () {
    return this.act('Running', () => this.api.run(this.me.id))
  }

  runTests () {
    return this.act('Running the tests', () => this.api.runTests())
  }

  showTab (name) {
    for (const tab of document.querySelectorAll('.output-tabs button')) {
      tab.setAttribute('aria-selected', String(tab.dataset.tab === name))
    }
    $('run-output').hidden = name !== 'run'
    $('test-output').hidden = name !== 'tests'
  }

  /** The newest of the document's `array`, or of what `read()` gets from REST when whole. */
  async latest (array, read) {
    if (!this.whole) return newest(array)
    try {
      const items = await read()
      return items[items.length - 1] ?? null
    } catch (err) {
      console.warn('results:', err.message)
      return null
    }
  }

  showRun (fresh) {
    const run = newest(this.runs) // GET /runs reads the same array: nothing to check it by
    const out = $('run-output')
    if (!run) {
      out.replaceChildren(element('p', 'empty', 'Nothing has run yet: Run runs the code for everyone to see.'))
      return
    }
    out.dataset.runId = String(run.id ?? '')
    const flags = [
      run.timedOut && 'timed out',
      run.memoryExceeded && 'out of memory',
      run.outputTruncated && 'output cut',
      run.sandboxed === false && 'not sandboxed'
    ].filter(Boolean)
    const summary = element('div', 'summary')
    summary.append(
      element('span', 'exit', `exit code ${run.exitCode ?? '–'}`),
      element('span', 'time', `${Math.round(Number(run.executionTime) || 0)} ms`),
      element('span', 'who', `${run.language ?? ''} · run by ${this.nameOf(run.userId)}`)
    )
    summary.dataset.ok = String(run.exitCode === 0 && !run.timedOut)
    if (flags.length) summary.append(element('span', 'flags', flags.join(', ')))
    out.replaceChildren(summary, block('stdout', run.stdout ?? '', 'stdout'))
    if (run.stderr) out.append(block('stderr', run.stderr, 'stderr'))
    if (fresh) this.showTab('run')
  }

  async showTests (fresh) {
    const result = await this.latest(this.testRuns, () => this.api.gradings())
    if (!result) {
      $('test-output').replaceChildren(element('p', 'empty', 'No tests have run yet: Run tests grades the code against the question.'))
      return
    }
    this.renderTests(result)
    if (fresh) this.showTab('tests')
  }

  renderTests (result) {
    const out = $('test-output')
    out.dataset.whole = String(result.tests?.some((t) => t.hidden === true) ?? false)
    out.dataset.runId = String(result.runId ?? '')
    const summary = element('div', 'summary')
    const status = result.status ?? {}
    summary.dataset.ok = String(status.id === 3)
    summary.append(
      element('span', 'verdict', status.description ?? STATUS_NAMES[status.id] ?? 'Unknown'),
      element('span', 'score', `${result.score?.points ?? 0}/${result.score?.max ?? 0} points`),
      element('span', 'time', `${Math.round(Number(result.timeMs) || 0)} ms`),
      element('span', 'who', `${result.language ?? ''} · run by ${this.nameOf(result.userId)}`)
    )
    const nodes = [summary]
    if (result.compile?.output) nodes.push(block('compiler', result.compile.output, 'stderr'))
    const list = element('ol', 'cases')
    for (const test of Array.isArray(result.tests) ? result.tests : []) {
      const item = element('li')
      item.dataset.testId = String(test.id ?? '')
      item.dataset.passed = String(Boolean(test.passed))
      const head = element('div', 'case')
      const verdict = test.skipped ? 'Skipped' : STATUS_NAMES[test.statusId] ?? 'Not run'
      head.append(
        element('span', 'mark', test.passed ? '✓' : '✗'),
        element('span', 'name', test.name || test.id || ''),
        element('span', 'verdict', verdict),
        element('span', 'time', `${Math.round(Number(test.timeMs) || 0)} ms`)
      )
      if (test.hidden !== false) head.append(element('span', 'hidden-case', 'hidden'))
      item.append(head)
      if (!test.passed && test.expected !== undefined) {
        item.append(block('expected', test.expected ?? ''), block('got', test.stdout ?? ''))
        if (test.stderr) item.append(block('stderr', test.stderr, 'stderr'))
      }
      list.append(item)
    }
    nodes.push(list)
    out.replaceChildren(...nodes)
  }
}
