#!/usr/bin/env bash
# Installs jco from the lock file (idempotent), transpiles the built extf component and runs the
# Node test. Needs target/components/extf.wasm (spin.toml's build command for extf).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
wasm="$root/target/components/extf.wasm"
cd "$here"
if [ ! -f "$wasm" ]; then
  echo "missing $wasm: cargo build --release --target wasm32-unknown-unknown -p extf && cargo xtask componentize extf" >&2
  exit 1
fi
# Reinstall only when the lock file changed since the last install.
stamp=node_modules/.extf-lock.sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -x node_modules/.bin/jco ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  npm ci --no-audit --no-fund
  echo "$want" > "$stamp"
fi
rm -rf gen
npx --no-install jco transpile "$wasm" --name extf --out-dir gen --quiet
node --test extf.test.mjs
