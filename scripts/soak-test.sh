#!/usr/bin/env bash
# A short `parley-bench soak` (about 40 s): sessions churn against a `parley serve` child process
# (connect, talk, barge in, drop mid-turn, vanish, conversations) while the fake providers fail at
# random (refused, dropped mid-stream, stalled, slow).
#
#   bash scripts/soak-test.sh                # single providers: deepgram, groq, elevenlabs
#   bash scripts/soak-test.sh --with-chains  # the default chains: deepgram,local groq,local elevenlabs,local
#
# Single providers have no fallback, so turns and sessions do fail; the script checks what must
# hold anyway: no crash, no hung session, no stale audio, faults acted out, and open files,
# threads, child processes and the session gauges back at their baseline. With --with-chains
# (which needs `parley serve` to take provider chains) the soak's own verdict must pass as well:
# every turn answered, by a fallback or an apology.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CHAINS=0
[ "${1:-}" = "--with-chains" ] && CHAINS=1
BENCH=.build/debug/parley-bench
[ -x .build/debug/parley ] && [ -x "$BENCH" ] || { swift build --product parley && swift build --product parley-bench; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

if [ "$CHAINS" = 1 ]; then
  PROVIDERS=()
else
  PROVIDERS=(--stt deepgram --llm groq --tts elevenlabs)
fi
set +e
"$BENCH" soak --minutes 0.2 --sessions 8 --seed 7 --answer-timeout 40 "${PROVIDERS[@]}" --json >"$WORK/soak.json" 2>"$WORK/soak.err"
status=$?
set -e
# Exit status 1 is the verdict (failed turns are expected without chains); anything else is the bench failing.
[ "$status" -le 1 ] && [ -s "$WORK/soak.json" ] || { cat "$WORK/soak.err"; echo "parley-bench soak failed (exit $status)" >&2; exit 1; }
python3 - "$WORK/soak.json" "$CHAINS" "$status" <<'PY'
import json, sys
report, chains, status = json.load(open(sys.argv[1])), sys.argv[2] == "1", int(sys.argv[3])
before, after, turns = report["before"], report["after"], report["turns"]
problems = []
if report["crashes"]: problems.append(f"crash: {report['crash']}")
if report["health_live"]["server_errors"]: problems.append("/health/live answered 5xx")
if report["session_ends"].get("hung", 0) or report["session_ends"].get("refused", 0):
    problems.append(f"hung or refused sessions: {report['session_ends']} {report['session_end_reasons']}")
if report["stale_audio_frames"]: problems.append("stale audio")
if turns["total"] < 5: problems.append(f"too few turns: {turns}")
if sum(sum(kinds.values()) for kinds in report["faults"].values()) == 0: problems.append("no fault was acted out")
if after is None: problems.append("the server was not measured after the churn")
else:
    if after["open_files_besides_pool"] > before["open_files_besides_pool"] + 4: problems.append(f"open files {before['open_files_besides_pool']} -> {after['open_files_besides_pool']}")
    if after["threads"] > before["threads"] + 8: problems.append(f"threads {before['threads']} -> {after['threads']}")
    if after["child_processes"] > before["child_processes"]: problems.append("child processes left")
    if after["sessions"] or any(after["in_flight_gauges"].values()): problems.append(f"sessions left: {after['in_flight_gauges']}")
if chains and (status != 0 or not report["passed"]): problems.append(f"verdict: {report['problems']}")
summary = (f"{sum(report['sessions'].values())} sessions, {turns['total']} turns (answered {turns['answered']}, apology {turns['apology']}, "
           f"failed {turns['failed_without_fallback']}), faults {report['faults']}, files {before['open_files_besides_pool']} -> "
           f"{after and after['open_files_besides_pool']}, threads {before['threads']} -> {after and after['threads']}")
if problems:
    print("parley-bench soak: FAILED — " + "; ".join(problems) + f"\n  {summary}\n  server log: {report['server_log']}", file=sys.stderr)
    sys.exit(1)
print(f"parley-bench soak ({'chains' if chains else 'single providers, failures expected'}): ok — {summary}")
PY
