// VoiceClient: one conversation with a Parley server over protocol v1 (docs/protocol.md).
// Owns the WebSocket, the AudioContext and both worklets; knows nothing about the DOM. UIs
// (main.js, react/useVoiceAgent.js) subscribe to its typed events.

import { SERVER_URL } from "./config.js";
import { encodeClientMessage, parseServerEvent, ping, playbackCleared, playbackProgress, PROTOCOL_VERSION } from "./protocol.js";

/** @typedef {import("./protocol.js").ServerEvent} ServerEvent */
/** @typedef {import("./protocol.js").ClientMessage} ClientMessage */
/** @typedef {import("./protocol.js").SessionReadyEvent} SessionReadyEvent */
/** @typedef {import("./protocol.js").TurnEndEvent} TurnEndEvent */
/** @typedef {import("./capture-worklet.js").CaptureReport} CaptureReport */
/** @typedef {import("./capture-worklet.js").CaptureCommand} CaptureCommand */
/** @typedef {import("./capture-worklet.js").CaptureOptions} CaptureOptions */
/** @typedef {import("./playback-worklet.js").PlaybackReport} PlaybackReport */
/** @typedef {import("./playback-worklet.js").PlaybackCommand} PlaybackCommand */
/** @typedef {import("./playback-worklet.js").PlaybackFlushedReport} PlaybackFlushedReport */
/** @typedef {import("./playback-worklet.js").PlaybackOptions} PlaybackOptions */
/** @typedef {import("./playback-worklet.js").PlaybackStartedReport} PlaybackStartedReport */
/** @typedef {import("./waterfall.js").TurnTiming} TurnTiming */

/**
 * Where the conversation stands.
 * - `idle`: not started; `connecting`: socket opening, waiting for `session.ready`;
 * - `ready`: `session.ready` read, microphone and audio graph starting;
 * - `listening`: microphone streaming, no agent audio playing; `agent-speaking`: agent audio playing
 *   (or held by `agent.paused`: see `agentPaused`);
 * - `closed`: stopped or closed by the server; `error`: failed (see the `error` event).
 * @typedef {"idle" | "connecting" | "ready" | "listening" | "agent-speaking" | "closed" | "error"} ClientStatus
 */

/**
 * An error from the server (`source: "server"`, the protocol's codes) or from the client itself
 * (`source: "client"`; codes: `connection_failed`, `connection_closed`, `protocol_mismatch`,
 * `unsupported_format`, `microphone_unavailable`, `microphone_ended`, `audio_failed`, `audio_suspended`).
 * @typedef {object} ClientError
 * @property {string} code
 * @property {string} message
 * @property {boolean} fatal
 * @property {"server" | "client"} source
 */

/**
 * Counters for diagnostics and tests.
 * @typedef {object} ClientStats
 * @property {number} framesSent Binary audio frames sent to the server.
 * @property {number} bytesSent
 * @property {number} lastFrameBytes Byte length of the last frame sent.
 * @property {number} audioFramesReceived Binary frames received from the server.
 * @property {number} audioBytesReceived
 * @property {number} audioFramesDropped Received frames dropped (no open turn, or turn interrupted).
 * @property {number} playbackDroppedSamples Samples the playback ring dropped on overflow.
 * @property {number} capturePoolMisses Capture frames allocated because buffers were not returned in time.
 * @property {number} contextSampleRate Hz of the AudioContext (0 before it exists).
 */

/**
 * Events a VoiceClient emits, by name, with their payloads.
 * @typedef {object} ClientEventMap
 * @property {{status: ClientStatus}} status
 * @property {SessionReadyEvent} ready
 * @property {{rms: number}} level Microphone level of each captured frame (0…1).
 * @property {{speaking: boolean}} speech The server's VAD: `speech.started` / `speech.stopped`.
 * @property {{text: string}} partial Interim transcript of the current utterance.
 * @property {{turnId: number, text: string}} final Final transcript; opens turn `turnId`.
 * @property {{turnId: number, delta: string, text: string}} agentText A reply text piece and the text so far.
 * @property {{turnId: number, playedSamples: number, totalPlayedSamples: number}} playback Samples played.
 * @property {{turnId: number}} paused `agent.paused`: playback held, buffered audio kept; `resumed` or `interrupted` follows.
 * @property {{turnId: number}} resumed `agent.resumed`: playback continues where it paused.
 * @property {{turnId: number, playedSamples: number}} interrupted Barge-in: playback flushed (ends a pause too).
 * @property {TurnEndEvent} turnEnd
 * @property {TurnTiming} timing The client's own instants of a turn changed (transcript arrived, first
 *   audio frame arrived, playback started, or `turn.end`); a few times per turn, never per frame.
 * @property {{id: unknown, rttMs: number}} pong
 * @property {{turnId: number, callId: string, name: string, arguments?: string}} toolCall The reply called a tool.
 * @property {{turnId: number, callId: string, name: string, ok: boolean, durationMs: number, result?: string}} toolResult
 *   A tool call ended (arguments and results only with the server's `--log-tool-payloads`).
 * @property {{reason: string}} sessionEnd The agent ended the call (`end_call`); the socket closes next.
 * @property {ClientError} error
 */

