// Each turn of a session as the listener hears it: the reply's text, its audio on the way to the
// speaker, the samples played, pauses and barge-ins, and the client's own instants for the latency
// waterfall. The protocol's playback reports (`playback.progress`, `playback.cleared`) come from
// here. Turns owns no socket and no audio node: VoiceClient hands it the server's events and,
// once audio runs, a PlaybackNode; it answers through the TurnsHost it was given.

import { playbackCleared, playbackProgress } from "./protocol.js";

/** @typedef {import("./protocol.js").ClientMessage} ClientMessage */
/** @typedef {import("./protocol.js").TurnEndEvent} TurnEndEvent */
/**
 * The server events that concern a turn's reply.
 * @typedef {import("./protocol.js").TranscriptFinalEvent | import("./protocol.js").AgentTextEvent
 *   | import("./protocol.js").AgentAudioStartEvent | import("./protocol.js").AgentAudioEndEvent
 *   | import("./protocol.js").AgentPausedEvent | import("./protocol.js").AgentResumedEvent
 *   | import("./protocol.js").AgentInterruptedEvent | TurnEndEvent} TurnEvent
 */
/** @typedef {import("./playback-worklet.js").PlaybackReport} PlaybackReport */
/** @typedef {import("./playback-worklet.js").PlaybackStartedReport} PlaybackStartedReport */
/** @typedef {import("./playback-node.js").PlaybackNode} PlaybackNode */
/** @typedef {import("./waterfall.js").TurnTiming} TurnTiming */
/** @typedef {import("./client-types.js").ClientEventMap} ClientEventMap */
/** @typedef {import("./client-types.js").ClientEventName} ClientEventName */
/** @typedef {import("./client-types.js").ClientStats} ClientStats */

/**
 * What Turns needs from its VoiceClient.
 * @typedef {object} TurnsHost
 * @property {<K extends ClientEventName>(name: K, detail: ClientEventMap[K]) => void} emit Emits a client event.
 * @property {(message: ClientMessage) => void} send Sends a message to the server while the socket is open.
 * @property {() => void} changed Whether the agent is speaking may have changed (the client's status).
 * @property {(samples: number) => number} played Adds newly played samples to the total since
 *   start(), all turns, and returns that total.
 * @property {ClientStats} stats The counters of received and dropped audio, kept up to date here.
 * @property {() => number | null} rttMs The connection's round trip estimate, ms.
 * @property {() => number} captureMs Milliseconds per captured frame (`session.ready` input.frame_ms; 0 before it).
 */

/**
 * Per-turn bookkeeping.
 * @typedef {object} TurnState
 * @property {string} text Agent text so far.
 * @property {number} played Samples of the turn played so far (at the turn's rate).
 * @property {number} pushed Samples handed to the playback worklet.
 * @property {boolean} audioStarted `agent.audio.start` seen.
 * @property {boolean} audioEnded `agent.audio.end` or `turn.end` seen: no more audio will come.
 * @property {boolean} drained The worklet has played everything pushed so far.
 * @property {boolean} cleared Interrupted and flushed.
 * @property {boolean} paused Playback held by `agent.paused` until `agent.resumed` or `agent.interrupted`.
 * @property {number | null} finalAt `performance.now()` when `transcript.final` arrived.
 * @property {number | null} firstAudioAt `performance.now()` when the first audio frame arrived.
 * @property {number | null} playbackStartAt `performance.now()` when the first sample reached the speaker.
 * @property {number | null} rttMs The connection's round trip when the transcript arrived.
 */

/** Most audio chunks held while the playback worklet loads (~40 s of 20 ms frames). */
const MAX_PENDING_AUDIO = 2000;
/** Turns kept in the bookkeeping map. */
const MAX_TURNS = 16;

