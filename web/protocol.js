// Parley wire protocol v1 (docs/protocol.md): message types, a validating parser for server
// events and builders for client messages. Binary frames (PCM16LE audio) are not modelled here.

/** The protocol version this client speaks. */
export const PROTOCOL_VERSION = 1;

// ---------------------------------------------------------------------------------------------
// Shared shapes

/**
 * An audio format named by `session.ready`.
 * @typedef {object} AudioFormat
 * @property {string} encoding Always `"pcm_s16le"` in v1.
 * @property {number} sample_rate Hz.
 * @property {number} channels Always 1 in v1.
 * @property {number} frame_ms Preferred frame duration in milliseconds.
 */

/**
 * Which implementation serves each stage.
 * @typedef {object} Providers
 * @property {string} stt
 * @property {string} llm
 * @property {string} tts
 */

/**
 * The largest frames the server accepts without an error, in bytes.
 * @typedef {object} Limits
 * @property {number} max_audio_frame_bytes
 * @property {number} max_text_frame_bytes
 */

/**
 * Milliseconds after `speech_end` at which each stage happened; `null` when it did not happen.
 * Keys beyond the documented ones may appear (unknown fields are ignored, not rejected).
 * @typedef {object} TimelineStages
 * @property {number | null} [speech_end]
 * @property {number | null} [vad_end]
 * @property {number | null} [stt_final]
 * @property {number | null} [llm_request]
 * @property {number | null} [llm_first_token]
 * @property {number | null} [tool_start] The first tool call of the reply started.
 * @property {number | null} [tool_end] The last tool call of the reply ended.
 * @property {number | null} [first_sentence]
 * @property {number | null} [tts_first_audio]
 * @property {number | null} [first_audio_sent]
 * @property {number | null} [playback_start]
 * @property {number | null} [last_audio_sent]
 * @property {number | null} [interrupted]
 */

/** @typedef {TimelineStages & Record<string, number | null>} Timeline */

/** The documented timeline stages, in pipeline order (for display). */
export const TIMELINE_STAGES = /** @type {const} */ ([
    "speech_end",
    "vad_end",
    "stt_final",
    "llm_request",
    "llm_first_token",
    "tool_start",
    "tool_end",
    "first_sentence",
    "tts_first_audio",
    "first_audio_sent",
    "playback_start",
    "last_audio_sent",
    "interrupted",
]);

// ---------------------------------------------------------------------------------------------
// Server → client events

/**
 * @typedef {object} SessionReadyEvent
 * @property {"session.ready"} type
 * @property {number} protocol
 * @property {string} session_id
 * @property {AudioFormat} input
 * @property {AudioFormat} output
 * @property {Providers} providers
 * @property {Limits} limits
 */

/**
 * @typedef {object} SpeechStartedEvent
 * @property {"speech.started"} type
 */

/**
 * @typedef {object} SpeechStoppedEvent
 * @property {"speech.stopped"} type
 */

/**
 * @typedef {object} TranscriptPartialEvent
 * @property {"transcript.partial"} type
 * @property {string} text
 */

/**
 * @typedef {object} TranscriptFinalEvent
 * @property {"transcript.final"} type
 * @property {number} turn_id
 * @property {string} text
 */

/**
 * @typedef {object} AgentTextEvent
 * @property {"agent.text"} type
 * @property {number} turn_id
 * @property {string} delta
 */

/**
 * @typedef {object} AgentAudioStartEvent
 * @property {"agent.audio.start"} type
 * @property {number} turn_id
 * @property {number} sample_rate Hz of the binary frames that follow.
 */

/**
 * @typedef {object} AgentAudioEndEvent
 * @property {"agent.audio.end"} type
 * @property {number} turn_id
 * @property {number} samples Total samples of the turn's audio.
 */

/**
 * The user may be talking over the agent: stop playback at once but keep the buffered audio.
 * No audio of `turn_id` follows until `agent.resumed`; `agent.interrupted` may follow instead.
 * @typedef {object} AgentPausedEvent
 * @property {"agent.paused"} type
 * @property {number} turn_id
 */

