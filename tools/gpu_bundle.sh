#!/usr/bin/env bash
# The GPU check's bundle: sgdlab's binaries and every library they load that a CUDA
# image may lack, xz-compressed, so that the rare GPU lease is not spent on a missing
# library (docs/gpu-runbook.md).
#
#   tools/gpu_bundle.sh prepare      build $BUILD (default build-gpu) for sm_90, bundle it,
#                                    then bare-check the bundle
#   tools/gpu_bundle.sh bundle       bundle the binaries already in $BUILD (no build)
#   tools/gpu_bundle.sh bare-check   run the bundle's binaries where the system library
#                                    folder holds only glibc, libstdc++ and libgcc_s
#
# The bundle ($GPU_CHECK_CARRY, default .gpu-carry/):
#   bin.tar.xz    sgdlab, sgdlab_tests and sgdlab_op_bench, stripped
#   libs.tar.xz   the whole ldd closure of those binaries, less what every CUDA image has:
#                 glibc and its loader, the driver, the CUDA runtime, cuBLAS(Lt), cuDNN
#   libs.txt      the names in libs.tar.xz
# On the GPU, tools/gpu_check.sh unpacks a library only where ldd says it is missing or
# lacks a symbol version, and repeats until nothing new is missing: ldd cannot see past a
# library it cannot find (libopenblas hides libgfortran and libquadmath).
#
# gpu_check.sh sources this file for image_provides and unpack_missing.
set -uo pipefail

GPU_BUNDLE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CARRY=${GPU_CHECK_CARRY:-$GPU_BUNDLE_ROOT/.gpu-carry}
# xz -9 for what travels; the tests ask for -0 to stay quick.
XZ_LEVEL=${GPU_BUNDLE_XZ_LEVEL:-9}
SYSTEM_LIBS=/usr/lib/x86_64-linux-gnu
LOADER=/lib64/ld-linux-x86-64.so.2

# image_provides SONAME: true for a library every CUDA image has. Everything else the
# binaries load travels in the bundle.
image_provides() {
  case "$1" in
    # glibc and its loader
    ld-linux-x86-64.so.2 | libc.so.6 | libm.so.6 | libmvec.so.1 | libpthread.so.0 | libdl.so.2 | \
      librt.so.1 | libresolv.so.2 | libutil.so.1 | libanl.so.1 | libnsl.so.1 | \
      libBrokenLocale.so.1 | libthread_db.so.1 | libc_malloc_debug.so.0 | \
      libnss_files.so.2 | libnss_dns.so.2 | libnss_compat.so.2 | libnss_hesiod.so.2) return 0 ;;
    # the driver, CUDA's runtime, cuBLAS(Lt), cuDNN and what cuDNN loads
    libcuda.so.* | libcudart.so.* | libcublas.so.* | libcublasLt.so.* | libcudnn*.so.* | \
      libnvrtc*.so.* | libnvJitLink.so.*) return 0 ;;
  esac
  return 1
}