/** The turns of one session; replaced with it on each start(). */
export class Turns {
    /** @type {TurnsHost} */
    #host;
    /** @type {Map<number, TurnState>} The last MAX_TURNS turns, oldest first. */
    #turns = new Map();
    /** @type {number | null} Turn of the latest `agent.audio.start`: binary frames belong to it. */
    #audioTurn = null;
    /** Hz named by that `agent.audio.start`. */
    #audioRate = 0;
    /** @type {Array<{turnId: number, samples: Int16Array, sampleRate: number}>} Audio received before playback was ready. */
    #pendingAudio = [];
    /** @type {PlaybackNode | null} */
    #playback = null;
    #closed = false;

    /** @param {TurnsHost} host */
    constructor(host) {
        this.#host = host;
    }

    /** Whether the turn of the latest `agent.audio.start` is paused. */
    get paused() {
        return this.#audioTurn !== null && (this.#turns.get(this.#audioTurn)?.paused ?? false);
    }

    /** Whether any turn's audio is announced and not over, or not yet played out (paused included). */
    get speaking() {
        for (const turn of this.#turns.values()) {
            if (!turn.cleared && isSpeaking(turn)) return true;
        }
        return false;
    }

    /**
     * The client's own instants of a turn, or null if it is forgotten.
     * @param {number} turnId
     * @returns {TurnTiming | null}
     */
    timing(turnId) {
        const turn = this.#turns.get(turnId);
        return turn ? this.#timingOf(turnId, turn) : null;
    }

    /**
     * Audio is running: plays `playback` from now on, starting with the audio that came before.
     * @param {PlaybackNode} playback
     */
    attach(playback) {
        this.#playback = playback;
        if (this.paused) playback.pause(); // paused before playback was ready
        for (const chunk of this.#pendingAudio.splice(0)) this.#push(chunk.turnId, chunk.samples, chunk.sampleRate);
    }

    /** The session ended: drops held audio and ignores the playback reports still on their way. */
    close() {
        this.#closed = true;
        this.#pendingAudio = [];
    }

    // -----------------------------------------------------------------------------------------
    // Server events

    /**
     * A server event about a turn.
     * @param {TurnEvent} message
     */
    handle(message) {
        switch (message.type) {
            case "transcript.final":
                this.#final(message.turn_id, message.text);
                break;
            case "agent.text":
                this.#text(message.turn_id, message.delta);
                break;
            case "agent.audio.start":
                this.#audioStart(message.turn_id, message.sample_rate);
                break;
            case "agent.audio.end":
                this.#audioEnd(message.turn_id);
                break;
            case "agent.paused":
                this.#pause(message.turn_id);
                break;
            case "agent.resumed":
                this.#resume(message.turn_id);
                break;
            case "agent.interrupted":
                void this.#interrupt(message.turn_id);
                break;
            case "turn.end":
                this.#end(message);
                break;
            default:
                assertNever(message);
        }
    }

    /**
     * `transcript.final`: opens the turn.
     * @param {number} turnId
     * @param {string} text
     */
    #final(turnId, text) {
        const turn = this.#turn(turnId);
        turn.finalAt = performance.now();
        turn.rttMs = this.#host.rttMs();
        this.#host.emit("final", { turnId, text });
        this.#host.emit("timing", this.#timingOf(turnId, turn));
    }

