#!/usr/bin/env bash
# Builds the browser app into web/dist/: index.html, style.css, stalk_web.js, stalk_web_bg.wasm.
#   web/build.sh            debug build (fast; what the browser tests use)
#   web/build.sh --release  size-optimised: opt-level "z", fat LTO, 1 codegen unit, wasm-opt -Oz
# Installs what is missing, idempotently: the wasm32 target, the wasm-bindgen CLI pinned to the
# crate's version (Cargo.toml pins wasm-bindgen "=0.2.130"), and, for release, binaryen from npm
# into web/node_modules (Debian's binaryen is too old for current wasm).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

mode=debug
case "${1:-}" in
  "") ;;
  --release) mode=release ;;
  *) sed -n '2,4p' "$0"; exit 2 ;;
esac

WASM_BINDGEN_VERSION=0.2.130
target_dir=${CARGO_TARGET_DIR:-$root/target}
dist=$root/web/dist

rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $WASM_BINDGEN_VERSION"; then
  echo "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 2 minutes, once)"
  cargo install -q wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi
if [[ $mode == release && ! -x web/node_modules/.bin/wasm-opt ]]; then
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi

if [[ $mode == release ]]; then
  cargo build --locked -q -p stalk-web --target wasm32-unknown-unknown --profile web-release
  wasm=$target_dir/wasm32-unknown-unknown/web-release/stalk_web.wasm
else
  cargo build --locked -q -p stalk-web --target wasm32-unknown-unknown
  wasm=$target_dir/wasm32-unknown-unknown/debug/stalk_web.wasm
fi

rm -rf "$dist"
mkdir -p "$dist"
wasm-bindgen --target web --no-typescript --out-dir "$dist" "$wasm"
if [[ $mode == release ]]; then
  web/node_modules/.bin/wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
    -o "$dist/stalk_web_bg.wasm.opt" "$dist/stalk_web_bg.wasm"
  mv "$dist/stalk_web_bg.wasm.opt" "$dist/stalk_web_bg.wasm"
fi
cp web/static/* "$dist/"
for f in "$dist"/stalk_web_bg.wasm "$dist"/stalk_web.js; do
  printf '%s %s: %d bytes (%d gzipped)\n' "$mode" "${f#"$root"/}" "$(wc -c <"$f")" "$(gzip -9c "$f" | wc -c)"
done
