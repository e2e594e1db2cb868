#!/usr/bin/env python3
"""OpenAI-compatible text-to-speech server on hibari (hibari-tts, ONNX Runtime).

    python engines/speech_server.py --host 127.0.0.1 --port P [--threads 2]

Endpoints:
    GET  /health, /healthz        -> {"status": "ok"} (only once the model is loaded and warm)
    GET  /v1/audio/voices         -> {"voices": [...]}
    POST /v1/audio/speech         (JSON, OpenAI shape; streamed with chunked transfer encoding)

Only the standard library, numpy and hibari (numpy + onnxruntime) are used, and nothing touches the
network: only hibari's bundled voice "heart" is ever loaded (every accepted voice name maps to it).
The model is loaded and one sentence synthesized before the socket is bound; one line
"speech_server ready on HOST:PORT" is printed to stdout once it listens.

Audio is 24 kHz mono. response_format "pcm" is raw 16-bit signed little-endian samples; "wav" is the
same after a RIFF header whose sizes are 0xFFFFFFFF (the length is not known when it is sent). mp3,
opus, aac and flac (OpenAI's default is mp3, so an absent response_format too) are refused with 400.
stream_format "sse" sends base64 PCM in speech.audio.delta events and a speech.audio.done event.

Streaming: the input is cut into sentences (hibari's splitter) and the first sentence, when longer
than FIRST_PIECE_MAX_CHARS, once more at its first clause boundary, so that the first piece is short.
Pieces are synthesized one at a time and each is written (in HTTP chunks of at most 2 s of audio) as
soon as it exists; between pieces the server checks that the client is still there and stops if not.
The model starts and ends every piece with 0.2-0.45 s of silence: that is trimmed (below TRIM_DBFS,
keeping TRIM_MARGIN_S), so the first byte is speech, and fixed pauses are put back between pieces
(SENTENCE_GAP_S after a sentence, CLAUSE_GAP_S after a clause cut; both divided by speed).
speed is hibari's own (the model divides its predicted durations by it); its effect levels off above
about 2 (4.0 gives about 0.55x the duration of 1.0, 2.0 about 0.6x).

Bounds: a body of at most MAX_BODY_BYTES; at most MAX_ACTIVE requests synthesizing, a request that
waits QUEUE_TIMEOUT_S for a slot gets 503. Synthesis is gated piece by piece, SYNTH_PARALLEL pieces at
once: on two cores, 2 beat both a single lock (hibari's numpy signal processing is single-threaded and
overlaps the other request's ONNX run) and 4 at once (oversubscribed). Sockets time out after
SOCKET_TIMEOUT_S. Every response closes the connection. One log line per request goes to stderr; the
input text is never logged.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import struct
import sys
import threading
import time

import numpy as np

from engine_http import ApiError, EngineHandler, exit_on_signals, listen_and_serve, log

MAX_BODY_BYTES = 64 * 1024
MAX_INPUT_CHARS = 4096  # OpenAI's limit
SAMPLE_RATE = 24000  # hibari.SAMPLE_RATE; checked at load
SPEECH_PATHS = ("/v1/audio/speech",)
HEALTH_PATHS = ("/health", "/healthz")
VOICES_PATHS = ("/v1/audio/voices",)
KNOWN_PATHS = SPEECH_PATHS + HEALTH_PATHS + VOICES_PATHS
# Every name is hibari's bundled voice "heart" (Kokoro af_heart); the others would need a download.
VOICES = ("heart", "af_heart", "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova",
          "sage", "shimmer", "verse", "marin", "cedar")
AUDIO_FORMATS = {"pcm": f"audio/pcm;rate={SAMPLE_RATE}", "wav": "audio/wav"}
UNSUPPORTED_FORMATS = ("mp3", "opus", "aac", "flac")
STREAM_FORMATS = ("audio", "sse")
SPEED_MIN, SPEED_MAX = 0.25, 4.0

MAX_ACTIVE = 4  # requests synthesizing at once
SYNTH_PARALLEL = 2  # pieces synthesized at once, across requests (measured on 2 cores: 1, 2, 4)
QUEUE_TIMEOUT_S = 10.0  # longest wait for one of those slots before 503
SOCKET_TIMEOUT_S = 30.0  # a stalled client (reading or writing) is dropped after this
# Audio is written in HTTP chunks of at most 2 s: each write has its own SOCKET_TIMEOUT_S, so a
# client that reads at playback pace is never dropped, and SSE events stay a manageable size.
WRITE_CHUNK_BYTES = 2 * SAMPLE_RATE * 2
DISCARD_MAX_BYTES = 1024 * 1024  # an unwanted body up to this is read and dropped before answering

FIRST_PIECE_MAX_CHARS = 60  # a longer first sentence is cut at its first clause boundary
FIRST_PIECE_MIN_CHARS = 4  # ... but not before this many characters ("So," stays whole)
REST_MIN_CHARS = 10  # ... nor when less than this would be left after the cut
SENTENCE_GAP_S = 0.25  # silence between sentences (hibari's own pauses at commas are 0.1-0.26 s)
CLAUSE_GAP_S = 0.12  # silence at the clause cut of the first sentence
TRIM_DBFS = -60.0  # leading/trailing 10 ms frames quieter than this are trimmed ...
TRIM_MARGIN_S = 0.02  # ... keeping this much of them
TRIM_FRAME = SAMPLE_RATE // 100
WARMUP_TEXT = "Hello, this is Parley's voice warming up. Ready."

# A clause boundary: , ; : followed by a space, a spaced dash, or an unspaced em/en dash.
_CLAUSE_CUT = re.compile(r"[,;:](?=\s)|\s[-\u2013\u2014]+(?=\s)|[\u2013\u2014](?=\S)")
_TOKENS = re.compile(r"\w+|[^\w\s]")


class ClientGone(Exception):
    """The client closed the connection (or stopped reading) mid-stream."""


# --------------------------------------------------------------------------
# request
# --------------------------------------------------------------------------

class SpeechRequest:
    __slots__ = ("text", "voice", "fmt", "speed", "stream_format")

    def __init__(self, text: str, voice: str, fmt: str, speed: float, stream_format: str):
        self.text = text
        self.voice = voice
        self.fmt = fmt
        self.speed = speed
        self.stream_format = stream_format


def _short(value) -> str:
    """A user-supplied value for an error message, cut short."""
    text = value if isinstance(value, str) else json.dumps(value)
    return repr(text if len(text) <= 40 else text[:40] + "...")


def parse_speech_request(body: bytes) -> SpeechRequest:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "We could not parse the JSON body of your request. (HINT: This likely "
                            "means you aren't using your HTTP library correctly. The request body "
                            "must be a JSON object.)") from None
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object.")

    model = data.get("model")
    if model is None:
        raise ApiError(400, "Missing required parameter: 'model'.", param="model",
                       code="missing_required_parameter")
    if not isinstance(model, str) or not model.strip():
        raise ApiError(400, "Invalid type for 'model': expected a non-empty string.", param="model",
                       code="invalid_type")

    text = data.get("input")
    if text is None:
        raise ApiError(400, "Missing required parameter: 'input'.", param="input",
                       code="missing_required_parameter")
    if not isinstance(text, str):
        raise ApiError(400, "Invalid type for 'input': expected a string.", param="input",
                       code="invalid_type")
    if not text.strip():
        raise ApiError(400, "'input' must not be empty.", param="input", code="empty_string")
    if len(text) > MAX_INPUT_CHARS:
        raise ApiError(400, f"'input' is {len(text)} characters long; the maximum is "
                            f"{MAX_INPUT_CHARS}.", param="input", code="string_above_max_length")

    voice = data.get("voice")
    if voice is None:
        raise ApiError(400, "Missing required parameter: 'voice'.", param="voice",
                       code="missing_required_parameter")
    if isinstance(voice, dict):
        voice = voice.get("id")
    if not isinstance(voice, str):
        raise ApiError(400, "Invalid 'voice': expected a voice name or an object {\"id\": name}.",
                       param="voice", code="invalid_type")
    if voice.strip().lower() not in VOICES:
        raise ApiError(400, f"Unknown voice {_short(voice)}; supported voices: "
                            f"{', '.join(VOICES)} (all read by hibari's one bundled voice, heart).",
                       param="voice", code="invalid_value")

    fmt = data.get("response_format")
    if fmt is None:
        fmt = "mp3"  # OpenAI's default
    if not isinstance(fmt, str):
        raise ApiError(400, "Invalid type for 'response_format': expected a string.",
                       param="response_format", code="invalid_type")
    if fmt not in AUDIO_FORMATS:
        if fmt in UNSUPPORTED_FORMATS:
            msg = (f"unsupported response_format {fmt!r}" +
                   (" (OpenAI's default when none is given)" if "response_format" not in data
                    or data["response_format"] is None else "") +
                   "; this server produces pcm (24 kHz 16-bit mono) and wav.")
        else:
            msg = (f"Invalid response_format {_short(fmt)}; supported: pcm, wav "
                   f"({', '.join(UNSUPPORTED_FORMATS)} are not produced by this server).")
        raise ApiError(400, msg, param="response_format", code="unsupported_response_format")

    speed = data.get("speed")
    if speed is None:
        speed = 1.0
    if isinstance(speed, bool) or not isinstance(speed, (int, float)):
        raise ApiError(400, "Invalid type for 'speed': expected a number.", param="speed",
                       code="invalid_type")
    speed = float(speed)
    if not SPEED_MIN <= speed <= SPEED_MAX:  # also false for NaN
        raise ApiError(400, f"'speed' must be between {SPEED_MIN} and {SPEED_MAX}.", param="speed",
                       code="invalid_value")

    stream_format = data.get("stream_format")
    if stream_format is None:
        stream_format = "audio"
    if stream_format not in STREAM_FORMATS:
        raise ApiError(400, f"Invalid stream_format {_short(stream_format)}; supported: "
                            f"{', '.join(STREAM_FORMATS)}.", param="stream_format",
                       code="invalid_value")
    # "instructions" and unknown fields are accepted and ignored.
    return SpeechRequest(text, voice, fmt, speed, stream_format)


def usage_tokens(text: str) -> int:
    """An approximation of OpenAI's input token count: words and punctuation marks."""
    return len(_TOKENS.findall(text))


