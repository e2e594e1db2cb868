// parseServerEvent on `turn.end` with and without the learned end of turn's `end_of_turn`:
// well-formed verdicts pass, malformed ones make the event invalid (null). Run: node tests/web/protocol_test.mjs
import assert from "node:assert/strict";
import { parseServerEvent } from "../../web/protocol.js";

const base = { type: "turn.end", turn_id: 1, text: "Hi.", interrupted: false, timeline: { speech_end: 0, vad_end: 264.8 } };
const verdict = { probability: 0.912, complete: true, silence_ms: 200, wait_ms: 64.8, checks: 2 };

const parse = (/** @type {object} */ event) => parseServerEvent(JSON.stringify(event));

assert.notEqual(parse(base), null, "turn.end without end_of_turn");
assert.deepEqual(parse({ ...base, end_of_turn: verdict })?.end_of_turn, verdict);
assert.notEqual(parse({ ...base, end_of_turn: { ...verdict, probability: null } }), null, "a turn the model could not judge");
for (const bad of [
    { ...verdict, probability: 1.5 },
    { ...verdict, probability: undefined },
    { ...verdict, complete: "yes" },
    { ...verdict, silence_ms: -1 },
    { ...verdict, wait_ms: "64" },
    { ...verdict, checks: 1.5 },
    "complete",
    null,
]) {
    assert.equal(parse({ ...base, end_of_turn: bad }), null, `accepted end_of_turn ${JSON.stringify(bad)}`);
}
console.log("protocol: turn.end end_of_turn validation ok");
