// The interviewer's scorecard: a recommendation, a 1-4 score per competency of the question's
// rubric (a general set without one), and notes; submitted with PUT /scorecard, any number of
// times (the last one counts), and filled in again from the server when the page opens. What
// is typed but not submitted survives a new rubric for the competencies both have.

const $ = (id) => document.getElementById(id)
const GENERAL = ['Problem solving', 'Code quality', 'Communication']

function element (tag, props = {}, text) {
  const node = Object.assign(document.createElement(tag), props)
  if (text !== undefined) node.textContent = text
  return node
}

export class ScorecardForm {
  /** `api`: the session's REST calls; `me`: this page's participant. */
  constructor (api, me) {
    this.api = api
    this.me = me
    this.rubric = []
    this.saved = null
    this.rendered = false
    $('scorecard').addEventListener('submit', (event) => {
      event.preventDefault()
      this.submit()
    })
    this.load()
  }

  status (text, isError = false) {
    const el = $('scorecard-status')
    el.textContent = text
    el.dataset.error = String(isError)
  }

  /** The rubric of the session's question (none: a general set of competencies). */
  setRubric (rubric) {
    this.rubric = Array.isArray(rubric) ? rubric : []
    this.render()
  }

  /** This interviewer's last scorecard, into the form. */
  async load () {
    try {
      const cards = await this.api.scorecards()
      this.saved = cards.find((card) => card.interviewerId === this.me.id) ??
        cards.find((card) => card.interviewerId === 'anonymous') ?? null // an open server's
    } catch (err) {
      this.status(err.message, true)
    }
    this.render()
  }

  /** What the form holds now, as a scorecard's competencies. */
  typed () {
    return [...$('competencies').querySelectorAll('.competency')].map((row) => {
      const select = row.querySelector('select')
      return { name: select.dataset.competency, score: Number(select.value), notes: row.querySelector('input').value }
    })
  }

  render () {
    const names = this.rubric.length ? this.rubric.map((r) => r.competency) : GENERAL
    const scores = new Map((this.saved?.competencies ?? []).map((c) => [c.name, c]))
    for (const entry of this.typed()) if (entry.score || entry.notes) scores.set(entry.name, entry)
    $('competencies').replaceChildren(...names.map((name, n) => {
      const row = element('div', { className: 'competency' })
      const levels = this.rubric[n]?.levels ?? []
      const select = element('select', { name: `score-${n}`, title: levels.join(' / ') })
      select.dataset.competency = name
      select.add(new Option('–', ''))
      for (let score = 1; score <= 4; score++) select.add(new Option(String(score), String(score)))
      select.value = String(scores.get(name)?.score ?? '')
      const notes = element('input', { type: 'text', name: `notes-${n}`, placeholder: 'why', maxLength: 2000 })
      notes.value = scores.get(name)?.notes ?? ''
      row.append(element('label', {}, name), select, notes)
      return row
    }))
    if (this.saved && !this.rendered) { // once: later renders keep what is typed
      $('recommendation').value = this.saved.recommendation ?? ''
      $('scorecard-notes').value = this.saved.notes ?? ''
      this.rendered = true
    }
    if (this.saved) this.status('submitted')
  }

  async submit () {
    const recommendation = $('recommendation').value
    if (!recommendation) return this.status('Choose a recommendation.', true)
    const competencies = this.typed().filter((entry) => entry.score)
    const body = { recommendation, competencies, notes: $('scorecard-notes').value }
    this.status('submitting…')
    try {
      this.saved = await this.api.submitScorecard(body)
      this.status('submitted')
    } catch (err) {
      this.status(`not submitted: ${err.message}`, true)
    }
  }
}
