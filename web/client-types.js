// The public types of VoiceClient (client.js, which re-exports them): its options, status,
// errors, counters and events. Types only: nothing here runs.

/** @typedef {import("./protocol.js").SessionReadyEvent} SessionReadyEvent */
/** @typedef {import("./protocol.js").TurnEndEvent} TurnEndEvent */
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
 * @property {string | URL} [captureWorkletUrl] Defaults to `capture-worklet.js` beside client.js.
 * @property {string | URL} [playbackWorkletUrl] Defaults to `playback-worklet.js` beside client.js.
 * @property {number} [readyTimeoutMs] How long to wait for `session.ready` (default 10000).
 * @property {MediaTrackConstraints} [microphone] getUserMedia audio constraints; defaults to
 *   mono with echo cancellation, noise suppression and automatic gain control.
 */

export {};
