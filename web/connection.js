// The WebSocket of a session, apart from VoiceClient's protocol state: which server and token a
// page uses, opening the socket, waiting for a `session.ready` this client can hold, routing what
// arrives (events parsed, audio as ArrayBuffers), sending, and ping round trips.

import { SERVER_URL } from "./config.js";
import { encodeClientMessage, parseServerEvent, PROTOCOL_VERSION } from "./protocol.js";

/** @typedef {import("./protocol.js").ClientMessage} ClientMessage */
/** @typedef {import("./protocol.js").ServerEvent} ServerEvent */
/** @typedef {import("./protocol.js").SessionReadyEvent} SessionReadyEvent */

/**
 * Where a Connection delivers what arrives.
 * @typedef {object} ConnectionHandlers
 * @property {(message: ServerEvent) => void} onEvent A server event after `session.ready`, and an
 *   `error` event before it.
 * @property {(data: ArrayBuffer) => void} onAudio A binary frame (never before `session.ready`).
 * @property {(event: CloseEvent) => void} onClose The socket closed after `session.ready`, not through close().
 */

/**
 * Why the wait for `session.ready` ended without one. `code` is a ClientError code
 * (`connection_failed`, `protocol_mismatch`, `unsupported_format`), or `closed` after close().
 */
export class ConnectionError extends Error {
    /**
     * @param {string} code
     * @param {string} message
     * @param {boolean} [socketClosed] The server closed the socket (or it never opened).
     */
    constructor(code, message, socketClosed = false) {
        super(message);
        this.name = "ConnectionError";
        this.code = code;
        this.socketClosed = socketClosed;
    }
}

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
 * Why this client cannot hold the session a `session.ready` describes, or null if it can.
 * @param {SessionReadyEvent} ready
 * @returns {{code: "protocol_mismatch" | "unsupported_format", message: string} | null}
 */
export function readyProblem(ready) {
    if (ready.protocol !== PROTOCOL_VERSION) {
        return { code: "protocol_mismatch", message: `Server speaks protocol ${ready.protocol}; this client speaks ${PROTOCOL_VERSION}` };
    }
    for (const [name, format] of /** @type {const} */ ([["input", ready.input], ["output", ready.output]])) {
        if (format.encoding !== "pcm_s16le" || format.channels !== 1) {
            return {
                code: "unsupported_format",
                message: `Unsupported ${name} format ${format.encoding}/${format.channels}ch; this client handles mono pcm_s16le`,
            };
        }
    }
    return null;
}

/**
 * The `ping`s of one connection waiting for their `pong`, and the network delay they measure.
 */
export class RoundTrips {
    /** @type {Map<number, {resolve: (rttMs: number) => void, sentAt: number}>} */
    #pending = new Map();
    /** @type {number[]} The last few round trips, ms. */
    #samples = [];
    #nextId = 1;
    /**
     * The least of the last few round trips (ms), null before the first `pong`: the network's own
     * delay, without the moments a busy server or page held a pong (the ping after
     * `session.ready` often meets both starting up).
     * @type {number | null}
     */
    rttMs = null;

