// The per-turn latency waterfall: the server's timeline (`turn.end`) joined with what the client
// measured itself (first audio frame received, playback start), on one time axis, against a
// per-stage latency budget (docs/architecture.md, "The latency budget"). `waterfallRow` is pure; `renderWaterfall` draws rows with
// plain DOM (one call per turn event, never per audio frame).

/** @typedef {import("./protocol.js").TurnEndEvent} TurnEndEvent */

/**
 * Client-side instants of one turn, in `performance.now()` milliseconds.
 * @typedef {object} TurnTiming
 * @property {number} turnId
 * @property {number | null} finalAt When `transcript.final` arrived.
 * @property {number | null} firstAudioAt When the turn's first binary audio frame arrived.
 * @property {number | null} playbackStartAt When the turn's first sample reached the speaker (playback worklet report).
 * @property {number | null} rttMs The latest `ping` round trip when the turn's transcript arrived (or later, if none then).
 * @property {number} captureMs Duration of one captured frame (`session.ready` input.frame_ms): the capture delay.
 */

/**
 * The points of a turn, in ms after `speech_end` (the server's origin: the last voiced frame
 * arrived). `mic_speech_end` and `frame_sent` precede it (negative); the client's points follow
 * `first_audio_sent`. Absent or null: did not happen, or not measurable.
 * @typedef {object} WaterfallStages
 * @property {number} mic_speech_end Estimated moment the user stopped speaking into the microphone.
 * @property {number} frame_sent Estimated moment the client sent the last voiced frame.
 * @property {number} speech_end Always 0.
 * @property {number | null} vad_end
 * @property {number | null} stt_final
 * @property {number | null} llm_request
 * @property {number | null} tool_end
 * @property {number | null} llm_first_token
 * @property {number | null} first_sentence
 * @property {number | null} tts_first_audio
 * @property {number | null} first_audio_sent
 * @property {number | null} first_audio_received Client: the first audio frame arrived.
 * @property {number | null} playback_start Client: the playback worklet played the first sample (output latency included).
 * @property {number | null} interrupted
 */

/** @typedef {keyof WaterfallStages} WaterfallStage */

/**
 * One bar: a stage from the end of the previous one.
 * @typedef {object} WaterfallSegment
 * @property {string} key
 * @property {string} label
 * @property {number} startMs ms after `speech_end`.
 * @property {number} endMs
 * @property {number | null} budgetMs The budget for this segment; null where there is none.
 * @property {boolean} estimated Derived from the ping round trip or the frame size, not measured.
 */

/**
 * One turn of the waterfall, as `window.parleyState.waterfall` holds it.
 * @typedef {object} WaterfallRow
 * @property {number} turnId
 * @property {WaterfallStages} stages
 * @property {WaterfallSegment[]} segments The bars, in pipeline order; stages that did not happen have none.
 * @property {number | null} totalMs Voice to voice: `mic_speech_end` → `playback_start`; null if playback never started.
 * @property {number | null} oneWayMs Estimated one-way network delay (half the ping round trip); null if unknown (taken as 0).
 * @property {number | null} serverTotalMs The server's voice to voice (`turn.end` `voice_to_voice`: end of speech → the
 *   playback start the client reported, the sum of the server's segments); null when the server has none.
 * @property {boolean} interrupted
 */

/**
 * The latency budget per stage, in ms: the upper ends of the per-stage estimates of the voice-AI
 * design guide Parley was planned from (capture < 20, network 20–50, STT 50–100, LLM time to
 * first token 50–150, TTS time to first byte 80–200, network 20–50, playback 20–50; total
 * 260–620, aiming under 300 ms). The table and its origin: docs/architecture.md, "The latency budget".
 */
