#!/usr/bin/env bash
# tools/gpu/run.sh: everything Glimmer does on the GPU machine, in one call.
#   usage (on the device, from the repository root, with .gpu/ carried):
#     tools/gpu/run.sh [test] [sanitize] [bench=PRESET] [contexts=1024,32768,131072] [prompt=8192]
#                      [tp=1,2,4] [synth-test=LAYERS] [models=DIR:DIR] [profile[=KERNEL-REGEX]]
#                      [gemv-bench] [profile-prefill[=LAYERS]]
#                      [first=TEST-PATH,...]
# TEST_TIMEOUT=S bounds the CUDA tests and memcheck each (default 300 s; a hang is reported
# with the test it was in). first=PATHS runs those tests (test-cuda -p paths, comma-separated)
# alone before anything else, under 120 s, and stops the call if they fail or hang: a new
# kernel's own test, so that a bug in it costs minutes of device time, not the session's.
# Builds nothing there: binaries come from tools/gpu/bundle.sh (built here with the same CUDA
# major version). Runs the CUDA tests against the CPU backend, optionally compute-sanitizer, and
# the benchmark on a synthetic model made there; prints a short table last. Logs go to $OUT.
#   tp=LIST     tensor parallelism: the tests run only the tp cases whose sizes are all in LIST
#               (tp 1 through NCCL and P2P vs the plain path; tp N vs tp 1; P2P vs NCCL at N),
#               and bench runs once per N in LIST (`glimmer-cli bench --tp N`, with the
#               all-reduce microbenchmark, NCCL and P2P, per decode step when N > 1).
#               Cases needing more GPUs than the machine has are skipped, not failed.
# Multi-GPU run (issue 6), on nvidia-h200-x2 (bundle first, here: tools/gpu/bundle.sh):
#     tools/gpu/run.sh test tp=1,2 synth-test=4 bench=glm-4.7-flash
# Time: synth of the full model ~15 s, CUDA tests ~2-4 min, bench ~1 min per tp. If that nears
# the 10-minute limit, split it: `test tp=1,2 synth-test=4`, then `tp=1,2 bench=glm-4.7-flash`.
# NCCL comes from the machine too (like cuBLAS); NCCL_NVLS_ENABLE=0 always (no NVLink SHARP).
set -uo pipefail
cd "$(dirname "$0")/../.."
# cuBLAS comes from the machine: the CUDA toolkit, or the copy PyTorch ships
cublas_dirs=$(ls -d /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib 2>/dev/null | tr '\n' ':')
cublas_dirs+=$(python3 -c "import nvidia.cublas, os; print(os.path.join(nvidia.cublas.__path__[0], 'lib'))" 2>/dev/null)
# NCCL likewise: the CUDA toolkit's, or PyTorch's nvidia-nccl wheel
nccl_dir=$(python3 -c "import nvidia.nccl, os; print(os.path.join(nvidia.nccl.__path__[0], 'lib'))" 2>/dev/null)
export LD_LIBRARY_PATH="$PWD/.gpu/lib:$cublas_dirs:${nccl_dir:+$nccl_dir:}${LD_LIBRARY_PATH:-}"
export NCCL_NVLS_ENABLE=0
OUT=${OUT:-/tmp/glimmer-out}
for f in .gpu/bin/*.xz; do [[ -f $f ]] && xz -d -f "$f"; done   # tools/gpu/bundle.sh packs them
mkdir -p "$OUT"
bin=.gpu/bin
summary=()

do_test=0; do_san=0; do_profile=0; do_gemv=0; detail=""; preset=""; contexts=1024,32768,131072; prompt=8192; models=""
pp_layers=""
tps=""
first=""
for a in "$@"; do
  case "$a" in
    test) do_test=1 ;;
    sanitize) do_san=1 ;;
    bench=*) preset=${a#bench=} ;;
    contexts=*) contexts=${a#contexts=} ;;
    prompt=*) prompt=${a#prompt=} ;;
    models=*) models=${a#models=} ;;
    profile) do_profile=1 ;;
    gemv-bench) do_gemv=1 ;;     # tests/bench-gemv.c: each decode GEMV alone, per launch shape
    profile-prefill) pp_layers=4 ;;                       # tools/gpu/profile-prefill.sh
    profile-prefill=*) pp_layers=${a#profile-prefill=} ;;
    profile=*) do_profile=1; detail=${a#profile=} ;;   # e.g. profile=gemv_split_row_kernelILi1ELi1E
    tp=*) tps=${a#tp=} ;;
    first=*) first=${a#first=} ;;
    synth-test=*) layers=${a#synth-test=}
      # a full-width synthetic model with few layers: CUDA against the CPU reference on it
      m=/tmp/synth-test-$layers
      [[ -f $m/config.json ]] || .gpu/bin/glimmer-cli synth --preset glm-4.7-flash --seed 2 --out $m \
        --set num_hidden_layers=$layers >/dev/null || exit 1
      models="$models:$m" ;;
  esac
done

echo "== machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
echo "commit $(cat .gpu/commit 2>/dev/null)"
if ! $bin/glimmer-cli --help >/dev/null 2>"$OUT/ldd-error.txt"; then
  echo "bundled glimmer-cli does not start here:"; cat "$OUT/ldd-error.txt"; ldd $bin/glimmer-cli
  exit 1
fi

if [[ -n $first ]]; then
  echo "== first: $first"
  args=(); for p in ${first//,/ }; do args+=(-p "$p"); done
  G_TEST_SRCDIR=$PWD/tests timeout 120 $bin/test-cuda --tap "${args[@]}" 2>&1 | tee "$OUT/test-first.log" |
    grep -vE "^# (Start|End)"
  rc=${PIPESTATUS[0]}
  if ((rc != 0)); then
    echo "first tests failed or hung (exit $rc): stopping here"
    exit 1
  fi
fi

if ((do_test)); then
  echo "== CUDA tests"
  # under a timeout: a kernel that hangs must not take the call's (and the session's) device
  # time with it; the suite takes 1-2 minutes at tp 1 (TEST_TIMEOUT=seconds changes it)
  G_TEST_SRCDIR=$PWD/tests GLIMMER_CLI=$PWD/$bin/glimmer-cli GLIMMER_TEST_MODELS="$models" \
    GLIMMER_TEST_TP="$tps" timeout "${TEST_TIMEOUT:-300}" $bin/test-cuda --tap 2>&1 |
    tee "$OUT/test-cuda.log" | grep -vE "^# (Start|End)"
  test_rc=${PIPESTATUS[0]}
  pass=$(grep -c "^ok" "$OUT/test-cuda.log"); fail=$(grep -c "^not ok" "$OUT/test-cuda.log")
  skip=$(grep -c "^ok .*# SKIP" "$OUT/test-cuda.log")
  grep -q "Bail out" "$OUT/test-cuda.log" && fail=$((fail + 1))
  if ((test_rc == 124)); then
    fail=$((fail + 1))
    summary+=("TIMED OUT after ${TEST_TIMEOUT:-300} s, in the test after: $(grep -E "^(not )?ok" "$OUT/test-cuda.log" | tail -1)")
  fi
  summary+=("cuda tests: $pass passed ($skip of them skipped), $fail failed")
  if [[ -n $tps ]]; then
    summary+=("tp cases (tp | worst rel L2 of the logits):")
    while read -r line; do summary+=("  $line"); done < <(grep -oE "tp [0-9]+ vs tp [0-9]+: worst rel L2 [^,]*" "$OUT/test-cuda.log" | sort | uniq -c | sort -k2)
    while read -r line; do summary+=("  FAILED: $line"); done < <(grep -E "^not ok .*/tp" "$OUT/test-cuda.log")
  fi
