"""What `browser_test.py --expect …` waits for in `window.parleyState`, and the follow-up sounds.

Each expectation sees every poll of the page's state (about four a second) and either returns
`True` (done), returns `False` (keep polling) or raises `TestFailure` with a message for the
person reading the test output. `timeout_message` explains a run that never finished.

- `reply` (the default): a turn ended, its agent audio played, and the latency waterfall has a row
  for it with a positive voice-to-voice total.
- `pause-resume`: a short burst over the reply paused it (`agent.paused`), it resumed
  (`agent.resumed`), it was not interrupted, and its audio went on playing after the resume.
- `ignored`: a noise burst over the reply did nothing (the Silero VAD hears no voice in it): no
  `agent.paused`, no interruption, no second turn, and the reply played on past the burst.
- `interrupt`: a second sentence over the reply interrupted it (`agent.interrupted`, playback
  flushed) and became a second turn with a transcript.
- `transcript-and-audio`: a turn ended with a final transcript and its agent audio played; for
  pages without the latency waterfall (the React example, `examples/react/`).
- `refused`: the server refused the page's WebSocket (a foreign origin): the page reports a
  connection error and never gets `session.ready`.

An expectation with `expects_error = True` sees the page's `error` status instead of the driver
failing on it.
"""

from __future__ import annotations

import array
import math
import random
import time
from typing import Any


class TestFailure(Exception):
    """A failure with a message meant for the person reading the test output."""


# Silence before the question in the capture file (Chromium's fake capture loses the first ~50 ms).
LEAD_SILENCE_S = 1.0
# After success, how long the reply may go on playing before the state is taken as final.
PLAY_OUT_S = 15.0
# Agent audio that must play after `agent.resumed` to count as "kept playing" (seconds).
MIN_PLAYED_AFTER_RESUME_S = 0.1


def noise_burst(rate: int, duration_s: float, rms: float = 0.3, seed: int = 7) -> array.array:
    """A cough-like burst: seeded white noise of the given RMS (0.3: about -10 dBFS) with 10 ms
    fades, as 16-bit samples.

    Loud enough for the server's VAD, too short (under its 200 ms of voice) to interrupt, and
    heard by Whisper as no words.
    """
    count = int(rate * duration_s)
    fade = max(1, int(rate * 0.01))
    generator = random.Random(seed)
    out = array.array("h", bytes(2 * count))
    for i in range(count):
        envelope = min(1.0, i / fade, (count - 1 - i) / fade)
        value = generator.uniform(-1.0, 1.0) * rms * math.sqrt(3) * envelope  # uniform noise: rms = peak / sqrt(3)
        out[i] = max(-32767, min(32767, int(value * 32767)))
    return out


def _state_line(state: dict[str, Any]) -> str:
    rate = state.get("outputSampleRate") or 16000
    ends = [(t.get("turn_id"), t.get("interrupted")) for t in state.get("turnEnds") or []]
    return (f"status {state.get('status')!r}, finals {state.get('finals')}, turn ends (id, interrupted) {ends}, "
            f"pauses {state.get('pauses')}, resumes {state.get('resumes')}, "
            f"interruptions {state.get('interruptions')}, played {state.get('playedSamples', 0) / rate:.2f} s")


def _reply_audio_sent(state: dict[str, Any]) -> list[float] | None:
    """When the server sent the first turn's first and last audio, in seconds after the end of speech."""
    ends = state.get("turnEnds") or []
    timeline = (ends[0].get("timeline") or {}) if ends else {}
    first, last = timeline.get("first_audio_sent"), timeline.get("last_audio_sent")
    if isinstance(first, (int, float)):
        return [round(first / 1000, 2), round(last / 1000, 2) if isinstance(last, (int, float)) else None]
    return None


def _reply_window(state: dict[str, Any]) -> str:
    """When the server sent the reply's audio, for failure messages."""
    sent = _reply_audio_sent(state)
    if sent is None:
        return "the first turn has not ended, so when its audio was sent is not known yet"
    return f"the first reply's audio was sent {sent[0]}–{sent[1]} s after the question's end"


def _waterfall_total(state: dict[str, Any]) -> float | None:
    """The largest voice-to-voice total in the page's latency waterfall, in ms; None without one."""
    totals = [row.get("totalMs") for row in state.get("waterfall") or []]
    numbers = [total for total in totals if isinstance(total, (int, float))]
    return max(numbers) if numbers else None


