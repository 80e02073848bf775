#!/usr/bin/env node
/**
 * Drives Debian's chromium (/usr/bin/chromium, or $CHROMIUM) with playwright-core for the Python
 * browser tests (tests/support/browser_driver.py runs it as a subprocess).
 *
 * Protocol, one JSON object per line:
 *   stdin   {"id": 1, "cmd": "open", "page": "ada", "url": "http://127.0.0.1:PORT/demo/?..."}
 *   stdout  {"type": "reply", "id": 1, "ok": true, "value": ...}
 *           {"type": "reply", "id": 1, "ok": false, "error": "..."}
 *           {"type": "event", "event": "ready" | "pageerror" | "console", "page": "ada", ...}
 * Commands run concurrently (two pages can type at the same time); match replies by `id`.
 * Every page gets its own browser context: its own storage and no BroadcastChannel shortcut
 * between pages, so pages only meet through the server. The process closes the browser and
 * exits on stdin EOF or SIGTERM, so a test that dies leaves no chromium behind.
 */
import readline from 'node:readline'
import { chromium } from 'playwright-core'

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'
]
// Playwright refuses --user-data-dir in `args` for launch(): it starts every browser on a
// fresh temporary profile of its own and deletes it on close, which is what we want.

const write = (msg) => process.stdout.write(JSON.stringify(msg) + '\n')
const pages = new Map() // name -> { context, page }

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ARGS
})

function fail (message) {
  throw new Error(message)
}

function pageNamed (name) {
  const entry = pages.get(name)
  if (!entry) throw new Error(`no page named ${name}`)
  return entry.page
}

const commands = {
  /** Open `url` in a new page; `tabOf` names a page whose context (storage, cookies) it shares,
   * as a second tab of the same browser profile would. */
  async open ({ page: name, url, width = 1280, height = 720, tabOf }) {
    if (pages.has(name)) throw new Error(`page ${name} is already open`)
    const context = tabOf
      ? pages.get(tabOf)?.context ?? fail(`no page named ${tabOf}`)
      : await browser.newContext({ viewport: { width, height } })
    const page = await context.newPage()
    pages.set(name, { context, page })
    page.on('pageerror', (err) => write({ type: 'event', event: 'pageerror', page: name, message: String(err) }))
    page.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'warning') {
        write({ type: 'event', event: 'console', page: name, level: msg.type(), text: msg.text() })
      }
    })
    await page.goto(url)
    return page.url()
  },
  /** Evaluate a JS expression in the page (awaited if it is a promise); JSON result. */
  async eval ({ page, js }) {
    return await pageNamed(page).evaluate(js)
  },
  /** Wait until a JS expression is truthy in the page; returns its value. */
  async wait ({ page, js, timeoutMs = 10000 }) {
    const handle = await pageNamed(page).waitForFunction(js, null, { timeout: timeoutMs, polling: 50 })
    const value = await handle.jsonValue()
    await handle.dispose()
    return value
  },
  /** Focus the Monaco editor, put the cursor at the `start` or `end` (or leave it), type. */
  async type ({ page: name, text, delayMs = 20, at = 'end' }) {
    const page = pageNamed(name)
    await page.evaluate((at) => {
      const { editor, model } = window.demo
      editor.focus()
      const line = at === 'end' ? model.getLineCount() : 1
      if (at === 'end' || at === 'start') {
        editor.setPosition({ lineNumber: line, column: at === 'end' ? model.getLineMaxColumn(line) : 1 })
      }
    }, at)
    await page.keyboard.type(text, { delay: delayMs })
    return null
  },
  async press ({ page, key }) {
    await pageNamed(page).keyboard.press(key)
    return null
  },
  async text ({ page, selector }) {
    return await pageNamed(page).locator(selector).innerText()
  },
  /** Wait until an element matching `selector` (containing `text`, if given) is visible. */
  async visible ({ page, selector, text, timeoutMs = 10000 }) {
    const locator = pageNamed(page).locator(selector, text === undefined ? {} : { hasText: text })
    await locator.first().waitFor({ state: 'visible', timeout: timeoutMs })
    return true
  },
  async click ({ page, selector, timeoutMs = 10000 }) {
    await pageNamed(page).locator(selector).first().click({ timeout: timeoutMs })
    return null
  },
  /** Replace the value of an input or textarea, as typing it would (input events fire). */
  async fill ({ page, selector, value }) {
    await pageNamed(page).locator(selector).first().fill(value)
    return null
  },
  /** Take the page's network away (`offline` true) or give it back. */
  async offline ({ page: name, offline = true }) {
    await pages.get(name)?.context.setOffline(offline)
    return null
  },
  async select ({ page, selector, value }) {
    return await pageNamed(page).selectOption(selector, value)
  },
  async reload ({ page }) {
    await pageNamed(page).reload()
    return pageNamed(page).url()
  },
  async screenshot ({ page, path, fullPage = false }) {
    await pageNamed(page).screenshot({ path, fullPage })
    return path
  },
  async close ({ page }) {
    const entry = pages.get(page)
    pages.delete(page)
    const shared = [...pages.values()].some((other) => other.context === entry?.context)
    await (shared ? entry?.page.close() : entry?.context.close())
    return null
  }
}

let stopping = null
function stop () {
  stopping ??= browser.close().finally(() => process.exit(0))
  return stopping
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)

const input = readline.createInterface({ input: process.stdin })
input.on('line', async (line) => {
  let msg
  try {
    msg = JSON.parse(line)
  } catch {
    write({ type: 'event', event: 'bad-input', line })
    return
  }
  const handler = commands[msg.cmd]
  try {
    if (!handler) throw new Error(`unknown command ${msg.cmd}`)
    const value = await handler(msg)
    write({ type: 'reply', id: msg.id, ok: true, value: value ?? null })
  } catch (err) {
    write({ type: 'reply', id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) })
  }
})
input.on('close', stop)
write({ type: 'event', event: 'ready', version: browser.version() })
