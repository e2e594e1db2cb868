// VoiceClient: one conversation with a Parley server over protocol v1 (docs/protocol.md), and the
// entry point of the browser client. It owns the WebSocket and the protocol state and knows nothing
// about the DOM; UIs (main.js, react/useVoiceAgent.js) subscribe to its typed events. The rest
// lives beside it:
//
//   client-types.js    the public types: options, status, errors, counters, events
//   emitter.js         typed event listeners
//   connection.js      the WebSocket: server URL and token, session.ready, routing, ping round trips
//   turns.js           each turn as the listener hears it: text, audio played, pauses, barge-ins
//   audio-graph.js     the AudioContext, the worklet modules and the microphone
//   capture-node.js    the capture worklet's node: microphone frames out
//   playback-node.js   the playback worklet's node: agent audio in, what was played out
//   capture-worklet.js, playback-worklet.js   the worklets themselves (audio thread)

import { AudioGraph, isMicrophoneError } from "./audio-graph.js";
import { CaptureNode, frameSamplesFor } from "./capture-node.js";
import { Connection, ConnectionError } from "./connection.js";
import { Emitter } from "./emitter.js";
import { PlaybackNode } from "./playback-node.js";
import { ping } from "./protocol.js";
import { Turns } from "./turns.js";

export { serverUrlFor, tokenFor } from "./connection.js";

// The public types, importable from this module.
/** @typedef {import("./client-types.js").ClientStatus} ClientStatus */
/** @typedef {import("./client-types.js").ClientError} ClientError */
/** @typedef {import("./client-types.js").ClientStats} ClientStats */
/** @typedef {import("./client-types.js").ClientEventMap} ClientEventMap */
/** @typedef {import("./client-types.js").ClientEventName} ClientEventName */
/** @typedef {import("./client-types.js").VoiceClientOptions} VoiceClientOptions */
// And the other types this module has always offered.
/** @typedef {import("./protocol.js").ServerEvent} ServerEvent */
/** @typedef {import("./protocol.js").ClientMessage} ClientMessage */
/** @typedef {import("./protocol.js").SessionReadyEvent} SessionReadyEvent */
/** @typedef {import("./protocol.js").TurnEndEvent} TurnEndEvent */
/** @typedef {import("./waterfall.js").TurnTiming} TurnTiming */
/** @typedef {import("./turns.js").TurnState} TurnState */
/** @typedef {import("./capture-worklet.js").CaptureReport} CaptureReport */
/** @typedef {import("./capture-worklet.js").CaptureCommand} CaptureCommand */
/** @typedef {import("./capture-worklet.js").CaptureOptions} CaptureOptions */
/** @typedef {import("./playback-worklet.js").PlaybackReport} PlaybackReport */
/** @typedef {import("./playback-worklet.js").PlaybackCommand} PlaybackCommand */
/** @typedef {import("./playback-worklet.js").PlaybackFlushedReport} PlaybackFlushedReport */
/** @typedef {import("./playback-worklet.js").PlaybackOptions} PlaybackOptions */
/** @typedef {import("./playback-worklet.js").PlaybackStartedReport} PlaybackStartedReport */
/** @typedef {import("./capture-node.js").CapturedFrame} CapturedFrame */

/**
 * Everything that belongs to one connection; replaced on each start().
 * @typedef {object} Session
 * @property {Connection} connection The socket, and its round trips (pings after `session.ready`,
 *   on `speech.started` and after each `turn.end`).
 * @property {boolean} closed
 * @property {SessionReadyEvent | null} ready
 * @property {Turns} turns
 * @property {AudioGraph} graph The AudioContext and the microphone.
 * @property {CaptureNode | null} capture Set once audio runs: the status follows the turns from then on.
 * @property {PlaybackNode | null} playback
 * @property {boolean} fatalErrorSeen
 */

/** @type {Readonly<ClientStats>} The counters at start(). */
const NO_STATS = Object.freeze({
    framesSent: 0, bytesSent: 0, lastFrameBytes: 0, audioFramesReceived: 0, audioBytesReceived: 0,
    audioFramesDropped: 0, playbackDroppedSamples: 0, capturePoolMisses: 0, contextSampleRate: 0,
});

/**
 * One voice conversation with a Parley server: microphone → server, agent audio → speaker.
 *
 * ```js
 * const client = new VoiceClient({url: serverUrlFor(location)});
 * client.on("final", ({text}) => console.log("you said", text));
 * await client.start();   // rejects (and emits `error`) if the connection or microphone fails
 * client.stop();
 * ```
 */
