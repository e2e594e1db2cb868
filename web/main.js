// UI wiring only: VoiceClient events → DOM, the Start/Stop button → VoiceClient, and
// `window.parleyState` for automated tests. Open `index.html?autostart=1` to start without a click,
// `?server=ws://host:port/ws` to talk to a server other than the page's host.

import { serverUrlFor, tokenFor, VoiceClient } from "./client.js";
import { TIMELINE_STAGES } from "./protocol.js";
import { budgetSummary, renderWaterfall, WATERFALL_TURNS, waterfallRow } from "./waterfall.js";

/** @typedef {import("./client.js").ClientStatus} ClientStatus */
/** @typedef {import("./client.js").ClientError} ClientError */
/** @typedef {import("./client.js").ClientStats} ClientStats */
/** @typedef {import("./protocol.js").TurnEndEvent} TurnEndEvent */
/** @typedef {import("./waterfall.js").TurnTiming} TurnTiming */
/** @typedef {import("./waterfall.js").WaterfallRow} WaterfallRow */

/**
 * What the page shows, mirrored for tests (read it with `JSON.stringify(window.parleyState)`).
 * @typedef {object} ParleyState
 * @property {ClientStatus} status
 * @property {ClientStatus[]} statusHistory Every status since start, in order.
 * @property {string | null} sessionId
 * @property {string} partial Current interim transcript.
 * @property {string[]} finals Final transcripts, one per turn.
 * @property {string[]} agentTexts Agent reply text, one entry per turn, growing as it streams.
 * @property {TurnEndEvent[]} turnEnds
 * @property {number} playedSamples Agent audio samples played, all turns.
 * @property {ClientError[]} errors
 * @property {Record<string, string> | null} providers
 * @property {Array<{turnId: number, playedSamples: number}>} interruptions
 * @property {boolean} agentPaused Agent playback held by `agent.paused` (status stays `agent-speaking`).
 * @property {number[]} pauses Turn of each `agent.paused` honoured, in order.
 * @property {number[]} resumes Turn of each `agent.resumed` honoured, in order.
 * @property {ClientStats | null} stats Capture/playback counters (frames sent, bytes, …).
 * @property {number} outputSampleRate Hz of the agent audio (`session.ready` output.sample_rate).
 * @property {WaterfallRow[]} waterfall Latency waterfall of the last ended user turns, oldest first.
 * @property {Array<{turnId: number, name: string, ok?: boolean, durationMs?: number}>} tools Tool calls and results, in order.
 * @property {string | null} sessionEnd Why the agent ended the session (`session.end`), if it did.
 */

/** @type {Record<ClientStatus, string>} */
const STATUS_LABELS = {
    "idle": "idle",
    "connecting": "connecting",
    "ready": "ready",
    "listening": "listening",
    "agent-speaking": "agent speaking",
    "closed": "closed",
    "error": "error",
};
/** The status line while `agent-speaking` is held by `agent.paused`. */
const PAUSED_LABEL = "agent paused — listening…";

/** Short labels for the compact timeline line. */
/** @type {Record<string, string>} */
const STAGE_LABELS = {
    speech_end: "end",
    vad_end: "vad",
    stt_final: "stt",
    llm_request: "llm req",
    llm_first_token: "1st token",
    first_sentence: "1st chunk",
    tts_first_audio: "tts",
    first_audio_sent: "1st audio",
    playback_start: "playing",
    last_audio_sent: "last audio",
    interrupted: "interrupted",
};

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} type
 * @returns {T}
 */
function element(id, type) {
    const found = document.getElementById(id);
    if (!(found instanceof type)) throw new Error(`index.html lacks #${id}`);
    return found;
}

const ui = {
    status: element("status", HTMLElement),
    toggle: element("toggle", HTMLButtonElement),
    meter: element("meter-fill", HTMLElement),
    server: element("server", HTMLElement),
    sessionId: element("session-id", HTMLElement),
    providers: element("providers", HTMLElement),
    audioStats: element("audio-stats", HTMLElement),
    error: element("error", HTMLElement),
    turns: element("turns", HTMLOListElement),
    partial: element("partial", HTMLElement),
    empty: element("empty", HTMLElement),
    turnTemplate: element("turn-template", HTMLTemplateElement),
    waterfall: element("waterfall", HTMLElement),
    latency: element("latency", HTMLElement),
    budgetSummary: element("budget-summary", HTMLElement),
};
ui.budgetSummary.title = budgetSummary();

/** @returns {ParleyState} */
function initialState() {
    return {
        status: "idle",
        statusHistory: [],
        sessionId: null,
        partial: "",
        finals: [],
        agentTexts: [],
        turnEnds: [],
        playedSamples: 0,
        errors: [],
        providers: null,
        interruptions: [],
        agentPaused: false,
        pauses: [],
        resumes: [],
        stats: null,
        outputSampleRate: 0,
        waterfall: [],
        tools: [],
        sessionEnd: null,
    };
}

