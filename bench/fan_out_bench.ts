/**
 * In-process micro-benchmarks of the data path: the fan-out ring with 1 and 3 outputs, and the
 * stream hashes. Run: deno task bench:micro
 */

import { createStreamHasher } from "../lib/integrity/stream_hash.ts";
import { FanOut } from "../lib/relay/fan_out.ts";

const SLOT = 256 * 1024;
const SLOTS_PER_RUN = 4096; // 1 GiB through the ring
const block = new Uint8Array(SLOT);
crypto.getRandomValues(block.subarray(0, 65536));

async function pushThrough(outputs: number): Promise<void> {
  const sinks = Array.from({ length: outputs }, (_, i) => ({
    name: `o${i}`,
    view: "payload" as const,
    write: (_bytes: Uint8Array) => Promise.resolve(),
  }));
  const fanOut = new FanOut(sinks, { slots: 4, slotBytes: SLOT });
  for (let i = 0; i < SLOTS_PER_RUN; i++) {
    const slot = await fanOut.acquire();
    slot.length = SLOT;
    fanOut.publish(slot);
  }
  await fanOut.finish();
}

Deno.bench("fan-out: 1 GiB through a 4 × 256 KiB ring to 1 output", { group: "fan-out" }, async () => {
  await pushThrough(1);
});

Deno.bench("fan-out: 1 GiB through a 4 × 256 KiB ring to 3 outputs", { group: "fan-out" }, async () => {
  await pushThrough(3);
});

for (const algorithm of ["xxh128", "sha256"] as const) {
  Deno.bench(`hash: ${algorithm} over 1 GiB in 256 KiB updates`, { group: "hash" }, async () => {
    const hasher = await createStreamHasher(algorithm);
    for (let i = 0; i < SLOTS_PER_RUN; i++) hasher.update(block);
    hasher.digest();
  });
}
