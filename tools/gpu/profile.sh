#!/usr/bin/env bash
# tools/gpu/profile.sh MODEL [CONTEXT] [KERNEL-REGEX]: per-kernel device time of one decode step
# (graphs off), through Nsight Compute, summed by kernel name. With KERNEL-REGEX (matched against
# the mangled name, so template arguments can be picked: gemv_split_row_kernelILi1ELi1E is the
# batch-1 SWIGLU GEMV), the first four matching launches get Nsight Compute's detailed sections
# too (speed of light, memory, occupancy, scheduler, warp stalls): why a kernel is slow, not only
# that it is. Run on the GPU machine with .gpu/ carried.
set -uo pipefail
cd "$(dirname "$0")/../.."
for f in .gpu/bin/*.xz; do [[ -f $f ]] && xz -d -f "$f"; done   # packed by bundle.sh
model=$1; ctx=${2:-1024}; detail=${3:-}
export LD_LIBRARY_PATH="$PWD/.gpu/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export GLIMMER_NO_GRAPH=1
OUT=${OUT:-/tmp/glimmer-out}
# kernels of one decode step: count them on a run of 1 step, then profile the 3rd step
n=$(GLIMMER_NO_GRAPH=1 ncu --print-summary none --metrics gpu__time_duration.sum --csv \
      .gpu/bin/glimmer-cli bench --model "$model" --context "$ctx" --prompt 0 --decode-tokens 1 2>/dev/null \
    | grep -c '"gpu__time_duration.sum"')
per=$(( n / 4 ))     # warm-up 3 steps + 1 timed step
echo "kernels per decode step: $per"
ncu --csv --print-units base --clock-control none --cache-control none --metrics gpu__time_duration.sum --launch-skip $(( per * 2 )) --launch-count $per \
  .gpu/bin/glimmer-cli bench --model "$model" --context "$ctx" --prompt 0 --decode-tokens 1 \
  > "$OUT/profile.csv" 2>/dev/null
python3 - "$OUT/profile.csv" <<'PY'
import csv, sys, collections
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
hdr = rows[0]; rows = rows[1:]
ki, vi = hdr.index("Kernel Name"), hdr.index("Metric Value")
tot = collections.Counter(); cnt = collections.Counter()
for r in rows:
    name = r[ki].split("(")[0].split("<")[0]
    tot[name] += float(r[vi].replace(",", "")); cnt[name] += 1
s = sum(tot.values())
print(f"{'kernel':40} {'launches':>8} {'us':>10} {'share':>6}")
for k, v in tot.most_common():
    print(f"{k[:40]:40} {cnt[k]:8d} {v/1e3:10.1f} {100*v/s:5.1f}%")
print(f"{'total':40} {sum(cnt.values()):8d} {s/1e3:10.1f}")
# the first layers' kernels in order, to see one layer's chain
gi = hdr.index("Grid Size")
for r in rows[:40]:
    print(f"  {float(r[vi].replace(',', ''))/1e3:7.1f} us  {r[ki].split('(')[0][:44]:44} {r[gi]}")
PY

if [[ -n $detail ]]; then
  echo
  echo "== detail: kernels matching /$detail/ (first 4 launches)"
  ncu --clock-control none --cache-control none --kernel-name-base mangled -k "regex:$detail" \
    --launch-skip 0 --launch-count 4 \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy \
    --section SchedulerStats --section WarpStateStats --section LaunchStats \
    .gpu/bin/glimmer-cli bench --model "$model" --context "$ctx" --prompt 0 --decode-tokens 1 \
    > "$OUT/detail.txt" 2>/dev/null
  grep -E "^  [a-z_]+.*\(|Duration|DRAM Throughput|Memory Throughput|L1/TEX Hit|L2 Hit|Achieved Occupancy|Theoretical Occupancy|Registers Per Thread|Block Limit|Issue Slots Busy|Issued Warp Per Scheduler|No Eligible|Active Warps Per Scheduler|Eligible Warps|Warp Cycles Per Issued|Grid Size|Waves Per SM" \
    "$OUT/detail.txt" | head -80
  echo "(stall reasons: $OUT/detail.txt, section WarpStateStats)"
fi
