// A thin React adapter over VoiceClient: the same logic, exposed as hook state.
//
//   const agent = useVoiceAgent();   // the server: ?server=, else config.js's SERVER_URL, else the page's host
//   const agent = useVoiceAgent({url: "wss://parley.example.com/ws"});
//   <button onClick={agent.status === "listening" ? agent.stop : agent.start}>…</button>
//
// Type-checked separately with React's types: tsc -p web/react/tsconfig.json

import { useCallback, useEffect, useReducer, useRef } from "react";

import { serverUrlFor, VoiceClient } from "../client.js";

/** @typedef {import("../client.js").ClientStatus} ClientStatus */
/** @typedef {import("../client.js").ClientError} ClientError */
/** @typedef {import("../client.js").VoiceClientOptions} VoiceClientOptions */
/** @typedef {import("../protocol.js").Timeline} Timeline */
/** @typedef {import("../protocol.js").Providers} Providers */

/**
 * One turn as the UI shows it.
 * @typedef {object} AgentTurn
 * @property {number} turnId
 * @property {string} userText Final transcript.
 * @property {string} agentText Reply text, growing as it streams.
 * @property {boolean} interrupted
 * @property {Timeline | null} timeline Set by `turn.end`.
 */

/**
 * @typedef {object} VoiceAgentState
 * @property {ClientStatus} status
 * @property {string | null} sessionId
 * @property {Providers | null} providers
 * @property {string} partial Interim transcript of the current utterance.
 * @property {AgentTurn[]} turns
 * @property {number} level Microphone RMS, 0…1 (updated ~15 times a second).
 * @property {number} playedSamples Agent audio played, all turns.
 * @property {boolean} agentPaused Agent playback held by `agent.paused` (status stays `agent-speaking`).
 * @property {ClientError | null} error The latest error.
 */

/**
 * @typedef {VoiceAgentState & {start: () => void, stop: () => void}} VoiceAgent
 */

/**
 * VoiceClient's options, each optional: `url` defaults to `?server=`, then the URL baked into
 * `config.js`, then `/ws` on the page's host. A bundler that does not copy the worklets beside
 * the bundle needs `captureWorkletUrl` and `playbackWorkletUrl`.
 * @typedef {Partial<VoiceClientOptions>} VoiceAgentOptions
 */

/**
 * @typedef {{type: "reset"}
 *   | {type: "status", status: ClientStatus}
 *   | {type: "ready", sessionId: string, providers: Providers}
 *   | {type: "partial", text: string}
 *   | {type: "turn", turnId: number, change: Partial<AgentTurn>}
 *   | {type: "level", level: number}
 *   | {type: "played", playedSamples: number}
 *   | {type: "paused", paused: boolean}
 *   | {type: "error", error: ClientError}} Action
 */

/** @type {VoiceAgentState} */
const initialState = {
    status: "idle",
    sessionId: null,
    providers: null,
    partial: "",
    turns: [],
    level: 0,
    playedSamples: 0,
    agentPaused: false,
    error: null,
};

/**
 * @param {VoiceAgentState} state
 * @param {Action} action
 * @returns {VoiceAgentState}
 */
function reduce(state, action) {
    switch (action.type) {
        case "reset":
            return initialState;
        case "status":
            return {
                ...state,
                status: action.status,
                level: action.status === "listening" || action.status === "agent-speaking" ? state.level : 0,
                agentPaused: action.status === "agent-speaking" && state.agentPaused,
            };
        case "ready":
            return { ...state, sessionId: action.sessionId, providers: action.providers };
        case "partial":
            return { ...state, partial: action.text };
        case "turn": {
            const index = state.turns.findIndex((turn) => turn.turnId === action.turnId);
            const turns = [...state.turns];
            if (index < 0) {
                turns.push({ turnId: action.turnId, userText: "", agentText: "", interrupted: false, timeline: null, ...action.change });
            } else {
                turns[index] = { ...turns[index], ...action.change };
            }
            return { ...state, turns };
        }
        case "level":
            return { ...state, level: action.level };
        case "played":
            return { ...state, playedSamples: action.playedSamples };
        case "paused":
            return { ...state, agentPaused: action.paused };
        case "error":
            return { ...state, error: action.error };
    }
}

/**
 * Runs a Parley voice conversation inside a React component; stops it on unmount.
 * @param {VoiceAgentOptions} [options] Read when `start` is called, so a new object on each render is fine.
 * @returns {VoiceAgent}
 */
export function useVoiceAgent(options = {}) {
    const [state, dispatch] = useReducer(reduce, initialState);
    /** @type {import("react").MutableRefObject<VoiceClient | null>} */
    const clientRef = useRef(null);
    // The latest options, for start(): an inline object is new on every render, and start stays one function.
    const optionsRef = useRef(options);
    useEffect(() => {
        optionsRef.current = options;
    });

    const stop = useCallback(() => {
        clientRef.current?.stop();
    }, []);

    const start = useCallback(() => {
        clientRef.current?.stop();
        dispatch({ type: "reset" });
        const { url, ...rest } = optionsRef.current;
        const client = new VoiceClient({ ...rest, url: url ?? serverUrlFor(window.location) });
        clientRef.current = client;
        let lastLevelAt = 0;
        client.on("status", ({ status }) => dispatch({ type: "status", status }));
        client.on("ready", (ready) => dispatch({ type: "ready", sessionId: ready.session_id, providers: ready.providers }));
        client.on("level", ({ rms }) => {
            const now = performance.now();
            if (now - lastLevelAt < 66) return;
            lastLevelAt = now;
            dispatch({ type: "level", level: rms });
        });
        client.on("partial", ({ text }) => dispatch({ type: "partial", text }));
        client.on("final", ({ turnId, text }) => {
            dispatch({ type: "partial", text: "" });
            dispatch({ type: "turn", turnId, change: { userText: text } });
        });
        client.on("agentText", ({ turnId, text }) => dispatch({ type: "turn", turnId, change: { agentText: text } }));
        client.on("paused", () => dispatch({ type: "paused", paused: client.agentPaused }));
        client.on("resumed", () => dispatch({ type: "paused", paused: client.agentPaused }));
        client.on("interrupted", ({ turnId }) => {
            dispatch({ type: "turn", turnId, change: { interrupted: true } });
            dispatch({ type: "paused", paused: client.agentPaused });
        });
        client.on("turnEnd", (end) => dispatch({
            type: "turn",
            turnId: end.turn_id,
            change: { agentText: end.text, interrupted: end.interrupted, timeline: end.timeline },
        }));
        client.on("playback", ({ totalPlayedSamples }) => dispatch({ type: "played", playedSamples: totalPlayedSamples }));
        client.on("error", (error) => dispatch({ type: "error", error }));
        client.start().catch(() => {
            // Reported through the `error` event.
        });
    }, []);

    useEffect(() => () => clientRef.current?.stop(), []);

    return { ...state, start, stop };
}