export const LATENCY_BUDGET = /** @type {const} */ ({
    capture: 20,
    upstream: 50,
    stt: 100,
    llm: 150,
    tts: 200,
    downstream: 50,
    playback: 50,
});
/** The total glass-to-glass budget, ms (the sum of the segments above). */
export const TOTAL_BUDGET_MS = Object.values(LATENCY_BUDGET).reduce((sum, ms) => sum + ms, 0);
/** The goal for a "real-time" feel, ms (docs/architecture.md, "The latency budget"). */
export const TARGET_MS = 300;
/** Turns the panel shows. */
export const WATERFALL_TURNS = 5;

/**
 * The budget in words, for a tooltip.
 * @returns {string}
 */
export function budgetSummary() {
    const parts = Object.entries(LATENCY_BUDGET).map(([stage, ms]) => `${stage} ${ms}`);
    return `${parts.join(" · ")} ms (latency budget); total ${TOTAL_BUDGET_MS} ms, target under ${TARGET_MS} ms`;
}

/**
 * The bars in pipeline order: each runs from the last earlier point that happened to `to`.
 * End-of-turn detection (the VAD's silence timeout), sentence assembly and the server's send are
 * not in the budget (its estimates count STT from its first stable result), so they have none.
 * @type {ReadonlyArray<{key: string, label: string, to: WaterfallStage, budget: keyof typeof LATENCY_BUDGET | null, estimated?: boolean}>}
 */
const SEGMENTS = [
    { key: "capture", label: "capture", to: "frame_sent", budget: "capture", estimated: true },
    { key: "upstream", label: "network ↑", to: "speech_end", budget: "upstream", estimated: true },
    { key: "endpointing", label: "end of turn", to: "vad_end", budget: null },
    { key: "stt", label: "STT final", to: "stt_final", budget: "stt" },
    { key: "tools", label: "tools", to: "tool_end", budget: null },
    { key: "llm", label: "LLM 1st token", to: "llm_first_token", budget: "llm" },
    { key: "sentence", label: "1st chunk", to: "first_sentence", budget: null },
    { key: "tts", label: "TTS 1st audio", to: "tts_first_audio", budget: "tts" },
    { key: "send", label: "server send", to: "first_audio_sent", budget: null },
    { key: "downstream", label: "network ↓", to: "first_audio_received", budget: "downstream", estimated: true },
    { key: "playback", label: "playback start", to: "playback_start", budget: "playback" },
];

/**
 * Joins a turn's server timeline with the client's own instants; null when the turn has no
 * transcript to anchor on (the greeting) or no `stt_final`.
 *
 * Alignment: the two clocks are never compared directly, only differences on each side. The
 * server writes `transcript.final` the moment it has the final transcript (`stt_final` on its
 * timeline), and it reaches the client one one-way network delay later, estimated as half the
 * latest `ping` round trip (a symmetric path). So the client instant of the server's origin is
 * `finalAt − oneWay − stt_final`, and a client instant `t` sits at `t − finalAt + stt_final + oneWay`
 * on the server's axis. Before the origin, the user's voice spent one captured frame in the capture
 * worklet and one one-way delay on the network: `mic_speech_end = −(captureMs + oneWay)`.
 * Client points are clamped not to precede the server points that cause them (an asymmetric
 * path or a busy main thread could otherwise put "received" before "sent").
 *
 * @param {TurnEndEvent} end
 * @param {TurnTiming | null | undefined} timing
 * @returns {WaterfallRow | null}
 */
