"""Silero VAD probabilities computed the reference way, for the Swift model's test.

Reads 16-bit little-endian mono PCM from argv[2] at the rate argv[3] and prints a JSON list of
the speech probability of each whole window, fed as silero-vad 6.2.3's own wrapper feeds them
(silero_vad/utils_vad.py, OnnxWrapper.__call__): windows of 512 samples at 16 kHz (256 at
8 kHz), each preceded by the last 64 (32) samples of the one before (zeros at first), with the
recurrent state carried over, on the model file argv[1], through the onnxruntime Python package.
"""

import json
import sys

import numpy as np
import onnxruntime as ort


def main() -> None:
    model_path, pcm_path, rate = sys.argv[1], sys.argv[2], int(sys.argv[3])
    window, context_size = (512, 64) if rate == 16000 else (256, 32)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model_path, sess_options=options, providers=["CPUExecutionProvider"])
    audio = np.fromfile(pcm_path, dtype="<i2").astype(np.float32) / 32768.0
    state = np.zeros((2, 1, 128), dtype=np.float32)
    context = np.zeros((1, context_size), dtype=np.float32)
    probabilities = []
    for start in range(0, len(audio) - window + 1, window):
        x = np.concatenate([context, audio[start:start + window][np.newaxis, :]], axis=1)
        output, state = session.run(None, {"input": x, "state": state, "sr": np.array(rate, dtype=np.int64)})
        context = x[..., -context_size:]
        probabilities.append(float(output[0][0]))
    json.dump(probabilities, sys.stdout)


if __name__ == "__main__":
    main()
