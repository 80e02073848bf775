# Sourced by the install scripts: `ensure_npm_ci DIR` runs `npm ci` in DIR only when its
# node_modules is missing or older than its lockfile (npm ci wipes and rebuilds node_modules).
ensure_npm_ci() {
  local dir="$1"
  local modules="$dir/node_modules"
  if [[ -d "$modules" && ! "$dir/package-lock.json" -nt "$modules" ]]; then
    echo "node deps up to date: $modules"
    return
  fi
  echo "npm ci in $dir"
  (cd "$dir" && npm ci --no-audit --no-fund)
  touch "$modules" # npm ci may leave the directory older than the lockfile
}
