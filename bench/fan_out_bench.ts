/**
 * In-process micro-benchmarks of the data path: the fan-out ring with 1 and 3 outputs, and the
 * stream hashes. Run: deno task bench:micro
 */

import { createStreamHasher } from "../lib/integrity/stream_hash.ts";
import { DEFAULT_SLOT_BYTES, DEFAULT_SLOTS, FanOut } from "../lib/relay/fan_out.ts";

const SLOT = DEFAULT_SLOT_BYTES;
const SLOTS_PER_RUN = 2 ** 30 / SLOT; // 1 GiB through the ring
const RING = `${DEFAULT_SLOTS} × ${SLOT / 1024} KiB`;
const block = new Uint8Array(SLOT);
crypto.getRandomValues(block.subarray(0, 65536));

async function pushThrough(outputs: number): Promise<void> {
  const sinks = Array.from({ length: outputs }, (_, i) => ({
    name: `o${i}`,
    view: "payload" as const,
    write: (_bytes: Uint8Array) => Promise.resolve(),
  }));
  const fanOut = new FanOut(sinks, { slots: DEFAULT_SLOTS, slotBytes: SLOT });
  for (let i = 0; i < SLOTS_PER_RUN; i++) {
    const slot = await fanOut.acquire();
    slot.length = SLOT;
    fanOut.publish(slot);
  }
  await fanOut.finish();
}

Deno.bench(`fan-out: 1 GiB through a ${RING} ring to 1 output`, { group: "fan-out" }, async () => {
  await pushThrough(1);
});

Deno.bench(`fan-out: 1 GiB through a ${RING} ring to 3 outputs`, { group: "fan-out" }, async () => {
  await pushThrough(3);
});

for (const algorithm of ["xxh128", "sha256"] as const) {
  Deno.bench(`hash: ${algorithm} over 1 GiB in ${SLOT / 1024} KiB updates`, { group: "hash" }, async () => {
    const hasher = await createStreamHasher(algorithm);
    for (let i = 0; i < SLOTS_PER_RUN; i++) hasher.update(block);
    hasher.digest();
  });
}
