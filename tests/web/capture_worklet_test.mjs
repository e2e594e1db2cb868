// The capture worklet (web/capture-worklet.js) outside a browser: its processor class, loaded with
// the AudioWorkletGlobalScope stubbed, is fed sine tones at the context rates browsers use and its
// 16 kHz PCM16 frames are measured. Checks that at 16 kHz samples pass through bit-exact, and that
// when the context runs faster the anti-aliasing low-pass keeps what would fold into the speech
// band out (a 12 kHz tone at 48 kHz would come out as 4 kHz) while speech frequencies pass.
//
//   node tests/web/capture_worklet_test.mjs      (make test-web runs it)

import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const WORKLET = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../web/capture-worklet.js");
const TARGET_RATE = 16000;
const FRAME_SAMPLES = 320;
const QUANTUM = 128;

/** @type {any} */
const scope = globalThis;
/** @type {any} */
let Processor = null;
scope.sampleRate = 48000;
scope.AudioWorkletProcessor = class {
    constructor() {
        /** @type {{onmessage: ((event: {data: unknown}) => void) | null, postMessage: (message: any) => void}} */
        this.port = { onmessage: null, postMessage: () => {} };
    }
};
scope.registerProcessor = (/** @type {string} */ name, /** @type {any} */ processor) => {
    assert.equal(name, "parley-capture");
    Processor = processor;
};
await import(pathToFileURL(WORKLET).href);
assert.ok(Processor, "capture-worklet.js registered no processor");

/**
 * Runs `input` through a capture processor at `contextRate` in render quanta and returns the
 * frames it posted, joined, as int16 values.
 * @param {number} contextRate
 * @param {Float32Array} input
 * @returns {Int16Array}
 */
function capture(contextRate, input) {
    scope.sampleRate = contextRate;
    const processor = new Processor({ processorOptions: { targetSampleRate: TARGET_RATE, frameSamples: FRAME_SAMPLES } });
    /** @type {number[]} */
    const out = [];
    processor.port.postMessage = (/** @type {any} */ message) => {
        assert.equal(message.type, "frame");
        out.push(...new Int16Array(message.buffer));
        // A real transfer detaches the buffer; here it is handed back as the client does.
        processor.port.onmessage({ data: { type: "recycle", buffer: message.buffer } });
        assert.equal(message.allocated, 0, "the frame pool ran dry");
    };
    for (let start = 0; start < input.length; start += QUANTUM) {
        assert.equal(processor.process([[input.subarray(start, start + QUANTUM)]]), true);
    }
    return Int16Array.from(out);
}

/**
 * A sine tone of one second.
 * @param {number} frequency Hz.
 * @param {number} rate Hz.
 * @param {number} amplitude
 * @returns {Float32Array}
 */
function tone(frequency, rate, amplitude) {
    const samples = new Float32Array(rate);
    for (let i = 0; i < rate; i++) samples[i] = amplitude * Math.sin(2 * Math.PI * frequency * i / rate);
    return samples;
}

/**
 * RMS of int16 samples as full-scale dB, skipping the first 100 ms (the filter settling).
 * @param {Int16Array} samples
 * @returns {number}
 */
function levelDb(samples) {
    const from = TARGET_RATE / 10;
    let sum = 0;
    for (let i = from; i < samples.length; i++) sum += (samples[i] / 32768) ** 2;
    return 10 * Math.log10(sum / (samples.length - from) + 1e-30);
}

const AMPLITUDE = 0.5;
const inputDb = 20 * Math.log10(AMPLITUDE / Math.SQRT2);

// 16 kHz context: no filter, no resampling: each float becomes exactly its int16.
{
    const input = new Float32Array(TARGET_RATE);
    let seed = 1;
    for (let i = 0; i < input.length; i++) {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        input[i] = (seed / 2147483648) * 2.2 - 1.1; // beyond ±1 too: clamped
    }
    const out = capture(TARGET_RATE, input);
    assert.equal(out.length, Math.floor(input.length / FRAME_SAMPLES) * FRAME_SAMPLES);
    for (let i = 0; i < out.length; i++) {
        const s = Math.max(-1, Math.min(1, input[i]));
        assert.equal(out[i], Math.round(s < 0 ? s * 32768 : s * 32767), `sample ${i} changed at 16 kHz`);
    }
    console.log("16 kHz context: samples pass through bit-exact");
}

for (const rate of [48000, 44100]) {
    for (const [frequency, expect] of /** @type {const} */ ([[1000, "pass"], [3400, "pass"], [12000, "stop"], [10000, "stop"]])) {
        const out = capture(rate, tone(frequency, rate, AMPLITUDE));
        assert.ok(Math.abs(out.length - TARGET_RATE) <= FRAME_SAMPLES, `${out.length} samples out of 1 s at ${rate} Hz`);
        const gain = levelDb(out) - inputDb;
        console.log(`${rate} Hz context, ${frequency} Hz tone: ${gain.toFixed(2)} dB`);
        if (expect === "pass") assert.ok(Math.abs(gain) < 1, `${frequency} Hz at ${rate} Hz: ${gain.toFixed(2)} dB, not within 1 dB`);
        else assert.ok(gain < -20, `${frequency} Hz at ${rate} Hz folds into the speech band at only ${gain.toFixed(2)} dB`);
    }
}

// A NaN from the microphone must not silence the filter for good.
{
    const input = tone(1000, 48000, AMPLITUDE);
    input[4800] = NaN;
    const gain = levelDb(capture(48000, input)) - inputDb;
    assert.ok(Math.abs(gain) < 1, `a NaN left the output at ${gain.toFixed(2)} dB`);
    console.log("48000 Hz context: a NaN input sample does not stick in the filter");
}
console.log("capture worklet: ok");
