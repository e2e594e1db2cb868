#!/usr/bin/env python3
"""Speak text into a WAV file with the local hibari-tts voice (24 kHz, 16-bit mono).

    .venv/bin/python scripts/say.py "What is the capital of France?" question.wav

For the tests and benchmarks that need spoken questions: a natural voice that Whisper hears
right (espeak-ng's robotic one is misheard far more often). Exit status 1 with a message when
the text is empty or the file cannot be written.
"""

from __future__ import annotations

import sys
import wave

import numpy as np


def main(argv: list[str]) -> int:
    if len(argv) != 3 or not argv[1].strip():
        sys.stderr.write("usage: say.py TEXT OUT.wav\n")
        return 1
    from hibari import SAMPLE_RATE, Hibari

    tts = Hibari(voice="heart", threads=2)
    pieces = [tts.from_phonemes(phonemes) for phonemes in tts.phonemize(argv[1])]
    audio = np.concatenate([np.asarray(p, dtype=np.float32) for p in pieces if len(p)] or [np.zeros(0, np.float32)])
    if audio.size == 0:
        sys.stderr.write(f"say.py: no speech for {argv[1]!r}\n")
        return 1
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    try:
        with wave.open(argv[2], "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(SAMPLE_RATE)
            out.writeframes(pcm.tobytes())
    except OSError as error:
        sys.stderr.write(f"say.py: cannot write {argv[2]}: {error}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