# --------------------------------------------------------------------------
# text and audio
# --------------------------------------------------------------------------

def first_clause_cut(sentence: str) -> int | None:
    """Index to cut a long first sentence at, after its first usable clause boundary."""
    for m in _CLAUSE_CUT.finditer(sentence):
        cut = m.end()
        if cut < FIRST_PIECE_MIN_CHARS:
            continue
        if len(sentence) - cut < REST_MIN_CHARS:
            return None
        return cut
    return None


def split_pieces(sentences: list[str]) -> list[tuple[str, float]]:
    """(text, pause before it in seconds at speed 1) for each piece to synthesize in turn."""
    pieces: list[tuple[str, float]] = []
    for i, sentence in enumerate(sentences):
        gap = 0.0 if i == 0 else SENTENCE_GAP_S
        if i == 0 and len(sentence) > FIRST_PIECE_MAX_CHARS:
            cut = first_clause_cut(sentence)
            if cut is not None:
                head, tail = sentence[:cut].strip(), sentence[cut:].strip()
                if head and tail:
                    pieces.append((head, gap))
                    pieces.append((tail, CLAUSE_GAP_S))
                    continue
        pieces.append((sentence, gap))
    return pieces


def trim_silence(audio: np.ndarray) -> np.ndarray:
    """Drop leading and trailing near-silence (10 ms frames below TRIM_DBFS), keeping a margin."""
    frames = len(audio) // TRIM_FRAME
    if frames == 0:
        return audio[:0]
    blocks = audio[:frames * TRIM_FRAME].reshape(frames, TRIM_FRAME)
    rms = np.sqrt(np.mean(np.square(blocks, dtype=np.float32), axis=1))
    loud = np.flatnonzero(rms > 10.0 ** (TRIM_DBFS / 20.0))
    if loud.size == 0:
        return audio[:0]
    margin = int(TRIM_MARGIN_S * SAMPLE_RATE)
    start = max(0, int(loud[0]) * TRIM_FRAME - margin)
    end = min(len(audio), (int(loud[-1]) + 1) * TRIM_FRAME + margin)
    return audio[start:end]


