// AudioWorkletGlobalScope declarations missing from TypeScript 4.8's DOM lib. Only the worklet
// files (capture-worklet.js, playback-worklet.js) may use these globals at run time.

/** The sample rate of the AudioContext the worklet runs in, in Hz. */
declare var sampleRate: number;
/** The context time of the render quantum being processed, in seconds. */
declare var currentTime: number;
/** The frame index of the render quantum being processed. */
declare var currentFrame: number;

interface AudioWorkletProcessor {
    /** The processor's end of the MessageChannel shared with its AudioWorkletNode. */
    readonly port: MessagePort;
}

declare var AudioWorkletProcessor: {
    prototype: AudioWorkletProcessor;
    new (options?: AudioWorkletNodeOptions): AudioWorkletProcessor;
};

/** Registers a processor class under `name` for `new AudioWorkletNode(context, name)`. */
declare function registerProcessor(
    name: string,
    processorCtor: new (options: AudioWorkletNodeOptions) => AudioWorkletProcessor & {
        process(inputs: Float32Array[][], outputs: Float32Array[][], parameters: Record<string, Float32Array>): boolean;
    },
): void;