export function waterfallRow(end, timing) {
    const server = end.timeline;
    const sttFinal = numberOrNull(server.stt_final);
    if (!timing || timing.finalAt === null || sttFinal === null) return null;
    const oneWay = timing.rttMs !== null && timing.rttMs >= 0 ? timing.rttMs / 2 : null;
    const shift = sttFinal + (oneWay ?? 0) - timing.finalAt;
    const firstAudioSent = numberOrNull(server.first_audio_sent);
    const firstAudioReceived = timing.firstAudioAt === null ? null
        : Math.max(timing.firstAudioAt + shift, firstAudioSent ?? -Infinity);
    const playbackStart = timing.playbackStartAt === null ? null
        : Math.max(timing.playbackStartAt + shift, firstAudioReceived ?? -Infinity);

    /** @type {WaterfallStages} */
    const stages = {
        mic_speech_end: -(timing.captureMs + (oneWay ?? 0)),
        frame_sent: -(oneWay ?? 0),
        speech_end: 0,
        vad_end: numberOrNull(server.vad_end),
        stt_final: sttFinal,
        llm_request: numberOrNull(server.llm_request),
        tool_end: numberOrNull(server.tool_end),
        llm_first_token: numberOrNull(server.llm_first_token),
        first_sentence: numberOrNull(server.first_sentence),
        tts_first_audio: numberOrNull(server.tts_first_audio),
        first_audio_sent: firstAudioSent,
        first_audio_received: firstAudioReceived,
        playback_start: playbackStart,
        interrupted: numberOrNull(server.interrupted),
    };

    /** @type {WaterfallSegment[]} */
    const segments = [];
    let previous = stages.mic_speech_end;
    for (const segment of SEGMENTS) {
        const to = stages[segment.to];
        if (to === null) continue;
        const endMs = Math.max(to, previous);
        segments.push({
            key: segment.key,
            label: segment.label,
            startMs: round(previous),
            endMs: round(endMs),
            budgetMs: segment.budget === null ? null : LATENCY_BUDGET[segment.budget],
            estimated: segment.estimated ?? false,
        });
        previous = endMs;
    }

    for (const key of /** @type {WaterfallStage[]} */ (Object.keys(stages))) {
        const value = stages[key];
        if (value !== null) /** @type {Record<string, number | null>} */ (stages)[key] = round(value);
    }
    return {
        turnId: end.turn_id,
        stages,
        segments,
        totalMs: playbackStart === null ? null : round(playbackStart - stages.mic_speech_end),
        oneWayMs: oneWay === null ? null : round(oneWay),
        serverTotalMs: typeof end.voice_to_voice === "number" ? round(end.voice_to_voice) : null,
        interrupted: end.interrupted,
    };
}

/**
 * Draws the rows (oldest first) into `container`, replacing what was there. All turns share one
 * axis, from the user's end of speech to the latest point shown (at least the total budget).
 * @param {HTMLElement} container
 * @param {WaterfallRow[]} rows
 */
export function renderWaterfall(container, rows) {
    if (rows.length === 0) {
        container.replaceChildren();
        container.hidden = true;
        return;
    }
    container.hidden = false;
    const axisStart = Math.min(...rows.map((row) => row.stages.mic_speech_end));
    let axisEnd = axisStart + TOTAL_BUDGET_MS;
    for (const row of rows) {
        for (const segment of row.segments) axisEnd = Math.max(axisEnd, segment.endMs, segment.startMs + (segment.budgetMs ?? 0));
        if (row.stages.interrupted !== null) axisEnd = Math.max(axisEnd, row.stages.interrupted);
    }
    // A little room on the right, so a marker at the latest point is not cut off by the edge.
    const span = (axisEnd - axisStart) * 1.04;
    /** @param {number} ms ms after `speech_end` @returns {string} */
    const at = (ms) => `${(((ms - axisStart) / span) * 100).toFixed(2)}%`;
    /** @param {number} ms a duration @returns {string} */
    const width = (ms) => `${((Math.max(0, ms) / span) * 100).toFixed(2)}%`;

    const children = [axisRow(axisStart, span, at)];
    for (const row of rows.slice().reverse()) children.push(turnBlock(row, axisStart, at, width));
    container.replaceChildren(...children);
}

/**
 * Tick labels in ms after the user's end of speech, and the budget markers' legend.
 * @param {number} axisStart
 * @param {number} span
 * @param {(ms: number) => string} at
 * @returns {HTMLElement}
 */
function axisRow(axisStart, span, at) {
    const axis = node("div", "wf-axis");
    axis.append(node("span", "wf-label", "ms after you stopped"));
    const track = node("div", "wf-track");
    const step = [100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000].find((candidate) => span / candidate <= 5) ?? 20000;
    // No label in the last stretch, where it would run past the right edge.
    for (let tick = 0; tick <= span * 0.92; tick += step) {
        const label = node("span", "wf-tick", String(tick));
        label.style.left = at(axisStart + tick);
        track.append(label);
    }
    axis.append(track);
    return axis;
}

