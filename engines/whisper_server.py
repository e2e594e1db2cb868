#!/usr/bin/env python3
"""OpenAI-compatible speech-to-text server on faster-whisper (CTranslate2).

    python engines/whisper_server.py --model DIR --host 127.0.0.1 --port P [--threads 2]

Endpoints:
    GET  /health                                   -> {"status": "ok"}
    POST /v1/audio/transcriptions                  (multipart/form-data, OpenAI shape)
    POST /openai/v1/audio/transcriptions           (alias)

Only the standard library, numpy and faster-whisper are used. The model is
loaded before the socket is bound; one line
"whisper_server ready on HOST:PORT" is printed to stdout once it listens.
Transcriptions are serialised with a lock (the engine already uses every
thread it is given). One log line per request goes to stderr; transcript
text is never logged.
"""

from __future__ import annotations

import argparse
import email.message
import email.utils
import io
import json
import os
import sys
import threading
import time
import wave

import numpy as np

from engine_http import ApiError, EngineHandler, exit_on_signals, listen_and_serve, log

MAX_BODY_BYTES = 25 * 1024 * 1024  # OpenAI's limit on uploads
SAMPLE_RATE = 16000
TRANSCRIBE_PATHS = ("/v1/audio/transcriptions", "/openai/v1/audio/transcriptions")
HEALTH_PATHS = ("/health", "/healthz")
RESPONSE_FORMATS = ("json", "text", "verbose_json")
# A segment is treated as hallucinated silence when both hold.
NO_SPEECH_PROB_MIN = 0.6
AVG_LOGPROB_MAX = -1.0
# Utterances up to this long are decoded with a shortened encoder window (Engine._transcribe_short).
SHORT_CONTEXT_MAX_S = 25.0
SHORT_CONTEXT_FRAMES = 1000  # 10 s of 10 ms mel frames: the shortest window that did not loop
FULL_CONTEXT_FRAMES = 3000   # Whisper's 30 s






# --------------------------------------------------------------------------
# multipart/form-data
# --------------------------------------------------------------------------

def _header_params(name: str, value: str) -> tuple[str, dict[str, str]]:
    """Parse 'main/type; a=b; c="d"' with the stdlib's RFC 2231-aware parser."""
    msg = email.message.Message()
    msg[name] = value
    params = msg.get_params(header=name, unquote=True) or []
    if not params:
        return "", {}
    main = params[0][0].strip().lower()
    out: dict[str, str] = {}
    for k, v in params[1:]:
        if isinstance(v, tuple):  # RFC 2231 encoded value
            v = email.utils.collapse_rfc2231_value(v)
        out[k.strip().lower()] = v
    return main, out


class FormPart:
    __slots__ = ("name", "filename", "content_type", "data")

    def __init__(self, name: str, filename: str | None, content_type: str | None, data: bytes):
        self.name = name
        self.filename = filename
        self.content_type = content_type
        self.data = data

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


def parse_multipart(body: bytes, boundary: str) -> dict[str, FormPart]:
    """Split a multipart/form-data body (RFC 7578). Binary-safe; tolerant of bare LF."""
    if not boundary or len(boundary) > 200:
        raise ApiError(400, "Invalid multipart boundary.")
    delim = b"--" + boundary.encode("latin-1")
    # The first delimiter is at the very start or after a line break (preamble).
    if body.startswith(delim):
        pos = 0
    else:
        pos = body.find(b"\n" + delim)
        if pos < 0:
            raise ApiError(400, "Malformed multipart body: no boundary found.")
        pos += 1
    parts: dict[str, FormPart] = {}
    while True:
        pos += len(delim)
        if body[pos:pos + 2] == b"--":
            break  # close delimiter
        eol = body.find(b"\n", pos)
        if eol < 0:
            raise ApiError(400, "Malformed multipart body: truncated part.")
        start = eol + 1
        # The next delimiter is preceded by CRLF (or LF from sloppy clients).
        nxt = body.find(b"\r\n" + delim, start)
        if nxt >= 0:
            end, pos = nxt, nxt + 2
        else:
            nxt = body.find(b"\n" + delim, start)
            if nxt < 0:
                raise ApiError(400, "Malformed multipart body: missing closing boundary.")
            end, pos = nxt, nxt + 1
        part = body[start:end]
        sep = part.find(b"\r\n\r\n")
        if sep >= 0:
            raw_headers, data = part[:sep], part[sep + 4:]
        else:
            sep = part.find(b"\n\n")
            if sep < 0:
                if part.startswith(b"\r\n") or part.startswith(b"\n"):
                    raw_headers, data = b"", part.split(b"\n", 1)[1]
                else:
                    raise ApiError(400, "Malformed multipart body: part without headers.")
            else:
                raw_headers, data = part[:sep], part[sep + 2:]
        headers: dict[str, str] = {}
        for line in raw_headers.decode("utf-8", errors="replace").splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        disp, dparams = _header_params("content-disposition", headers.get("content-disposition", ""))
        name = dparams.get("name")
        if disp != "form-data" or name is None:
            continue  # not a form field; ignore
        if name not in parts:  # first occurrence wins
            parts[name] = FormPart(name, dparams.get("filename"), headers.get("content-type"), data)
    return parts