/** @type {ParleyState} */
let state = initialState();
/** @type {Window & {parleyState?: ParleyState}} */
const page = window;
page.parleyState = state;

const params = new URLSearchParams(location.search);
const serverUrl = serverUrlFor(location);
ui.server.textContent = serverUrl;

/** @type {VoiceClient | null} */
let client = null;
/** Turn id → its list item and the index of its entries in `state.agentTexts`/`state.finals`. */
/** @type {Map<number, {item: HTMLElement, index: number}>} */
let turnViews = new Map();
/** Ended turns, by id, and the client's instants of each (the waterfall's inputs). */
/** @type {Map<number, TurnEndEvent>} */
let turnEnds = new Map();
/** @type {Map<number, TurnTiming>} */
let timings = new Map();
let outputSampleRate = 16000;
let pendingLevel = 0;
let levelFrameRequested = false;

ui.toggle.addEventListener("click", () => {
    if (client && client.status !== "closed" && client.status !== "error") {
        client.stop();
    } else {
        start();
    }
});

if (params.get("autostart") === "1") start();

function start() {
    state = initialState();
    page.parleyState = state;
    turnViews = new Map();
    turnEnds = new Map();
    timings = new Map();
    renderWaterfall(ui.waterfall, []);
    ui.latency.hidden = true;
    ui.turns.replaceChildren();
    ui.partial.textContent = "";
    ui.empty.hidden = false;
    showError(null);
    ui.sessionId.textContent = "–";
    ui.providers.textContent = "–";

    // `?mic=raw` turns off the browser's echo cancellation, noise suppression and gain control
    // (a headset, or a test feeding a recorded question into a fake microphone).
    const microphone = params.get("mic") === "raw"
        ? { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 }
        : undefined;
    // `?token=` carries a session token for a server with PARLEY_API_KEY set.
    const token = tokenFor(location);
    const next = new VoiceClient(microphone ? { url: serverUrl, token, microphone } : { url: serverUrl, token });
    client = next;
    next.on("status", ({ status }) => showStatus(status, next.agentPaused));
    next.on("ready", (ready) => {
        state.sessionId = ready.session_id;
        state.providers = { ...ready.providers };
        outputSampleRate = ready.output.sample_rate;
        state.outputSampleRate = outputSampleRate;
        ui.sessionId.textContent = ready.session_id;
        ui.providers.textContent = `stt ${ready.providers.stt} · llm ${ready.providers.llm} · tts ${ready.providers.tts}`;
    });
    next.on("level", ({ rms }) => {
        state.stats = next.stats;
        showLevel(rms, next);
    });
    next.on("partial", ({ text }) => {
        state.partial = text;
        ui.partial.textContent = text;
        if (text) ui.empty.hidden = true;
    });
    next.on("final", ({ turnId, text }) => {
        const view = turnView(turnId);
        state.finals[view.index] = text;
        setText(view.item, ".user .text", text);
        state.partial = "";
        ui.partial.textContent = "";
    });
    next.on("agentText", ({ turnId, text }) => {
        const view = turnView(turnId);
        state.agentTexts[view.index] = text;
        setText(view.item, ".agent .text", text);
    });
    next.on("playback", ({ totalPlayedSamples }) => {
        state.playedSamples = totalPlayedSamples;
        state.stats = next.stats;
        showAudioStats(next);
    });
    next.on("paused", ({ turnId }) => {
        state.pauses.push(turnId);
        showStatusLine(next.agentPaused);
    });
    next.on("resumed", ({ turnId }) => {
        state.resumes.push(turnId);
        showStatusLine(next.agentPaused);
    });
    next.on("interrupted", ({ turnId, playedSamples }) => {
        state.interruptions.push({ turnId, playedSamples });
        turnView(turnId).item.dataset.interrupted = "true";
        showStatusLine(next.agentPaused);
    });
    next.on("turnEnd", (end) => {
        const view = turnView(end.turn_id);
        state.turnEnds.push(end);
        state.agentTexts[view.index] = end.text;
        setText(view.item, ".agent .text", end.text);
        if (end.interrupted) view.item.dataset.interrupted = "true";
        setText(view.item, ".timeline", formatTimeline(end));
        state.stats = next.stats;
        showAudioStats(next);
        turnEnds.set(end.turn_id, end);
        showWaterfall();
    });
    next.on("timing", (timing) => {
        timings.set(timing.turnId, timing);
        if (turnEnds.has(timing.turnId)) showWaterfall(); // before turn.end there is nothing to draw yet
    });
    next.on("toolCall", ({ turnId, name }) => {
        state.tools.push({ turnId, name });
        setText(turnView(turnId).item, ".timeline", `calling ${name}…`);
    });
    next.on("toolResult", ({ turnId, name, ok, durationMs }) => {
        state.tools.push({ turnId, name, ok, durationMs });
        setText(turnView(turnId).item, ".timeline", `${name} ${ok ? "answered" : "failed"} in ${Math.round(durationMs)} ms`);
    });
    next.on("sessionEnd", ({ reason }) => {
        state.sessionEnd = reason;
    });
    next.on("error", (error) => {
        state.errors.push(error);
        showError(error);
    });
    next.start().catch(() => {
        // Already reported through the `error` event.
    });
}