/**
 * One turn: a heading with the total, then one line per bar, with the budget markers.
 * @param {WaterfallRow} row
 * @param {number} axisStart
 * @param {(ms: number) => string} at
 * @param {(ms: number) => string} width
 * @returns {HTMLElement}
 */
function turnBlock(row, axisStart, at, width) {
    const block = node("section", "wf-turn");
    block.dataset.turnId = String(row.turnId);
    block.dataset.interrupted = String(row.interrupted);
    const heading = node("p", "wf-heading");
    heading.append(node("span", "wf-name", `turn ${row.turnId}`));
    const total = node("span", "wf-total");
    if (row.totalMs === null) {
        total.textContent = "no playback";
    } else {
        total.textContent = `${Math.round(row.totalMs)} ms voice to voice`;
        total.dataset.over = String(row.totalMs > TOTAL_BUDGET_MS);
        total.dataset.target = String(row.totalMs <= TARGET_MS);
    }
    heading.append(total);
    if (row.interrupted) heading.append(node("span", "wf-interrupted", "interrupted"));
    if (row.serverTotalMs !== null) {
        const server = node("span", "wf-note", `server: ${Math.round(row.serverTotalMs)} ms from end of speech`);
        server.title = "turn.end voice_to_voice: the sum of the server's segments, to the playback start this client reported";
        heading.append(server);
    }
    if (row.oneWayMs === null) heading.append(node("span", "wf-note", "network not measured"));
    block.append(heading);

    for (const segment of row.segments) {
        const line = node("div", "wf-row");
        line.dataset.stage = segment.key;
        const duration = segment.endMs - segment.startMs;
        const label = node("span", "wf-label", `${segment.label}${segment.estimated ? " (est.)" : ""} `);
        const value = node("span", "wf-ms", `${Math.round(duration)}`);
        if (segment.budgetMs !== null) {
            value.dataset.over = String(duration > segment.budgetMs);
            value.title = `budget ${segment.budgetMs} ms`;
        }
        label.append(value);
        line.append(label);
        const track = node("div", "wf-track");
        if (segment.budgetMs !== null) {
            const budget = node("span", "wf-budget");
            budget.style.left = at(segment.startMs);
            budget.style.width = width(segment.budgetMs);
            track.append(budget);
        }
        const bar = node("span", "wf-bar");
        bar.style.left = at(segment.startMs);
        bar.style.width = width(duration);
        if (segment.estimated) bar.dataset.estimated = "true";
        track.append(bar);
        track.append(marker("wf-target", at(axisStart + TARGET_MS), `target ${TARGET_MS} ms`));
        track.append(marker("wf-limit", at(axisStart + TOTAL_BUDGET_MS), `budget ${TOTAL_BUDGET_MS} ms`));
        if (row.stages.interrupted !== null) track.append(marker("wf-cut", at(row.stages.interrupted), "interrupted"));
        line.append(track);
        block.append(line);
    }
    return block;
}

/**
 * A vertical line across a track.
 * @param {string} className
 * @param {string} left
 * @param {string} title
 * @returns {HTMLElement}
 */
function marker(className, left, title) {
    const line = node("span", `wf-marker ${className}`);
    line.style.left = left;
    line.title = title;
    return line;
}

/**
 * @param {string} tag
 * @param {string} className
 * @param {string} [text]
 * @returns {HTMLElement}
 */
function node(tag, className, text) {
    const created = document.createElement(tag);
    created.className = className;
    if (text !== undefined) created.textContent = text;
    return created;
}

/**
 * @param {number | null | undefined} value
 * @returns {number | null}
 */
function numberOrNull(value) {
    return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/**
 * Tenths of a millisecond are plenty.
 * @param {number} ms
 * @returns {number}
 */
function round(ms) {
    return Math.round(ms * 10) / 10;
}
