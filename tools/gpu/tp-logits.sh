#!/usr/bin/env bash
# tools/gpu/tp-logits.sh: on the GPU machine, the logits of one prompt at tp 1 and at tp N under
# each prefill and all-reduce path, compared row by row (rel L2), to see that every rank
# contributes (tp N must differ from tp 1 by rounding, not be bit-identical) and that the paths
# agree. Usage (repository root, .gpu/ carried): tools/gpu/tp-logits.sh MODEL_DIR [N] [T]
set -uo pipefail
cd "$(dirname "$0")/../.."
for f in .gpu/bin/*.xz; do [[ -f $f ]] && xz -d -f "$f"; done   # packed by bundle.sh
model=${1:?usage: tp-logits.sh MODEL_DIR [N] [T]}
n=${2:-2}
T=${3:-40}
cublas_dirs=$(ls -d /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib 2>/dev/null | tr '\n' ':')
cublas_dirs+=$(python3 -c "import nvidia.cublas, os; print(os.path.join(nvidia.cublas.__path__[0], 'lib'))" 2>/dev/null)
nccl_dir=$(python3 -c "import nvidia.nccl, os; print(os.path.join(nvidia.nccl.__path__[0], 'lib'))" 2>/dev/null)
export LD_LIBRARY_PATH="$PWD/.gpu/lib:$cublas_dirs:${nccl_dir:+$nccl_dir:}${LD_LIBRARY_PATH:-}"
export NCCL_NVLS_ENABLE=0
cli=.gpu/bin/glimmer-cli
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
V=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]+'/config.json'))['vocab_size'])" "$model")
ids=$(python3 -c "import random; r=random.Random(11); print(','.join(str(r.randrange($V)) for _ in range($T)))")
run() {  # name tp env...
  local name=$1 tp=$2; shift 2
  env "$@" $cli logits --model "$model" --backend cuda --tp "$tp" --tokens "$ids" --out "$tmp/$name.f32" \
    >/dev/null 2>"$tmp/$name.err" || { echo "$name failed:"; cat "$tmp/$name.err"; }
}
$cli logits --model "$model" --backend cpu --tokens "$ids" --out "$tmp/cpu.f32" >/dev/null
run tp1 1
run tp1-gemv 1 GLIMMER_PREFILL=gemv
run tpN "$n"
run tpN-gemv "$n" GLIMMER_PREFILL=gemv
run tpN-nccl "$n" GLIMMER_ALLREDUCE=nccl
run tpN-p2p "$n" GLIMMER_ALLREDUCE=p2p
python3 - "$tmp" "$V" "$T" <<'PY'
import sys, numpy as np, os
d, V, T = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
L = {n[:-4]: np.fromfile(os.path.join(d, n), dtype=np.float32).reshape(T, V)
     for n in os.listdir(d) if n.endswith(".f32")}
def rel(a, b):
    r = np.linalg.norm(a - b, axis=1) / np.maximum(np.linalg.norm(b, axis=1), 1e-30)
    return f"median {np.median(r):.2e}  max {r.max():.2e}  identical rows {int((r == 0).sum())}/{T}"
print("| a | b | rel L2 per row |")
print("|---|---|---|")
for a, b in [("tp1", "cpu"), ("tpN", "cpu"), ("tpN", "tp1"), ("tpN-gemv", "tp1-gemv"),
             ("tpN-gemv", "tpN"), ("tpN-nccl", "tpN-p2p"), ("tp1-gemv", "tp1")]:
    if a in L and b in L:
        print(f"| {a} | {b} | {rel(L[a], L[b])} |")
PY
