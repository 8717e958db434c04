import { FrameAuth } from "../../lib/security/frame_mac.ts";
import { randomKey } from "../../lib/security/key_derivation.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";

const header = new Uint8Array(16).fill(1);
const payload = new Uint8Array(1000).fill(2);

function pair() {
  const down = randomKey();
  const up = randomKey();
  return { sender: new FrameAuth(down, up), receiver: new FrameAuth(up, down) };
}

Deno.test("frame MAC: frames verify in order; altered, reordered, replayed or foreign frames do not", () => {
  const { sender, receiver } = pair();
  const tags = [0, 1, 2].map(() => sender.sign(header, payload));
  assertEquals(tags[0].length, 16);
  assert(receiver.verify(header, payload, tags[0]), "first frame");
  assert(!receiver.verify(header, payload, tags[2]), "frame 3 in place of frame 2: reordered");
  assert(!receiver.verify(header, payload, tags[1]), "the counter moved on: a replay of an old tag fails");
  const other = pair();
  assert(
    !other.receiver.verify(header, payload, other.sender.sign(header, payload).map((b, i) => i ? b : b ^ 1)),
  );
  const { sender: s2, receiver: r2 } = pair();
  const tag = s2.sign(header, payload);
  const altered = payload.slice();
  altered[999] ^= 0x80;
  assert(!r2.verify(header, altered, tag), "one bit of payload");
});

Deno.test("frame MAC: the header is covered, and each direction has its own key", () => {
  const { sender, receiver } = pair();
  const tag = sender.sign(header, payload);
  const offset = header.slice();
  offset[15] ^= 1;
  assert(!receiver.verify(offset, payload, tag), "a changed offset");
  const { sender: a } = pair();
  const reflected = a.sign(header, payload);
  assert(!a.verify(header, payload, reflected), "a frame reflected back to its sender");
});
