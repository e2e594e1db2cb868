// Microphone capture: render quanta (128 float samples at the context rate) in, fixed-size PCM16
// frames at the server's input rate out, each transferred to the main thread with its RMS level.
// All buffers are allocated in the constructor; process() only fills and transfers them.

/**
 * Options passed as `processorOptions` when the node is created.
 * @typedef {object} CaptureOptions
 * @property {number} targetSampleRate Hz the server expects (`session.ready` input.sample_rate).
 * @property {number} frameSamples Samples per posted frame (320 = 20 ms at 16 kHz).
 * @property {number} [poolSize] Frame buffers to preallocate (default 16).
 */

/**
 * A finished frame: `buffer` holds `frameSamples` PCM16 samples (platform order: little-endian
 * in every browser) and is transferred, so it is detached in the worklet after posting.
 * @typedef {object} CaptureFrameMessage
 * @property {"frame"} type
 * @property {ArrayBuffer} buffer
 * @property {number} rms Root mean square of the frame, 0…1.
 * @property {number} allocated Frames allocated outside the pool so far (0 while the pool keeps up).
 */

/** @typedef {CaptureFrameMessage} CaptureReport Messages the worklet posts to the main thread. */

/**
 * Returns a frame buffer to the worklet's pool once its bytes have been sent.
 * @typedef {object} CaptureRecycleMessage
 * @property {"recycle"} type
 * @property {ArrayBuffer} buffer
 */

/** @typedef {CaptureRecycleMessage} CaptureCommand Messages the main thread posts to the worklet. */

class CaptureProcessor extends AudioWorkletProcessor {
    /** @param {{processorOptions?: CaptureOptions}} options */
    constructor(options) {
        super();
        const opts = options.processorOptions;
        const targetRate = opts?.targetSampleRate ?? sampleRate;
        this.frameSamples = opts?.frameSamples ?? Math.round(targetRate / 50);
        const poolSize = Math.max(2, opts?.poolSize ?? 16);

        /** @type {ArrayBuffer[]} Free frame buffers; used as a stack with `poolCount` entries. */
        this.pool = new Array(poolSize);
        for (let i = 0; i < poolSize; i++) this.pool[i] = new ArrayBuffer(this.frameSamples * 2);
        this.poolCount = poolSize - 1;
        this.frame = new Int16Array(this.pool[poolSize - 1]);
        this.filled = 0;
        this.sumSquares = 0;
        this.allocated = 0;

        // Linear-interpolation resampler from the context rate to the target rate. With equal
        // rates (the normal case: the AudioContext is created at 16 kHz) `step` is exactly 1 and
        // every sample passes through unchanged.
        this.step = sampleRate / targetRate;
        this.position = 0; // read position in the current quantum; -1 < position < 0 reads `last`
        this.last = 0;

        /** @param {MessageEvent<CaptureCommand>} event */
        this.port.onmessage = (event) => {
            const message = event.data;
            if (message.type === "recycle" && message.buffer.byteLength === this.frameSamples * 2
                && this.poolCount < this.pool.length) {
                this.pool[this.poolCount++] = message.buffer;
            }
        };
    }

    /**
     * Appends one sample (context-rate float) to the current frame, posting it when full.
     * @param {number} value
     */
    push(value) {
        // Clamp before converting: +1.0 maps to 32767 and never wraps to -32768; NaN becomes 0.
        const s = value > 1 ? 1 : value < -1 ? -1 : value || 0;
        this.frame[this.filled++] = Math.round(s < 0 ? s * 32768 : s * 32767);
        this.sumSquares += s * s;
        if (this.filled === this.frameSamples) {
            const buffer = /** @type {ArrayBuffer} */ (this.frame.buffer);
            /** @type {CaptureFrameMessage} */
            const message = {
                type: "frame",
                buffer,
                rms: Math.sqrt(this.sumSquares / this.frameSamples),
                allocated: this.allocated,
            };
            this.port.postMessage(message, [buffer]);
            if (this.poolCount > 0) {
                this.frame = new Int16Array(this.pool[--this.poolCount]);
            } else {
                // The main thread is not returning buffers fast enough: fall back to a fresh one.
                this.allocated++;
                this.frame = new Int16Array(this.frameSamples);
            }
            this.filled = 0;
            this.sumSquares = 0;
        }
    }

    /**
     * @param {Float32Array[][]} inputs
     * @returns {boolean}
     */
    process(inputs) {
        const channels = inputs[0];
        // No connected input (or an ended track) still produces silence: the server's VAD needs a
        // continuous stream.
        const input = channels && channels.length > 0 ? channels[0] : null;
        const n = input ? input.length : 128;
        if (this.step === 1) {
            for (let i = 0; i < n; i++) this.push(input ? input[i] : 0);
            return true;
        }
        let t = this.position;
        while (t <= n - 1) {
            const i = Math.floor(t);
            const f = t - i;
            const a = i < 0 ? this.last : input ? input[i] : 0;
            const b = f === 0 ? a : input ? input[i + 1] : 0;
            this.push(a + (b - a) * f);
            t += this.step;
        }
        this.position = t - n;
        this.last = input ? input[n - 1] : 0;
        return true;
    }
}

registerProcessor("parley-capture", CaptureProcessor);

export {};
