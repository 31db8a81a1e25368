#!/usr/bin/env bash
# Runs ml-connector locally on the built-in sandbox (no DATEV or Twilio account needed).
# Installs what is missing first: the wasm targets, Spin 3.6.3 through its official installer and
# the trigger-cron plugin pinned at 0.4.2 (newer plugins expect WASI 0.3 guests, see README).
#
#   bash scripts/run.sh                 # spin build --up, listening on 127.0.0.1:3000
#   bash scripts/run.sh --listen 0.0.0.0:3000
set -euo pipefail
cd "$(dirname "$0")/.."
SPIN_VERSION=3.6.3
CRON_VERSION=0.4.2
BIN_DIR=${ML_CONNECTOR_BIN:-$HOME/.local/share/ml-connector/spin-$SPIN_VERSION}

manual() {
  cat >&2 <<MSG

Could not install $1 automatically. Install it by hand, then run this script again:
  - Rust wasm targets:   rustup target add wasm32-wasip2 wasm32-unknown-unknown
  - Spin $SPIN_VERSION:         https://github.com/spinframework/spin/releases/tag/v$SPIN_VERSION
                         (unpack 'spin' into $BIN_DIR or anywhere on PATH)
  - trigger-cron plugin: spin plugins update && spin plugins install trigger-cron --version $CRON_VERSION --yes
MSG
  exit 1
}

command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }
installed=$(rustup target list --installed 2>/dev/null || true)
for t in wasm32-wasip2 wasm32-unknown-unknown; do
  grep -qx "$t" <<<"$installed" || rustup target add "$t" || manual "the $t target"
done

# Prefer a Spin 3.6.x already on PATH; otherwise use (or install) a private copy.
SPIN=""
if command -v spin >/dev/null && spin --version | grep -q "^spin 3\.6\."; then
  SPIN=$(command -v spin)
elif [ -x "$BIN_DIR/spin" ]; then
  SPIN="$BIN_DIR/spin"
else
  echo "Installing Spin $SPIN_VERSION into $BIN_DIR (official installer)…"
  mkdir -p "$BIN_DIR"
  (cd "$BIN_DIR" && curl -fsSL https://spinframework.dev/downloads/install.sh | bash -s -- -v "v$SPIN_VERSION") \
    || manual "Spin $SPIN_VERSION"
  SPIN="$BIN_DIR/spin"
  [ -x "$SPIN" ] || manual "Spin $SPIN_VERSION"
fi

if ! "$SPIN" plugins list --installed 2>/dev/null | grep -q "trigger-cron $CRON_VERSION"; then
  echo "Installing the trigger-cron plugin $CRON_VERSION…"
  { "$SPIN" plugins update && "$SPIN" plugins install trigger-cron --version "$CRON_VERSION" --yes; } \
    || manual "trigger-cron $CRON_VERSION"
fi

echo "Starting ml-connector on the sandbox: the phone is at http://127.0.0.1:3000/sandbox/phone"
exec "$SPIN" build --up "$@"