/**
 * @param {ClientStatus} status
 * @param {boolean} paused The client's `agentPaused`.
 */
function showStatus(status, paused) {
    state.status = status;
    state.statusHistory.push(status);
    ui.status.dataset.status = status;
    showStatusLine(paused);
    const running = status !== "idle" && status !== "closed" && status !== "error";
    ui.toggle.textContent = running ? "Stop" : "Start";
    ui.toggle.dataset.running = String(running);
    if (!running) showLevel(0, null);
}

/**
 * Shows the status line for the current status, paused or not.
 * @param {boolean} paused The client's `agentPaused`.
 */
function showStatusLine(paused) {
    state.agentPaused = paused;
    ui.status.textContent = paused && state.status === "agent-speaking" ? PAUSED_LABEL : STATUS_LABELS[state.status];
    ui.status.dataset.paused = String(paused);
}

/**
 * Shows the level (and the audio counters) on the next animation frame: frames arrive 50 times a second.
 * @param {number} rms 0…1
 * @param {VoiceClient | null} source
 */
function showLevel(rms, source) {
    pendingLevel = rms;
    if (levelFrameRequested) return;
    levelFrameRequested = true;
    requestAnimationFrame(() => {
        levelFrameRequested = false;
        if (source) showAudioStats(source);
        // -60 dBFS … 0 dBFS onto 0 … 1.
        const db = pendingLevel > 0 ? 20 * Math.log10(pendingLevel) : -Infinity;
        const fraction = Math.min(1, Math.max(0, (db + 60) / 60));
        ui.meter.style.transform = `scaleX(${fraction.toFixed(3)})`;
    });
}

/** @param {ClientError | null} error */
function showError(error) {
    ui.error.hidden = error === null;
    ui.error.textContent = error ? `${error.message} (${error.code}${error.fatal ? ", fatal" : ""})` : "";
}

/** @param {VoiceClient} source */
function showAudioStats(source) {
    const stats = source.stats;
    const seconds = (state.playedSamples / outputSampleRate).toFixed(1);
    ui.audioStats.textContent = `sent ${stats.framesSent} frames (${stats.lastFrameBytes} B) · `
        + `received ${stats.audioFramesReceived} frames · played ${seconds} s`;
}

/**
 * The list item of a turn, created on first mention.
 * @param {number} turnId
 * @returns {{item: HTMLElement, index: number}}
 */
function turnView(turnId) {
    let view = turnViews.get(turnId);
    if (!view) {
        const fragment = /** @type {DocumentFragment} */ (ui.turnTemplate.content.cloneNode(true));
        const item = fragment.querySelector("li");
        if (!(item instanceof HTMLElement)) throw new Error("turn template lacks <li>");
        item.dataset.turnId = String(turnId);
        ui.turns.append(item);
        view = { item, index: turnViews.size };
        turnViews.set(turnId, view);
        state.finals[view.index] ??= "";
        state.agentTexts[view.index] ??= "";
        ui.empty.hidden = true;
    }
    return view;
}

/** Recomputes the waterfall of the last ended turns and redraws it (a few times per turn). */
function showWaterfall() {
    /** @type {WaterfallRow[]} */
    const rows = [];
    for (const [turnId, end] of turnEnds) {
        const row = waterfallRow(end, timings.get(turnId));
        if (row) rows.push(row);
    }
    state.waterfall = rows.slice(-WATERFALL_TURNS);
    // Forget what can no longer be shown.
    for (const turnId of turnEnds.keys()) {
        if (turnEnds.size <= WATERFALL_TURNS * 2) break;
        turnEnds.delete(turnId);
        timings.delete(turnId);
    }
    renderWaterfall(ui.waterfall, state.waterfall);
    ui.latency.hidden = state.waterfall.length === 0;
}

/**
 * @param {HTMLElement} root
 * @param {string} selector
 * @param {string} text
 */
function setText(root, selector, text) {
    const target = root.querySelector(selector);
    if (target) target.textContent = text;
}

/**
 * One compact line: every documented stage that happened, in ms after the end of speech.
 * @param {TurnEndEvent} end
 * @returns {string}
 */
function formatTimeline(end) {
    const parts = [];
    for (const stage of TIMELINE_STAGES) {
        if (stage === "speech_end") continue;
        const value = end.timeline[stage];
        if (typeof value === "number") parts.push(`${STAGE_LABELS[stage] ?? stage} ${Math.round(value)}`);
    }
    if (typeof end.voice_to_voice === "number") parts.push(`voice to voice ${Math.round(end.voice_to_voice)}`);
    return parts.length > 0 ? `${parts.join(" · ")} ms` : "no timeline";
}
