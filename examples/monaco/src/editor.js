// Monaco, trimmed: the core editor API, a few everyday editing contributions, and the Monarch
// tokenizers (basic-languages) of the languages a session may use. No language-service workers:
// the one worker is Monaco's editor worker (diffs, word suggestions), bundled as editor.worker.js.
import * as monaco from 'monaco-editor/esm/vs/editor/editor.api.js'

import 'monaco-editor/esm/vs/base/browser/ui/codicons/codiconStyles.js' // icon font

import 'monaco-editor/esm/vs/editor/contrib/bracketMatching/browser/bracketMatching.js'
import 'monaco-editor/esm/vs/editor/contrib/comment/browser/comment.js'
import 'monaco-editor/esm/vs/editor/contrib/find/browser/findController.js'
import 'monaco-editor/esm/vs/editor/contrib/linesOperations/browser/linesOperations.js'
import 'monaco-editor/esm/vs/editor/contrib/multicursor/browser/multicursor.js'
import 'monaco-editor/esm/vs/editor/contrib/suggest/browser/suggestController.js' // word suggestions, from the worker
import 'monaco-editor/esm/vs/editor/contrib/wordOperations/browser/wordOperations.js'

import 'monaco-editor/esm/vs/basic-languages/cpp/cpp.contribution.js' // c and cpp
import 'monaco-editor/esm/vs/basic-languages/csharp/csharp.contribution.js'
import 'monaco-editor/esm/vs/basic-languages/css/css.contribution.js'
import 'monaco-editor/esm/vs/basic-languages/go/go.contribution.js'
import 'monaco-editor/esm/vs/basic-languages/html/html.contribution.js'
import 'monaco-editor/esm/vs/basic-languages/java/java.contribution.js'
import 'monaco-editor/esm/vs/basic-languages/javascript/javascript.contribution.js'
import 'monaco-editor/esm/vs/basic-languages/kotlin/kotlin.contribution.js'
import 'monaco-editor/esm/vs/basic-languages/markdown/markdown.contribution.js'
import 'monaco-editor/esm/vs/basic-languages/php/php.contribution.js'
import 'monaco-editor/esm/vs/basic-languages/python/python.contribution.js'
import 'monaco-editor/esm/vs/basic-languages/ruby/ruby.contribution.js'
import 'monaco-editor/esm/vs/basic-languages/rust/rust.contribution.js'
import 'monaco-editor/esm/vs/basic-languages/shell/shell.contribution.js'
import 'monaco-editor/esm/vs/basic-languages/sql/sql.contribution.js'
import 'monaco-editor/esm/vs/basic-languages/swift/swift.contribution.js'
import 'monaco-editor/esm/vs/basic-languages/typescript/typescript.contribution.js'

export { monaco }

// JSON has no basic-languages tokenizer (only a language service); a small Monarch one will do.
monaco.languages.register({ id: 'json', extensions: ['.json'], aliases: ['JSON'] })
monaco.languages.setMonarchTokensProvider('json', {
  tokenizer: {
    root: [
      [/"(?:[^"\\]|\\.)*"(?=\s*:)/, 'type'],
      [/"(?:[^"\\]|\\.)*"/, 'string'],
      [/-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/, 'number'],
      [/\b(?:true|false|null)\b/, 'keyword'],
      [/[{}[\],:]/, 'delimiter']
    ]
  }
})

/** Monaco's mode for a session language: unknown ones are shown as plain text. */
export const modeFor = (language) =>
  monaco.languages.getLanguages().some((l) => l.id === language) ? language : 'plaintext'

/**
 * Tell Monaco how to start its worker, before the first editor exists. The worker's code is
 * fetched once, here, and started from memory: Monaco stops an idle worker and starts it again
 * later, and loading it from the server then fails while the network is away (the failure
 * escaped as an uncaught `Event`). If this fetch fails, Monaco loads the file when it needs it.
 */
export async function configureWorkers () {
  const url = new URL('editor.worker.js', document.baseURI).href
  let source = url
  try {
    const response = await fetch(url)
    if (response.ok) source = URL.createObjectURL(await response.blob())
  } catch {} // offline at start: the URL it is
  self.MonacoEnvironment = { getWorker: () => new Worker(source, { name: 'editor' }) }
}

export function createEditor (element, language) {
  const model = monaco.editor.createModel('', modeFor(language))
  const editor = monaco.editor.create(element, {
    model,
    automaticLayout: true,
    minimap: { enabled: false },
    fontSize: 14,
    padding: { top: 20 },
    scrollBeyondLastLine: false,
    readOnly: true // until the first sync: nobody types into a document that is not there yet
  })
  return { editor, model }
}
