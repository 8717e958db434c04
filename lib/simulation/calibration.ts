/**
 * The simulator's constants, measured on this project's netlab (bridge, namespaces, tc-shaped
 * ports) with the current data path — see the README's "Simulating 10 000 nodes" for the runs and
 * how far the simulation lands from them. Re-measure when the data path changes.
 *
 * @module
 */

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

/** Measured values (placeholders until the calibration runs; see the README). */
export const CALIBRATION: Calibration = {
  efficiency: 0.95,
  hopDelaySeconds: 0.01,
  startupSeconds: 0.4,
  linkSecondsPerLevel: 0.005,
  detectSeconds: 3.5,
  relinkSeconds: 0.01,
};
