#!/usr/bin/env bash
# tools/gpu/profile-prefill.sh [LAYERS] [TOKENS]: per-kernel device time of a prefill, through
# Nsight Compute, summed by kernel name, on a full-width synthetic GLM-4.7-Flash cut to LAYERS
# layers (default 4: every layer runs the same kernels, and a whole 47-layer prefill under ncu
# takes far longer than a call may run). Prints the kernels by total time, then the phases the
# engine times itself (GLIMMER_PREFILL_PROFILE=1) on the same model. Run on the GPU machine
# with .gpu/ carried (tools/gpu/run.sh profile-prefill calls it).
set -uo pipefail
cd "$(dirname "$0")/../.."
for f in .gpu/bin/*.xz; do [[ -f $f ]] && xz -d -f "$f"; done   # packed by bundle.sh
layers=${1:-4}; tokens=${2:-8192}
cublas=$(python3 -c "import nvidia.cublas, os; print(os.path.join(nvidia.cublas.__path__[0], 'lib'))" 2>/dev/null)
export LD_LIBRARY_PATH="$PWD/.gpu/lib:/usr/local/cuda/lib64:${cublas:+$cublas:}${LD_LIBRARY_PATH:-}"
OUT=${OUT:-/tmp/glimmer-out}
mkdir -p "$OUT"
model=/tmp/synth-prefill-$layers
[[ -f $model/config.json ]] || .gpu/bin/glimmer-cli synth --preset glm-4.7-flash --seed 3 \
  --out "$model" --set num_hidden_layers="$layers" >/dev/null || exit 1
bench=(.gpu/bin/glimmer-cli bench --model "$model" --backend cuda --context "$tokens"
       --prompt "$tokens" --decode-tokens 1)
echo "== kernels of a $tokens-token prefill on $layers layers (ncu; the bench's decode step too)"
ncu --csv --print-units base --metrics gpu__time_duration.sum "${bench[@]}" \
  > "$OUT/prefill-profile.csv" 2> "$OUT/prefill-profile.err"
python3 - "$OUT/prefill-profile.csv" <<'PY'
import csv, sys, collections
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
if not rows:
    sys.exit("no kernels recorded (see prefill-profile.err)")
hdr = rows[0]; rows = rows[1:]
ki, vi = hdr.index("Kernel Name"), hdr.index("Metric Value")
tot = collections.Counter(); cnt = collections.Counter()
for r in rows:
    name = r[ki].split("(")[0][:72]
    tot[name] += float(r[vi].replace(",", "")); cnt[name] += 1
s = sum(tot.values())
print(f"{'kernel':72} {'launches':>8} {'ms':>9} {'share':>6}")
for k, v in tot.most_common(25):
    print(f"{k:72} {cnt[k]:8d} {v / 1e6:9.2f} {100 * v / s:5.1f}%")
print(f"{'total':72} {sum(cnt.values()):8d} {s / 1e6:9.2f}")
PY
echo "== phases (GLIMMER_PREFILL_PROFILE=1, events, same model)"
GLIMMER_PREFILL_PROFILE=1 "${bench[@]}" 2>&1 | grep -E "phases|^prefill:"