/** @typedef {keyof ClientEventMap} ClientEventName */

/**
 * @typedef {object} VoiceClientOptions
 * @property {string} url WebSocket URL of the server's `/ws` endpoint.
 * @property {string | null | (() => Promise<string>)} [token] A session token (from the server's
 *   `POST /v1/session-tokens`, minted by your backend), or a function that fetches a fresh one for
 *   each start(); sent as the subprotocol `parley-token.<token>` beside `parley`, never in the URL.
 * @property {string | URL} [captureWorkletUrl] Defaults to `capture-worklet.js` beside this module.
 * @property {string | URL} [playbackWorkletUrl] Defaults to `playback-worklet.js` beside this module.
 * @property {number} [readyTimeoutMs] How long to wait for `session.ready` (default 10000).
 * @property {MediaTrackConstraints} [microphone] getUserMedia audio constraints; defaults to
 *   mono with echo cancellation, noise suppression and automatic gain control.
 */

/**
 * Per-turn playback bookkeeping.
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
 * @property {number | null} rttMs The session's ping round trip when the transcript arrived.
 */

/**
 * Everything that belongs to one connection; replaced on each start().
 * @typedef {object} Session
 * @property {WebSocket} socket
 * @property {boolean} closed
 * @property {SessionReadyEvent | null} ready
 * @property {AudioContext | null} context
 * @property {MediaStream | null} stream
 * @property {MediaStreamAudioSourceNode | null} source
 * @property {AudioWorkletNode | null} captureNode
 * @property {AudioWorkletNode | null} playbackNode
 * @property {number | null} audioTurn Turn of the latest `agent.audio.start`.
 * @property {number} audioRate Hz named by that `agent.audio.start`.
 * @property {Array<{turnId: number, samples: Int16Array, sampleRate: number}>} pendingAudio Audio received before playback was ready.
 * @property {Map<number, TurnState>} turns
 * @property {Map<number, (report: PlaybackFlushedReport) => void>} pendingFlushes
 * @property {Map<number, {resolve: (rttMs: number) => void, sentAt: number}>} pendingPings
 * @property {number} nextRequestId
 * @property {boolean} fatalErrorSeen
 * @property {number} pushedTotal Samples posted to the playback worklet, all turns.
 * @property {number | null} lastPushedTurn
 * @property {number[]} rttSamples The last few `ping` round trips, ms (pings after `session.ready`, on
 *   `speech.started` and after each `turn.end`).
 * @property {number | null} rttMs The least of `rttSamples`: the network's own delay, without the moments a busy
 *   server or page held a pong (the ping after `session.ready` often meets both starting up).
 * @property {Array<() => void>} onTeardown Callbacks that settle pending waits when the session ends.
 */

/** Most audio chunks held while the playback worklet loads (~40 s of 20 ms frames). */
const MAX_PENDING_AUDIO = 2000;
/** Turns kept in the bookkeeping map. */
const MAX_TURNS = 16;
/** Round trips the network delay estimate takes the least of. */
const RTT_SAMPLES = 5;

/**
 * The server URL for a page: `?server=ws://host:port/ws` if given, else the URL baked into
 * `config.js` by the site build, else `/ws` on the page's host.
 * @param {{search: string, protocol: string, host: string}} location The page's `location`.
 * @param {string | null} [configured] The baked URL; defaults to `config.js`'s `SERVER_URL`.
 * @returns {string}
 */
