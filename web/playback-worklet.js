// Agent audio playback: PCM16 chunks from the main thread go into a preallocated ring buffer and
// are played gaplessly (resampled when the server's rate differs from the context's), silence
// when empty or paused. Samples are counted per turn as they are played, at the server's rate,
// so the client can tell the server exactly what the listener heard.

/**
 * Options passed as `processorOptions` when the node is created.
 * @typedef {object} PlaybackOptions
 * @property {number} sourceSampleRate Hz of pushed audio unless a push names its own rate.
 * @property {number} [capacitySeconds] Ring buffer length in seconds (default 20).
 */

/**
 * Queues audio of a turn. `samples` should be transferred, not copied.
 * @typedef {object} PlaybackPushMessage
 * @property {"push"} type
 * @property {number} turnId
 * @property {Int16Array} samples
 * @property {number} [sampleRate] Hz; defaults to `sourceSampleRate`.
 */

/**
 * Empties the buffer at once and ends a pause; answered by `flushed` with the same `requestId`.
 * @typedef {object} PlaybackFlushMessage
 * @property {"flush"} type
 * @property {number} requestId
 */

/**
 * Stops playback at once, keeping the buffer: silence is played and nothing is consumed until
 * `resume` (pushes are still queued). A `progress` report gives the position it stopped at.
 * @typedef {object} PlaybackPauseMessage
 * @property {"pause"} type
 */

/**
 * Continues playback from the sample where `pause` stopped it; ignored when not paused.
 * @typedef {object} PlaybackResumeMessage
 * @property {"resume"} type
 */

/** @typedef {PlaybackPushMessage | PlaybackFlushMessage | PlaybackPauseMessage | PlaybackResumeMessage} PlaybackCommand */

/**
 * Sent every ~100 ms of playback.
 * @typedef {object} PlaybackProgressReport
 * @property {"progress"} type
 * @property {number} turnId
 * @property {number} playedSamples Cumulative for the turn, at the turn's source rate.
 * @property {number} droppedSamples Cumulative samples dropped by ring overflow (all turns).
 */

/**
 * Sent once per turn, in the render quantum that played the turn's first sample (for latency
 * measurement: map `contextTime` to the page's clock with `AudioContext.getOutputTimestamp()`).
 * @typedef {object} PlaybackStartedReport
 * @property {"started"} type
 * @property {number} turnId
 * @property {number} contextTime Context time of the turn's first sample, in seconds.
 * @property {number} droppedSamples
 */

/**
 * Sent when a turn's buffered audio has fully played (the buffer ran empty or the next turn began).
 * @typedef {object} PlaybackDrainedReport
 * @property {"drained"} type
 * @property {number} turnId
 * @property {number} playedSamples
 * @property {number} droppedSamples
 * @property {number} receivedSamples Samples received in pushes so far, all turns (to detect audio in flight).
 */

/**
 * The answer to `flush`: `turnId` is the turn that was playing (or played last).
 * @typedef {object} PlaybackFlushedReport
 * @property {"flushed"} type
 * @property {number} requestId
 * @property {number} turnId
 * @property {number} playedSamples
 * @property {number} droppedSamples
 * @property {number} flushedSamples Samples discarded unplayed by this flush.
 */

/** @typedef {PlaybackProgressReport | PlaybackStartedReport | PlaybackDrainedReport | PlaybackFlushedReport} PlaybackReport */

/** Turn id used before any audio has played. */
const NO_TURN = -1;
/** Maximum distinct (turn, rate) segments held in the ring at once. */
const MAX_SEGMENTS = 64;

