// Microphone capture: render quanta (128 float samples at the context rate) in, fixed-size PCM16
// frames at the server's input rate out, each transferred to the main thread with its RMS level.
// All buffers are allocated in the constructor; process() only fills and transfers them.
//
// The context normally runs at the server's rate (16 kHz) and samples pass through unchanged.
// A browser that refuses that rate (Firefox) runs the context at the device's, typically 48 kHz;
// the worklet then resamples by linear interpolation, and when that means downsampling it first
// low-pass filters: decimation folds every frequency above the new Nyquist frequency (8 kHz at
// 16 kHz) back into the band below it, so a 12 kHz whistle would come out as a 4 kHz tone in the
// speech band, where the server's VAD and recogniser would hear it.

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

/**
 * The anti-aliasing filter's cutoff as a fraction of the target rate: 0.45 × 16 kHz = 7.2 kHz,
 * below the target's Nyquist frequency (0.5) with room for the filter's roll-off.
 */
const CUTOFF_FRACTION = 0.45;
/**
 * Second-order sections of the Butterworth low-pass: 4 make an 8th-order filter, ~47 dB down at
 * 12 kHz for 48 → 16 kHz (what folds onto 4 kHz) and flat to well within 0.1 dB at 3.4 kHz.
 */
const LOW_PASS_SECTIONS = 4;
/** Filter state below this is zeroed after each quantum: subnormal numbers are slow to compute with. */
const TINY = 1e-25;

/**
 * Coefficients of a Butterworth low-pass as a cascade of biquads (the bilinear transform, with the
 * cutoff prewarped: the audio EQ cookbook's low-pass at each section's Butterworth Q), five per
 * section: b0, b1, b2, a1, a2, normalised so that a0 = 1.
 * @param {number} cutoff Hz.
 * @param {number} rate Hz of the samples filtered.
 * @param {number} sections
 * @returns {Float64Array}
 */
function butterworthLowPass(cutoff, rate, sections) {
    const coefficients = new Float64Array(sections * 5);
    const w0 = 2 * Math.PI * cutoff / rate;
    const cos = Math.cos(w0);
    for (let k = 0; k < sections; k++) {
        // The poles of an order-2n Butterworth filter pair up into sections with these Qs.
        const q = 1 / (2 * Math.cos(Math.PI * (2 * k + 1) / (4 * sections)));
        const alpha = Math.sin(w0) / (2 * q);
        const a0 = 1 + alpha;
        coefficients[k * 5] = (1 - cos) / 2 / a0;
        coefficients[k * 5 + 1] = (1 - cos) / a0;
        coefficients[k * 5 + 2] = (1 - cos) / 2 / a0;
        coefficients[k * 5 + 3] = -2 * cos / a0;
        coefficients[k * 5 + 4] = (1 - alpha) / a0;
    }
    return coefficients;
}

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
        // every sample passes through unchanged, unfiltered. Otherwise output sample k lies at
        // input position k × step; `position` is where the next one lies, counted from the input
        // sample before (`previous`, at 0) towards the next (at 1). It takes one input sample at
        // a time, so the filtered signal needs no buffer of its own.
        this.step = sampleRate / targetRate;
        this.position = 1; // the first output sample is the first input sample
        this.previous = 0;

        // The anti-aliasing low-pass, only when downsampling (a lower context rate holds nothing
        // the target rate cannot): Direct Form II transposed, two state values per section.
        this.sections = sampleRate > targetRate ? LOW_PASS_SECTIONS : 0;
        this.coefficients = butterworthLowPass(CUTOFF_FRACTION * targetRate, sampleRate, this.sections);
        this.state = new Float64Array(this.sections * 2);

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
     * Filters one context-rate sample through the low-pass cascade.
     * @param {number} value
     * @returns {number}
     */
    lowPass(value) {
        const c = this.coefficients;
        const z = this.state;
        // A NaN or an infinity would stay in the filter's state for good: silence instead.
        let x = Number.isFinite(value) ? value : 0;
        for (let k = 0, j = 0; k < this.sections; k++, j += 2) {
            const b = k * 5;
            const y = c[b] * x + z[j];
            z[j] = c[b + 1] * x - c[b + 3] * y + z[j + 1];
            z[j + 1] = c[b + 2] * x - c[b + 4] * y;
            x = y;
        }
        return x;
    }

    /**
     * Takes the next context-rate sample and pushes the output samples that lie between the
     * previous one and it, interpolated linearly.
     * @param {number} value
     */
    resample(value) {
        const previous = this.previous;
        let t = this.position;
        while (t <= 1) {
            this.push(t === 1 ? value : previous + (value - previous) * t);
            t += this.step;
        }
        this.position = t - 1;
        this.previous = value;
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
        if (this.sections > 0) {
            for (let i = 0; i < n; i++) this.resample(this.lowPass(input ? input[i] : 0));
            // Decaying towards silence, the state would pass through subnormal numbers (slow on
            // most CPUs) on its way to zero; the `!(… >= …)` also clears a NaN.
            const z = this.state;
            for (let j = 0; j < z.length; j++) if (!(Math.abs(z[j]) >= TINY)) z[j] = 0;
        } else {
            for (let i = 0; i < n; i++) this.resample(input ? input[i] : 0);
        }
        return true;
    }
}

registerProcessor("parley-capture", CaptureProcessor);

export {};
