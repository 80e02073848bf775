#!/usr/bin/env node
/**
 * Real Yjs v1 updates of every struct and content kind, for the update validator's tests
 * (tests/test_crdt_server/test_update_check.py).
 *
 *   node tests/node/update_corpus.mjs   ->   {"name": "hex", ...} on stdout
 *
 * Each scenario records the updates its doc emits (`doc.on('update')`: keystroke-sized
 * transactions) and its full state (`Y.encodeStateAsUpdate`), plus diffs against earlier state
 * vectors and merges with gaps, which carry Skip structs. Deterministic: fixed client ids.
 */
import * as Y from 'yjs'

/** @type {Record<string, string>} */
const corpus = {}
const hex = (/** @type {Uint8Array} */ u) => Buffer.from(u).toString('hex')

/** A doc with a fixed client id whose every update is recorded under `name/n`. */
const recordedDoc = (/** @type {string} */ name, clientID = 1000, opts = {}) => {
  const doc = new Y.Doc(opts)
  doc.clientID = clientID
  let n = 0
  doc.on('update', (/** @type {Uint8Array} */ update) => {
    corpus[`${name}/update-${n++}`] = hex(update)
  })
  return doc
}

const scenario = (/** @type {string} */ name, /** @type {(doc: Y.Doc) => void} */ build,
  clientID = 1000, opts = {}) => {
  const doc = recordedDoc(name, clientID, opts)
  build(doc)
  corpus[`${name}/state`] = hex(Y.encodeStateAsUpdate(doc))
  return doc
}

scenario('text-typing', doc => {
  const text = doc.getText('code')
  for (const ch of 'def f(x):\n    return x') text.insert(text.length, ch)
  text.insert(0, '# ')
  text.insert(5, 'ñé')
  text.delete(2, 3)
  text.insert(text.length, '\n')
})

scenario('text-unicode', doc => {
  const text = doc.getText('code')
  text.insert(0, 'a😀b🎉c')
  text.insert(2, 'X') // inside the surrogate pair of 😀: Yjs splits it into two U+FFFD
  text.delete(4, 1)
  text.insert(0, '中文 Ελληνικά')
})

scenario('text-format-embed', doc => {
  const text = doc.getText('rich')
  text.insert(0, 'hello world', { bold: true })
  text.format(0, 5, { italic: true, color: '#f00' })
  text.format(0, 5, { italic: null })
  text.insertEmbed(5, { image: 'https://example.com/a.png', size: [1, 2.5] })
  text.insertEmbed(0, 'a string embed')
  text.applyDelta([{ retain: 3 }, { insert: 'Δ', attributes: { code: true } }, { delete: 2 }])
  const map = new Y.Map()
  text.insertEmbed(1, map) // a shared type embedded in text
  map.set('k', 1)
})

const anyValues = {
  null: null,
  undefined,
  true: true,
  false: false,
  int: 42,
  negative: -7,
  negativeZero: -0,
  int31: 2 ** 31 - 1,
  bigInt53: 2 ** 53 - 1, // beyond 31 bits lib0 writes a float64
  float32: 1.5,
  float64: 0.1,
  nan: NaN,
  bigint: 2n ** 62n,
  negativeBigint: -(2n ** 40n),
  string: 'str ñ 😀',
  emptyString: '',
  object: { a: 1, b: [true, null, { c: 'd' }], e: {} },
  array: [1, 'two', [3, [4, [5]]], { six: 6 }],
  emptyArray: [],
  binaryInObject: { bytes: new Uint8Array([0, 1, 255]) }
}

scenario('map-any', doc => {
  const meta = doc.getMap('meta')
  for (const [key, value] of Object.entries(anyValues)) meta.set(key, value)
  meta.set('binary', new Uint8Array([1, 2, 3, 250])) // ContentBinary
  meta.set('language', 'python')
  meta.set('language', 'javascript') // overwrites: the old entry is deleted
  meta.delete('int')
})

scenario('array-values', doc => {
  const array = doc.getArray('runs')
  array.insert(0, [1, 2, 3, 'four', { five: 5 }, [6], null, true, { big: 2n ** 10n }])
  array.insert(1, [new Uint8Array([9, 8, 7])])
  array.push([new Uint8Array(0)])
  array.delete(2, 3)
  array.insert(array.length, [...Array(50).keys()])
})

scenario('nested-types', doc => {
  const root = doc.getMap('root')
  const list = new Y.Array()
  root.set('list', list)
  const inner = new Y.Map()
  list.insert(0, [inner, new Y.Text('in array')])
  inner.set('text', new Y.Text('nested text'))
  inner.set('deeper', new Y.Map([['x', new Y.Array()]]))
  inner.get('deeper').get('x').push(['leaf'])
  root.set('list2', new Y.Array())
  root.get('list2').insert(0, [1])
}, 2 ** 32 + 5)

scenario('xml', doc => {
  const fragment = doc.getXmlFragment('prosemirror')
  const paragraph = new Y.XmlElement('paragraph')
  const text = new Y.XmlText('some xml text')
  paragraph.insert(0, [text])
  paragraph.setAttribute('align', 'left')
  fragment.insert(0, [paragraph, new Y.XmlElement('hr')])
  text.format(0, 4, { strong: true })
  fragment.insert(0, [new Y.XmlText('top-level')])
  paragraph.removeAttribute('align')
  doc.getXmlElement('element-root').insert(0, [new Y.XmlElement('child')])
  doc.getMap('holder').set('fragment', new Y.XmlFragment())
  doc.getMap('holder').get('fragment').insert(0, [new Y.XmlText('in a nested fragment')])
})

