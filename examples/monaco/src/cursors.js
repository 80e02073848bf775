// Other participants' cursors and selections, in their colours and with their names.
//
// y-monaco draws remote selections as decorations with the classes yRemoteSelection-<clientID>
// and yRemoteSelectionHead-<clientID>. This module gives those classes each client's colour (one
// <style> element rebuilt from awareness), puts a name label above every remote cursor (a Monaco
// content widget), and draws the caret of clients that only publish `cursor` (JSON clients).
import * as Y from 'yjs'
import { monaco } from './editor.js'

const FALLBACK_COLOR = '#808080'
const ABOVE = monaco.editor.ContentWidgetPositionPreference.ABOVE
const BELOW = monaco.editor.ContentWidgetPositionPreference.BELOW

/** Awareness comes from other clients: only a real CSS colour gets into the style sheet. */
const safeColor = (color) =>
  typeof color === 'string' && color.length <= 64 && CSS.supports('color', color)
    ? color
    : FALLBACK_COLOR

const displayName = (user) =>
  typeof user.name === 'string' && user.name.trim() ? user.name.trim().slice(0, 100) : 'Anonymous'

class NameLabel {
  constructor (clientID) {
    this.id = `remote-cursor-label-${clientID}`
    this.position = null
    this.node = document.createElement('div')
    this.node.className = 'remote-cursor-label'
    this.node.dataset.clientId = String(clientID)
  }

  getId () { return this.id }
  getDomNode () { return this.node }
  getPosition () {
    return this.position && { position: this.position, preference: [ABOVE, BELOW] }
  }
}

export class RemoteCursors {
  /**
   * @param {monaco.editor.IStandaloneCodeEditor} editor
   * @param {Y.Text} ytext
   * @param {import('y-protocols/awareness').Awareness} awareness
   */
  constructor (editor, ytext, awareness) {
    this.editor = editor
    this.ytext = ytext
    this.awareness = awareness
    this.style = document.head.appendChild(document.createElement('style'))
    this.labels = new Map()
    this.carets = editor.createDecorationsCollection()
    this.render = this.render.bind(this)
    awareness.on('change', this.render)
    ytext.observe(this.render) // after y-monaco's observer: the model already has the edit
  }

  /** Where a client's cursor is: its y-monaco selection head, else its JSON `cursor`. */
  positionOf (state, model) {
    const head = state.selection?.head
    if (head) {
      const rel = Y.createRelativePositionFromJSON(head)
      const abs = Y.createAbsolutePositionFromRelativePosition(rel, this.ytext.doc)
      if (abs && abs.type === this.ytext) {
        return { position: model.getPositionAt(abs.index), drawn: true }
      }
    }
    const cursor = state.cursor
    if (cursor && Number.isInteger(cursor.lineNumber) && Number.isInteger(cursor.column)) {
      return { position: model.validatePosition(cursor), drawn: false }
    }
    return null
  }

  render () {
    const model = this.editor.getModel()
    if (!model) return
    const rules = []
    const carets = []
    const present = new Set()
    this.awareness.getStates().forEach((state, clientID) => {
      if (clientID === this.ytext.doc.clientID || !state?.user) return
      const color = safeColor(state.user.color)
      rules.push(
        `.yRemoteSelection-${clientID}{background-color:color-mix(in srgb,${color} 30%,transparent)}`,
        `.yRemoteSelectionHead-${clientID}{border-color:${color}}`
      )
      const at = this.positionOf(state, model)
      if (!at) return
      const { lineNumber, column } = at.position
      if (!at.drawn) { // y-monaco only draws clients that publish a selection
        carets.push({
          range: new monaco.Range(lineNumber, column, lineNumber, column),
          options: { beforeContentClassName: `yRemoteSelectionHead yRemoteSelectionHead-${clientID}` }
        })
      }
      present.add(clientID)
      this.placeLabel(clientID, at.position, displayName(state.user), color)
    })
    for (const [clientID, label] of this.labels) {
      if (!present.has(clientID)) {
        this.editor.removeContentWidget(label)
        this.labels.delete(clientID)
      }
    }
    this.carets.set(carets)
    const css = rules.join('\n')
    if (this.style.textContent !== css) this.style.textContent = css
  }

  placeLabel (clientID, position, name, color) {
    let label = this.labels.get(clientID)
    const fresh = label === undefined
    if (fresh) {
      label = new NameLabel(clientID)
      this.labels.set(clientID, label)
    }
    label.position = position
    label.node.textContent = name
    label.node.style.backgroundColor = color
    if (fresh) this.editor.addContentWidget(label)
    else this.editor.layoutContentWidget(label)
  }
}
