#!/usr/bin/env bash
# Builds the libFuzzer targets (Fuzz/Package.swift) and runs each for a bounded time:
#   scripts/fuzz.sh [seconds-per-target] [target…]     (default 60 s; every target)
# Each target starts from its seed corpus in Fuzz/Corpus/<target>/ with the dictionary in
# Fuzz/Dictionaries/; inputs that find new coverage go to .build-fuzz/corpus/<target>/ (not in
# git), so later runs start where earlier ones stopped. Exits non-zero if any target crashes,
# hangs (-timeout), leaks memory past -rss_limit_mb or breaks an invariant, and prints the path
# of the input that did it; reproduce with `.build-fuzz/release/fuzz-<target> <input>`.
# FUZZ_SANITIZE=address adds AddressSanitizer to the build (slower, separate scratch path).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SECONDS_PER_TARGET="${1:-${FUZZ_SECONDS:-60}}"
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(json client-message server-event wav twilio deepgram flux elevenlabs sse)
fi
SANITIZERS=(--sanitize=fuzzer)
SCRATCH=.build-fuzz
if [ -n "${FUZZ_SANITIZE:-}" ]; then
  SANITIZERS+=("--sanitize=$FUZZ_SANITIZE")
  SCRATCH=".build-fuzz-$FUZZ_SANITIZE"
fi

echo "==> building the fuzz targets (${SANITIZERS[*]}, release) into $SCRATCH/"
start=$(date +%s)
swift build --package-path Fuzz --scratch-path "$SCRATCH" -c release "${SANITIZERS[@]}"
echo "    built in $(($(date +%s) - start)) s"

# libFuzzer must see the crash signal to save the input; Swift's backtracer would take it first.
export SWIFT_BACKTRACE=enable=no
failed=()
summary=()
for target in "${TARGETS[@]}"; do
  binary="$SCRATCH/release/fuzz-$target"
  [ -x "$binary" ] || { echo "fuzz: no target $target ($binary)" >&2; exit 2; }
  corpus="$SCRATCH/corpus/$target"
  crashes="$SCRATCH/crashes/$target"
  log="$SCRATCH/logs/$target.log"
  mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
  echo "==> fuzz-$target for ${SECONDS_PER_TARGET} s"
  # The scratch corpus comes first: libFuzzer writes new inputs into the first directory only.
  if "$binary" "$corpus" "Fuzz/Corpus/$target" -dict="Fuzz/Dictionaries/$target.dict" \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$crashes/" -print_final_stats=1 >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$target")
    grep -E "ERROR|Fatal error|SUMMARY|==[0-9]+==" "$log" | head -n 20 >&2 || true
    grep -E "Test unit written to|artifact_prefix" "$log" | sed 's/^/    /' >&2 || true
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  # libFuzzer's last status line: edges covered and the corpus (inputs/bytes) it ended with.
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)
  corp=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -n 1 | cut -d' ' -f2)
  summary+=("$(printf '%-15s %-7s %10s runs %8s exec/s %6s edges  corpus %s' "$target" "$status" "${runs:-?}" "${rate:-?}" \
    "${cov:-?}" "${corp:-?}")")
done

echo "==> fuzzing summary (${SECONDS_PER_TARGET} s per target; logs in $SCRATCH/logs/)"
printf '    %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${failed[*]} failed; crash inputs are in $SCRATCH/crashes/<target>/" >&2
  exit 1
fi