    /**
     * Sends a ping through `send` and resolves with its round trip; rejects after `timeoutMs`.
     * @param {(id: number) => void} send Sends `ping` with this id.
     * @param {number} timeoutMs
     * @returns {Promise<number>} Milliseconds.
     */
    measure(send, timeoutMs) {
        const id = this.#nextId++;
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                this.#pending.delete(id);
                reject(new Error("ping timed out"));
            }, timeoutMs);
            this.#pending.set(id, {
                resolve: (rttMs) => {
                    clearTimeout(timer);
                    resolve(rttMs);
                },
                sentAt: performance.now(),
            });
            send(id);
        });
    }

    /**
     * A `pong` arrived: settles its ping and returns the round trip (ms), or null when no ping of
     * this connection waits for that id.
     * @param {unknown} id
     * @returns {number | null}
     */
    pong(id) {
        const pending = typeof id === "number" ? this.#pending.get(id) : undefined;
        if (!pending || typeof id !== "number") return null;
        this.#pending.delete(id);
        const rttMs = performance.now() - pending.sentAt;
        this.#samples.push(rttMs);
        if (this.#samples.length > RTT_SAMPLES) this.#samples.shift();
        this.rttMs = Math.min(...this.#samples);
        pending.resolve(rttMs);
        return rttMs;
    }

    /** Forgets the pings still waiting (each rejects when its timeout passes). */
    clear() {
        this.#pending.clear();
    }
}

/**
 * One WebSocket to a Parley server's `/ws`.
 *
 * ```js
 * const connection = new Connection(url, token, { onEvent, onAudio, onClose });
 * const ready = await connection.ready(10000);   // rejects with a ConnectionError
 * connection.send(ping(1));
 * connection.close();
 * ```
 */
export class Connection {
    /** @type {WebSocket} */
    #socket;
    /** @type {ConnectionHandlers} */
    #handlers;
    /** @type {((error: ConnectionError) => void) | null} Rejects the wait for `session.ready` while it lasts. */
    #rejectReady = null;
    #closed = false;
    roundTrips = new RoundTrips();

    /**
     * Opens the socket. Browsers cannot set headers on a WebSocket: the token rides in the offered
     * subprotocols (`parley-token.<token>` beside `parley`), never in the URL. Throws at once on an
     * unparsable URL.
     * @param {string} url
     * @param {string | null} token
     * @param {ConnectionHandlers} handlers
     */
    constructor(url, token, handlers) {
        this.#socket = token ? new WebSocket(url, ["parley", `parley-token.${token}`]) : new WebSocket(url);
        this.#socket.binaryType = "arraybuffer";
        this.#handlers = handlers;
    }

    /**
     * Waits for `session.ready` (call once, right after the constructor). Rejects with a
     * ConnectionError when it does not come within `timeoutMs`, names a protocol or audio format
     * this client lacks, or the socket closes first; the socket stays open until close().
     * @param {number} timeoutMs
     * @returns {Promise<SessionReadyEvent>}
     */
    ready(timeoutMs) {
        const socket = this.#socket;
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                this.#rejectReady = null;
                reject(new ConnectionError("connection_failed", `No session.ready from ${socket.url} within ${timeoutMs} ms`));
            }, timeoutMs);
            this.#rejectReady = (error) => {
                clearTimeout(timer);
                reject(error);
            };
            socket.onmessage = (event) => {
                if (typeof event.data !== "string") return; // no audio may precede session.ready
                const message = parseServerEvent(event.data);
                if (message?.type === "session.ready") {
                    clearTimeout(timer);
                    this.#rejectReady = null;
                    const problem = readyProblem(message);
                    if (problem) {
                        reject(new ConnectionError(problem.code, problem.message));
                        return;
                    }
                    socket.onmessage = (next) => this.#onMessage(next);
                    socket.onclose = (next) => this.#handlers.onClose(next);
                    resolve(message);
                } else if (message?.type === "error") {
                    this.#handlers.onEvent(message);
                } else {
                    console.warn("Parley: unexpected message before session.ready", event.data.slice(0, 200));
                }
            };
            socket.onclose = (event) => {
                const reason = event.reason ? `: ${event.reason}` : "";
                this.#rejectReady?.(new ConnectionError("connection_failed",
                    `Could not connect to ${socket.url} (close code ${event.code}${reason})`, true));
            };
            // Browsers give no detail on `error`; the `close` that always follows reports it.
            socket.onerror = () => {};
        });
    }

    /**
     * Sends a JSON message; dropped unless the socket is open.
     * @param {ClientMessage} message
     */
    send(message) {
        if (!this.#closed && this.#socket.readyState === WebSocket.OPEN) this.#socket.send(encodeClientMessage(message));
    }

    /**
     * Sends a binary audio frame. `send()` copies the bytes into the socket's queue, so the buffer
     * may be reused at once.
     * @param {ArrayBuffer} buffer
     * @returns {boolean} Whether it was sent (the socket is open).
     */
    sendAudio(buffer) {
        if (this.#closed || this.#socket.readyState !== WebSocket.OPEN) return false;
        this.#socket.send(buffer);
        return true;
    }

    /** Closes the socket (1000); nothing is delivered afterwards and a wait for `session.ready` rejects. */
    close() {
        if (this.#closed) return;
        this.#closed = true;
        const socket = this.#socket;
        socket.onmessage = null;
        socket.onclose = null;
        socket.onerror = null;
        if (socket.readyState === WebSocket.CONNECTING || socket.readyState === WebSocket.OPEN) socket.close(1000, "client stopped");
        this.roundTrips.clear();
        this.#rejectReady?.(new ConnectionError("closed", "The connection was closed"));
        this.#rejectReady = null;
    }

    /** @param {MessageEvent} event */
    #onMessage(event) {
        if (event.data instanceof ArrayBuffer) {
            this.#handlers.onAudio(event.data);
            return;
        }
        if (typeof event.data !== "string") return;
        const message = parseServerEvent(event.data);
        if (!message) {
            // Newer servers may add event types; ignore what this version does not know.
            console.warn("Parley: ignoring unrecognised server event", event.data.slice(0, 200));
            return;
        }
        this.#handlers.onEvent(message);
    }
}