fi

if ((do_san)); then
  echo "== compute-sanitizer (memcheck) on the CUDA tests"
  G_TEST_SRCDIR=$PWD/tests timeout "${TEST_TIMEOUT:-300}" compute-sanitizer --tool memcheck --error-exitcode 9 \
    $bin/test-cuda -p /glimmer/cuda/tiny-base/logits-vs-cpu -p /glimmer/cuda/tiny-groups/greedy-32-vs-cpu \
    -p /glimmer/cuda/tiny-nonorm/decode-and-prefill-mixed -p /glimmer/cuda/tiny-mtp/long-prefill \
    -p /glimmer/cuda/kernels/mla-decode-8k -p /glimmer/cuda/kernels/mla-query -p /glimmer/cuda/tiny-base/eval-sample \
    -p /glimmer/cuda/kernels/gemv -p /glimmer/cuda/kernels/dequant-bf16 \
    -p /glimmer/cuda/kernels/split-bf16 -p /glimmer/cuda/kernels/moe-group \
    -p /glimmer/cuda/kernels/flash-attn/glm-h5-blocks -p /glimmer/cuda/kernels/flash-attn/glm-h5-long-mma \
    -p /glimmer/cuda/kernels/flash-attn/mid-128-wgmma -p /glimmer/cuda/kernels/flash-attn/pad-256-wgmma \
    -p /glimmer/cuda/kernels/flash-direct/large \
    -p /glimmer/cuda/kernels/gemm-fp4 \
    -p /glimmer/cuda/kernels/split-f16-mma -p /glimmer/cuda/tiny-base-bf16/decode-and-prefill-mixed \
    > "$OUT/sanitizer.log" 2>&1
  rc=$?
  tail -3 "$OUT/sanitizer.log"
  summary+=("compute-sanitizer memcheck: exit $rc")
