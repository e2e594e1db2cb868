// Typed event listeners, as VoiceClient offers them: on() subscribes and returns the way to
// unsubscribe; emit() calls each listener, so that one that throws cannot break the client or
// keep the others from hearing the event.

/**
 * Listeners by event name; `EventMap` maps each name to its payload's type.
 * @template {object} EventMap
 */
export class Emitter {
    /** @type {Map<keyof EventMap, Set<(detail: any) => void>>} */
    #listeners = new Map();

    /**
     * Subscribes to an event; returns a function that unsubscribes.
     * @template {keyof EventMap} K
     * @param {K} name
     * @param {(detail: EventMap[K]) => void} listener
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
     * Calls each listener of `name` with `detail`; a listener that throws is logged and skipped.
     * @template {keyof EventMap} K
     * @param {K} name
     * @param {EventMap[K]} detail
     */
    emit(name, detail) {
        for (const listener of this.#listeners.get(name) ?? []) {
            try {
                listener(detail);
            } catch (error) {
                console.error(`Parley: a "${String(name)}" listener threw`, error);
            }
        }
    }
}
