// Calls that follow changes in the shared document, which any editor may make as often as it
// likes: each is run at most once per interval, and always once after the last change.

/** Run `fn` at most once per `ms`, and always after the last call. */
export function throttle (fn, ms) {
  let timer = null
  return () => {
    timer ??= setTimeout(() => {
      timer = null
      fn()
    }, ms)
  }
}
