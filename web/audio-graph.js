// The audio graph's foundation: the AudioContext, both worklet modules loaded into it, and the
// microphone as a source node. The worklet nodes themselves are CaptureNode (capture-node.js) and
// PlaybackNode (playback-node.js); VoiceClient creates them on an open graph.

/**
 * @typedef {object} AudioGraphOptions
 * @property {number} sampleRate Hz to ask the AudioContext for: the server's input rate, so that
 *   capture needs no resampling where the browser allows it.
 * @property {string | URL} [captureWorkletUrl] Defaults to `capture-worklet.js` beside this module.
 * @property {string | URL} [playbackWorkletUrl] Defaults to `playback-worklet.js` beside this module.
 * @property {MediaTrackConstraints} [microphone] getUserMedia audio constraints; defaults to
 *   mono with echo cancellation, noise suppression and automatic gain control.
 */

/**
 * The parts of an open graph.
 * @typedef {object} OpenAudioGraph
 * @property {AudioContext} context Running or suspended; both worklet modules loaded.
 * @property {MediaStream} stream The microphone.
 * @property {MediaStreamAudioSourceNode} source The microphone in `context`.
 */

/**
 * The browser's voice processing on: the agent's own voice must not come back as the user's.
 * @type {MediaTrackConstraints}
 */
const DEFAULT_MICROPHONE = { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 };
/** How long the context may stay suspended before the page is told why there is no sound. */
const SUSPENDED_WARNING_MS = 2000;

/**
 * Whether an error of open() means the microphone cannot be used (refused, missing, busy, or
 * not allowed on this page) rather than a failure of the audio graph.
 * @param {unknown} error
 * @returns {boolean}
 */
export function isMicrophoneError(error) {
    const name = error instanceof DOMException ? error.name : "";
    return name === "NotAllowedError" || name === "NotFoundError" || name === "NotReadableError"
        || name === "OverconstrainedError" || name === "SecurityError";
}

/**
 * One session's AudioContext and microphone. close() releases everything, also while open() is
 * still waiting (for the permission prompt, say).
 */
export class AudioGraph {
    /** @type {AudioContext | null} */
    #context = null;
    /** @type {MediaStream | null} */
    #stream = null;
    /** @type {MediaStreamAudioSourceNode | null} */
    #source = null;
    #closed = false;

    /**
     * Creates the AudioContext, loads both worklets and opens the microphone. Resolves with null
     * if close() was called meanwhile; rejects with the browser's error (a DOMException named
     * `NotAllowedError` and so on when the microphone is refused) after releasing what it opened.
     * @param {AudioGraphOptions} options
     * @returns {Promise<OpenAudioGraph | null>}
     */
    async open(options) {
        const captureUrl = options.captureWorkletUrl ?? new URL("./capture-worklet.js", import.meta.url);
        const playbackUrl = options.playbackWorkletUrl ?? new URL("./playback-worklet.js", import.meta.url);
        const streamPromise = navigator.mediaDevices.getUserMedia({ audio: options.microphone ?? DEFAULT_MICROPHONE });
        // Chromium honours the requested rate, so capture needs no resampling. Browsers that
        // cannot connect a microphone to a context at another rate (Firefox) get a context at
        // their own rate; the capture worklet then low-pass filters and resamples to the server's rate.
        /** @type {Array<number | undefined>} */
        const rates = [options.sampleRate, undefined];
        /** @type {unknown} */
        let lastError = null;
        for (const rate of rates) {
            const context = new AudioContext(rate ? { sampleRate: rate, latencyHint: "interactive" } : { latencyHint: "interactive" });
            this.#context = context;
            try {
                await Promise.all([context.audioWorklet.addModule(captureUrl), context.audioWorklet.addModule(playbackUrl)]);
                const stream = await streamPromise;
                this.#stream = stream;
                if (this.#closed) {
                    for (const track of stream.getTracks()) track.stop(); // closed while the prompt was open
                    return null;
                }
                this.#source = context.createMediaStreamSource(stream);
                break;
            } catch (error) {
                lastError = error;
                this.#context = null;
                void context.close().catch(() => {});
                const retry = error instanceof DOMException && error.name === "NotSupportedError" && rate !== undefined;
                if (!retry) {
                    // Release the microphone if it is granted after this failure.
                    streamPromise.then((stream) => {
                        if (this.#stream !== stream) for (const track of stream.getTracks()) track.stop();
                    }, () => {});
                    throw error;
                }
            }
        }
        const context = this.#context;
        const stream = this.#stream;
        const source = this.#source;
        if (!context || !stream || !source) throw lastError ?? new Error("audio graph not created");
        return { context, stream, source };
    }

    /**
     * Calls `onEnded` when a microphone track ends (unplugged, or the permission revoked) before close().
     * @param {() => void} onEnded
     */
    onMicrophoneEnded(onEnded) {
        for (const track of this.#stream?.getAudioTracks() ?? []) {
            track.addEventListener("ended", () => {
                if (!this.#closed) onEnded();
            });
        }
    }

    /**
     * Starts a suspended context (autoplay policy) and calls `onStillSuspended` if it has not
     * started after a while: the page must then ask for a click.
     * @param {() => void} onStillSuspended
     */
    resume(onStillSuspended) {
        const context = this.#context;
        if (!context || context.state === "running") return;
        void context.resume().catch(() => {});
        setTimeout(() => {
            if (!this.#closed && context.state !== "running") onStillSuspended();
        }, SUSPENDED_WARNING_MS);
    }

    /** Stops the microphone and closes the context. Safe to call twice. */
    close() {
        if (this.#closed) return;
        this.#closed = true;
        for (const track of this.#stream?.getTracks() ?? []) track.stop();
        this.#source?.disconnect();
        if (this.#context && this.#context.state !== "closed") void this.#context.close().catch(() => {});
    }
}