# --------------------------------------------------------------------------
# audio
# --------------------------------------------------------------------------

def decode_audio_bytes(data: bytes) -> np.ndarray:
    """Return float32 mono samples at 16 kHz."""
    if not data:
        raise ApiError(400, "The audio file is empty.", param="file")
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        try:
            with wave.open(io.BytesIO(data), "rb") as w:
                channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
                comp = w.getcomptype()
                frames = w.readframes(w.getnframes())
            if comp == "NONE" and width == 2 and rate == SAMPLE_RATE and channels >= 1:
                usable = len(frames) - len(frames) % (2 * channels)
                pcm = np.frombuffer(frames[:usable], dtype="<i2").astype(np.float32) / 32768.0
                if channels > 1:
                    pcm = pcm.reshape(-1, channels).mean(axis=1)
                return np.ascontiguousarray(pcm, dtype=np.float32)
        except (wave.Error, EOFError, ValueError):
            pass  # e.g. WAVE_FORMAT_EXTENSIBLE or float WAV: let FFmpeg (PyAV) try
    try:
        from faster_whisper import decode_audio
        audio = decode_audio(io.BytesIO(data), sampling_rate=SAMPLE_RATE)
    except Exception as exc:  # PyAV raises many types for garbage input
        raise ApiError(400, f"Could not decode the audio file: {type(exc).__name__}.",
                       param="file") from None
    return np.ascontiguousarray(audio, dtype=np.float32)


# --------------------------------------------------------------------------
# engine
# --------------------------------------------------------------------------