fi

if [[ -n $preset ]]; then
  echo "== bench on synthetic $preset"
  model=/tmp/synth-$preset
  if [[ ! -f $model/config.json ]]; then
    t0=$(date +%s)
    $bin/glimmer-cli synth --preset "$preset" --seed 1 --out "$model" || exit 1
    echo "synth took $(( $(date +%s) - t0 )) s"
  fi
  for n in $(echo "${tps:-1}" | tr ',' ' '); do
    echo "-- tp $n"
    extra=(); ((n > 1)) && extra=(--allreduce)
    log="$OUT/bench-$preset-tp$n.txt"
    $bin/glimmer-cli bench --model "$model" --backend cuda --tp "$n" --context "$contexts" \
      --prompt "$prompt" "${extra[@]}" 2>&1 | tee "$log"
    summary+=("bench tp $n: $log")
    while read -r line; do summary+=("  tp $n decode $line"); done < <(grep -E "^\| [0-9]+ \|" "$log")
    while read -r line; do summary+=("  tp $n $line"); done < <(grep -E "^prefill:|^  (nccl|p2p) " "$log")
  done
  # the decode's opt-in GEMV kernels at 1k (engine/cuda/cuda-private.h glim_cuda_gemv)
  for setting in GLIMMER_GEMV=lut GLIMMER_GEMV_DP4A_MIN=0 GLIMMER_GEMV=cuda GLIMMER_GEMV=mma; do
    line=$(env "$setting" $bin/glimmer-cli bench --model "$model" --backend cuda \
      --context 1024 --prompt 0 2>&1 | grep -E "^\| 1024 \||rror")
    echo "$setting $line"
    summary+=("  tp 1 $setting decode $line")
  done
  # the decode's MLA split kernel at long contexts: v2 on mma.sync (the default on sm_90 is the
  # wgmma kernel, kernels/mla-wgmma.cu)
  for setting in GLIMMER_MLA=mma; do
    while read -r line; do
      echo "$setting $line"
      summary+=("  tp 1 $setting decode $line")
    done < <(env "$setting" $bin/glimmer-cli bench --model "$model" --backend cuda \
      --context 32768,131072 --prompt 0 2>&1 | grep -E "^\| [0-9]+ \||rror")
  done
  # the prefill's other paths (engine/cuda/cuda-prefill.c): the runs above use TF32 weight
  # GEMMs, the fp4 expert GEMM on f16 hi and the flash attention on wgmma (sm_90) or with the
  # mma.sync kernel's widest CTA (GLIMMER_PREFILL_FLASH_BN=32 and _BM=64 force narrower ones)
  for setting in GLIMMER_PREFILL_GEMM=mma GLIMMER_PREFILL_PROJ=fp4 GLIMMER_PREFILL_MOE=cublas GLIMMER_PREFILL_MOE=fp4-lo \
      GLIMMER_PREFILL_FLASH=mma GLIMMER_PREFILL_ATTN=cublas; do
    line=$(env "$setting" $bin/glimmer-cli bench --model "$model" --backend cuda \
      --context 1024 --decode-tokens 1 --prompt "$prompt" 2>&1 | grep -E "^prefill:|rror")
    echo "$setting $line"
    summary+=("  tp 1 $setting $line")
  done
fi

if ((do_gemv)); then
  echo "== decode GEMVs alone (tests/bench-gemv.c)"
  $bin/bench-gemv | tee "$OUT/bench-gemv.txt"
  summary+=("gemv bench: $OUT/bench-gemv.txt")
fi

if ((do_profile)) && [[ -n $preset ]]; then
  echo "== profile of one decode step (1k context)"
  tools/gpu/profile.sh /tmp/synth-$preset 1024 "$detail" | tee "$OUT/profile.txt"
fi

if [[ -n $pp_layers ]]; then
  tools/gpu/profile-prefill.sh "$pp_layers" "$prompt" | tee "$OUT/prefill-profile.txt"
  summary+=("prefill profile: $OUT/prefill-profile.txt")
fi

echo
echo "== summary"
for s in "${summary[@]}"; do echo "$s"; done