def to_pcm16(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def wav_header() -> bytes:
    """A 44-byte RIFF/WAVE header for 24 kHz 16-bit mono with unknown (0xFFFFFFFF) sizes."""
    unknown = 0xFFFFFFFF
    return (b"RIFF" + struct.pack("<I", unknown) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, SAMPLE_RATE, SAMPLE_RATE * 2, 2, 16)
            + b"data" + struct.pack("<I", unknown))


# --------------------------------------------------------------------------
# engine
# --------------------------------------------------------------------------

class Engine:
    def __init__(self, threads: int):
        import hibari
        from hibari import Hibari
        if hibari.SAMPLE_RATE != SAMPLE_RATE:
            raise RuntimeError(f"hibari's sample rate is {hibari.SAMPLE_RATE}, expected {SAMPLE_RATE}")
        self.version = getattr(hibari, "__version__", "?")
        # voice="heart" is the one inside the wheel: no download, no network.
        self.tts = Hibari(voice="heart", threads=threads)
        # at most SYNTH_PARALLEL pieces synthesized at once (see the module docstring)
        self.gate = threading.BoundedSemaphore(SYNTH_PARALLEL)
        self.slots = threading.BoundedSemaphore(MAX_ACTIVE)
        self.split_sentences = Hibari.split_sentences

    def warm_up(self) -> float:
        """Load the G2P (lexicon, tagger, out-of-vocabulary net) and run the model once."""
        _ = self.tts.g2p.oov  # lazily loaded on the first unknown word otherwise
        audio = np.zeros(0, np.float32)
        for piece, _gap in split_pieces(self.split_sentences(WARMUP_TEXT)):
            for phonemes in self.tts.phonemize(piece):
                audio = self.tts.from_phonemes(phonemes)
        return len(audio) / SAMPLE_RATE

    def pieces(self, text: str, speed: float, should_stop):
        """Yield (pause_s, float32 audio) per synthesized piece, speech only (silence trimmed).

        should_stop() is asked before each piece after the first; True ends the generator."""
        first = True
        for piece, gap in split_pieces(self.split_sentences(text)):
            with self.gate:
                chunks = self.tts.phonemize(piece)  # usually one; hibari cuts >400 phonemes
            for k, phonemes in enumerate(chunks):
                if not first and should_stop():
                    return
                with self.gate:
                    audio = self.tts.from_phonemes(phonemes, speed=speed)
                first = False
                yield (gap if k == 0 else CLAUSE_GAP_S) / speed, trim_silence(audio)


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------