/**
 * It was not an interruption: playback of `turn_id` continues where it paused, and its audio follows again.
 * @typedef {object} AgentResumedEvent
 * @property {"agent.resumed"} type
 * @property {number} turn_id
 */

/**
 * @typedef {object} AgentInterruptedEvent
 * @property {"agent.interrupted"} type
 * @property {number} turn_id
 */

/**
 * @typedef {object} TurnEndEvent
 * @property {"turn.end"} type
 * @property {number} turn_id
 * @property {string} text
 * @property {boolean} interrupted
 * @property {Timeline} timeline
 * @property {TurnSegments} [segments] Contiguous stretches from the end of speech, ms; they sum to `voice_to_voice`.
 * @property {number | null} [voice_to_voice] End of speech → the client's playback start, ms; null when no playback was reported.
 * @property {EndOfTurnVerdict} [end_of_turn] What the end-of-turn model (smart-turn) said before the user's turn ended; absent when none judged it.
 */

/**
 * The learned end of turn's last judgement of the user's turn.
 * @typedef {object} EndOfTurnVerdict
 * @property {number | null} probability The model's probability (0–1) that the turn was complete; null when it could not judge and the turn ended on silence.
 * @property {boolean} complete Whether the verdict ended the turn at once (false: it ended on the longer silence, `--turn-max-silence`).
 * @property {number} silence_ms The silence when the model was asked (`--turn-pause`).
 * @property {number} wait_ms How long the model took to answer.
 * @property {number} checks How many pauses of the turn the model judged.
 */

/**
 * A turn's contiguous segments in ms (each from the previous one's end; zero where a stage came
 * early); segments whose stage did not happen are absent.
 * @typedef {object} TurnSegmentValues
 * @property {number} [endpointing] From the end of speech until the turn was over (`vad_end`).
 * @property {number} [stt] Until the final transcript.
 * @property {number} [tools] Until the agent's last tool call ended.
 * @property {number} [llm] Until the LLM's first token.
 * @property {number} [first_chunk] Until the first piece for text-to-speech was complete.
 * @property {number} [tts] Until text-to-speech's first audio.
 * @property {number} [send] Until the first audio frame sent.
 * @property {number} [playback] Until the client's speaker playing it.
 */

/** @typedef {TurnSegmentValues & Record<string, number>} TurnSegments */

/** The turn segments, in pipeline order. */
export const TURN_SEGMENTS = /** @type {const} */ (["endpointing", "stt", "tools", "llm", "first_chunk", "tts", "send", "playback"]);

/**
 * The reply called a tool; `arguments` only when the server runs with `--log-tool-payloads`.
 * @typedef {object} ToolCallEvent
 * @property {"tool.call"} type
 * @property {number} turn_id
 * @property {string} call_id
 * @property {string} name
 * @property {string} [arguments]
 */

/**
 * A tool call ended; `result` only when the server runs with `--log-tool-payloads`.
 * @typedef {object} ToolResultEvent
 * @property {"tool.result"} type
 * @property {number} turn_id
 * @property {string} call_id
 * @property {string} name
 * @property {boolean} ok
 * @property {number} duration_ms
 * @property {string} [result]
 */

/**
 * The session ends (the agent ended the call); the server closes the socket next.
 * @typedef {object} SessionEndEvent
 * @property {"session.end"} type
 * @property {string} reason
 */

/**
 * @typedef {object} PongEvent
 * @property {"pong"} type
 * @property {unknown} id
 */

/**
 * @typedef {object} ServerErrorEvent
 * @property {"error"} type
 * @property {string} code
 * @property {string} message
 * @property {boolean} fatal
 */