export function serverUrlFor(location, configured = SERVER_URL) {
    const fromQuery = new URLSearchParams(location.search).get("server");
    if (fromQuery) return fromQuery;
    if (configured) return configured;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/ws`;
}

/**
 * The session token a page was opened with: `?token=` in its URL, else null.
 * @param {{search: string}} location The page's `location`.
 * @returns {string | null}
 */
export function tokenFor(location) {
    return new URLSearchParams(location.search).get("token") || null;
}

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
    /** @type {Map<ClientEventName, Set<(detail: any) => void>>} */
    #listeners = new Map();
    /** @type {ClientStatus} */
    #status = "idle";
    /** @type {Session | null} */
    #session = null;
    /** @type {ClientStats} */
    #stats = VoiceClient.#emptyStats();
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
        return session !== null && !session.closed && isPaused(session);
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
        let set = this.#listeners.get(name);
        if (!set) {
            set = new Set();
            this.#listeners.set(name, set);
        }
        set.add(listener);
        return () => set?.delete(listener);
    }

    /**
     * Connects, waits for `session.ready`, then starts the microphone and playback.
     * Resolves once listening; rejects (after emitting `error`) if anything fails.
     * @returns {Promise<void>}
     */
    async start() {
        if (this.#session && !this.#session.closed) throw new Error("VoiceClient is already started");
        this.#stats = VoiceClient.#emptyStats();
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
            // Browsers cannot set headers on a WebSocket: the token rides in the offered subprotocols.
            const socket = token ? new WebSocket(this.#options.url, ["parley", `parley-token.${token}`]) : new WebSocket(this.#options.url);
            socket.binaryType = "arraybuffer";
            session = {
                socket,
                closed: false,
                ready: null,
                context: null,
                stream: null,
                source: null,
                captureNode: null,
                playbackNode: null,
                audioTurn: null,
                audioRate: 0,
                pendingAudio: [],
                turns: new Map(),
                pendingFlushes: new Map(),
                pendingPings: new Map(),
                nextRequestId: 1,
                fatalErrorSeen: false,
                pushedTotal: 0,
                lastPushedTurn: null,
                rttSamples: [],
                rttMs: null,
                onTeardown: [],
            };
        } catch (error) {
            // An unparsable URL throws synchronously.
            throw this.#fail(null, "connection_failed", `Cannot open ${this.#options.url}: ${describe(error)}`);
        }
        this.#session = session;

        const ready = await this.#waitForReady(session);
        if (session.closed) throw new Error("VoiceClient was stopped");
        this.#setStatus("ready");
        this.#emit("ready", ready);
        this.#measureRoundTrip();

        try {
            await this.#startAudio(session, ready);
        } catch (error) {
            if (session.closed) throw new Error("VoiceClient was stopped");
            const name = error instanceof DOMException ? error.name : "";
            const microphone = name === "NotAllowedError" || name === "NotFoundError" || name === "NotReadableError"
                || name === "OverconstrainedError" || name === "SecurityError";
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
        const session = this.#session;
        const turn = session?.turns.get(turnId);
        return session && turn ? timingOf(session, turnId, turn) : null;
    }

    /**
     * Measures the round trip to the server with `ping`/`pong`.
     * @param {number} [timeoutMs]
     * @returns {Promise<number>} Milliseconds.
     */
    ping(timeoutMs = 5000) {
        const session = this.#session;
        if (!session || session.closed || !session.ready) return Promise.reject(new Error("not connected"));
        const id = session.nextRequestId++;
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                session.pendingPings.delete(id);
                reject(new Error("ping timed out"));
            }, timeoutMs);
            session.pendingPings.set(id, {
                resolve: (rttMs) => {
                    clearTimeout(timer);
                    resolve(rttMs);
                },
                sentAt: performance.now(),
            });
            this.#send(session, ping(id));
        });
    }

    // -----------------------------------------------------------------------------------------
    // Connection

    /**
     * Resolves with `session.ready`; rejects (after emitting `error`) if the socket fails first.
     * @param {Session} session
     * @returns {Promise<SessionReadyEvent>}
     */
    #waitForReady(session) {
        const { socket } = session;
        const timeoutMs = this.#options.readyTimeoutMs ?? 10000;
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                reject(this.#fail(session, "connection_failed", `No session.ready from ${socket.url} within ${timeoutMs} ms`));
            }, timeoutMs);
            session.onTeardown.push(() => {
                clearTimeout(timer);
                reject(new Error("VoiceClient was stopped"));
            });
            socket.onmessage = (event) => {
                if (typeof event.data !== "string") return; // no audio may precede session.ready
                const message = parseServerEvent(event.data);
                if (message?.type === "session.ready") {
                    clearTimeout(timer);
                    if (message.protocol !== PROTOCOL_VERSION) {
                        reject(this.#fail(session, "protocol_mismatch",
                            `Server speaks protocol ${message.protocol}; this client speaks ${PROTOCOL_VERSION}`));
                        return;
                    }
                    const problem = formatProblem(message);
                    if (problem) {
                        reject(this.#fail(session, "unsupported_format", problem));
                        return;
                    }
                    session.ready = message;
                    socket.onmessage = (next) => this.#onMessage(session, next);
                    resolve(message);
                } else if (message?.type === "error") {
                    this.#onServerError(session, message);
                } else {
                    console.warn("Parley: unexpected message before session.ready", event.data.slice(0, 200));
                }
            };
            socket.onclose = (event) => {
                clearTimeout(timer);
                if (session.closed) return;
                if (session.fatalErrorSeen) {
                    // The server said why (server_busy, …); its error event is the one to show.
                    this.#teardown(session);
                    this.#setStatus("error");
                    reject(new Error("The server refused the session"));
                    return;
                }
                const reason = event.reason ? `: ${event.reason}` : "";
                reject(this.#fail(session, "connection_failed",
                    `Could not connect to ${socket.url} (close code ${event.code}${reason})`));
            };
            // Browsers give no detail on `error`; the `close` that always follows reports it.
            socket.onerror = () => {};
        }).then((ready) => {
            session.socket.onclose = (event) => this.#onClose(session, event);
            return /** @type {SessionReadyEvent} */ (ready);
        });
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
        this.#emit("error", {
            code: "connection_closed",
            message: `The server closed the connection (close code ${event.code}${reason})`,
            fatal: true,
            source: "client",
        });
        this.#setStatus("error");
    }

    /**
     * @param {Session} session
     * @param {MessageEvent} event
     */
    #onMessage(session, event) {
        if (session.closed) return;
        if (event.data instanceof ArrayBuffer) {
            this.#onAudio(session, event.data);
            return;
        }
        if (typeof event.data !== "string") return;
        const message = parseServerEvent(event.data);
        if (!message) {
            // Newer servers may add event types; ignore what this version does not know.
            console.warn("Parley: ignoring unrecognised server event", event.data.slice(0, 200));
            return;
        }
        this.#onEvent(session, message);
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
                this.#emit("speech", { speaking: true });
                this.#measureRoundTrip(); // before the turn's transcript, while the server only listens
                break;
            case "speech.stopped":
                this.#emit("speech", { speaking: false });
                break;
            case "transcript.partial":
                this.#emit("partial", { text: message.text });
                break;
            case "transcript.final": {
                const turn = this.#turn(session, message.turn_id);
                turn.finalAt = performance.now();
                turn.rttMs = session.rttMs;
                this.#emit("final", { turnId: message.turn_id, text: message.text });
                this.#emit("timing", timingOf(session, message.turn_id, turn));
                break;
            }
            case "agent.text": {
                const turn = this.#turn(session, message.turn_id);
                turn.text += message.delta;
                this.#emit("agentText", { turnId: message.turn_id, delta: message.delta, text: turn.text });
                break;
            }
            case "agent.audio.start": {
                // A pause lasts only while its turn is the audio turn: a lost `agent.resumed` must
                // not silence every later turn.
                const previous = session.audioTurn;
                if (previous !== null && previous !== message.turn_id) this.#onResumed(session, previous);
                const turn = this.#turn(session, message.turn_id);
                turn.audioStarted = true;
                session.audioTurn = message.turn_id;
                session.audioRate = message.sample_rate;
                this.#refreshStatus(session);
                break;
            }
            case "agent.audio.end": {
                const turn = this.#turn(session, message.turn_id);
                turn.audioEnded = true;
                if (turn.pushed > 0 && turn.drained) this.#sendProgress(session, message.turn_id, turn.played);
                this.#refreshStatus(session);
                break;
            }
            case "agent.paused":
                this.#onPaused(session, message.turn_id);
                break;
            case "agent.resumed":
                this.#onResumed(session, message.turn_id);
                break;
            case "agent.interrupted":
                void this.#onInterrupted(session, message.turn_id);
                break;
            case "turn.end": {
                const turn = this.#turn(session, message.turn_id);
                turn.audioEnded = true;
                if (turn.pushed === 0) turn.drained = true;
                turn.rttMs ??= session.rttMs;
                this.#emit("timing", timingOf(session, message.turn_id, turn));
                this.#emit("turnEnd", message);
                this.#refreshStatus(session);
                this.#measureRoundTrip(); // fresh for the next turn, once the reply's audio has all arrived
                break;
            }
            case "tool.call":
                this.#emit("toolCall", { turnId: message.turn_id, callId: message.call_id, name: message.name, arguments: message.arguments });
                break;
            case "tool.result":
                this.#emit("toolResult", {
                    turnId: message.turn_id, callId: message.call_id, name: message.name, ok: message.ok,
                    durationMs: message.duration_ms, result: message.result,
                });
                break;
            case "session.end":
                // The server closes the socket (1000) next, which ends the session as "closed".
                this.#emit("sessionEnd", { reason: message.reason });
                break;
            case "pong": {
                const pending = typeof message.id === "number" ? session.pendingPings.get(message.id) : undefined;
                if (pending && typeof message.id === "number") {
                    session.pendingPings.delete(message.id);
                    const rttMs = performance.now() - pending.sentAt;
                    session.rttSamples.push(rttMs);
                    if (session.rttSamples.length > RTT_SAMPLES) session.rttSamples.shift();
                    session.rttMs = Math.min(...session.rttSamples);
                    pending.resolve(rttMs);
                    this.#emit("pong", { id: message.id, rttMs });
                }
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
        this.#emit("error", { code: message.code, message: message.message, fatal: message.fatal, source: "server" });
    }

    // -----------------------------------------------------------------------------------------
    // Audio

    /**
     * Creates the AudioContext, loads both worklets, opens the microphone and wires the graph.
     * @param {Session} session
     * @param {SessionReadyEvent} ready
     */
    async #startAudio(session, ready) {
        const captureUrl = this.#options.captureWorkletUrl ?? new URL("./capture-worklet.js", import.meta.url);
        const playbackUrl = this.#options.playbackWorkletUrl ?? new URL("./playback-worklet.js", import.meta.url);

        const streamPromise = navigator.mediaDevices.getUserMedia({
            audio: this.#options.microphone
                ?? { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
        });
        // Chromium honours the requested rate, so capture needs no resampling. Browsers that
        // cannot connect a microphone to a context at another rate (Firefox) get a context at
        // their own rate; the capture worklet then resamples to the server's rate.
        /** @type {Array<number | undefined>} */
        const rates = [ready.input.sample_rate, undefined];
        /** @type {unknown} */
        let lastError = null;
        for (const rate of rates) {
            const context = new AudioContext(rate ? { sampleRate: rate, latencyHint: "interactive" } : { latencyHint: "interactive" });
            session.context = context;
            try {
                await Promise.all([context.audioWorklet.addModule(captureUrl), context.audioWorklet.addModule(playbackUrl)]);
                const stream = await streamPromise;
                session.stream = stream;
                if (session.closed) {
                    for (const track of stream.getTracks()) track.stop(); // stopped while the prompt was open
                    return;
                }
                session.source = context.createMediaStreamSource(stream);
                this.#stats.contextSampleRate = context.sampleRate;
                break;
            } catch (error) {
                lastError = error;
                session.context = null;
                void context.close().catch(() => {});
                const retry = error instanceof DOMException && error.name === "NotSupportedError" && rate !== undefined;
                if (!retry) {
                    // Release the microphone if it is granted after this failure.
                    streamPromise.then((stream) => {
                        if (session.stream !== stream) for (const track of stream.getTracks()) track.stop();
                    }, () => {});
                    throw error;
                }
            }
        }
        const context = session.context;
        const source = session.source;
        const stream = session.stream;
        if (!context || !source || !stream) throw lastError ?? new Error("audio graph not created");

        const playbackNode = new AudioWorkletNode(context, "parley-playback", {
            numberOfInputs: 0,
            numberOfOutputs: 1,
            outputChannelCount: [1],
            processorOptions: /** @type {PlaybackOptions} */ ({ sourceSampleRate: ready.output.sample_rate, capacitySeconds: 20 }),
        });
        playbackNode.port.onmessage = (event) => this.#onPlaybackReport(session, /** @type {PlaybackReport} */ (event.data));
        playbackNode.connect(context.destination);
        session.playbackNode = playbackNode;
        if (isPaused(session)) this.#postPlayback(session, { type: "pause" }); // paused before playback was ready

        const frameSamples = Math.max(1, Math.min(
            Math.round(ready.input.sample_rate * ready.input.frame_ms / 1000),
            Math.floor(ready.limits.max_audio_frame_bytes / 2),
        ));
        const captureNode = new AudioWorkletNode(context, "parley-capture", {
            numberOfInputs: 1,
            numberOfOutputs: 0,
            channelCount: 1,
            channelCountMode: "explicit",
            channelInterpretation: "speakers",
            processorOptions: /** @type {CaptureOptions} */ ({ targetSampleRate: ready.input.sample_rate, frameSamples }),
        });
        captureNode.port.onmessage = (event) => this.#onCaptureReport(session, /** @type {CaptureReport} */ (event.data));
        source.connect(captureNode);
        session.captureNode = captureNode;

        for (const track of stream.getAudioTracks()) {
            track.addEventListener("ended", () => {
                if (session.closed) return;
                this.#emit("error", { code: "microphone_ended", message: "The microphone stopped (unplugged or revoked).", fatal: false, source: "client" });
            });
        }

        // Audio that arrived while the worklets loaded.
        for (const chunk of session.pendingAudio.splice(0)) this.#pushAudio(session, chunk.turnId, chunk.samples, chunk.sampleRate);

        if (context.state !== "running") {
            void context.resume().catch(() => {});
            setTimeout(() => {
                if (!session.closed && context.state !== "running") {
                    this.#emit("error", {
                        code: "audio_suspended",
                        message: "The browser keeps audio suspended (autoplay policy); click the page to allow audio.",
                        fatal: false,
                        source: "client",
                    });
                }
            }, 2000);
        }
    }

    /**
     * @param {Session} session
     * @param {CaptureReport} report
     */
    #onCaptureReport(session, report) {
        if (session.closed || report.type !== "frame") return;
        const socket = session.socket;
        if (socket.readyState === WebSocket.OPEN) {
            // send() copies the bytes into the socket's queue, so the buffer can go back to the pool.
            socket.send(report.buffer);
            this.#stats.framesSent++;
            this.#stats.bytesSent += report.buffer.byteLength;
            this.#stats.lastFrameBytes = report.buffer.byteLength;
        }
        this.#stats.capturePoolMisses = report.allocated;
        /** @type {CaptureCommand} */
        const recycle = { type: "recycle", buffer: report.buffer };
        session.captureNode?.port.postMessage(recycle, [report.buffer]);
        this.#emit("level", { rms: report.rms });
    }

    /**
     * A binary frame: agent audio of the turn of the latest `agent.audio.start`.
     * @param {Session} session
     * @param {ArrayBuffer} data
     */
    #onAudio(session, data) {
        this.#stats.audioFramesReceived++;
        this.#stats.audioBytesReceived += data.byteLength;
        const turnId = session.audioTurn;
        const turn = turnId === null ? undefined : session.turns.get(turnId);
        if (turnId === null || !turn || turn.cleared || data.byteLength < 2) {
            this.#stats.audioFramesDropped++;
            return;
        }
        if (turn.firstAudioAt === null) {
            turn.firstAudioAt = performance.now();
            this.#emit("timing", timingOf(session, turnId, turn));
        }
        // PCM16LE; Int16Array reads platform order, which is little-endian in every browser.
        const samples = new Int16Array(data, 0, data.byteLength >> 1);
        this.#pushAudio(session, turnId, samples, session.audioRate);
    }

    /**
     * @param {Session} session
     * @param {number} turnId
     * @param {Int16Array} samples
     * @param {number} sampleRate
     */
    #pushAudio(session, turnId, samples, sampleRate) {
        const turn = this.#turn(session, turnId);
        if (turn.cleared) return;
        turn.pushed += samples.length;
        turn.drained = false;
        const node = session.playbackNode;
        if (!node) {
            if (session.pendingAudio.length < MAX_PENDING_AUDIO) session.pendingAudio.push({ turnId, samples, sampleRate });
            return;
        }
        session.pushedTotal += samples.length;
        session.lastPushedTurn = turnId;
        /** @type {PlaybackCommand} */
        const push = { type: "push", turnId, samples, sampleRate };
        node.port.postMessage(push, [samples.buffer]);
        this.#refreshStatus(session);
    }

    /**
     * @param {Session} session
     * @param {PlaybackReport} report
     */
    #onPlaybackReport(session, report) {
        if (session.closed) return;
        this.#stats.playbackDroppedSamples = report.droppedSamples;
        switch (report.type) {
            case "progress":
                this.#recordPlayed(session, report.turnId, report.playedSamples);
                this.#sendProgress(session, report.turnId, report.playedSamples);
                break;
            case "started":
                this.#onPlaybackStarted(session, report);
                break;
            case "drained": {
                this.#recordPlayed(session, report.turnId, report.playedSamples);
                // Audio pushed after the worklet wrote this report is still on its way: not drained.
                const turn = session.turns.get(report.turnId);
                const inFlight = session.lastPushedTurn === report.turnId && report.receivedSamples < session.pushedTotal;
                if (turn && !inFlight) turn.drained = true;
                this.#sendProgress(session, report.turnId, report.playedSamples);
                this.#refreshStatus(session);
                break;
            }
            case "flushed": {
                const resolve = session.pendingFlushes.get(report.requestId);
                session.pendingFlushes.delete(report.requestId);
                resolve?.(report);
                break;
            }
            default:
                assertNever(report);
        }
    }

    /**
     * Records when a turn's first sample reached the speaker. The worklet names the context time
     * of that sample; `getOutputTimestamp()` pairs a context time with the `performance.now()` at
     * which the output device plays it, so the mapping includes the output latency. Without a
     * usable pairing (context not running yet), the report's arrival plus the output latency.
     * @param {Session} session
     * @param {PlaybackStartedReport} report
     */
    #onPlaybackStarted(session, report) {
        const turn = session.turns.get(report.turnId);
        const context = session.context;
        if (!turn || turn.playbackStartAt !== null || !context) return;
        const now = performance.now();
        const stamp = context.getOutputTimestamp();
        let at = now + ((context.outputLatency || context.baseLatency || 0) * 1000);
        if (stamp.contextTime && stamp.performanceTime) {
            const mapped = stamp.performanceTime + (report.contextTime - stamp.contextTime) * 1000;
            if (Math.abs(mapped - now) < 1000) at = mapped; // a stale or bogus stamp is worse than the fallback
        }
        turn.playbackStartAt = at;
        this.#emit("timing", timingOf(session, report.turnId, turn));
    }

    /** Sends one `ping` to refresh the round trip the waterfall aligns with; failures are ignored. */
    #measureRoundTrip() {
        this.ping().catch(() => {});
    }

    /**
     * `agent.paused`: stop playback at once, keeping the buffered audio. Ignored unless `turnId`
     * is the turn playing (or about to play).
     * @param {Session} session
     * @param {number} turnId
     */
    #onPaused(session, turnId) {
        const turn = session.turns.get(turnId);
        if (session.audioTurn !== turnId || !turn || turn.cleared || turn.paused || !isSpeaking(turn)) return;
        turn.paused = true;
        this.#postPlayback(session, { type: "pause" });
        this.#emit("paused", { turnId });
        this.#refreshStatus(session);
    }

    /**
     * `agent.resumed`: playback continues from the sample where it paused. Ignored unless `turnId` is paused.
     * @param {Session} session
     * @param {number} turnId
     */
    #onResumed(session, turnId) {
        const turn = session.turns.get(turnId);
        if (!turn || !turn.paused) return;
        turn.paused = false;
        this.#postPlayback(session, { type: "resume" });
        this.#emit("resumed", { turnId });
        this.#refreshStatus(session);
    }

    /**
     * Barge-in: flush playback at once and tell the server how much of the turn was heard.
     * @param {Session} session
     * @param {number} turnId
     */
    async #onInterrupted(session, turnId) {
        const turn = this.#turn(session, turnId);
        turn.cleared = true;
        turn.audioEnded = true;
        turn.paused = false; // the flush ends the worklet's pause too
        if (session.audioTurn === turnId) session.audioTurn = null;
        session.pendingAudio = session.pendingAudio.filter((chunk) => chunk.turnId !== turnId);
        const node = session.playbackNode;
        if (node) {
            const requestId = session.nextRequestId++;
            /** @type {Promise<PlaybackFlushedReport>} */
            const flushed = new Promise((resolve) => session.pendingFlushes.set(requestId, resolve));
            /** @type {PlaybackCommand} */
            const flush = { type: "flush", requestId };
            node.port.postMessage(flush);
            const report = await flushed;
            if (session.closed) return;
            if (report.turnId === turnId) this.#recordPlayed(session, turnId, report.playedSamples);
        }
        turn.drained = true;
        this.#send(session, playbackCleared(turnId, turn.played));
        this.#emit("interrupted", { turnId, playedSamples: turn.played });
        this.#refreshStatus(session);
    }

    /**
     * Posts a command without a transfer to the playback worklet, if it is running.
     * @param {Session} session
     * @param {PlaybackCommand} command
     */
    #postPlayback(session, command) {
        session.playbackNode?.port.postMessage(command);
    }

    /**
     * @param {Session} session
     * @param {number} turnId
     * @param {number} playedSamples
     */
    #recordPlayed(session, turnId, playedSamples) {
        const turn = session.turns.get(turnId);
        if (!turn || playedSamples <= turn.played) return;
        this.#totalPlayed += playedSamples - turn.played;
        turn.played = playedSamples;
        this.#emit("playback", { turnId, playedSamples, totalPlayedSamples: this.#totalPlayed });
    }

    /**
     * @param {Session} session
     * @param {number} turnId
     * @param {number} playedSamples
     */
    #sendProgress(session, turnId, playedSamples) {
        const turn = session.turns.get(turnId);
        if (!turn || turn.cleared) return;
        this.#send(session, playbackProgress(turnId, playedSamples));
    }

    // -----------------------------------------------------------------------------------------
    // State

    /**
     * The bookkeeping for a turn, created on first mention; old turns are forgotten.
     * @param {Session} session
     * @param {number} turnId
     * @returns {TurnState}
     */
    #turn(session, turnId) {
        let turn = session.turns.get(turnId);
        if (!turn) {
            turn = {
                text: "", played: 0, pushed: 0, audioStarted: false, audioEnded: false, drained: true, cleared: false, paused: false,
                finalAt: null, firstAudioAt: null, playbackStartAt: null, rttMs: null,
            };
            session.turns.set(turnId, turn);
            if (session.turns.size > MAX_TURNS) {
                const oldest = session.turns.keys().next().value;
                if (oldest !== undefined) session.turns.delete(oldest);
            }
        }
        return turn;
    }

    /**
     * `agent-speaking` while any turn's audio is announced or still playing (or paused), else `listening`.
     * @param {Session} session
     */
    #refreshStatus(session) {
        if (session.closed || !session.captureNode) return;
        let speaking = false;
        for (const turn of session.turns.values()) {
            if (!turn.cleared && isSpeaking(turn)) speaking = true;
        }
        this.#setStatus(speaking ? "agent-speaking" : "listening");
    }

    /** @param {ClientStatus} status */
    #setStatus(status) {
        if (status === this.#status) return;
        this.#status = status;
        this.#emit("status", { status });
    }

    /**
     * @param {Session} session
     * @param {ClientMessage} message
     */
    #send(session, message) {
        if (!session.closed && session.socket.readyState === WebSocket.OPEN) session.socket.send(encodeClientMessage(message));
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
        this.#emit("error", { code, message, fatal: true, source: "client" });
        this.#setStatus("error");
        return new Error(message);
    }

    /** @param {Session} session */
    #teardown(session) {
        if (session.closed) return;
        session.closed = true;
        const { socket } = session;
        socket.onmessage = null;
        socket.onclose = null;
        socket.onerror = null;
        if (socket.readyState === WebSocket.CONNECTING || socket.readyState === WebSocket.OPEN) socket.close(1000, "client stopped");
        for (const track of session.stream?.getTracks() ?? []) track.stop();
        session.source?.disconnect();
        if (session.captureNode) {
            session.captureNode.port.onmessage = null;
            session.captureNode.disconnect();
        }
        if (session.playbackNode) {
            session.playbackNode.port.onmessage = null;
            session.playbackNode.disconnect();
        }
        if (session.context && session.context.state !== "closed") void session.context.close().catch(() => {});
        session.pendingAudio = [];
        session.pendingFlushes.clear();
        session.pendingPings.clear();
        for (const callback of session.onTeardown.splice(0)) callback();
    }

    /**
     * @template {ClientEventName} K
     * @param {K} name
     * @param {ClientEventMap[K]} detail
     */
    #emit(name, detail) {
        for (const listener of this.#listeners.get(name) ?? []) {
            try {
                listener(detail);
            } catch (error) {
                console.error(`Parley: a "${name}" listener threw`, error);
            }
        }
    }

    /** @returns {ClientStats} */
    static #emptyStats() {
        return {
            framesSent: 0,
            bytesSent: 0,
            lastFrameBytes: 0,
            audioFramesReceived: 0,
            audioBytesReceived: 0,
            audioFramesDropped: 0,
            playbackDroppedSamples: 0,
            capturePoolMisses: 0,
            contextSampleRate: 0,
        };
    }
}