class Handler(EngineHandler):
    server_version = "parley-speech/1.0"
    timeout = SOCKET_TIMEOUT_S  # socket timeout for reads and writes
    disable_nagle_algorithm = True  # each chunk leaves at once
    engine: Engine = None  # set in main()



    def _send(self, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, obj: dict, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"),
                   "application/json", headers)

    def _finish(self, status: int, started: float, chars: int | None = None,
                audio_s: float | None = None, first_byte: float | None = None,
                note: str = "") -> None:
        ms = (time.monotonic() - started) * 1000.0
        parts = [f"speech_server {self.command} {self._path()} {status} {ms:.0f}ms"]
        if chars is not None:
            parts.append(f"chars={chars}")
        if audio_s is not None:
            parts.append(f"audio_s={audio_s:.2f}")
        if first_byte is not None:
            parts.append(f"first_audio_ms={(first_byte - started) * 1000.0:.0f}")
        if note:
            parts.append(note)
        log(" ".join(parts))

    def _error(self, err: ApiError, started: float, chars: int | None = None) -> None:
        headers = {"Retry-After": "1"} if err.status in (429, 503) else None
        try:
            self._send_json(err.status, err.body(), headers)
        except OSError:
            pass  # the client is gone; still log
        self._finish(err.status, started, chars, note=f"error={err.message!r}")

    def _discard_body(self) -> None:
        """Read and drop a body we won't use, up to DISCARD_MAX_BYTES, 64 KiB at a time, so the
        client gets the answer rather than a reset (closing on unread data sends RST)."""
        self.close_connection = True
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return
        if length <= 0 or length > DISCARD_MAX_BYTES or self.headers.get("Transfer-Encoding"):
            return
        try:
            while length > 0:
                got = self.rfile.read(min(length, 65536))
                if not got:
                    break
                length -= len(got)
        except OSError:
            pass

    def handle_expect_100(self):
        """Refuse an oversized body before the client sends it."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY_BYTES:
            started = time.monotonic()
            self.close_connection = True
            self._error(ApiError(413, f"Request body of {length} bytes exceeds the limit of "
                                      f"{MAX_BODY_BYTES} bytes.", code="request_too_large"), started)
            return False
        return super().handle_expect_100()

    def _not_here(self, started: float) -> None:
        path = self._path()
        if path in KNOWN_PATHS:
            self._error(ApiError(405, f"Method {self.command} not allowed on {path}."), started)
        else:
            self._error(ApiError(404, f"Unknown path: {path}", code="not_found"), started)

    # --- methods ---------------------------------------------------------

    def do_GET(self):
        started = time.monotonic()
        self.close_connection = True
        path = self._path()
        if path in HEALTH_PATHS:
            self._send_json(200, {"status": "ok"})
            self._finish(200, started)
        elif path in VOICES_PATHS:
            self._send_json(200, {"voices": list(VOICES)})
            self._finish(200, started)
        else:
            self._not_here(started)

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        started = time.monotonic()
        self.close_connection = True
        if self._path() not in SPEECH_PATHS:
            self._discard_body()
            self._not_here(started)
            return
        chars = None
        try:
            req = parse_speech_request(self._read_body())
            chars = len(req.text)
            self._speak(req, started)
        except ApiError as err:
            self._error(err, started, chars)
        except (TimeoutError, ConnectionError) as exc:  # reading the body
            self._finish(408, started, chars, note=f"error='reading the request: "
                                                   f"{type(exc).__name__}'")


    def do_OPTIONS(self):
        self._other_method()

    def _other_method(self):
        started = time.monotonic()
        self._discard_body()
        self._not_here(started)

    # --- speech ------------------------------------------------------------

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            raise ApiError(411, "Chunked request bodies are not supported; send Content-Length.")
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""  # answered as unparsable JSON
        try:
            length = int(raw)
            if length < 0:
                raise ValueError
        except ValueError:
            raise ApiError(400, "Invalid Content-Length header.") from None
        if length > MAX_BODY_BYTES:
            self._discard_body()
            raise ApiError(413, f"Request body of {length} bytes exceeds the limit of "
                                f"{MAX_BODY_BYTES} bytes.", code="request_too_large")
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            raise ApiError(400, "Request body shorter than Content-Length.")
        return body


    def _speak(self, req: SpeechRequest, started: float) -> None:
        engine = self.engine
        if not engine.slots.acquire(timeout=QUEUE_TIMEOUT_S):
            raise ApiError(503, f"The speech engine is busy ({MAX_ACTIVE} requests synthesizing); "
                                "retry shortly.", code="engine_overloaded")
        try:
            self._stream(req, started)
        finally:
            engine.slots.release()

    def _stream(self, req: SpeechRequest, started: float) -> None:
        sse = req.stream_format == "sse"
        chunked = self.request_version != "HTTP/1.0"  # HTTP/1.0: the close ends the body
        chars = len(req.text)
        pieces = self.engine.pieces(req.text, req.speed, self._client_gone)

        # Synthesize until there is audio (or none at all) before committing to a 200.
        pending: list[tuple[float, np.ndarray]] = []
        try:
            for gap, audio in pieces:
                if len(audio):
                    pending.append((0.0, audio))  # no pause before the first sound
                    break
        except Exception as exc:
            raise ApiError(500, f"Synthesis failed: {type(exc).__name__}: {exc}") from None

        wfile = self.wfile

        def write(data: bytes) -> None:
            if not data:
                return
            if chunked:
                data = b"%x\r\n" % len(data) + data + b"\r\n"
            try:
                wfile.write(data)
                wfile.flush()
            except (OSError, ValueError) as exc:  # broken pipe, reset, timeout, closed file
                raise ClientGone() from exc

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream" if sse else AUDIO_FORMATS[req.fmt])
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Accel-Buffering", "no")
        self.send_header("Connection", "close")
        try:
            self.end_headers()
        except OSError:
            self._finish(200, started, chars, 0.0, note="client went away after 0.00 s of audio")
            return

        samples = 0
        first_byte = None
        prefix = wav_header() if (req.fmt == "wav" and not sse) else b""
        try:
            def emit(gap: float, audio: np.ndarray) -> None:
                nonlocal samples, first_byte, prefix
                if not len(audio):
                    return
                if samples and gap > 0:
                    audio = np.concatenate([np.zeros(int(round(gap * SAMPLE_RATE)), np.float32),
                                            audio])
                pcm = to_pcm16(audio)
                for at in range(0, len(pcm), WRITE_CHUNK_BYTES):  # even: whole samples
                    part = pcm[at:at + WRITE_CHUNK_BYTES]
                    if sse:
                        event = {"type": "speech.audio.delta",
                                 "audio": base64.b64encode(part).decode("ascii")}
                        write(b"data: " + json.dumps(event).encode("ascii") + b"\n\n")
                    else:
                        write(prefix + part)
                        prefix = b""
                    samples += len(part) // 2
                    if first_byte is None:
                        first_byte = time.monotonic()

            for gap, audio in pending:
                emit(gap, audio)
            for gap, audio in pieces:
                emit(gap, audio)
            if prefix:  # no audio at all: still a valid (empty) WAV
                write(prefix)
            if sse:
                n = usage_tokens(req.text)
                done = {"type": "speech.audio.done",
                        "usage": {"input_tokens": n, "output_tokens": 0, "total_tokens": n}}
                write(b"data: " + json.dumps(done).encode("ascii") + b"\n\n")
            if chunked:
                try:
                    wfile.write(b"0\r\n\r\n")
                    wfile.flush()
                except (OSError, ValueError) as exc:
                    raise ClientGone() from exc
        except ClientGone:
            pieces.close()
            self._finish(200, started, chars, samples / SAMPLE_RATE, first_byte,
                         note=f"client went away after {samples / SAMPLE_RATE:.2f} s of audio")
            return
        except Exception as exc:  # synthesis failed after the 200: cut the body short
            pieces.close()
            self._finish(200, started, chars, samples / SAMPLE_RATE, first_byte,
                         note=f"error='synthesis failed mid-stream: {type(exc).__name__}' "
                              "(response truncated)")
            return
        self._finish(200, started, chars, samples / SAMPLE_RATE, first_byte,
                     note=f"format={'sse' if sse else req.fmt} speed={req.speed:g}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8179, help="0 picks a free port")
    ap.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads")
    args = ap.parse_args(argv)

    exit_on_signals("speech_server")

    t0 = time.monotonic()
    try:
        Handler.engine = engine = Engine(max(1, args.threads))
        t1 = time.monotonic()
        warm_s = engine.warm_up()
    except Exception as exc:
        log(f"speech_server: failed to load hibari: {type(exc).__name__}: {exc}")
        return 1
    t2 = time.monotonic()
    log(f"speech_server: hibari {engine.version} voice heart loaded in {(t1 - t0) * 1000:.0f}ms, "
        f"warm-up ({warm_s:.2f} s of audio) {(t2 - t1) * 1000:.0f}ms (threads={args.threads})")
    return listen_and_serve("speech_server", args.host, args.port, Handler)


if __name__ == "__main__":
    sys.exit(main())
