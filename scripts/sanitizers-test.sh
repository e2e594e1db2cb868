#!/usr/bin/env bash
# `make test-sanitizers`: the Swift tests under AddressSanitizer (with its leak check), then under
# ThreadSanitizer, each in its own build directory (.build-asan, .build-tsan) and serially, as
# `make test-swift` runs them. Suppressions for what lies outside Parley's code are in
# scripts/sanitizers/, each with its reason. Prints how long each build and each run took.
#   scripts/sanitizers-test.sh [address|thread]…      (default: both)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd -P)"
SANITIZERS=("$@")
[ ${#SANITIZERS[@]} -gt 0 ] || SANITIZERS=(address thread)

export LSAN_OPTIONS="suppressions=$ROOT/scripts/sanitizers/lsan.supp:print_suppressions=0"
export TSAN_OPTIONS="suppressions=$ROOT/scripts/sanitizers/tsan.supp:print_suppressions=0"

times=()
for sanitizer in "${SANITIZERS[@]}"; do
  flags=()
  case "$sanitizer" in
    address) scratch=.build-asan ;;
    # PARLEY_TSAN: Parley's Mutex becomes a pthread mutex TSan can see (ThreadSanitizerMutex.swift).
    thread) scratch=.build-tsan; flags=(-Xswiftc -DPARLEY_TSAN) ;;
    *) echo "sanitizers-test: unknown sanitizer $sanitizer (address or thread)" >&2; exit 2 ;;
  esac
  echo "==> swift build --build-tests --sanitize=$sanitizer ($scratch/)"
  start=$(date +%s)
  swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch" "${flags[@]}"
  built=$(($(date +%s) - start))
  echo "==> swift test --sanitize=$sanitizer"
  start=$(date +%s)
  timeout -k 10 1800 swift test --skip-build --no-parallel --sanitize="$sanitizer" --scratch-path "$scratch" "${flags[@]}"
  times+=("$(printf '%-8s build %4d s, tests %4d s' "$sanitizer" "$built" "$(($(date +%s) - start))")")
done
printf '    %s\n' "${times[@]}"
