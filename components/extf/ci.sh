#!/usr/bin/env bash
# Extra suites of the extf component, run from the repository root by scripts/test.sh after the
# components are built (target/components/extf.wasm must exist):
#   1. Node interop: jco (pinned in js/package-lock.json) transpiles the component, JavaScript
#      writes the golden files byte for byte.
#   2. Brief fuzzing of the tokenizer and the validator (FUZZ_SECONDS each, default 20) with
#      cargo-fuzz on the stable toolchain (RUSTC_BOOTSTRAP=1 unlocks libFuzzer's -Z flags).
# The DXSO/XSD check is a normal cargo test (needs xmllint from Debian's libxml2-utils).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

echo "--- extf: Node/jco interop test"
bash "$here/js/run.sh"

echo "--- extf: cargo fuzz (${FUZZ_SECONDS:-20} s per target)"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2 --locked
cd "$here/fuzz"
for target in tokenize validate; do
  # A scratch copy of the seed corpus: libFuzzer adds the inputs it finds to its first corpus dir.
  work="$(mktemp -d)"
  cp "corpus/$target/"* "$work/"
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "$work" -- -max_total_time="${FUZZ_SECONDS:-20}" -rss_limit_mb=4096
  rm -rf "$work"
done
echo "extf extra suites passed"
