#!/usr/bin/env bash
# finish.sh: the repository-side steps after run-gpu.sh: check the Python renderer and the
# tokenizer against glimmer-cli, quantize the BF16 model to NVFP4 into data/demo-model/,
# evaluate it through glimmer-cli and write data/demo-model/README.md.
# SPDX-License-Identifier: MIT
#
# Usage: tools/demo-model/finish.sh BF16_DIR [OUT_DIR] [MINUTES]
#        (OUT_DIR defaults to data/demo-model, MINUTES, shown in the card, to 5)
# Environment: PYTHON (python3), EVAL_N (arithmetic cases, default 200), GLIMMER_CLI (default:
#              build/src/glimmer-cli, built with -Dcuda=disabled if missing)
set -euo pipefail
cd "$(dirname "$0")/../.."

bf16=${1:?usage: finish.sh BF16_DIR [OUT_DIR] [MINUTES]}
out=${2:-data/demo-model}
minutes=${3:-5}
py=${PYTHON:-python3}
cli=${GLIMMER_CLI:-build/src/glimmer-cli}
if [[ ! -x $cli ]]; then
  [[ -f build/build.ninja ]] || meson setup build -Dcuda=disabled
  ninja -C build src/glimmer-cli
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== renderer and tokenizer against glimmer-cli"
"$py" tools/demo-model/make_corpus.py --check-cli "$cli" --check-n 200
"$py" tools/demo-model/make_corpus.py --out "$work/sample.jsonl" --n 500 --seed 99 >/dev/null
"$py" tools/demo-model/make_tokenizer.py --corpus "$work/sample.jsonl" \
  --check-only "$bf16/tokenizer.json" --check-cli "$cli" --check-n 100

echo "== quantize -> $out"
if [[ -e $out && -n $(ls -A "$out") && ! -f $out/hf_quant_config.json ]]; then
  echo "finish.sh: $out exists and is not a quantized model folder; not replacing it" >&2
  exit 1
fi
rm -rf "$out"
"$cli" quantize --in "$bf16" --out "$out" --shard-size 0
"$cli" info --model "$out"

echo "== evaluate"
"$py" tools/demo-model/evaluate.py --model "$out" --bf16 "$bf16" --cli "$cli" \
  --n "${EVAL_N:-200}" --minutes "$minutes" --card "$out/README.md" --json "$work/eval.json"
ls -la "$out"
