/**
 * The simulator's constants, measured on this project's netlab (bridge, namespaces, tc-shaped
 * ports) on 2026-12-01 with 128 KiB frames (README, "Simulating 10 000 nodes"), and the runs the
 * simulation is checked against. Re-measure whenever the data path changes.
 *
 * @module
 */

import type { SharedHost } from "./simulator.ts";

/** What the simulator takes from measurements. */
export interface Calibration {
  /** Share of a port's rate the stream gets (TCP/IP headers, framing). */
  efficiency: number;
  /** Time each hop adds (queueing, relaying), seconds. */
  hopDelaySeconds: number;
  /** Fixed cost of a run before the first byte, seconds. */
  startupSeconds: number;
  /** Cost of linking one level of the topology, seconds. */
  linkSecondsPerLevel: number;
  /** How long a hung node takes to be detected (the default stall timeout and the check), seconds. */
  detectSeconds: number;
  /** How long a repair takes once decided, seconds. */
  relinkSeconds: number;
}

/**
 * Measured values:
 * - efficiency: one node at 200 Mbit/s moves 200 MB in 8.45–8.51 s and at 1 Gbit/s 1 GB in 8.45–8.53 s
 *   (`deno task bench:peers`), 8.00 s of payload at the port rate: 0.957 once start and hop are out;
 * - hop delay: the copies' last writes, head to tail, 8–20 ms per hop at 200 Mbit/s (median 13);
 * - start: the report's clock starts with the links; 50 ms to the first byte;
 * - detection: a hung node is failed 3–4 s after it stops (the 3 s stall timeout, 250 ms checks);
 * - repair: 24–34 ms from the decision to the child fed again (`deno task bench:repair`).
 */
export const CALIBRATION: Calibration = {
  efficiency: 0.957,
  hopDelaySeconds: 0.013,
  startupSeconds: 0.05,
  linkSecondsPerLevel: 0,
  detectSeconds: 3.5,
  relinkSeconds: 0.03,
};

/**
 * The netlab's host: 2 cores for the server and every node. Fitted to the 1 Gbit/s runs below,
 * where from 4 nodes on the cores, not the ports, set the pace (a node measured 3.6–4.4 CPU-s/GB
 * of its own, the server's share comes on top); and the 200 Mbit/s slope of 96 ms per added node,
 * of which 13 ms is the hop.
 */
export const NETLAB_HOST: SharedHost = { cores: 2, cpuSecondsPerGB: 4.9, waitSecondsPerProcess: 0.083 };

/** A measured netlab run: kad's time for each node count. */
export interface MeasuredRuns {
  /** The command that measured them. */
  command: string;
  /** Port rate, bits per second. */
  rateBps: number;
  /** Stream bytes. */
  bytes: number;
  /** [nodes, seconds] (a chain, default options). */
  seconds: [number, number][];
}

/** The runs (128 KiB frames, 2026-12-01, load 0.9 at the start) the simulation must land within 5 % of. */
export const NETLAB_RUNS: MeasuredRuns[] = [
  {
    command: "deno task bench:peers --tools kad",
    rateBps: 200e6,
    bytes: 200e6,
    seconds: [[1, 8.51], [2, 8.57], [4, 8.75], [8, 9.22], [12, 9.57]],
  },
  {
    command: "deno task bench:peers --nodes 1,2,4,8 --size 1GB --rate 1gbit --tools kad",
    rateBps: 1e9,
    bytes: 1e9,
    seconds: [[1, 8.53], [2, 8.59], [4, 10.73], [8, 19.7]],
  },
];