# missing_libs COMMAND...: the libraries that COMMAND (ldd, or the loader's --list) says
# cannot be found or lack a symbol version, one name a line.
missing_libs() {
  "$@" 2>&1 | awk '
    $2 == "=>" && $3 == "not" { print $1; next }
    / version `.*. not found/ {
      for (i = 2; i <= NF; ++i)
        if ($i == "version") { n = $(i - 1); sub(/:$/, "", n); sub(/.*\//, "", n); print n; break }
    }' | sort -u
}

# unpack_missing LIBDIR COMMAND...: while COMMAND reports missing libraries, unpack the
# bundle's copies of them into LIBDIR (which the caller has put on LD_LIBRARY_PATH).
# Prints each round; returns 1 with what is still missing when a round finds nothing
# new to unpack.
unpack_missing() {
  local libdir=$1 round missing lib new unpacked=" "
  shift
  for round in 1 2 3 4 5 6 7 8 9 10; do
    missing=$(missing_libs "$@" | tr '\n' ' ')
    [ -z "${missing// /}" ] && return 0
    local wanted=()
    for lib in $missing; do
      case "$unpacked" in *" $lib "*) ;; *) wanted+=("./$lib") ;; esac
    done
    # One pass over the archive a round; a name it lacks is simply not extracted.
    [ ${#wanted[@]} -gt 0 ] && tar -xJf "$CARRY/libs.tar.xz" -C "$libdir" "${wanted[@]}" 2> /dev/null
    new=""
    for lib in "${wanted[@]}"; do
      lib=${lib#./}
      [ -e "$libdir/$lib" ] && new+="$lib " && unpacked+="$lib "
    done
    if [ -z "$new" ]; then
      echo "still missing: $missing"
      return 1
    fi
    echo "round $round: unpacked $new"
  done
  echo "still missing after 10 rounds: $missing"
  return 1
}

# unpack_bin DIR: the bundle's binaries into DIR/bin (a bundle may also hold bin/ as is).
unpack_bin() {
  if [ -f "$CARRY/bin.tar.xz" ]; then
    tar -xJf "$CARRY/bin.tar.xz" -C "$1"
  else
    mkdir -p "$1/bin" && cp -P "$CARRY"/bin/* "$1/bin/"
  fi
}

# A subshell: its EXIT trap removes the staging folder however it ends.
bundle() (
  local build=${BUILD:-build-gpu} staging name path
  staging=$(mktemp -d)
  trap 'rm -rf "$staging"' EXIT
  mkdir -p "$staging/bin" "$staging/lib"
  cp "$build/sgdlab" "$build/tests/sgdlab_tests" "$staging/bin/" || return 1
  [ -f "$build/sgdlab_op_bench" ] && cp "$build/sgdlab_op_bench" "$staging/bin/"
  strip --strip-unneeded "$staging"/bin/*
  if ldd "$staging"/bin/* | grep -q "not found"; then
    echo "gpu_bundle.sh: the binaries miss libraries on this machine already:" >&2
    ldd "$staging"/bin/* | grep "not found" >&2
    return 1
  fi
  # ldd lists the whole closure: every library the loader maps, however deep.
  ldd "$staging"/bin/* | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' | sort -u |
    while read -r name path; do
      image_provides "$name" || cp -L "$path" "$staging/lib/$name"
    done
  rm -rf "$CARRY" && mkdir -p "$CARRY"
  tar -C "$staging" -cf - bin | xz -T0 -"$XZ_LEVEL" > "$CARRY/bin.tar.xz"
  tar -C "$staging/lib" -cf - . | xz -T0 -"$XZ_LEVEL" > "$CARRY/libs.tar.xz"
  ls "$staging/lib" > "$CARRY/libs.txt"
  echo "bundle: $(wc -l < "$CARRY/libs.txt") libraries: $(tr '\n' ' ' < "$CARRY/libs.txt")"
  echo "bundle: bin.tar.xz $(du -k "$CARRY/bin.tar.xz" | cut -f1) KiB" \
    "($(du -sk "$staging/bin" | cut -f1) KiB unpacked), libs.tar.xz" \
    "$(du -k "$CARRY/libs.tar.xz" | cut -f1) KiB ($(du -sk "$staging/lib" | cut -f1) KiB unpacked)"
  echo "bundle: the tree and the bundle travel as $(tree_mib) MiB (64 at most)"
)

# What a device call carries: the tracked and untracked-but-not-ignored files, and the
# bundle.
tree_mib() {
  local bytes
  bytes=$(cd "$GPU_BUNDLE_ROOT" && git ls-files -co --exclude-standard -z | du -cb --files0-from=- |
    tail -n 1 | cut -f1)
  bytes=$((bytes + $(du -sb "$CARRY" | cut -f1)))
  echo $(((bytes + 1048575) / 1048576))
}

# bare_exec LD_LIBRARY_PATH COMMAND...: COMMAND in a mount namespace where the system
# library folder holds only glibc, libstdc++ and libgcc_s and the loader's cache is
# empty. Besides COMMAND, only dash runs inside (it needs nothing but libc).
bare_exec() {
  local path=$1
  shift
  unshare -m /bin/sh -c 'mount --bind /dev/null /etc/ld.so.cache &&
      mount --bind "$1" "$2" || exit 97
    LD_LIBRARY_PATH=$3
    export LD_LIBRARY_PATH
    shift 3
    exec "$@"' sh "$BARE" "$SYSTEM_LIBS" "$path" "$@"
}

# The bare system library folder: glibc and its loader, libstdc++, libgcc_s.
make_bare() {
  local f name
  BARE=$(mktemp -d)
  for f in "$SYSTEM_LIBS"/*.so*; do
    name=$(basename "$f")
    case "$name" in
      libstdc++.so.6* | libgcc_s.so.1) ;;
      *) image_provides "$name" && [[ $name != libcu* && $name != libnv* ]] || continue ;;
    esac
    cp -a "$f" "$BARE/"
  done
}

# bare_check: what gpu_check.sh's preflight does on a GPU machine, but where the system
# offers only glibc, libstdc++, libgcc_s and CUDA (in /usr/local/cuda), then
# `sgdlab --version` and `sgdlab_tests --gtest_list_tests` there.
bare_check() (
  local work cuda=/usr/local/cuda/lib64 b status=0
  if ! unshare -m /bin/true 2> /dev/null; then
    echo "gpu_bundle.sh: bare-check needs a mount namespace (unshare -m, as root)" >&2
    return 77
  fi
  work=$(mktemp -d)
  make_bare
  trap 'rm -rf "$work" "$BARE"' EXIT
  mkdir -p "$work/lib"
  unpack_bin "$work" || return 1
  local path="$cuda:$work/lib"
  echo "bare-check: system library folder holds $(ls "$BARE" | tr '\n' ' ')"
  # What ldd does, without bash: the loader in trace mode (--list stops at the first
  # missing library; the trace lists them all). env needs nothing but libc.
  list_all() {
    for b in "$work"/bin/*; do
      bare_exec "$path" /usr/bin/env LD_TRACE_LOADED_OBJECTS=1 "$LOADER" "$b"
    done
  }
  if ! unpack_missing "$work/lib" list_all; then
    echo "bare-check: FAILED: the bundle lacks libraries" >&2
    return 1
  fi
  echo "bare-check: every library found: $(ls "$work/lib" | wc -l) of the bundle's" \
    "$(wc -l < "$CARRY/libs.txt") unpacked"
  bare_exec "$path" "$work/bin/sgdlab" --version || status=1
  bare_exec "$path" "$work/bin/sgdlab_tests" --gtest_list_tests > "$work/list.txt" || status=1
  echo "bare-check: sgdlab_tests lists $(grep -c '^  ' "$work/list.txt") tests"
  [ "$status" = 0 ] && echo "bare-check: passed" || echo "bare-check: FAILED" >&2
  return $status
)

# Run as a command (not sourced by gpu_check.sh).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  cd "$GPU_BUNDLE_ROOT"
  case "${1:-}" in
    prepare)
      set -e
      BUILD=${BUILD:-build-gpu}
      cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90
      cmake --build "$BUILD" -j"$(nproc)"
      bundle
      bare_check
      ;;
    bundle) bundle ;;
    bare-check) bare_check ;;
    *)
      echo "usage: gpu_bundle.sh prepare|bundle|bare-check" >&2
      exit 2
      ;;
  esac
fi
