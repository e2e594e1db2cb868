// The microphone end of the audio graph: the capture worklet's AudioWorkletNode and its port.
// The worklet (capture-worklet.js) turns the microphone into fixed-size PCM16 frames at the
// server's input rate; this class hands each frame to a callback and returns its buffer to the
// worklet's pool afterwards, so steady-state capture allocates nothing on either thread.

/** @typedef {import("./capture-worklet.js").CaptureReport} CaptureReport */
/** @typedef {import("./capture-worklet.js").CaptureCommand} CaptureCommand */
/** @typedef {import("./capture-worklet.js").CaptureOptions} CaptureOptions */

/**
 * One captured frame, lent to the `onFrame` callback.
 * @typedef {object} CapturedFrame
 * @property {ArrayBuffer} buffer PCM16 samples (platform order: little-endian in every browser).
 *   Valid only until the callback returns: it then goes back to the worklet's pool. Send or copy
 *   it there (`WebSocket.send` copies).
 * @property {number} rms Root mean square of the frame, 0…1: the microphone level.
 * @property {number} allocated Frames the worklet allocated because buffers came back too late.
 */

/** The worklet's registered name (capture-worklet.js). */
const PROCESSOR = "parley-capture";

/**
 * The number of samples per frame for a session: `frameMs` at `sampleRate`, but never more than
 * a binary message the server accepts.
 * @param {number} sampleRate Hz of the server's input.
 * @param {number} frameMs The server's frame length.
 * @param {number} maxFrameBytes The server's `max_audio_frame_bytes`.
 * @returns {number}
 */
export function frameSamplesFor(sampleRate, frameMs, maxFrameBytes) {
    return Math.max(1, Math.min(Math.round(sampleRate * frameMs / 1000), Math.floor(maxFrameBytes / 2)));
}

/**
 * The capture worklet, fed by a microphone source, posting frames to `onFrame`.
 *
 * ```js
 * await context.audioWorklet.addModule(captureWorkletUrl);
 * const capture = new CaptureNode(context, context.createMediaStreamSource(stream),
 *     { targetSampleRate: 16000, frameSamples: 320 }, ({buffer, rms}) => socket.send(buffer));
 * capture.stop();
 * ```
 */
export class CaptureNode {
    /** @type {AudioWorkletNode} */
    #node;

    /**
     * Creates the node (the worklet module must be loaded in `context`) and connects `source` to it.
     * @param {BaseAudioContext} context
     * @param {AudioNode} source The microphone, e.g. a MediaStreamAudioSourceNode; its owner disconnects it.
     * @param {CaptureOptions} options
     * @param {(frame: CapturedFrame) => void} onFrame Called for each frame (50 a second at 20 ms).
     */
    constructor(context, source, options, onFrame) {
        this.#node = new AudioWorkletNode(context, PROCESSOR, {
            numberOfInputs: 1,
            numberOfOutputs: 0,
            channelCount: 1,
            channelCountMode: "explicit",
            channelInterpretation: "speakers",
            processorOptions: options,
        });
        this.#node.port.onmessage = (event) => {
            const report = /** @type {CaptureReport} */ (event.data);
            if (report.type !== "frame") return;
            try {
                onFrame({ buffer: report.buffer, rms: report.rms, allocated: report.allocated });
            } finally {
                this.#recycle(report.buffer);
            }
        };
        source.connect(this.#node);
    }

    /** Disconnects the node; no frame is delivered afterwards. Safe to call twice. */
    stop() {
        this.#node.port.onmessage = null;
        this.#node.disconnect();
    }

    /**
     * Returns a frame's buffer to the worklet's pool (transferred, not copied).
     * @param {ArrayBuffer} buffer
     */
    #recycle(buffer) {
        /** @type {CaptureCommand} */
        const recycle = { type: "recycle", buffer };
        this.#node.port.postMessage(recycle, [buffer]);
    }
}
