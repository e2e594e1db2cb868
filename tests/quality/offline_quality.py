#!/usr/bin/env python3
"""Spoken general-knowledge questions through `parley talk` against `parley serve` on the
embedded engines: are the answers right, short, and how soon do they start?

    python tests/quality/offline_quality.py --parley .build/release/parley [--local-llm large]
        [--questions 12] [--voice hibari|espeak] [--serve-args "--vad-pause 0"] [--check] [--json]

Starts `parley serve` on a free loopback port with no keys (the offline default, `--local-llm`
as given), waits for /health, speaks one warm-up turn, then each question as its own
`parley talk` session, the way a person would. Questions are spoken by the hibari voice
(`scripts/say.py`) or espeak-ng. Prints one line per question and a summary: answers right
(an answer is right when it contains one of the expected words), the longest reply in words,
and client voice-to-voice latency (end of the question's voice to the first reply audio, from
`parley talk`'s timeline): median, 90th percentile, worst.

With --check it exits 1 unless at least 80 % of the answers are right and no reply has more than
40 words (the behaviour `make test` holds the offline default to; latency is only reported:
speed is measured in BENCHMARKS.md, not asserted). The server is stopped by its PID at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# (question, words of which one must be in a right answer, words a right answer must not hold)
QUESTIONS = [
    ("What is the capital of France?", ["paris"], []),
    ("How many legs does a spider have?", ["eight", "8"], []),
    ("Who wrote Romeo and Juliet?", ["shakespeare"], []),
    ("What is the largest planet in our solar system?", ["jupiter"], []),
    ("Who painted the Mona Lisa?", ["vinci", "leonardo"], []),
    ("What is the boiling point of water in Celsius?", ["100", "hundred"], ["fahrenheit"]),
    ("How many continents are there?", ["seven", "7"], []),
    ("What is the chemical symbol for gold?", ["au"], []),
    ("Which ocean is the largest?", ["pacific"], []),
    ("In what year did people first land on the moon?", ["1969"], []),
    ("What is the tallest mountain in the world?", ["everest"], ["8314", "8,314"]),
    ("What gas do plants take in from the air?", ["carbon dioxide", "co2"], ["oxygen"]),
]
WARM_UP = "Hello there, can you hear me?"
MAX_WORDS = 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def speak(text: str, path: str, voice: str) -> None:
    if voice == "hibari":
        command = [os.path.join(ROOT, ".venv/bin/python"), os.path.join(ROOT, "scripts/say.py"), text, path]
    else:
        command = ["espeak-ng", "-w", path, text]
    subprocess.run(command, check=True)


def right(answer: str, expected: list[str], wrong: list[str]) -> bool:
    text = " " + " ".join(re.findall(r"[a-z0-9,]+", answer.lower())).replace(",", "") + " "
    def has(word: str) -> bool:
        return (" " + word.replace(",", "") + " ") in text
    return any(has(e) for e in expected) and not any(has(w) for w in wrong)


def wait_healthy(port: int, server: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"parley serve exited with {server.returncode} during start-up")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"parley serve was not healthy within {timeout:.0f} s")


def talk(parley: str, port: int, wav: str) -> dict:
    result = subprocess.run([parley, "talk", "--url", f"ws://127.0.0.1:{port}/ws", "--wav", wav, "--timeout", "60"],
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise SystemExit(f"parley talk failed ({result.returncode}): {result.stderr.strip()}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parley", required=True, help="the parley executable")
    parser.add_argument("--local-llm", default="large", choices=["small", "large"])
    parser.add_argument("--questions", type=int, default=len(QUESTIONS), help=f"how many (1…{len(QUESTIONS)})")
    parser.add_argument("--voice", default="hibari", choices=["hibari", "espeak"])
    parser.add_argument("--serve-args", default="", help="more `parley serve` options, space-separated")
    parser.add_argument("--check", action="store_true", help="exit 1 unless ≥80 %% right and every reply ≤40 words")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()
    if not 1 <= args.questions <= len(QUESTIONS):
        parser.error(f"--questions must be 1…{len(QUESTIONS)}")
    parley = os.path.abspath(args.parley)

    with tempfile.TemporaryDirectory(prefix="parley-quality-") as work:
        asked = QUESTIONS[:args.questions]
        wavs = []
        for index, (question, _, _) in enumerate([(WARM_UP, [], [])] + asked):
            path = os.path.join(work, f"q{index}.wav")
            speak(question, path, args.voice)
            wavs.append(path)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        with open(os.path.join(work, "server.log"), "w") as log:
            server = subprocess.Popen([parley, "serve", "--port", str(port), "--local-llm", args.local_llm, *args.serve_args.split()],
                                      cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_healthy(port, server)
            talk(parley, port, wavs[0])
            rows = []
            for (question, expected, wrong), wav in zip(asked, wavs[1:]):
                turn = talk(parley, port, wav)
                reply = turn["reply"].strip()
                rows.append({
                    "question": question, "heard": turn["transcript"], "reply": reply,
                    "right": right(reply, expected, wrong), "words": len(reply.split()),
                    "voice_to_voice_ms": turn["timeline"].get("first_audio"),
                    "server": {k: v for k, v in turn["server_timeline"].items() if v is not None},
                    "end_of_turn": turn.get("end_of_turn"),
                })
                verdict = turn.get("end_of_turn")
                judged = f" turn p={verdict['probability']}" if verdict and verdict["probability"] is not None else ""
                print(f"{'ok ' if rows[-1]['right'] else 'BAD'} {rows[-1]['voice_to_voice_ms']:>7.0f} ms "
                      f"(turn over at {rows[-1]['server'].get('vad_end', 0):.0f}{judged}) "
                      f"{rows[-1]['words']:>2}w  {question} | heard: {turn['transcript']} | {reply}", flush=True)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()

    latencies = [r["voice_to_voice_ms"] for r in rows if r["voice_to_voice_ms"] is not None]
    summary = {
        "local_llm": args.local_llm, "voice": args.voice, "questions": len(rows),
        "right": sum(r["right"] for r in rows), "longest_reply_words": max(r["words"] for r in rows),
        "voice_to_voice_ms": {"p50": statistics.median(latencies), "p90": percentile(latencies, 0.9), "max": max(latencies)},
    }
    endpointing = [r["server"]["vad_end"] for r in rows if "vad_end" in r["server"]]
    if endpointing:
        summary["turn_over_ms"] = {"p50": statistics.median(endpointing), "max": max(endpointing)}
    judged = [r["end_of_turn"] for r in rows if r["end_of_turn"]]
    if judged:
        summary["end_of_turn"] = {"judged": len(judged), "complete_at_once": sum(v["complete"] for v in judged)}
    if args.json:
        print(json.dumps({"summary": summary, "turns": rows}))
    else:
        v = summary["voice_to_voice_ms"]
        print(f"{summary['right']}/{summary['questions']} right, longest reply {summary['longest_reply_words']} words; "
              f"voice to voice p50 {v['p50']:.0f} ms, p90 {v['p90']:.0f} ms, max {v['max']:.0f} ms "
              f"(--local-llm {args.local_llm}, questions in the {args.voice} voice)")
        if "turn_over_ms" in summary:
            t = summary["turn_over_ms"]
            eot = summary.get("end_of_turn")
            print(f"turn over (vad_end) p50 {t['p50']:.0f} ms, max {t['max']:.0f} ms"
                  + (f"; smart-turn ended {eot['complete_at_once']} of {eot['judged']} at once" if eot else ""))
    if args.check:
        problems = []
        if summary["right"] < 0.8 * summary["questions"]:
            problems.append(f"only {summary['right']} of {summary['questions']} answers right")
        if summary["longest_reply_words"] > MAX_WORDS:
            problems.append(f"a reply of {summary['longest_reply_words']} words (at most {MAX_WORDS})")
        if problems:
            print("offline quality check failed: " + "; ".join(problems), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
