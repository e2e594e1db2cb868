// The speaker end of the audio graph: the playback worklet's AudioWorkletNode and its port.
// The worklet (playback-worklet.js) plays queued PCM16 gaplessly and counts what it played per
// turn; this class queues audio, pauses and resumes, answers a flush with a promise (requests are
// matched by id, never polled), and passes the worklet's reports to one callback.

/** @typedef {import("./playback-worklet.js").PlaybackReport} PlaybackReport */
/** @typedef {import("./playback-worklet.js").PlaybackCommand} PlaybackCommand */
/** @typedef {import("./playback-worklet.js").PlaybackOptions} PlaybackOptions */
/** @typedef {import("./playback-worklet.js").PlaybackDrainedReport} PlaybackDrainedReport */
/** @typedef {import("./playback-worklet.js").PlaybackFlushedReport} PlaybackFlushedReport */

/** The worklet's registered name (playback-worklet.js). */
const PROCESSOR = "parley-playback";

/**
 * The playback worklet, connected to the context's speakers.
 *
 * ```js
 * await context.audioWorklet.addModule(playbackWorkletUrl);
 * const playback = new PlaybackNode(context, { sourceSampleRate: 24000 }, (report) => console.log(report));
 * playback.push(turnId, samples, 24000);            // transfers samples.buffer
 * const { playedSamples } = await playback.flush();  // barge-in: what the listener heard of the turn
 * ```
 */
export class PlaybackNode {
    /** @type {AudioContext} */
    #context;
    /** @type {AudioWorkletNode} */
    #node;
    /** @type {Map<number, (report: PlaybackFlushedReport) => void>} Flushes waiting for `flushed`, by request id. */
    #pendingFlushes = new Map();
    #nextRequestId = 1;
    /** Samples posted to the worklet, all turns. */
    #pushedTotal = 0;
    /** @type {number | null} */
    #lastPushedTurn = null;

    /**
     * Creates the node (the worklet module must be loaded in `context`) and connects it to the speakers.
     * @param {AudioContext} context
     * @param {PlaybackOptions} options
     * @param {(report: PlaybackReport) => void} onReport Every report the worklet posts, `flushed`
     *   answers included (before the promise of their flush() settles).
     */
    constructor(context, options, onReport) {
        this.#context = context;
        this.#node = new AudioWorkletNode(context, PROCESSOR, {
            numberOfInputs: 0,
            numberOfOutputs: 1,
            outputChannelCount: [1],
            processorOptions: options,
        });
        this.#node.port.onmessage = (event) => {
            const report = /** @type {PlaybackReport} */ (event.data);
            onReport(report);
            if (report.type === "flushed") {
                const resolve = this.#pendingFlushes.get(report.requestId);
                this.#pendingFlushes.delete(report.requestId);
                resolve?.(report);
            }
        };
        this.#node.connect(context.destination);
    }

    /**
     * Queues audio of a turn. The samples' buffer is transferred to the worklet, so `samples` is
     * detached (empty) afterwards.
     * @param {number} turnId
     * @param {Int16Array} samples
     * @param {number} sampleRate Hz of `samples`.
     */
    push(turnId, samples, sampleRate) {
        this.#pushedTotal += samples.length;
        this.#lastPushedTurn = turnId;
        /** @type {PlaybackCommand} */
        const push = { type: "push", turnId, samples, sampleRate };
        this.#node.port.postMessage(push, [samples.buffer]);
    }

    /** Stops playback at once, keeping what is queued; the worklet reports the position it stopped at. */
    pause() {
        this.#post({ type: "pause" });
    }

    /** Continues from the sample where pause() stopped. */
    resume() {
        this.#post({ type: "resume" });
    }

    /**
     * Drops everything queued at once (and ends a pause).
     * @returns {Promise<PlaybackFlushedReport>} The worklet's answer: the turn that was playing and
     *   how many of its samples were played. Never settles if stop() comes first.
     */
    flush() {
        const requestId = this.#nextRequestId++;
        /** @type {Promise<PlaybackFlushedReport>} */
        const flushed = new Promise((resolve) => this.#pendingFlushes.set(requestId, resolve));
        this.#post({ type: "flush", requestId });
        return flushed;
    }

    /**
     * Whether audio of a `drained` report's turn was pushed after the worklet wrote the report: the
     * turn is then not drained, its audio is still on its way.
     * @param {PlaybackDrainedReport} report
     * @returns {boolean}
     */
    inFlight(report) {
        return this.#lastPushedTurn === report.turnId && report.receivedSamples < this.#pushedTotal;
    }

    /**
     * The `performance.now()` at which the output device plays a sample of context time
     * `contextTime` (a `started` report's). `getOutputTimestamp()` pairs a context time with the
     * `performance.now()` at which the device plays it, so the mapping includes the output latency.
     * Without a usable pairing (context not running yet): now plus the output latency.
     * @param {number} contextTime Seconds.
     * @returns {number}
     */
    speakerTimeOf(contextTime) {
        const context = this.#context;
        const now = performance.now();
        const stamp = context.getOutputTimestamp();
        let at = now + ((context.outputLatency || context.baseLatency || 0) * 1000);
        if (stamp.contextTime && stamp.performanceTime) {
            const mapped = stamp.performanceTime + (contextTime - stamp.contextTime) * 1000;
            if (Math.abs(mapped - now) < 1000) at = mapped; // a stale or bogus stamp is worse than the fallback
        }
        return at;
    }

    /** Disconnects the node and forgets pending flushes; no report is delivered afterwards. Safe to call twice. */
    stop() {
        this.#node.port.onmessage = null;
        this.#node.disconnect();
        this.#pendingFlushes.clear();
    }

    /**
     * Posts a command that transfers nothing.
     * @param {PlaybackCommand} command
     */
    #post(command) {
        this.#node.port.postMessage(command);
    }
}
