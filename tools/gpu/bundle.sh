#!/usr/bin/env bash
# tools/gpu/bundle.sh: build a release with CUDA here and pack the binaries the GPU machine runs,
# with their shared libraries (everything but the C library), into .gpu/ (git-ignored; pass it
# to the device tool's `carry`).
set -euo pipefail
cd "$(dirname "$0")/../.."

build=build-release
[[ -f $build/build.ninja ]] || meson setup "$build" --buildtype=release -Dcuda=enabled
ninja -C "$build"

rm -rf .gpu
mkdir -p .gpu/bin .gpu/lib
cp "$build"/src/glimmer-cli .gpu/bin/
cp "$build"/tests/test-cuda "$build"/tests/bench-gemv .gpu/bin/
strip .gpu/bin/*     # symbols only; the device code (fatbins) stays. The carry limit is 64 MiB
for exe in .gpu/bin/*; do
  ldd "$exe" | awk '/=> \// { print $3 }'
done | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*) ;;
    libcublas*) ;;   # hundreds of MB; the GPU machine's CUDA toolkit has it
    libnccl*) ;;     # 218 MB; run.sh finds the GPU machine's (CUDA toolkit or PyTorch's)
    *) cp -L "$lib" .gpu/lib/ ;;
  esac
done
git rev-parse --short HEAD > .gpu/commit
# the fat binaries (device code for four architectures) compress ~9x; run.sh unpacks them
xz -T2 -6 .gpu/bin/glimmer-cli .gpu/bin/test-cuda .gpu/bin/bench-gemv
du -sh .gpu
