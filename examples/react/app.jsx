// The one-button voice agent on useVoiceAgent: Start/Stop, the connection status, the live
// transcript (interim and final) and the agent's reply. build.sh bundles it with esbuild.
// The server: `?server=wss://host/ws`, else `/ws` on the page's host. `?mic=raw` turns off the
// browser's echo cancellation, noise suppression and gain control; `?autostart=1` starts at once.

import { StrictMode, useEffect } from "react";
import { createRoot } from "react-dom/client";

import { useVoiceAgent } from "../../web/react/useVoiceAgent.js";

/** @typedef {import("../../web/react/useVoiceAgent.js").VoiceAgent} VoiceAgent */
/** @typedef {import("../../web/react/useVoiceAgent.js").VoiceAgentOptions} VoiceAgentOptions */

const params = new URLSearchParams(location.search);

/** @type {VoiceAgentOptions} */
const OPTIONS = {
    // build.sh copies the worklets beside app.js. Bundled, the client's own default (beside its
    // modules) would resolve beside app.js too; naming them keeps working if the bundle moves or is split.
    captureWorkletUrl: new URL("./capture-worklet.js", import.meta.url),
    playbackWorkletUrl: new URL("./playback-worklet.js", import.meta.url),
    ...(params.get("mic") === "raw"
        ? { microphone: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 } }
        : {}),
};

/** @param {VoiceAgent["status"]} status */
function isRunning(status) {
    return status !== "idle" && status !== "closed" && status !== "error";
}

function App() {
    const agent = useVoiceAgent(OPTIONS);
    const running = isRunning(agent.status);

    useEffect(() => {
        if (params.get("autostart") === "1") agent.start();
    }, [agent.start]);
    useEffect(() => exposeForTests(agent));

    return (
        <main className="app">
            <header className="bar">
                <h1>Parley · React</h1>
                <span className="status" data-status={agent.status} role="status">{agent.status}</span>
                <button type="button" className="toggle" data-running={String(running)}
                    onClick={running ? agent.stop : agent.start}>
                    {running ? "Stop" : "Start"}
                </button>
            </header>
            {agent.error && <p className="error" role="alert">{agent.error.message}</p>}
            <section className="conversation" aria-label="Conversation">
                <ol className="turns">
                    {agent.turns.map((turn) => (
                        <li key={turn.turnId} className="turn" data-interrupted={String(turn.interrupted)}>
                            <p className="user"><span className="who">you</span><span className="text">{turn.userText}</span></p>
                            <p className="agent"><span className="who">agent</span><span className="text">{turn.agentText}</span></p>
                        </li>
                    ))}
                </ol>
                <p className="partial" aria-live="polite">{agent.partial}</p>
                {agent.turns.length === 0 && !agent.partial && <p className="empty">Press Start and speak.</p>}
            </section>
        </main>
    );
}

/**
 * Mirrors the hook's state in `window.parleyState`, in the fields tests/browser/browser_test.py reads
 * from the main page (`--expect transcript-and-audio`).
 * @param {VoiceAgent} agent
 */
function exposeForTests(agent) {
    /** @type {Window & {parleyState?: object}} */
    const page = window;
    page.parleyState = {
        status: agent.status,
        sessionId: agent.sessionId,
        providers: agent.providers,
        partial: agent.partial,
        finals: agent.turns.map((turn) => turn.userText),
        agentTexts: agent.turns.map((turn) => turn.agentText),
        turnEnds: agent.turns.filter((turn) => turn.timeline)
            .map((turn) => ({ turn_id: turn.turnId, interrupted: turn.interrupted, text: turn.agentText, timeline: turn.timeline })),
        playedSamples: agent.playedSamples,
        errors: agent.error ? [agent.error] : [],
    };
}

const root = document.getElementById("root");
if (!root) throw new Error("index.html lacks #root");
createRoot(root).render(<StrictMode><App /></StrictMode>);