    /**
     * `agent.text`: a piece of the reply.
     * @param {number} turnId
     * @param {string} delta
     */
    #text(turnId, delta) {
        const turn = this.#turn(turnId);
        turn.text += delta;
        this.#host.emit("agentText", { turnId, delta, text: turn.text });
    }

    /**
     * `agent.audio.start`: binary frames from now on are this turn's, at `sampleRate`.
     * @param {number} turnId
     * @param {number} sampleRate
     */
    #audioStart(turnId, sampleRate) {
        // A pause lasts only while its turn is the audio turn: a lost `agent.resumed` must
        // not silence every later turn.
        const previous = this.#audioTurn;
        if (previous !== null && previous !== turnId) this.#resume(previous);
        const turn = this.#turn(turnId);
        turn.audioStarted = true;
        this.#audioTurn = turnId;
        this.#audioRate = sampleRate;
        this.#host.changed();
    }

    /**
     * A binary frame: agent audio (PCM16LE) of the turn of the latest `agent.audio.start`.
     * @param {ArrayBuffer} data
     */
    audio(data) {
        const stats = this.#host.stats;
        stats.audioFramesReceived++;
        stats.audioBytesReceived += data.byteLength;
        const turnId = this.#audioTurn;
        const turn = turnId === null ? undefined : this.#turns.get(turnId);
        if (turnId === null || !turn || turn.cleared || data.byteLength < 2) {
            stats.audioFramesDropped++;
            return;
        }
        if (turn.firstAudioAt === null) {
            turn.firstAudioAt = performance.now();
            this.#host.emit("timing", this.#timingOf(turnId, turn));
        }
        // Int16Array reads platform order, which is little-endian in every browser.
        this.#push(turnId, new Int16Array(data, 0, data.byteLength >> 1), this.#audioRate);
    }

    /**
     * `agent.audio.end`: no more audio for the turn.
     * @param {number} turnId
     */
    #audioEnd(turnId) {
        const turn = this.#turn(turnId);
        turn.audioEnded = true;
        if (turn.pushed > 0 && turn.drained) this.#sendProgress(turnId, turn.played);
        this.#host.changed();
    }

    /**
     * `agent.paused`: stop playback at once, keeping the buffered audio. Ignored unless `turnId`
     * is the turn playing (or about to play).
     * @param {number} turnId
     */
    #pause(turnId) {
        const turn = this.#turns.get(turnId);
        if (this.#audioTurn !== turnId || !turn || turn.cleared || turn.paused || !isSpeaking(turn)) return;
        turn.paused = true;
        this.#playback?.pause();
        this.#host.emit("paused", { turnId });
        this.#host.changed();
    }

    /**
     * `agent.resumed`: playback continues from the sample where it paused. Ignored unless `turnId` is paused.
     * @param {number} turnId
     */
    #resume(turnId) {
        const turn = this.#turns.get(turnId);
        if (!turn || !turn.paused) return;
        turn.paused = false;
        this.#playback?.resume();
        this.#host.emit("resumed", { turnId });
        this.#host.changed();
    }

    /**
     * `agent.interrupted` (barge-in): flush playback at once and tell the server how much of the
     * turn was heard (`playback.cleared`).
     * @param {number} turnId
     */
    async #interrupt(turnId) {
        const turn = this.#turn(turnId);
        turn.cleared = true;
        turn.audioEnded = true;
        turn.paused = false; // the flush ends the worklet's pause too
        if (this.#audioTurn === turnId) this.#audioTurn = null;
        this.#pendingAudio = this.#pendingAudio.filter((chunk) => chunk.turnId !== turnId);
        if (this.#playback) {
            const report = await this.#playback.flush();
            if (this.#closed) return;
            if (report.turnId === turnId) this.#recordPlayed(turnId, report.playedSamples);
        }
        turn.drained = true;
        this.#host.send(playbackCleared(turnId, turn.played));
        this.#host.emit("interrupted", { turnId, playedSamples: turn.played });
        this.#host.changed();
    }

    /**
     * `turn.end`: the turn is over on the server; its audio may still be playing here.
     * @param {TurnEndEvent} end
     */
    #end(end) {
        const turn = this.#turn(end.turn_id);
        turn.audioEnded = true;
        if (turn.pushed === 0) turn.drained = true;
        turn.rttMs ??= this.#host.rttMs();
        this.#host.emit("timing", this.#timingOf(end.turn_id, turn));
        this.#host.emit("turnEnd", end);
        this.#host.changed();
    }

    // -----------------------------------------------------------------------------------------
    // Playback

    /**
     * A report of the playback worklet.
     * @param {PlaybackReport} report
     */
    onPlaybackReport(report) {
        if (this.#closed) return;
        this.#host.stats.playbackDroppedSamples = report.droppedSamples;
        switch (report.type) {
            case "progress":
                this.#recordPlayed(report.turnId, report.playedSamples);
                this.#sendProgress(report.turnId, report.playedSamples);
                break;
            case "started":
                this.#onPlaybackStarted(report);
                break;
            case "drained": {
                this.#recordPlayed(report.turnId, report.playedSamples);
                const turn = this.#turns.get(report.turnId);
                if (turn && !this.#playback?.inFlight(report)) turn.drained = true;
                this.#sendProgress(report.turnId, report.playedSamples);
                this.#host.changed();
                break;
            }
            case "flushed":
                break; // answers interrupt()'s flush(), through its promise
            default:
                assertNever(report);
        }
    }

    /**
     * Records when a turn's first sample reached the speaker.
     * @param {PlaybackStartedReport} report
     */
    #onPlaybackStarted(report) {
        const turn = this.#turns.get(report.turnId);
        if (!turn || turn.playbackStartAt !== null || !this.#playback) return;
        turn.playbackStartAt = this.#playback.speakerTimeOf(report.contextTime);
        this.#host.emit("timing", this.#timingOf(report.turnId, turn));
    }

    /**
     * Hands audio to the playback node, or holds it until there is one.
     * @param {number} turnId
     * @param {Int16Array} samples
     * @param {number} sampleRate
     */
    #push(turnId, samples, sampleRate) {
        const turn = this.#turn(turnId);
        if (turn.cleared) return;
        turn.pushed += samples.length;
        turn.drained = false;
        if (!this.#playback) {
            if (this.#pendingAudio.length < MAX_PENDING_AUDIO) this.#pendingAudio.push({ turnId, samples, sampleRate });
            return;
        }
        this.#playback.push(turnId, samples, sampleRate);
        this.#host.changed();
    }

    /**
     * @param {number} turnId
     * @param {number} playedSamples
     */
    #recordPlayed(turnId, playedSamples) {
        const turn = this.#turns.get(turnId);
        if (!turn || playedSamples <= turn.played) return;
        const totalPlayedSamples = this.#host.played(playedSamples - turn.played);
        turn.played = playedSamples;
        this.#host.emit("playback", { turnId, playedSamples, totalPlayedSamples });
    }

    /**
     * @param {number} turnId
     * @param {number} playedSamples
     */
    #sendProgress(turnId, playedSamples) {
        const turn = this.#turns.get(turnId);
        if (!turn || turn.cleared) return;
        this.#host.send(playbackProgress(turnId, playedSamples));
    }

    // -----------------------------------------------------------------------------------------
    // State

    /**
     * The bookkeeping for a turn, created on first mention; old turns are forgotten.
     * @param {number} turnId
     * @returns {TurnState}
     */
    #turn(turnId) {
        let turn = this.#turns.get(turnId);
        if (!turn) {
            turn = {
                text: "", played: 0, pushed: 0, audioStarted: false, audioEnded: false, drained: true, cleared: false, paused: false,
                finalAt: null, firstAudioAt: null, playbackStartAt: null, rttMs: null,
            };
            this.#turns.set(turnId, turn);
            if (this.#turns.size > MAX_TURNS) {
                const oldest = this.#turns.keys().next().value;
                if (oldest !== undefined) this.#turns.delete(oldest);
            }
        }
        return turn;
    }

    /**
     * A snapshot of a turn's client-side instants.
     * @param {number} turnId
     * @param {TurnState} turn
     * @returns {TurnTiming}
     */
    #timingOf(turnId, turn) {
        return {
            turnId,
            finalAt: turn.finalAt,
            firstAudioAt: turn.firstAudioAt,
            playbackStartAt: turn.playbackStartAt,
            rttMs: turn.rttMs ?? this.#host.rttMs(),
            captureMs: this.#host.captureMs(),
        };
    }
}

/**
 * Whether a turn's audio is announced and not over, or not yet played out (paused included).
 * @param {TurnState} turn
 * @returns {boolean}
 */
function isSpeaking(turn) {
    return (turn.audioStarted && !turn.audioEnded) || !turn.drained;
}

/**
 * Compile-time exhaustiveness check for discriminated unions.
 * @param {never} value
 * @returns {never}
 */
function assertNever(value) {
    throw new Error(`Unhandled message ${JSON.stringify(value)}`);
}