export class VoiceClient {
    /** @type {VoiceClientOptions} */
    #options;
    /** @type {Emitter<ClientEventMap>} */
    #events = new Emitter();
    /** @type {ClientStatus} */
    #status = "idle";
    /** @type {Session | null} */
    #session = null;
    /** @type {ClientStats} */
    #stats = { ...NO_STATS };
    #totalPlayed = 0;

    /** @param {VoiceClientOptions} options */
    constructor(options) {
        this.#options = options;
    }

    /** @returns {ClientStatus} */
    get status() {
        return this.#status;
    }

    /** The `session.ready` of the current connection, if read. */
    get sessionReady() {
        return this.#session?.ready ?? null;
    }

    /** Samples of agent audio played since start(), all turns together. */
    get totalPlayedSamples() {
        return this.#totalPlayed;
    }

    /** Whether the agent's playback is held by `agent.paused` (the status stays `agent-speaking`). */
    get agentPaused() {
        const session = this.#session;
        return session !== null && !session.closed && session.turns.paused;
    }

    /** @returns {ClientStats} A snapshot of the counters. */
    get stats() {
        return { ...this.#stats };
    }

    /**
     * Subscribes to an event; returns a function that unsubscribes.
     * @template {ClientEventName} K
     * @param {K} name
     * @param {(detail: ClientEventMap[K]) => void} listener
     * @returns {() => void}
     */
    on(name, listener) {
        return this.#events.on(name, listener);
    }

    /**
     * Connects, waits for `session.ready`, then starts the microphone and playback.
     * Resolves once listening; rejects (after emitting `error`) if anything fails.
     * @returns {Promise<void>}
     */
    async start() {
        if (this.#session && !this.#session.closed) throw new Error("VoiceClient is already started");
        this.#stats = { ...NO_STATS };
        this.#totalPlayed = 0;
        this.#setStatus("connecting");

        const tokenOption = this.#options.token;
        /** @type {string | null} */
        let token = null;
        try {
            token = typeof tokenOption === "function" ? await tokenOption() : tokenOption ?? null;
        } catch (error) {
            throw this.#fail(null, "connection_failed", `Cannot get a session token: ${describe(error)}`);
        }
        /** @type {Session} */
        let session;
        try {
            session = this.#newSession(token);
        } catch (error) {
            // An unparsable URL throws synchronously.
            throw this.#fail(null, "connection_failed", `Cannot open ${this.#options.url}: ${describe(error)}`);
        }
        this.#session = session;

        /** @type {SessionReadyEvent} */
        let ready;
        try {
            ready = await session.connection.ready(this.#options.readyTimeoutMs ?? 10000);
        } catch (error) {
            throw this.#connectionFailed(session, error);
        }
        session.ready = ready;
        if (session.closed) throw new Error("VoiceClient was stopped");
        this.#setStatus("ready");
        this.#events.emit("ready", ready);
        this.#measureRoundTrip();

        try {
            await this.#startAudio(session, ready);
        } catch (error) {
            if (session.closed) throw new Error("VoiceClient was stopped");
            const microphone = isMicrophoneError(error);
            throw this.#fail(session, microphone ? "microphone_unavailable" : "audio_failed",
                `${microphone ? "Microphone unavailable" : "Audio setup failed"}: ${describe(error)}`);
        }
        if (session.closed) throw new Error("VoiceClient was stopped");
        this.#refreshStatus(session);
    }

    /** Closes the socket, stops the microphone and closes the audio context. Safe to call twice. */
    stop() {
        const session = this.#session;
        if (!session || session.closed) return;
        this.#teardown(session);
        this.#setStatus("closed");
    }

    /**
     * The client's own instants of a turn (for the latency waterfall), or null if it is forgotten.
     * @param {number} turnId
     * @returns {TurnTiming | null}
     */
    turnTiming(turnId) {
        return this.#session?.turns.timing(turnId) ?? null;
    }

    /**
     * Measures the round trip to the server with `ping`/`pong`.
     * @param {number} [timeoutMs]
     * @returns {Promise<number>} Milliseconds.
     */
    ping(timeoutMs = 5000) {
        const session = this.#session;
        if (!session || session.closed || !session.ready) return Promise.reject(new Error("not connected"));
        return session.connection.roundTrips.measure((id) => session.connection.send(ping(id)), timeoutMs);
    }

    // -----------------------------------------------------------------------------------------
    // Connection

    /**
     * Opens the socket of a new session (throws on an unparsable URL).
     * @param {string | null} token
     * @returns {Session}
     */
    #newSession(token) {
        /** @type {Session} */
        const session = {
            connection: new Connection(this.#options.url, token, {
                onEvent: (message) => this.#onEvent(session, message),
                onAudio: (data) => session.turns.audio(data),
                onClose: (event) => this.#onClose(session, event),
            }),
            closed: false,
            ready: null,
            turns: new Turns({
                emit: (name, detail) => this.#events.emit(name, detail),
                send: (message) => session.connection.send(message),
                changed: () => this.#refreshStatus(session),
                played: (samples) => (this.#totalPlayed += samples),
                stats: this.#stats,
                rttMs: () => session.connection.roundTrips.rttMs,
                captureMs: () => session.ready?.input.frame_ms ?? 0,
            }),
            graph: new AudioGraph(),
            capture: null,
            playback: null,
            fatalErrorSeen: false,
        };
        return session;
    }

    /**
     * The wait for `session.ready` failed: reports why and returns the Error start() rejects with.
     * @param {Session} session
     * @param {unknown} error
     * @returns {Error}
     */
    #connectionFailed(session, error) {
        if (session.closed) return new Error("VoiceClient was stopped");
        if (session.fatalErrorSeen && error instanceof ConnectionError && error.socketClosed) {
            // The server said why (server_busy, …) before closing; its error event is the one to show.
            this.#teardown(session);
            this.#setStatus("error");
            return new Error("The server refused the session");
        }
        if (error instanceof ConnectionError) return this.#fail(session, error.code, error.message);
        return this.#fail(session, "connection_failed", describe(error));
    }