class ReplyPlayed:
    """A turn ended, its agent audio played and the waterfall has its row; then the reply may play out (bounded)."""

    name = "reply"
    success = "a turn ended, its agent audio played, and the waterfall shows its voice-to-voice time"

    def __init__(self, **_: Any) -> None:
        self.succeeded_at: float | None = None
        self.notes: dict[str, Any] = {}

    def update(self, state: dict[str, Any]) -> bool:
        played = bool(state.get("turnEnds")) and state.get("playedSamples", 0) > 0
        total = _waterfall_total(state)
        user_turn_ended = any(end.get("turn_id") != 0 for end in state.get("turnEnds") or [])  # 0: a greeting, no row
        if played and user_turn_ended and (total is None or total <= 0) and state.get("status") != "agent-speaking":
            # The reply has played out, so its playback start was reported long ago.
            raise TestFailure(f"the turn ended and its audio played, but the latency waterfall has no row with a "
                              f"positive total (waterfall {state.get('waterfall')})")
        done = played and total is not None and total > 0
        if done:
            self.notes["voice_to_voice_ms"] = total
        if done and self.succeeded_at is None:
            self.succeeded_at = time.monotonic()
        return self.succeeded_at is not None and (state.get("status") != "agent-speaking"
                                                  or time.monotonic() - self.succeeded_at > PLAY_OUT_S)

    def accept_on_timeout(self) -> bool:
        return self.succeeded_at is not None

    def timeout_message(self, state: dict[str, Any], timeout: float) -> str:
        return (f"timed out after {timeout:.0f} s waiting for a turn to end with played agent audio "
                f"(status {state.get('status')!r}, finals {state.get('finals')}, "
                f"turn ends {len(state.get('turnEnds') or [])}, played samples {state.get('playedSamples')}, "
                f"waterfall rows {len(state.get('waterfall') or [])}, "
                f"frames sent {((state.get('stats') or {}).get('framesSent'))})")


class _SoundOverReply:
    """What the expectations of a sound played over the first reply share: its timing, for messages."""

    def __init__(self, speech_s: float, gap_s: float, follow_up_s: float, **_: Any) -> None:
        self.speech_s = speech_s
        self.gap_s = gap_s
        self.follow_up_s = follow_up_s
        self.notes: dict[str, Any] = {}

    def _where(self, state: dict[str, Any]) -> str:
        return (f"the burst was {self.gap_s:.1f} s after the question's end; {_reply_window(state)}. "
                f"State: {_state_line(state)}")