/**
 * Every text event the server sends in protocol v1, discriminated on `type`.
 * @typedef {SessionReadyEvent | SpeechStartedEvent | SpeechStoppedEvent | TranscriptPartialEvent
 *   | TranscriptFinalEvent | AgentTextEvent | AgentAudioStartEvent | AgentAudioEndEvent | AgentPausedEvent
 *   | AgentResumedEvent | AgentInterruptedEvent | TurnEndEvent | ToolCallEvent | ToolResultEvent | SessionEndEvent
 *   | PongEvent | ServerErrorEvent} ServerEvent
 */

/** @typedef {ServerEvent["type"]} ServerEventType */

// ---------------------------------------------------------------------------------------------
// Client → server messages

/**
 * @typedef {object} PlaybackProgressMessage
 * @property {"playback.progress"} type
 * @property {number} turn_id
 * @property {number} played_samples Cumulative, at `output.sample_rate`.
 */

/**
 * @typedef {object} PlaybackClearedMessage
 * @property {"playback.cleared"} type
 * @property {number} turn_id
 * @property {number} played_samples
 */

/**
 * @typedef {object} PingMessage
 * @property {"ping"} type
 * @property {unknown} id Any JSON value; echoed in `pong`.
 */

/** @typedef {PlaybackProgressMessage | PlaybackClearedMessage | PingMessage} ClientMessage */

// ---------------------------------------------------------------------------------------------
// Validation helpers

/**
 * @param {unknown} value
 * @returns {value is Record<string, unknown>}
 */