    /**
     * @param {Session} session
     * @param {CloseEvent} event
     */
    #onClose(session, event) {
        if (session.closed) return;
        this.#teardown(session);
        if (session.fatalErrorSeen || event.code === 1000 || event.code === 1001) {
            this.#setStatus(session.fatalErrorSeen ? "error" : "closed");
            return;
        }
        const reason = event.reason ? `: ${event.reason}` : "";
        this.#events.emit("error", {
            code: "connection_closed",
            message: `The server closed the connection (close code ${event.code}${reason})`,
            fatal: true,
            source: "client",
        });
        this.#setStatus("error");
    }

    /**
     * @param {Session} session
     * @param {ServerEvent} message
     */
    #onEvent(session, message) {
        switch (message.type) {
            case "session.ready":
                console.warn("Parley: ignoring a second session.ready");
                break;
            case "speech.started":
                this.#events.emit("speech", { speaking: true });
                this.#measureRoundTrip(); // before the turn's transcript, while the server only listens
                break;
            case "speech.stopped":
                this.#events.emit("speech", { speaking: false });
                break;
            case "transcript.partial":
                this.#events.emit("partial", { text: message.text });
                break;
            case "transcript.final":
            case "agent.text":
            case "agent.audio.start":
            case "agent.audio.end":
            case "agent.paused":
            case "agent.resumed":
            case "agent.interrupted":
                session.turns.handle(message);
                break;
            case "turn.end":
                session.turns.handle(message);
                this.#measureRoundTrip(); // fresh for the next turn, once the reply's audio has all arrived
                break;
            case "tool.call":
                this.#events.emit("toolCall", { turnId: message.turn_id, callId: message.call_id, name: message.name, arguments: message.arguments });
                break;
            case "tool.result":
                this.#events.emit("toolResult", {
                    turnId: message.turn_id, callId: message.call_id, name: message.name, ok: message.ok,
                    durationMs: message.duration_ms, result: message.result,
                });
                break;
            case "session.end":
                // The server closes the socket (1000) next, which ends the session as "closed".
                this.#events.emit("sessionEnd", { reason: message.reason });
                break;
            case "pong": {
                const rttMs = session.connection.roundTrips.pong(message.id);
                if (rttMs !== null) this.#events.emit("pong", { id: message.id, rttMs });
                break;
            }
            case "error":
                this.#onServerError(session, message);
                break;
            default:
                assertNever(message);
        }
    }

    /**
     * @param {Session} session
     * @param {import("./protocol.js").ServerErrorEvent} message
     */
    #onServerError(session, message) {
        if (message.fatal) session.fatalErrorSeen = true;
        this.#events.emit("error", { code: message.code, message: message.message, fatal: message.fatal, source: "server" });
    }

    /** Sends one `ping` to refresh the round trip the waterfall aligns with; failures are ignored. */
    #measureRoundTrip() {
        this.ping().catch(() => {});
    }

    // -----------------------------------------------------------------------------------------
    // Audio

    /**
     * Opens the audio graph, then starts playback and capture on it.
     * @param {Session} session
     * @param {SessionReadyEvent} ready
     */
    async #startAudio(session, ready) {
        const { graph } = session;
        const opened = await graph.open({
            sampleRate: ready.input.sample_rate,
            captureWorkletUrl: this.#options.captureWorkletUrl,
            playbackWorkletUrl: this.#options.playbackWorkletUrl,
            microphone: this.#options.microphone,
        });
        if (!opened) return; // stopped while the microphone prompt was open
        const { context, source } = opened;
        this.#stats.contextSampleRate = context.sampleRate;

        session.playback = new PlaybackNode(context, { sourceSampleRate: ready.output.sample_rate, capacitySeconds: 20 },
            (report) => session.turns.onPlaybackReport(report));
        const frameSamples = frameSamplesFor(ready.input.sample_rate, ready.input.frame_ms, ready.limits.max_audio_frame_bytes);
        session.capture = new CaptureNode(context, source, { targetSampleRate: ready.input.sample_rate, frameSamples },
            (frame) => this.#onCapturedFrame(session, frame));
        graph.onMicrophoneEnded(() => this.#warn(session, "microphone_ended", "The microphone stopped (unplugged or revoked)."));
        // Plays the audio that arrived while the worklets loaded.
        session.turns.attach(session.playback);
        graph.resume(() => this.#warn(session, "audio_suspended",
            "The browser keeps audio suspended (autoplay policy); click the page to allow audio."));
    }

    /**
     * A microphone frame: to the server as a binary message.
     * @param {Session} session
     * @param {CapturedFrame} frame
     */
    #onCapturedFrame(session, frame) {
        if (session.closed) return;
        // sendAudio() copies the bytes into the socket's queue, so the buffer can go back to the pool.
        if (session.connection.sendAudio(frame.buffer)) {
            this.#stats.framesSent++;
            this.#stats.bytesSent += frame.buffer.byteLength;
            this.#stats.lastFrameBytes = frame.buffer.byteLength;
        }
        this.#stats.capturePoolMisses = frame.allocated;
        this.#events.emit("level", { rms: frame.rms });
    }

    // -----------------------------------------------------------------------------------------
    // State

    /**
     * `agent-speaking` while any turn's audio is announced or still playing (or paused), else
     * `listening`; nothing before audio runs.
     * @param {Session} session
     */
    #refreshStatus(session) {
        if (session.closed || !session.capture) return;
        this.#setStatus(session.turns.speaking ? "agent-speaking" : "listening");
    }

    /** @param {ClientStatus} status */
    #setStatus(status) {
        if (status === this.#status) return;
        this.#status = status;
        this.#events.emit("status", { status });
    }

    /**
     * Emits a client error that does not end the session, unless the session has ended.
     * @param {Session} session
     * @param {string} code
     * @param {string} message
     */
    #warn(session, code, message) {
        if (!session.closed) this.#events.emit("error", { code, message, fatal: false, source: "client" });
    }

    /**
     * Emits a fatal client error, tears the session down and returns an Error to throw.
     * @param {Session | null} session
     * @param {string} code
     * @param {string} message
     * @returns {Error}
     */
    #fail(session, code, message) {
        if (session?.closed) return new Error(message); // already stopped: nothing left to report
        if (session) this.#teardown(session);
        this.#events.emit("error", { code, message, fatal: true, source: "client" });
        this.#setStatus("error");
        return new Error(message);
    }

    /** @param {Session} session */
    #teardown(session) {
        if (session.closed) return;
        session.closed = true;
        session.connection.close();
        session.capture?.stop();
        session.playback?.stop();
        session.graph.close();
        session.turns.close();
    }
}

/**
 * @param {unknown} error
 * @returns {string}
 */
function describe(error) {
    if (error instanceof Error) return error.name && error.name !== "Error" ? `${error.name}: ${error.message}` : error.message;
    return String(error);
}

/**
 * Compile-time exhaustiveness check for discriminated unions.
 * @param {never} value
 * @returns {never}
 */
function assertNever(value) {
    throw new Error(`Unhandled message ${JSON.stringify(value)}`);
}
