"""smart-turn v3.2's input features and probability computed the reference way, for the Swift test.

Reads 16-bit little-endian mono PCM at 16 kHz from argv[2] and prints JSON: `features`, the
(80, 800) log-mel input flattened band by band, and `probability`, the model's output (argv[1])
through the onnxruntime Python package. The steps are those of pipecat-ai 1.14.0's
`LocalSmartTurnAnalyzerV3._predict_endpoint` and its vendored `compute_whisper_log_mel_features`
(transformers' WhisperFeatureExtractor with chunk_length=8, do_normalize=True), written out with
numpy alone: keep the last 8 s or pad zeros before; normalise; centred STFT (reflect padding, 400
points, hop 160, periodic Hann) in float64; power; Slaney mel filterbank (80 bands, 0-8 kHz);
log10 floored at 1e-10; drop the last frame; clamp to max - 8; (x + 4) / 4.
"""

import json
import math
import sys

import numpy as np
import onnxruntime as ort

SR, N_FFT, HOP, N_MELS = 16000, 400, 160, 80


def hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-300) / 1000.0) * (27.0 / math.log(6.4)), 3.0 * f / 200.0)


def mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp(math.log(6.4) / 27.0 * (m - 15.0)), 200.0 * m / 3.0)


def mel_filters():
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(SR / 2), N_MELS + 2))
    freqs = np.linspace(0.0, SR // 2, N_FFT // 2 + 1)
    fb = np.zeros((freqs.size, N_MELS))
    for j in range(N_MELS):
        lo, c, hi = edges[j], edges[j + 1], edges[j + 2]
        fb[:, j] = np.maximum(0.0, np.minimum((freqs - lo) / (c - lo), (hi - freqs) / (hi - c))) * (2.0 / (hi - lo))
    return fb


def features(audio):
    a = np.asarray(audio, dtype=np.float32)
    a = a[-8 * SR:] if a.size > 8 * SR else np.pad(a, (8 * SR - a.size, 0))
    x = (a - a.mean()) / np.sqrt(a.var() + np.float32(1e-7))
    x = np.pad(x.astype(np.float64), (N_FFT // 2, N_FFT // 2), mode="reflect")
    frames = 1 + (x.size - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(frames)[:, None]
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)
    spec = np.fft.rfft(x[idx] * window, axis=-1)
    power = spec.real ** 2 + spec.imag ** 2
    log = np.log10(np.maximum(power @ mel_filters(), 1e-10)).T[:, :-1]
    log = np.maximum(log, log.max() - 8.0)
    return ((log + 4.0) / 4.0).astype(np.float32)


def main() -> None:
    model_path, pcm_path = sys.argv[1], sys.argv[2]
    audio = np.fromfile(pcm_path, dtype="<i2").astype(np.float32) / 32768.0
    feats = features(audio)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model_path, sess_options=options, providers=["CPUExecutionProvider"])
    probability = session.run(None, {"input_features": feats[np.newaxis]})[0][0].item()
    json.dump({"features": feats.reshape(-1).tolist(), "probability": probability}, sys.stdout)


if __name__ == "__main__":
    main()