class PlaybackProcessor extends AudioWorkletProcessor {
    /** @param {{processorOptions?: PlaybackOptions}} options */
    constructor(options) {
        super();
        const opts = options.processorOptions;
        this.sourceRate = opts?.sourceSampleRate ?? sampleRate;
        const seconds = opts?.capacitySeconds ?? 20;
        this.capacity = Math.ceil(seconds * Math.max(sampleRate, this.sourceRate));
        this.ring = new Float32Array(this.capacity);
        this.writeIndex = 0;
        this.readIndex = 0;
        // Absolute sample counters; `writeTotal - readTotal` samples are buffered.
        this.writeTotal = 0;
        this.readTotal = 0;
        this.droppedSamples = 0;
        this.receivedSamples = 0;

        // Segments: runs of buffered samples of one turn at one rate, kept in a small circular
        // queue. `segmentEnd` is the absolute write position where the segment ends.
        this.segmentTurn = new Float64Array(MAX_SEGMENTS);
        this.segmentRate = new Float64Array(MAX_SEGMENTS);
        this.segmentEnd = new Float64Array(MAX_SEGMENTS);
        this.segmentHead = 0;
        this.segmentCount = 0;

        this.currentTurn = NO_TURN;
        this.played = 0; // samples of `currentTurn` played so far
        this.step = 1; // source samples per output sample
        this.fraction = 0; // position between readIndex and the next sample, 0 ≤ fraction < 1
        this.playing = false; // the last quantum played audio of `currentTurn`
        this.paused = false; // output silence and consume nothing until `resume`
        this.drainReported = true;
        this.startedTurn = NO_TURN; // the last turn whose start was reported
        this.progressInterval = Math.max(1, Math.round(sampleRate / 10));
        this.sinceProgress = 0;

        /** @param {MessageEvent<PlaybackCommand>} event */
        this.port.onmessage = (event) => {
            const message = event.data;
            switch (message.type) {
                case "push":
                    this.enqueue(message.turnId, message.samples, message.sampleRate ?? this.sourceRate);
                    break;
                case "flush":
                    this.flush(message.requestId);
                    break;
                case "pause":
                    this.pause();
                    break;
                case "resume":
                    this.paused = false;
                    break;
            }
        };
    }

    /**
     * @param {number} turnId
     * @param {Int16Array} samples
     * @param {number} rate
     */
    enqueue(turnId, samples, rate) {
        this.receivedSamples += samples.length;
        let start = 0;
        if (samples.length > this.capacity) {
            start = samples.length - this.capacity;
            this.droppedSamples += start;
        }
        const count = samples.length - start;
        const overflow = this.writeTotal - this.readTotal + count - this.capacity;
        if (overflow > 0) {
            // Drop the oldest audio; segment bookkeeping catches up lazily in process().
            this.readTotal += overflow;
            this.readIndex = (this.readIndex + overflow) % this.capacity;
            this.droppedSamples += overflow;
        }
        for (let i = start; i < samples.length; i++) {
            this.ring[this.writeIndex] = samples[i] / 32768;
            this.writeIndex = this.writeIndex + 1 === this.capacity ? 0 : this.writeIndex + 1;
        }
        this.writeTotal += count;

        const last = (this.segmentHead + this.segmentCount - 1) % MAX_SEGMENTS;
        if (this.segmentCount > 0 && this.segmentTurn[last] === turnId && this.segmentRate[last] === rate) {
            this.segmentEnd[last] = this.writeTotal;
        } else if (this.segmentCount < MAX_SEGMENTS) {
            const next = (this.segmentHead + this.segmentCount) % MAX_SEGMENTS;
            this.segmentTurn[next] = turnId;
            this.segmentRate[next] = rate;
            this.segmentEnd[next] = this.writeTotal;
            this.segmentCount++;
        } else {
            this.segmentEnd[last] = this.writeTotal; // cannot happen with sane input; keep playing
        }
        if (turnId === this.currentTurn) this.drainReported = false;
    }

    /** @param {number} requestId */
    flush(requestId) {
        const flushedSamples = this.writeTotal - this.readTotal;
        this.readTotal = this.writeTotal;
        this.readIndex = this.writeIndex;
        this.segmentCount = 0;
        this.fraction = 0;
        this.playing = false;
        this.paused = false;
        this.drainReported = true;
        this.sinceProgress = 0;
        /** @type {PlaybackFlushedReport} */
        const report = {
            type: "flushed",
            requestId,
            turnId: this.currentTurn,
            playedSamples: this.played,
            droppedSamples: this.droppedSamples,
            flushedSamples,
        };
        this.port.postMessage(report);
    }

    pause() {
        if (this.paused) return;
        this.paused = true;
        // The exact position heard, at once rather than at the next ~100 ms report.
        if (this.playing) {
            this.sinceProgress = 0;
            this.reportProgress();
        }
    }

