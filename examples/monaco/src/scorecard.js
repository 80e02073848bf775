// The interviewer's scorecard: a recommendation, a 1-4 score per competency of the question's
// rubric (a general set without one), and notes; submitted with PUT /scorecard, any number of
// times (the last one counts), and filled in again from the server when the page opens.

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

  /** The question's rubric and this interviewer's last scorecard, then the form. */
  async load () {
    try {
      const question = await this.api.question()
      this.rubric = Array.isArray(question?.rubric) ? question.rubric : []
    } catch (err) {
      if (err.status !== 404) this.status(err.message, true) // 404: no question yet
      this.rubric = []
    }
    try {
      const cards = await this.api.scorecards()
      this.saved = cards.find((card) => card.interviewerId === this.me.id) ?? cards.find((card) => card.interviewerId === 'anonymous') ?? null
    } catch (err) {
      this.status(err.message, true)
    }
    this.render()
  }

  render () {
    const names = this.rubric.length ? this.rubric.map((r) => r.competency) : GENERAL
    const scores = new Map((this.saved?.competencies ?? []).map((c) => [c.name, c]))
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
    $('recommendation').value = this.saved?.recommendation ?? ''
    $('scorecard-notes').value = this.saved?.notes ?? ''
    if (this.saved) this.status('submitted')
  }

  async submit () {
    const recommendation = $('recommendation').value
    if (!recommendation) return this.status('Choose a recommendation.', true)
    const competencies = [...$('competencies').querySelectorAll('.competency')].flatMap((row) => {
      const select = row.querySelector('select')
      const score = Number(select.value)
      return score ? [{ name: select.dataset.competency, score, notes: row.querySelector('input').value }] : []
    })
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