class PauseThenResume(_SoundOverReply):
    """The burst paused the first turn, which resumed, was not interrupted and played on."""

    name = "pause-resume"
    success = "the burst paused the reply, which resumed and played on, not interrupted"

    def __init__(self, **timing: Any) -> None:
        super().__init__(**timing)
        self.paused_seen_at: float | None = None
        self.played_while_paused: int | None = None
        self.resume_seen_at: float | None = None
        self.finished_at: float | None = None

    def update(self, state: dict[str, Any]) -> bool:
        pauses, resumes = state.get("pauses") or [], state.get("resumes") or []
        interruptions = state.get("interruptions") or []
        finals = [text for text in state.get("finals") or [] if text]
        if interruptions or any(end.get("interrupted") for end in state.get("turnEnds") or []):
            raise TestFailure("the burst interrupted the reply instead of pausing it "
                              f"(too loud or long for the echo rule, or the recogniser heard words); {self._where(state)}")
        if len(finals) > 1:
            raise TestFailure(f"the burst became a turn of its own, transcribed as {finals[1:]!r}; {self._where(state)}")
        if pauses and self.paused_seen_at is None:
            if resumes:
                # Both within one poll (250 ms) cannot happen: a resume comes 1.5 s after the burst ends.
                raise TestFailure(f"agent.resumed was seen no later than agent.paused; {self._where(state)}")
            if not state.get("agentPaused"):
                raise TestFailure(f"agent.paused was recorded but the client is not paused; {self._where(state)}")
            self.paused_seen_at = time.monotonic()
            # While paused nothing plays, so everything played from here on played after the resume.
            self.played_while_paused = state.get("playedSamples", 0)
        if self.paused_seen_at is not None and self.resume_seen_at is None and resumes:
            turn = pauses[0]
            if turn not in resumes:
                raise TestFailure(f"turn {turn} was paused but turn(s) {resumes} resumed; {self._where(state)}")
            if state.get("agentPaused"):
                raise TestFailure(f"agent.resumed was recorded but the client is still paused; {self._where(state)}")
            self.resume_seen_at = time.monotonic()
            self.notes["paused_for_s"] = round(self.resume_seen_at - self.paused_seen_at, 2)
        if self.resume_seen_at is None:
            ends = state.get("turnEnds") or []
            if ends and not pauses and state.get("status") != "agent-speaking" and self._burst_played(state):
                raise TestFailure("the reply played out without agent.paused: the burst did not land while the "
                                  f"reply's audio was playing (reply too short or too late?); {self._where(state)}")
            return False
        turn = pauses[0]
        ended = [end for end in state.get("turnEnds") or [] if end.get("turn_id") == turn]
        if not ended:
            return False
        if self.finished_at is None:
            self.finished_at = time.monotonic()
        if state.get("status") == "agent-speaking" and time.monotonic() - self.finished_at < PLAY_OUT_S:
            return False
        rate = state.get("outputSampleRate") or 16000
        after = (state.get("playedSamples", 0) - (self.played_while_paused or 0)) / rate
        # Zero when the burst paused the reply before any of its audio had played (a late reply).
        self.notes["played_before_pause_s"] = round((self.played_while_paused or 0) / rate, 2)
        self.notes["played_after_resume_s"] = round(after, 2)
        self.notes["reply_audio_sent_s"] = _reply_audio_sent(state)
        if after < MIN_PLAYED_AFTER_RESUME_S:
            raise TestFailure(f"only {after:.2f} s of agent audio played after agent.resumed; {self._where(state)}")
        return True

    def _burst_played(self, state: dict[str, Any]) -> bool:
        """Whether the capture has got past the burst and the resume delay (from frames sent)."""
        stats = state.get("stats") or {}
        captured_s = (stats.get("framesSent") or 0) * 0.02  # the page sends 20 ms frames
        return captured_s > LEAD_SILENCE_S + self.speech_s + self.gap_s + self.follow_up_s + 2.0

    def accept_on_timeout(self) -> bool:
        return False

    def timeout_message(self, state: dict[str, Any], timeout: float) -> str:
        stage = ("agent.paused" if self.paused_seen_at is None else
                 "agent.resumed" if self.resume_seen_at is None else "the end of the resumed turn")
        return f"timed out after {timeout:.0f} s waiting for {stage}; {self._where(state)}"


class BurstIgnored(_SoundOverReply):
    """The burst neither paused nor interrupted the reply, made no turn, and the reply played on past it."""

    name = "ignored"
    success = "the burst over the reply was not taken for voice: no pause, no interruption, and the reply played on"

    def update(self, state: dict[str, Any]) -> bool:
        if state.get("pauses"):
            raise TestFailure(f"the burst paused the reply (agent.paused): it was taken for voice; {self._where(state)}")
        if state.get("interruptions") or any(end.get("interrupted") for end in state.get("turnEnds") or []):
            raise TestFailure(f"the burst interrupted the reply; {self._where(state)}")
        finals = [text for text in state.get("finals") or [] if text]
        if len(finals) > 1:
            raise TestFailure(f"the burst became a turn of its own, transcribed as {finals[1:]!r}; {self._where(state)}")
        ends = state.get("turnEnds") or []
        if not ends:
            return False
        sent = _reply_audio_sent(state)
        self.notes["reply_audio_sent_s"] = sent
        # The burst came while the reply's audio was going out, or the check proves nothing.
        if sent is None or sent[1] is None or not sent[0] < self.gap_s + self.follow_up_s < sent[1]:
            raise TestFailure(f"the reply's audio was not going out when the burst came; {self._where(state)}")
        return state.get("status") != "agent-speaking"

    def accept_on_timeout(self) -> bool:
        return False

    def timeout_message(self, state: dict[str, Any], timeout: float) -> str:
        return f"timed out after {timeout:.0f} s waiting for the first turn to end; {self._where(state)}"


