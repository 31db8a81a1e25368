#!/usr/bin/env bash
# Runs every test of ml-connector on a fresh machine. Idempotent: installs only what is missing.
#
#   bash scripts/test.sh            # everything (what CI runs through .ci/run)
#   FUZZ_SECONDS=120 bash scripts/test.sh   # longer fuzzing than the default
#
# Needs: rustup + cargo (the repo's toolchain), python3 (reads spin.toml), and network access to
# the package registries the first time (rustup targets, crates.io, Debian packages, npm).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

step() { printf '\n==> [%s, %ss] %s\n' "$(date -u +%H:%M:%S)" "$SECONDS" "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

step "toolchain: wasm targets, rustfmt, clippy"
installed_targets=$(rustup target list --installed)
for t in wasm32-wasip2 wasm32-unknown-unknown; do
  grep -qx "$t" <<<"$installed_targets" || rustup target add "$t"
done
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed | grep -q '^clippy' || rustup component add clippy

step "system packages: xmllint (DXSO schema validation), node/npm (jco interop test)"
missing=()
command -v xmllint >/dev/null || missing+=(libxml2-utils)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

step "format"
cargo fmt --all --check

# Two lanes share the 2 cores: the native lane (clippy on all targets, then the test build) runs in
# the background in its own target dir, target/native, while this shell builds every component
# for Wasm in target/ (where spin.toml's `source` paths point) and runs clippy on the wasm targets.
# Cargo locks a whole target dir, hence the second one. Each lane alone leaves a core idle for long
# stretches (the release builds link with LTO and one codegen unit; the native build ends in the
# long serial chain cranelift -> wasmtime -> test host), so together they take far less time
# than one after the other. The native lane's output is printed when it has finished.
NATIVE_TARGET_DIR=$ROOT/target/native
NATIVE_LOG=$ROOT/target/native-lane.log
mkdir -p "$NATIVE_TARGET_DIR"
step "native lane started in the background: clippy (native, all targets), then the test build"
set -m # the lane gets its own process group, so that it can be stopped as a whole
(
  lane_start=$SECONDS
  lane_step() { printf '\n==> [%s, %ss, native lane] %s\n' "$(date -u +%H:%M:%S)" "$((SECONDS - lane_start))" "$*"; }
  export CARGO_TARGET_DIR=$NATIVE_TARGET_DIR
  lane_step "clippy (native, all targets)"
  cargo clippy --workspace --all-targets -- -D warnings
  lane_step "test build (cargo test --workspace --no-run)"
  cargo test --workspace --no-run
  lane_step "native lane done"
) >"$NATIVE_LOG" 2>&1 &
native_lane=$!
set +m
# If this shell stops early (a failed step, Ctrl-C), stop the native lane's whole process group too.
trap 'kill -- "-$native_lane" 2>/dev/null || true' EXIT

step "build every component in release mode (the build commands of spin.toml, as 'spin build' runs them)"
# tests/fixtures/*/spin.toml hold the test host's own probe components.
manifests=(spin.toml tests/fixtures/*/spin.toml)
for m in "${manifests[@]}"; do
  [ -f "$m" ] || continue
  python3 - "$m" <<'PY' | while IFS=$'\t' read -r workdir cmd; do
import sys, tomllib, os
path = sys.argv[1]
with open(path, "rb") as f:
    doc = tomllib.load(f)
base = os.path.dirname(os.path.abspath(path))
for cid, comp in doc.get("component", {}).items():
    b = comp.get("build")
    if b and "command" in b:
        print(os.path.join(base, b.get("workdir", ".")) + "\t" + b["command"])
PY
    echo "+ (cd ${workdir#"$ROOT"/} && $cmd)"
    (cd "$workdir" && bash -c "$cmd")
  done
done

step "component sizes"
python3 - <<'PY'
import tomllib, os, glob
for m in ["spin.toml"] + sorted(glob.glob("tests/fixtures/*/spin.toml")):
    doc = tomllib.load(open(m, "rb"))
    base = os.path.dirname(os.path.abspath(m))
    for cid, comp in doc.get("component", {}).items():
        src = comp.get("source")
        if isinstance(src, str):
            p = os.path.normpath(os.path.join(base, src))
            size = os.path.getsize(p) if os.path.exists(p) else None
            print(f"  {cid:<16} {size if size is not None else 'MISSING':>10} bytes  {os.path.relpath(p)}")
PY

step "clippy (components on their wasm targets)"
wasi_pkgs=() lib_pkgs=()
for m in "${manifests[@]}"; do
  [ -f "$m" ] || continue
  while read -r target pkg; do
    if [ "$target" = wasm32-wasip2 ]; then wasi_pkgs+=(-p "$pkg"); else lib_pkgs+=(-p "$pkg"); fi
  done < <(grep -oE -- '--target (wasm32-wasip2|wasm32-unknown-unknown) -p [a-z0-9_-]+' "$m" | awk '{print $2, $4}' | sort -u)
done
[ ${#wasi_pkgs[@]} -eq 0 ] || cargo clippy --release --target wasm32-wasip2 "${wasi_pkgs[@]}" -- -D warnings
[ ${#lib_pkgs[@]} -eq 0 ] || cargo clippy --release --target wasm32-unknown-unknown "${lib_pkgs[@]}" -- -D warnings

step "waiting for the native lane (clippy on all targets, test build)"
native_status=0
wait "$native_lane" || native_status=$?
sed 's/^/    | /' "$NATIVE_LOG"
if [ "$native_status" -ne 0 ]; then
  echo "native lane failed (exit $native_status): see above" >&2
  exit "$native_status"
fi
trap - EXIT

step "tests (native logic + built components in the embedded Spin test host)"
CARGO_TARGET_DIR=$NATIVE_TARGET_DIR cargo test --workspace

# Extra suites contributed by components (Node/jco interop, fuzzing, schema checks): each
# components/*/ci.sh is run from the repository root.
for extra in components/*/ci.sh crates/*/ci.sh; do
  [ -f "$extra" ] || continue
  step "extra: $extra"
  bash "$extra"
done

step "all tests passed"
