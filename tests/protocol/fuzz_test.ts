import { ProtocolError } from "../../lib/errors.ts";
import { decodeHeader, FRAME_HEADER_BYTES } from "../../lib/protocol/frame.ts";
import { decodeMessage } from "../../lib/protocol/messages.ts";
import { assert } from "../_helpers/assert.ts";
import { fuzzFrame, Random } from "../_helpers/frame_fuzzer.ts";

Deno.test("fuzz: 100 000 random and mutated frames → the decoder returns a message or throws ProtocolError, nothing else", () => {
  const random = new Random(0x6b6164);
  let decoded = 0;
  let refused = 0;
  for (let i = 0; i < 100_000; i++) {
    const frame = fuzzFrame(random);
    try {
      const header = decodeHeader(frame);
      const payload = frame.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + header.length);
      if (payload.length < header.length) throw new ProtocolError("truncated");
      if (header.type !== 0x06) decodeMessage(header.type, payload);
      decoded++;
    } catch (error) {
      assert(error instanceof ProtocolError, `frame ${i} threw ${error}`);
      refused++;
    }
  }
  assert(decoded > 1000 && refused > 1000, `${decoded} decoded, ${refused} refused: the fuzzer reaches both`);
});
