#!/usr/bin/env bash
# The GPU check's bundle carries everything its binaries load but glibc and CUDA: built
# from this build's binaries and run where the system library folder holds only glibc,
# libstdc++ and libgcc_s (tools/gpu_bundle.sh bare-check). A bundle that lacks one
# library fails that check, naming it. Skips (77) where no mount namespace can be made.
# usage: gpu_bundle_test.sh SGDLAB_BINARY SGDLAB_TESTS_BINARY
set -uo pipefail
unshare -m /bin/true 2> /dev/null || { echo "no mount namespace here (unshare -m)"; exit 77; }
source "$(dirname "$0")/script_test_util.sh" "$1" "$2"
# bundle() takes $BUILD/sgdlab and $BUILD/tests/sgdlab_tests.
mkdir -p "$TMP/build/tests"
ln -s "$SGDLAB" "$TMP/build/sgdlab"
ln -s "$TESTS" "$TMP/build/tests/sgdlab_tests"
export GPU_CHECK_CARRY="$TMP/carry" GPU_BUNDLE_XZ_LEVEL=0 BUILD="$TMP/build"

bash "$ROOT/tools/gpu_bundle.sh" bundle > "$TMP/bundle.log" 2>&1 || fail "bundle: $(cat "$TMP/bundle.log")"
# The closure: what the binaries link directly and what those load in turn.
for lib in libzip.so.4 libpq.so.5 libopenblas.so.0 libgfortran.so.5 libsqlite3.so.0 \
  libcrypto.so.3 libssl.so.3 libgssapi_krb5.so.2 libstdc++.so.6; do
  grep -qx "$lib" "$GPU_CHECK_CARRY/libs.txt" || fail "the bundle lacks $lib"
done
for lib in libc.so.6 libm.so.6 ld-linux-x86-64.so.2 libcudart.so.13 libcudnn.so.9; do
  grep -qx "$lib" "$GPU_CHECK_CARRY/libs.txt" && fail "the bundle carries $lib, which the image has"
done

bash "$ROOT/tools/gpu_bundle.sh" bare-check > "$TMP/bare.log" 2>&1 ||
  fail "bare-check of the bundle: $(cat "$TMP/bare.log")"
grep -q "sgdlab_tests lists [1-9]" "$TMP/bare.log" || fail "no test listed: $(cat "$TMP/bare.log")"

# The same bundle without libzip: the bare check fails and names it.
mkdir "$TMP/libs" && tar -xJf "$GPU_CHECK_CARRY/libs.tar.xz" -C "$TMP/libs"
rm "$TMP/libs/libzip.so.4"
tar -C "$TMP/libs" -cf - . | xz -0 > "$GPU_CHECK_CARRY/libs.tar.xz"
if bash "$ROOT/tools/gpu_bundle.sh" bare-check > "$TMP/short.log" 2>&1; then
  fail "bare-check passed a bundle without libzip"
fi
grep -q "still missing: .*libzip.so.4" "$TMP/short.log" || fail "libzip not named: $(cat "$TMP/short.log")"

if [ "$failures" -gt 0 ]; then
  tail -n 30 "$TMP"/*.log
  exit 1
fi
echo "gpu bundle: closure carried, bare check passes, a missing library is named"
