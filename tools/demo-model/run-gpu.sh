#!/usr/bin/env bash
# run-gpu.sh: the demo model's GPU job: corpus, tokenizer, training on CUDA; the BF16 model
# (config.json, generation_config.json, model.safetensors, tokenizer.json,
# tokenizer_config.json, chat_template.jinja, train_log.json: 7 files) is written to OUT_DIR.
# Prints a short table last. The repository-side steps are in finish.sh.
# SPDX-License-Identifier: MIT
#
# Usage: tools/demo-model/run-gpu.sh [OUT_DIR] [MINUTES]   (defaults: $OUT, 5)
# Environment: PYTHON (python3), CONVERSATIONS (100000), BATCH_TOKENS (131072), DEVICE (cuda),
#              TRAIN_ARGS (extra train.py options, e.g. "--preset tiny --steps 20")
set -euo pipefail
cd "$(dirname "$0")/../.."

out=${1:-${OUT:?give OUT_DIR or set OUT}}
minutes=${2:-5}
py=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
t0=$(date +%s)

echo "== corpus"
"$py" tools/demo-model/make_corpus.py --out "$work/corpus.jsonl" --n "${CONVERSATIONS:-100000}" --seed 1
echo "== tokenizer"
"$py" tools/demo-model/make_tokenizer.py --corpus "$work/corpus.jsonl" --out "$work/tokenizer.json"
echo "== training (${minutes} min)"
# shellcheck disable=SC2086  # TRAIN_ARGS is a list of options
"$py" tools/demo-model/train.py --corpus "$work/corpus.jsonl" --tokenizer "$work/tokenizer.json" \
  --out "$out" --device "${DEVICE:-cuda}" --minutes "$minutes" \
  --batch-tokens "${BATCH_TOKENS:-131072}" ${TRAIN_ARGS:-}

size=$(stat -c %s "$out/model.safetensors")
nfiles=$(find "$out" -maxdepth 1 -type f | wc -l)
"$py" - "$out/train_log.json" "$size" "$nfiles" "$(( $(date +%s) - t0 ))" <<'PY'
import json, sys
log = json.load(open(sys.argv[1]))
size, nfiles, wall = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print()
print("| steps | train s | final loss | val loss | tokens/s | params | BF16 MB | files | job s |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
print(f"| {log['steps']} | {log['train_seconds']} | {log['final_train_loss']} | {log['val_loss']} "
      f"| {log['tokens_per_second']} | {log['parameters']} | {size / 1e6:.2f} | {nfiles} | {wall} |")
if size > 16_000_000 or nfiles > 8:
    print("WARNING: over the 16 MB / 8 files that come back from the GPU machine")
    sys.exit(1)
PY