// XmlHook is valid Yjs, but yrs 0.28 does not read the hook name: the validator refuses it.
scenario('xml-hook', doc => {
  const hook = new Y.XmlHook('custom-hook')
  doc.getXmlFragment('prosemirror').insert(0, [hook])
  hook.set('hookData', { a: 1 })
})

scenario('subdocs', doc => {
  const docs = doc.getMap('docs')
  docs.set('plain', new Y.Doc())
  docs.set('autoLoad', new Y.Doc({ autoLoad: true, meta: { title: 'notes' } }))
  docs.set('noGc', new Y.Doc({ gc: false, guid: 'fixed-guid' }))
  doc.getArray('docList').insert(0, [new Y.Doc({ shouldLoad: false })])
})

scenario('deleted-and-gc', doc => {
  const text = doc.getText('code')
  text.insert(0, 'aaaaabbbbbccccc')
  text.delete(3, 6) // ContentDeleted after gc
  const map = doc.getMap('meta')
  const child = new Y.Map()
  map.set('child', child)
  child.set('a', 'x')
  child.set('b', new Y.Text('gone'))
  map.delete('child') // the child's own items become GC structs
  const array = doc.getArray('runs')
  array.insert(0, ['r1', 'r2', 'r3'])
  array.delete(0, 3)
}, 77)

scenario('no-gc-deleted', doc => {
  const text = doc.getText('code')
  text.insert(0, 'keep my tombstones')
  text.delete(0, 5)
  doc.getMap('meta').set('x', 1)
  doc.getMap('meta').delete('x')
}, 78, { gc: false })

scenario('undo-redo', doc => {
  const text = doc.getText('code')
  const undo = new Y.UndoManager(text, { captureTimeout: 0 })
  text.insert(0, 'abc')
  text.insert(3, 'def')
  undo.undo()
  undo.redo()
  text.delete(1, 2)
  undo.undo()
})

// Two clients editing the same text, synced both ways, then concurrent edits merged.
{
  const a = recordedDoc('two-clients-a', 11)
  const b = recordedDoc('two-clients-b', 12)
  a.getText('code').insert(0, 'shared start')
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a))
  a.getText('code').insert(6, ' from a')
  b.getText('code').insert(6, ' from b')
  b.getText('code').delete(0, 2)
  Y.applyUpdate(a, Y.encodeStateAsUpdate(b, Y.encodeStateVector(a)))
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)))
  corpus['two-clients/state'] = hex(Y.encodeStateAsUpdate(a))
}

// Diffs against an older state vector, and merges with gaps (Skip structs).
{
  const doc = new Y.Doc()
  doc.clientID = 500
  const text = doc.getText('code')
  /** @type {Uint8Array[]} */
  const updates = []
  doc.on('update', (/** @type {Uint8Array} */ u) => updates.push(u))
  const states = []
  for (const word of ['alpha ', 'beta ', 'gamma ', 'delta ', 'epsilon']) {
    states.push(Y.encodeStateVector(doc))
    text.insert(text.length, word)
  }
  text.delete(0, 3)
  corpus['diff/from-second'] = hex(Y.encodeStateAsUpdate(doc, states[1]))
  corpus['diff/from-middle-of-item'] = hex(Y.encodeStateAsUpdate(doc, Y.encodeStateVector(
    (() => { const d = new Y.Doc(); Y.applyUpdate(d, updates[0]); return d })())))
  corpus['diff/diffUpdate'] = hex(Y.diffUpdate(Y.encodeStateAsUpdate(doc), states[2]))
  corpus['merge/with-gap'] = hex(Y.mergeUpdates([updates[0], updates[2], updates[4]]))
  corpus['merge/gap-and-delete'] = hex(Y.mergeUpdates([updates[1], updates[3], updates[5]]))
  corpus['merge/all'] = hex(Y.mergeUpdates(updates))
  corpus['merge/only-delete'] = hex(updates[updates.length - 1])
  const other = new Y.Doc()
  other.clientID = 501
  other.getText('code').insert(0, 'other client')
  corpus['merge/two-clients-gap'] = hex(Y.mergeUpdates([
    updates[0], updates[3], Y.encodeStateAsUpdate(other)]))
}

corpus['empty/new-doc-state'] = hex(Y.encodeStateAsUpdate(new Y.Doc()))
corpus['empty/merge-nothing'] = hex(Y.mergeUpdates([]))

// One large document state: many clients, formatting, deletions.
{
  const doc = new Y.Doc()
  const text = doc.getText('code')
  for (let client = 1; client <= 20; client++) {
    const peer = new Y.Doc()
    peer.clientID = client * 7919
    Y.applyUpdate(peer, Y.encodeStateAsUpdate(doc))
    const t = peer.getText('code')
    for (let i = 0; i < 40; i++) t.insert((i * 31 + client) % (t.length + 1), `c${client}i${i} `)
    t.delete(client % Math.max(1, t.length - 10), 5)
    peer.getMap('meta').set(`k${client}`, { client, values: [client, String(client)] })
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(peer, Y.encodeStateVector(doc)))
  }
  corpus['large/state'] = hex(Y.encodeStateAsUpdate(doc))
}

process.stdout.write(JSON.stringify(corpus))