/**
 * Why this client cannot use the formats `session.ready` names, or null if it can.
 * @param {SessionReadyEvent} ready
 * @returns {string | null}
 */
function formatProblem(ready) {
    for (const [name, format] of /** @type {const} */ ([["input", ready.input], ["output", ready.output]])) {
        if (format.encoding !== "pcm_s16le" || format.channels !== 1) {
            return `Unsupported ${name} format ${format.encoding}/${format.channels}ch; this client handles mono pcm_s16le`;
        }
    }
    return null;
}

/**
 * A snapshot of a turn's client-side instants.
 * @param {Session} session
 * @param {number} turnId
 * @param {TurnState} turn
 * @returns {TurnTiming}
 */
function timingOf(session, turnId, turn) {
    return {
        turnId,
        finalAt: turn.finalAt,
        firstAudioAt: turn.firstAudioAt,
        playbackStartAt: turn.playbackStartAt,
        rttMs: turn.rttMs ?? session.rttMs,
        captureMs: session.ready?.input.frame_ms ?? 0,
    };
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
 * Whether the turn of the latest `agent.audio.start` is paused.
 * @param {Session} session
 * @returns {boolean}
 */
function isPaused(session) {
    return session.audioTurn !== null && (session.turns.get(session.audioTurn)?.paused ?? false);
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