    reportProgress() {
        /** @type {PlaybackProgressReport} */
        const report = { type: "progress", turnId: this.currentTurn, playedSamples: this.played, droppedSamples: this.droppedSamples };
        this.port.postMessage(report);
    }

    /**
     * Reports the start of `currentTurn`, whose first sample was output in this quantum.
     * @param {number} written Output samples written this quantum; the turn's own `played` of them end it.
     */
    reportStarted(written) {
        this.startedTurn = this.currentTurn;
        const offset = Math.max(0, written - this.played / this.step);
        /** @type {PlaybackStartedReport} */
        const report = { type: "started", turnId: this.currentTurn, contextTime: currentTime + offset / sampleRate, droppedSamples: this.droppedSamples };
        this.port.postMessage(report);
    }

    reportDrained() {
        /** @type {PlaybackDrainedReport} */
        const report = {
            type: "drained",
            turnId: this.currentTurn,
            playedSamples: this.played,
            droppedSamples: this.droppedSamples,
            receivedSamples: this.receivedSamples,
        };
        this.port.postMessage(report);
    }

    /**
     * Makes the segment holding the next sample to play the head, switching turns if needed.
     * Returns false when nothing is buffered.
     * @returns {boolean}
     */
    advanceSegment() {
        if (this.readTotal >= this.writeTotal || this.segmentCount === 0) return false;
        while (this.segmentCount > 1 && this.readTotal >= this.segmentEnd[this.segmentHead]) {
            this.segmentHead = (this.segmentHead + 1) % MAX_SEGMENTS;
            this.segmentCount--;
        }
        const turn = this.segmentTurn[this.segmentHead];
        if (turn !== this.currentTurn) {
            if (!this.drainReported && this.currentTurn !== NO_TURN) this.reportDrained();
            this.currentTurn = turn;
            this.played = 0;
            this.sinceProgress = 0;
        }
        this.drainReported = false;
        this.step = this.segmentRate[this.segmentHead] / sampleRate;
        return true;
    }

    /** Marks the sample at the read position as played. */
    consume() {
        this.readIndex = this.readIndex + 1 === this.capacity ? 0 : this.readIndex + 1;
        this.readTotal++;
        this.played++;
    }

    /**
     * @param {Float32Array[][]} _inputs
     * @param {Float32Array[][]} outputs
     * @returns {boolean}
     */
    process(_inputs, outputs) {
        const output = outputs[0];
        if (!output || output.length === 0) return true;
        if (this.paused) {
            // Nothing consumed, nothing reported: the turn is neither progressing nor drained.
            for (let c = 0; c < output.length; c++) output[c].fill(0);
            return true;
        }
        const out = output[0];
        const n = out.length;
        let i = 0;
        let playedNow = 0;
        while (i < n) {
            // Resampling: move past the source samples the last output step went beyond, one at a
            // time through advanceSegment() so each is counted for the turn it belongs to.
            while (this.fraction >= 1 && this.advanceSegment()) {
                this.consume();
                this.fraction -= 1;
                playedNow++;
            }
            if (!this.advanceSegment()) break;
            const a = this.ring[this.readIndex];
            if (this.step === 1) {
                out[i++] = a;
                this.consume();
                playedNow++;
                continue;
            }
            // Linear interpolation towards the next buffered sample (held if none yet).
            const nextIndex = this.readIndex + 1 === this.capacity ? 0 : this.readIndex + 1;
            const b = this.writeTotal - this.readTotal > 1 ? this.ring[nextIndex] : a;
            out[i++] = a + (b - a) * this.fraction;
            this.fraction += this.step;
        }
        if (i < n) {
            out.fill(0, i);
            this.fraction = 0;
        }
        for (let c = 1; c < output.length; c++) output[c].set(out);

        if (playedNow > 0) {
            this.playing = true;
            if (this.currentTurn !== this.startedTurn) this.reportStarted(i);
            this.sinceProgress += i;
            if (this.sinceProgress >= this.progressInterval) {
                this.sinceProgress = 0;
                this.reportProgress();
            }
        }
        if (this.playing && this.readTotal >= this.writeTotal) {
            this.playing = false;
            this.sinceProgress = 0;
            this.drainReported = true;
            this.reportDrained();
        }
        return true;
    }
}

registerProcessor("parley-playback", PlaybackProcessor);

export {};