class Engine:
    def __init__(self, model_dir: str, threads: int):
        from faster_whisper import WhisperModel
        self.model = WhisperModel(model_dir, device="cpu", compute_type="int8",
                                  cpu_threads=threads, num_workers=1)
        self.lock = threading.Lock()
        try:
            from faster_whisper.tokenizer import _LANGUAGE_CODES
            self.languages = set(_LANGUAGE_CODES)
        except Exception:
            self.languages = None

    def transcribe(self, audio: np.ndarray, language: str | None, prompt: str | None,
                   temperature: float | None, wanted=lambda: True) -> dict | None:
        """The transcript, or None when `wanted()` says, once the engine is free, that the
        client no longer waits for it (a speculative request Parley cancelled)."""
        duration = float(len(audio)) / SAMPLE_RATE
        if len(audio) < SAMPLE_RATE // 100:  # < 10 ms: nothing to hear
            return {"text": "", "language": language or "en", "duration": duration, "segments": []}
        kwargs = dict(beam_size=1, language=language, condition_on_previous_text=False,
                      without_timestamps=True, vad_filter=False, initial_prompt=prompt or None)
        if temperature is not None:
            kwargs["temperature"] = temperature
        short = (duration <= SHORT_CONTEXT_MAX_S and language is not None and not prompt
                 and not temperature)
        with self.lock:
            if not wanted():
                return None
            if short:
                fast = self._transcribe_short(audio, language, duration)
                if fast is not None:
                    return fast
            segments, info = self.model.transcribe(audio, **kwargs)
            kept = []
            for seg in segments:  # the generator does the work; consume under the lock
                if seg.no_speech_prob > NO_SPEECH_PROB_MIN and seg.avg_logprob < AVG_LOGPROB_MAX:
                    continue
                kept.append(seg)
        text = "".join(s.text for s in kept).strip()
        return {
            "text": text,
            "language": info.language,
            "duration": round(float(info.duration), 3),
            "segments": [
                {"id": i, "start": round(float(s.start), 3), "end": round(float(s.end), 3),
                 "text": s.text, "no_speech_prob": float(s.no_speech_prob),
                 "avg_logprob": float(s.avg_logprob)}
                for i, s in enumerate(kept)
            ],
        }


    def _transcribe_short(self, audio: np.ndarray, language: str, duration: float) -> dict | None:
        """Greedy decoding of a short utterance with the encoder run on a shortened window.

        Whisper's encoder normally sees 30 s of (padded) audio; for a 2 s question that padding
        is most of the work. CTranslate2 accepts fewer frames (as whisper.cpp's `audio_ctx`
        does): a 10 s window (the utterance padded with silence to at least 10 s, in steps of
        1 s) took 80-100 ms instead of 350-450 ms on 2 cores, with the same transcripts on the
        test questions (BENCHMARKS.md); windows much shorter than 10 s made Whisper loop. A
        result that does not end by itself within a length plausible for the audio (a loop),
        or that looks like silence, returns None and the full decoder runs instead.
        """
        import ctranslate2
        from faster_whisper.tokenizer import Tokenizer

        model = self.model
        features = model.feature_extractor(audio)
        frames = features.shape[-1]
        window = min(FULL_CONTEXT_FRAMES,
                     max(SHORT_CONTEXT_FRAMES, (frames // 100 + 2) * 100))
        padded = np.zeros((features.shape[0], window), dtype=np.float32)
        padded[:, :min(frames, window)] = features[:, :window]
        tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe",
                              language=language if model.model.is_multilingual else "en")
        prompt = list(tokenizer.sot_sequence) + [tokenizer.no_timestamps]
        limit = len(prompt) + 16 + int(duration * 10)
        encoded = model.model.encode(ctranslate2.StorageView.from_array(padded[None]), to_cpu=False)
        result = model.model.generate(encoded, [prompt], beam_size=1, max_length=limit,
                                      return_scores=True, return_no_speech_prob=True)[0]
        tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        if len(result.sequences_ids[0]) + len(prompt) >= limit:
            return None  # ran to the limit: probably a loop; let the full decoder try
        score, no_speech = float(result.scores[0]), float(result.no_speech_prob)
        silent = no_speech > NO_SPEECH_PROB_MIN and score < AVG_LOGPROB_MAX
        text = "" if silent else tokenizer.decode(tokens).strip()
        segments = [] if silent or not text else [
            {"id": 0, "start": 0.0, "end": round(duration, 3), "text": " " + text,
             "no_speech_prob": no_speech, "avg_logprob": score}]
        return {"text": text, "language": language, "duration": round(duration, 3),
                "segments": segments}


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------

class Handler(EngineHandler):
    server_version = "parley-whisper/1.0"
    engine: Engine = None  # set in main()



    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, obj: dict) -> None:
        self._send(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"),
                   "application/json")

    def _finish(self, status: int, started: float, audio_s: float | None = None,
                note: str = "") -> None:
        ms = (time.monotonic() - started) * 1000.0
        audio = f" audio_s={audio_s:.2f}" if audio_s is not None else ""
        extra = f" {note}" if note else ""
        log(f"whisper_server {self.command} {self._path()} {status} {ms:.0f}ms{audio}{extra}")

    def _error(self, err: ApiError, started: float, audio_s: float | None = None) -> None:
        self._send_json(err.status, err.body())
        self._finish(err.status, started, audio_s, note=f"error={err.message!r}")

    def _discard_body(self) -> None:
        """Keep the connection usable after an early error, or close it."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if self.headers.get("Transfer-Encoding") or length < 0 or length > 1024 * 1024:
            self.close_connection = True
        elif length:
            self.rfile.read(length)

    # --- methods ---------------------------------------------------------

    def do_GET(self):
        started = time.monotonic()
        path = self._path()
        if path in HEALTH_PATHS:
            self._send_json(200, {"status": "ok"})
            self._finish(200, started)
        elif path in TRANSCRIBE_PATHS:
            self._error(ApiError(405, f"Method GET not allowed on {path}; use POST."), started)
        else:
            self._error(ApiError(404, f"Unknown path: {path}", code="not_found"), started)

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        started = time.monotonic()
        path = self._path()
        if path not in TRANSCRIBE_PATHS:
            self._discard_body()
            status = 405 if path in HEALTH_PATHS else 404
            msg = (f"Method POST not allowed on {path}." if status == 405
                   else f"Unknown path: {path}")
            self._error(ApiError(status, msg, code="not_found" if status == 404 else None), started)
            return
        audio_s = None
        try:
            audio_s, result, fmt = self._transcribe()
        except ApiError as err:
            self._error(err, started, audio_s)
            return
        except Exception as exc:  # engine failure: report, keep serving
            self._error(ApiError(500, f"Transcription failed: {type(exc).__name__}: {exc}"),
                        started, audio_s)
            return
        if result is None:
            self.close_connection = True
            log(f"POST {self._path()} skipped: the client went away before its turn "
                f"({audio_s:.2f} s of audio, {time.monotonic() - started:.3f} s)")
            return
        if fmt == "text":
            self._send(200, (result["text"] + "\n").encode("utf-8"), "text/plain; charset=utf-8")
        elif fmt == "verbose_json":
            self._send_json(200, result)
        else:
            self._send_json(200, {"text": result["text"]})
        self._finish(200, started, audio_s)


    def _other_method(self):
        started = time.monotonic()
        self._discard_body()
        path = self._path()
        if path in TRANSCRIBE_PATHS or path in HEALTH_PATHS:
            self._error(ApiError(405, f"Method {self.command} not allowed on {path}."), started)
        else:
            self._error(ApiError(404, f"Unknown path: {path}", code="not_found"), started)

    # --- transcription -----------------------------------------------------


    def _transcribe(self):
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise ApiError(411, "Chunked uploads are not supported; send Content-Length.")
        try:
            length = int(self.headers.get("Content-Length", ""))
            if length < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            raise ApiError(411, "A valid Content-Length header is required.") from None
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the body is left unread
            raise ApiError(413, f"Request body of {length} bytes exceeds the limit of "
                                f"{MAX_BODY_BYTES} bytes.", param="file", code="file_too_large")
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            self.close_connection = True
            raise ApiError(400, "Request body shorter than Content-Length.")

        ctype, cparams = _header_params("content-type", self.headers.get("Content-Type", ""))
        if ctype != "multipart/form-data":
            raise ApiError(400, "Content-Type must be multipart/form-data "
                                f"(got {ctype or 'none'!r}).")
        form = parse_multipart(body, cparams.get("boundary", ""))

        if "file" not in form:
            raise ApiError(400, "Missing required parameter: 'file'.", param="file")
        if "model" not in form or not form["model"].text().strip():
            raise ApiError(400, "Missing required parameter: 'model'.", param="model")
        fmt = form["response_format"].text().strip() if "response_format" in form else "json"
        fmt = fmt or "json"
        if fmt not in RESPONSE_FORMATS:
            raise ApiError(400, f"Unsupported response_format {fmt!r}; use one of "
                                f"{', '.join(RESPONSE_FORMATS)}.", param="response_format")
        language = form["language"].text().strip().lower() if "language" in form else "en"
        if language in ("", "auto"):
            language = None
        elif self.engine.languages is not None and language not in self.engine.languages:
            raise ApiError(400, f"Unsupported language {language!r}.", param="language")
        prompt = form["prompt"].text() if "prompt" in form else None
        temperature = None
        if "temperature" in form and form["temperature"].text().strip():
            try:
                temperature = float(form["temperature"].text())
                if not 0.0 <= temperature <= 1.0:
                    raise ValueError
            except ValueError:
                raise ApiError(400, "temperature must be a number between 0 and 1.",
                               param="temperature") from None

        audio = decode_audio_bytes(form["file"].data)
        audio_s = len(audio) / SAMPLE_RATE
        try:
            result = self.engine.transcribe(audio, language, prompt, temperature, lambda: not self._client_gone())
        except ApiError:
            raise
        except Exception as exc:
            err = ApiError(500, f"Transcription failed: {type(exc).__name__}: {exc}")
            raise err from None
        return audio_s, result, fmt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="CTranslate2 Whisper model directory")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8178, help="0 picks a free port")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    exit_on_signals("whisper_server")

    if not os.path.isdir(args.model):
        log(f"whisper_server: model directory not found: {args.model}")
        return 2
    t0 = time.monotonic()
    try:
        Handler.engine = Engine(args.model, max(1, args.threads))
    except Exception as exc:
        log(f"whisper_server: failed to load model: {type(exc).__name__}: {exc}")
        return 1
    log(f"whisper_server: model loaded in {(time.monotonic() - t0) * 1000:.0f}ms "
        f"({args.model}, threads={args.threads})")
    return listen_and_serve("whisper_server", args.host, args.port, Handler)


if __name__ == "__main__":
    sys.exit(main())
