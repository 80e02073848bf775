// The interviewers' private notes: a textarea saved over REST (versioned), live between
// interviewers through a JSON side socket that hears `notes_change` (the server sends it to
// interviewers' sockets only). Two interviewers writing at once: the later save is refused
// (412) and merged with the other's text, so neither loses what they wrote.

const $ = (id) => document.getElementById(id)
const SAVE_AFTER_MS = 600
const RETRY_MS = [500, 1000, 2000, 5000, 10000]
const MAX_MERGES = 5

/**
 * `ours` applied onto `theirs`, both edits of `base`: our change is one replaced range of
 * `base`; it goes into `theirs` where the text around it is still the same, else at the end.
 */
export function merge (base, ours, theirs) {
  if (ours === base || ours === theirs) return theirs
  if (theirs === base) return ours
  let start = 0
  while (start < base.length && start < ours.length && base[start] === ours[start]) start++
  let tail = 0
  while (
    tail < base.length - start && tail < ours.length - start &&
    base[base.length - 1 - tail] === ours[ours.length - 1 - tail]
  ) tail++
  const end = base.length - tail
  const text = ours.slice(start, ours.length - tail)
  if (theirs.slice(0, end) === base.slice(0, end)) { // they changed only what comes after
    return theirs.slice(0, start) + text + theirs.slice(end)
  }
  const after = base.length - start
  if (theirs.length >= after && theirs.slice(theirs.length - after) === base.slice(start)) {
    return theirs.slice(0, theirs.length - after) + text + theirs.slice(theirs.length - tail)
  }
  return `${theirs}\n\n${text}`
}

export class Notes {
  /** `api`: the session's REST calls; `socketUrl`: the JSON socket to hear changes on. */
  constructor (api, socketUrl) {
    this.api = api
    this.socketUrl = socketUrl
    this.area = $('notes')
    this.base = { notes: '', version: 0 } // what the server had when we last heard
    this.timer = null
    this.saving = false
    this.later = null // notes heard while saving
    this.socket = null
    this.retries = 0
    this.stopped = false
    this.area.disabled = true
    this.area.addEventListener('input', () => this.edited())
    this.load()
    this.listen()
  }

  status (text, isError = false) {
    const el = $('notes-status')
    el.textContent = text
    el.dataset.error = String(isError)
  }

  get dirty () {
    return this.area.value !== this.base.notes
  }

  async load () {
    try {
      this.heard(await this.api.notes())
      this.area.disabled = false
      if (this.base.version === 0 && !this.dirty) this.status('none yet')
    } catch (err) {
      this.status(err.message, true)
    }
  }

  /** Notes from the server (a read, or another interviewer's save); while our save is on
   * its way they wait for it (it may be refused over them, and then it merges them). */
  heard (notes) {
    if (!notes || typeof notes.notes !== 'string' || !Number.isInteger(notes.version)) return
    if (this.saving) {
      if (!this.later || notes.version > this.later.version) this.later = notes
      return
    }
    if (notes.version <= this.base.version) return
    const mine = this.area.value
    const base = this.base.notes
    this.base = { notes: notes.notes, version: notes.version }
    if (mine === base) {
      this.area.value = notes.notes
    } else if (mine !== notes.notes) {
      this.area.value = merge(base, mine, notes.notes) // our unsaved edit, onto theirs
      this.edited()
    }
    if (!this.dirty) this.status(notes.version ? `saved (version ${notes.version})` : 'none yet')
  }

  edited () {
    this.status('editing…')
    clearTimeout(this.timer)
    this.timer = setTimeout(() => this.save(), SAVE_AFTER_MS)
  }

  /** Save what the textarea holds; refused because another interviewer saved first, merge
   * with theirs and save again (a few times at most). One save at a time. */
  async save () {
    if (this.saving) return this.edited() // after this one
    if (!this.dirty) return
    this.saving = true
    this.status('saving…')
    try {
      for (let attempt = 0; ; attempt++) {
        const base = this.base
        try {
          const saved = await this.api.writeNotes(this.area.value, base.version)
          this.base = { notes: saved.notes, version: saved.version }
          break
        } catch (err) {
          if (err.status !== 412 || attempt >= MAX_MERGES) throw err
          const theirs = await this.api.notes()
          this.area.value = merge(base.notes, this.area.value, theirs.notes)
          this.base = { notes: theirs.notes, version: theirs.version }
        }
      }
    } catch (err) {
      this.status(`not saved: ${err.message}`, true)
      return
    } finally {
      this.saving = false
      const later = this.later
      this.later = null
      if (later) this.heard(later)
    }
    if (this.dirty) this.edited() // typed while it was saving
    else this.status(`saved (version ${this.base.version})`)
  }

  listen () {
    if (this.stopped) return
    const socket = new WebSocket(this.socketUrl)
    this.socket = socket
    socket.onopen = () => { this.retries = 0 }
    socket.onmessage = (event) => {
      let message
      try {
        message = JSON.parse(event.data)
      } catch {
        return
      }
      if (message?.type === 'notes_change') this.heard(message.data)
    }
    socket.onerror = () => {} // onclose follows and says what to do
    socket.onclose = (event) => {
      if (this.socket !== socket || this.stopped) return
      if (event.code >= 4400 && event.code <= 4499) return // refused for good: REST still saves
      const wait = RETRY_MS[Math.min(this.retries++, RETRY_MS.length - 1)]
      setTimeout(() => {
        this.listen()
        this.api.notes().then((notes) => this.heard(notes), () => {}) // what we missed meanwhile
      }, wait)
    }
  }

  stop () {
    this.stopped = true
    this.socket?.close()
  }
}