class InterruptedBySpeech:
    """The second sentence interrupted the first turn and became a second turn with a transcript."""

    name = "interrupt"
    success = "the second sentence interrupted the reply and became a second turn"

    def __init__(self, gap_s: float, **_: Any) -> None:
        self.gap_s = gap_s
        self.notes: dict[str, Any] = {}

    def _where(self, state: dict[str, Any]) -> str:
        return (f"the second sentence began {self.gap_s:.1f} s after the question's end; {_reply_window(state)}. "
                f"State: {_state_line(state)}")

    def update(self, state: dict[str, Any]) -> bool:
        ends = state.get("turnEnds") or []
        interruptions = state.get("interruptions") or []
        finals = state.get("finals") or []
        if not ends:
            return False
        first = ends[0].get("turn_id")
        if not ends[0].get("interrupted"):
            raise TestFailure(f"turn {first} ended without being interrupted: the second sentence did not land "
                              f"while the reply was in flight (reply too short?); {self._where(state)}")
        flushed = [entry for entry in interruptions if entry.get("turnId") == first]
        second = [end for end in ends[1:] if end.get("turn_id") != first]
        if not flushed or len(finals) < 2 or not finals[1] or not second:
            return False
        rate = state.get("outputSampleRate") or 16000
        heard = flushed[0].get("playedSamples", 0) / rate
        self.notes.update(first_turn_heard_s=round(heard, 2), second_transcript=finals[1],
                          paused_first=first in (state.get("pauses") or []), reply_audio_sent_s=_reply_audio_sent(state))
        if heard <= 0:
            raise TestFailure(f"turn {first} was interrupted before any of its audio played, so this is not a "
                              f"barge-in over playback (the reply started late?); {self._where(state)}")
        return True

    def accept_on_timeout(self) -> bool:
        return False

    def timeout_message(self, state: dict[str, Any], timeout: float) -> str:
        return (f"timed out after {timeout:.0f} s waiting for the first turn to be interrupted and a second turn "
                f"with a transcript to end; {self._where(state)}")


class TranscriptAndAudio:
    """A turn ended with a final transcript and its agent audio played; then the reply may play out (bounded)."""

    name = "transcript-and-audio"
    success = "a turn ended with a final transcript, and its agent audio played"

    def __init__(self, **_: Any) -> None:
        self.succeeded_at: float | None = None
        self.notes: dict[str, Any] = {}

    def update(self, state: dict[str, Any]) -> bool:
        finals = [text for text in state.get("finals") or [] if text]
        ended = any(end.get("turn_id") != 0 for end in state.get("turnEnds") or [])  # 0: a greeting
        if finals and ended and state.get("playedSamples", 0) > 0 and self.succeeded_at is None:
            self.succeeded_at = time.monotonic()
            self.notes["transcript"] = finals[0]
        return self.succeeded_at is not None and (state.get("status") != "agent-speaking"
                                                  or time.monotonic() - self.succeeded_at > PLAY_OUT_S)

    def accept_on_timeout(self) -> bool:
        return self.succeeded_at is not None

    def timeout_message(self, state: dict[str, Any], timeout: float) -> str:
        return (f"timed out after {timeout:.0f} s waiting for a final transcript, the end of its turn and "
                f"played agent audio; {_state_line(state)}")


class Refused:
    """The page's WebSocket was refused: a client error, no `session.ready`, no session id."""

    name = "refused"
    success = "the server refused the page: it reports a connection error and has no session"
    expects_error = True
    ADMITTED = ("ready", "listening", "agent-speaking")

    def __init__(self, **_: Any) -> None:
        self.notes: dict[str, Any] = {}

    def update(self, state: dict[str, Any]) -> bool:
        statuses = [*(state.get("statusHistory") or []), state.get("status")]
        if state.get("sessionId") or any(status in self.ADMITTED for status in statuses):
            raise TestFailure(f"the server admitted the page: session {state.get('sessionId')!r}, statuses {statuses}")
        if state.get("status") != "error":
            return False
        errors = state.get("errors") or []
        if not errors:
            raise TestFailure("the page's status is error but it reported no error")
        self.notes["errors"] = [f"{error.get('code')}: {error.get('message')}" for error in errors]
        return True

    def accept_on_timeout(self) -> bool:
        return False

    def timeout_message(self, state: dict[str, Any], timeout: float) -> str:
        return f"timed out after {timeout:.0f} s waiting for the page to report a refused connection; {_state_line(state)}"


EXPECTATIONS = {kind.name: kind for kind in (ReplyPlayed, PauseThenResume, BurstIgnored, InterruptedBySpeech, TranscriptAndAudio, Refused)}
