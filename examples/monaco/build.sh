#!/usr/bin/env bash
# Build the /demo/ page into rest/static/demo/ (committed: the Python package serves it, so
# running the server needs no Node). Needs Node 20 and npm; installs the pinned packages with
# `npm ci` from package-lock.json, then bundles with esbuild:
#   demo.js / demo.css   the page: Monaco core + basic-languages + y-monaco + y-websocket,
#                        marked + DOMPurify for the question's Markdown
#   editor.worker.js     Monaco's editor worker, its own bundle (started from memory: see configureWorkers in editor.js)
#   codicon.ttf          Monaco's icon font, through esbuild's file loader
#   index.html           copied from src/
#   playback.html        the player (/demo/playback/): the same bundle in its playback mode
# Usage: bash examples/monaco/build.sh     (then reload http://127.0.0.1:8000/demo/)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$(cd "$here/../.." && pwd)/rest/static/demo"
cd "$here"

command -v npm >/dev/null || { echo "npm (Node 20) is required" >&2; exit 1; }
npm ci --no-audit --no-fund
esbuild=node_modules/.bin/esbuild

rm -rf "$out"
mkdir -p "$out"
common=(--bundle --minify --target=es2020 --legal-comments=none --log-level=warning)

"$esbuild" src/main.js "${common[@]}" --format=iife --outfile="$out/demo.js" \
  --loader:.ttf=file --asset-names='[name]'
"$esbuild" node_modules/monaco-editor/esm/vs/editor/editor.worker.js "${common[@]}" \
  --format=iife --outfile="$out/editor.worker.js"
cp src/index.html "$out/index.html"
cp src/playback.html "$out/playback.html"

# the licences of what the bundles contain, instead of comments inside them
{
  for pkg in monaco-editor yjs y-websocket y-monaco y-protocols lib0 marked dompurify; do
    printf '==== %s %s\n' "$pkg" "$(node -p "require('./node_modules/$pkg/package.json').version")"
    cat "node_modules/$pkg/LICENSE"* 2>/dev/null || echo "(MIT, see the package)"
    echo
  done
} > "$out/LICENSES.txt"

ls -l "$out"
du -sh "$out"
