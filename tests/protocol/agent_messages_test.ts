import { ProtocolError } from "../../lib/errors.ts";
import { FrameType } from "../../lib/protocol/frame.ts";
import { decodeMessage } from "../../lib/protocol/messages.ts";
import { type AgentMessage, newJobId } from "../../lib/protocol/agent_messages.ts";
import { assertEquals, assertThrows } from "../_helpers/assert.ts";

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const job = newJobId();

const samples: AgentMessage[] = [
  { kind: "welcome", name: "node7" },
  { kind: "list" },
  { kind: "agents", agents: [{ name: "n1", host: "10.0.0.1", seconds: 3.5 }] },
  { kind: "run", job, command: "uname -r", nodes: null },
  { kind: "run", job, command: "true", nodes: ["n1", "n2"] },
  { kind: "deploy", job, port: 9997, args: ["--to", "/mnt"], nodes: null },
  {
    kind: "gather",
    job,
    port: 4000,
    source: { type: "cmd", value: "dmesg" },
    merge: "sort -m",
    fanout: 2,
    nodes: null,
  },
  { kind: "exec", job, command: "ls /" },
  { kind: "output", job, node: "", stream: "err", lines: ["a", ""] },
  { kind: "exit", job, node: "n3", code: null, error: "agent lost" },
  { kind: "done", job },
  { kind: "verdicts", verdicts: [{ node: "n1", status: "ok", bytes: 10, error: "" }] },
  { kind: "end", bytes: 0, hash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
];

for (const [i, body] of samples.entries()) {
  Deno.test(`agent messages: sample ${i} (${body.kind}) round-trips through JSON`, () => {
    assertEquals(decodeMessage(FrameType.AGENT, json(body)), { type: FrameType.AGENT, body });
  });
}

Deno.test("agent messages: unknown kinds, bad job ids, empty commands and wrong fields are rejected", () => {
  for (
    const bad of [
      { kind: "format-disk" },
      { kind: "run", job: "1", command: "true", nodes: null },
      { kind: "run", job, command: "  ", nodes: null },
      { kind: "run", job, command: "true", nodes: "n1" },
      { kind: "output", job, node: "", stream: "tty", lines: [] },
      { kind: "output", job, node: "", stream: "out", lines: ["x".repeat(5000)] },
      {
        kind: "gather",
        job,
        port: 1,
        source: { type: "url", value: "x" },
        merge: null,
        fanout: 2,
        nodes: null,
      },
      {
        kind: "gather",
        job,
        port: 1,
        source: { type: "cmd", value: "x" },
        merge: null,
        fanout: 0,
        nodes: null,
      },
      { kind: "end", bytes: -1, hash: "00" },
      { kind: "verdicts", verdicts: [{ node: "n1", status: "maybe", bytes: 1, error: "" }] },
    ]
  ) {
    assertThrows(() => decodeMessage(FrameType.AGENT, json(bad)), ProtocolError, JSON.stringify(bad));
  }
});
