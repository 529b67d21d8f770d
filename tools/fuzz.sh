#!/usr/bin/env bash
# tools/fuzz.sh: build one fuzz target with clang, libFuzzer, ASan and UBSan, and run it.
# SPDX-License-Identifier: MIT
# Usage: tools/fuzz.sh TARGET [SECONDS] [libFuzzer options...]   (e.g. tools/fuzz.sh tokenizer 600)
# TARGET is a name from tests/fuzz/meson.build's fuzz_targets. The build goes to build-fuzz/; the
# working corpus grows in build-fuzz/fuzz-corpus/TARGET (seeded from tests/fuzz/corpus/TARGET)
# and crashing inputs land in build-fuzz/fuzz-artifacts/. Worth adding to the seed corpus: small
# inputs that reached new code (libFuzzer -merge=1 picks them).
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:?usage: tools/fuzz.sh TARGET [SECONDS] [libFuzzer options...]}
seconds=${2:-60}
shift $(( $# >= 2 ? 2 : 1 ))

libfuzzer="/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a"
if ! command -v clang >/dev/null || ! compgen -G "$libfuzzer" >/dev/null; then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "tools/fuzz.sh: installing clang and libFuzzer"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    clang libclang-rt-14-dev
fi

build=build-fuzz
if [[ ! -f $build/build.ninja ]]; then
  CC=clang meson setup "$build" -Dlibfuzzer=true -Dcuda=disabled -Dbuildtype=debugoptimized \
    -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args="-fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined"
fi
ninja -C "$build" "tests/fuzz/fuzz-$target"

corpus=$build/fuzz-corpus/$target
mkdir -p "$corpus" "$build/fuzz-artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export G_TEST_SRCDIR=$PWD/tests
exec "$build/tests/fuzz/fuzz-$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
  -max_len=8192 -artifact_prefix="$build/fuzz-artifacts/$target-" -print_final_stats=1 "$@" \
  "$corpus" "tests/fuzz/corpus/$target"