function isObject(value) {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * A `turn.end`'s `end_of_turn`.
 * @param {unknown} value
 * @returns {boolean}
 */
function isEndOfTurnVerdict(value) {
    return isObject(value)
        && (value.probability === null || (isNumber(value.probability) && value.probability >= 0 && value.probability <= 1))
        && typeof value.complete === "boolean" && isNumber(value.silence_ms) && value.silence_ms >= 0
        && isNumber(value.wait_ms) && value.wait_ms >= 0 && isCount(value.checks);
}

/**
 * @param {unknown} value
 * @returns {value is string}
 */
function isString(value) {
    return typeof value === "string";
}

/**
 * @param {unknown} value
 * @returns {value is number}
 */
function isNumber(value) {
    return typeof value === "number" && Number.isFinite(value);
}

/**
 * @param {unknown} value
 * @returns {value is number}
 */
function isCount(value) {
    return isNumber(value) && Number.isInteger(value) && value >= 0;
}

/**
 * @param {unknown} value
 * @returns {value is AudioFormat}
 */
function isAudioFormat(value) {
    return isObject(value) && isString(value.encoding) && isCount(value.sample_rate) && value.sample_rate > 0
        && isCount(value.channels) && isNumber(value.frame_ms);
}

/**
 * @param {unknown} value
 * @returns {value is Providers}
 */
function isProviders(value) {
    return isObject(value) && isString(value.stt) && isString(value.llm) && isString(value.tts);
}

/**
 * @param {unknown} value
 * @returns {value is Limits}
 */
function isLimits(value) {
    return isObject(value) && isCount(value.max_audio_frame_bytes) && isCount(value.max_text_frame_bytes);
}

/**
 * @param {unknown} value
 * @returns {value is Timeline}
 */
function isTimeline(value) {
    return isObject(value) && Object.values(value).every((stage) => stage === null || isNumber(stage));
}

/**
 * Parses one text frame from the server into a typed event.
 *
 * Returns `null` for anything that is not a well-formed protocol v1 event: invalid JSON, a
 * non-object, an unknown `type`, or a known `type` with missing or ill-typed fields. Unknown
 * extra fields are kept (the protocol allows adding fields within a version).
 *
 * @param {string} text
 * @returns {ServerEvent | null}
 */
export function parseServerEvent(text) {
    /** @type {unknown} */
    let value;
    try {
        value = JSON.parse(text);
    } catch {
        return null;
    }
    if (!isObject(value) || !isString(value.type)) return null;
    const m = value;
    switch (m.type) {
        case "session.ready":
            return isCount(m.protocol) && isString(m.session_id) && isAudioFormat(m.input)
                && isAudioFormat(m.output) && isProviders(m.providers) && isLimits(m.limits)
                ? /** @type {SessionReadyEvent} */ (m) : null;
        case "speech.started":
        case "speech.stopped":
            return /** @type {SpeechStartedEvent | SpeechStoppedEvent} */ (m);
        case "transcript.partial":
            return isString(m.text) ? /** @type {TranscriptPartialEvent} */ (m) : null;
        case "transcript.final":
            return isCount(m.turn_id) && isString(m.text) ? /** @type {TranscriptFinalEvent} */ (m) : null;
        case "agent.text":
            return isCount(m.turn_id) && isString(m.delta) ? /** @type {AgentTextEvent} */ (m) : null;
        case "agent.audio.start":
            return isCount(m.turn_id) && isCount(m.sample_rate) && m.sample_rate > 0
                ? /** @type {AgentAudioStartEvent} */ (m) : null;
        case "agent.audio.end":
            return isCount(m.turn_id) && isCount(m.samples) ? /** @type {AgentAudioEndEvent} */ (m) : null;
        case "agent.paused":
            return isCount(m.turn_id) ? /** @type {AgentPausedEvent} */ (m) : null;
        case "agent.resumed":
            return isCount(m.turn_id) ? /** @type {AgentResumedEvent} */ (m) : null;
        case "agent.interrupted":
            return isCount(m.turn_id) ? /** @type {AgentInterruptedEvent} */ (m) : null;
        case "turn.end":
            return isCount(m.turn_id) && isString(m.text) && typeof m.interrupted === "boolean"
                && isTimeline(m.timeline)
                && (m.segments === undefined || (isObject(m.segments) && Object.values(m.segments).every(isNumber)))
                && (m.voice_to_voice === undefined || m.voice_to_voice === null || isNumber(m.voice_to_voice))
                && (m.end_of_turn === undefined || isEndOfTurnVerdict(m.end_of_turn))
                ? /** @type {TurnEndEvent} */ (m) : null;
        case "tool.call":
            return isCount(m.turn_id) && isString(m.call_id) && isString(m.name)
                && (m.arguments === undefined || isString(m.arguments)) ? /** @type {ToolCallEvent} */ (m) : null;
        case "tool.result":
            return isCount(m.turn_id) && isString(m.call_id) && isString(m.name) && typeof m.ok === "boolean"
                && typeof m.duration_ms === "number" && (m.result === undefined || isString(m.result))
                ? /** @type {ToolResultEvent} */ (m) : null;
        case "session.end":
            return isString(m.reason) ? /** @type {SessionEndEvent} */ (m) : null;
        case "pong":
            return "id" in m ? /** @type {PongEvent} */ (m) : null;
        case "error":
            return isString(m.code) && isString(m.message) && typeof m.fatal === "boolean"
                ? /** @type {ServerErrorEvent} */ (m) : null;
        default:
            return null;
    }
}

// ---------------------------------------------------------------------------------------------
// Client message builders

/**
 * @param {number} turnId
 * @param {number} playedSamples Cumulative samples of the turn that reached the speaker.
 * @returns {PlaybackProgressMessage}
 */
export function playbackProgress(turnId, playedSamples) {
    return { type: "playback.progress", turn_id: turnId, played_samples: playedSamples };
}

/**
 * @param {number} turnId
 * @param {number} playedSamples Samples of the turn heard before the flush.
 * @returns {PlaybackClearedMessage}
 */
export function playbackCleared(turnId, playedSamples) {
    return { type: "playback.cleared", turn_id: turnId, played_samples: playedSamples };
}

/**
 * @param {unknown} id Any JSON value; the server echoes it in `pong`.
 * @returns {PingMessage}
 */
export function ping(id) {
    return { type: "ping", id };
}

/**
 * Serialises a client message for a WebSocket text frame.
 * @param {ClientMessage} message
 * @returns {string}
 */
export function encodeClientMessage(message) {
    return JSON.stringify(message);
}
