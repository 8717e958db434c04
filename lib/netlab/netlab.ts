/**
 * A switched network in a box: a Linux bridge as the switch and N network namespaces as hosts,
 * one veth port each, with optional shaping of every port in both directions (tc tbf, netem for
 * delay and loss). Every name starts with `kad`; {@link Netlab.destroy} removes everything, and
 * `await using` does it on any exit. Needs root (CAP_NET_ADMIN).
 *
 * Traffic stays inside: the addresses live only in the lab's namespaces, the bridge has none.
 *
 * @module
 */

import { KadError } from "../errors.ts";
import { hasTool, runTool } from "../process/host_tool.ts";

/** Port shaping, applied to both directions of every port. */
export interface PortShape {
  /** Rate in tc syntax, e.g. "200mbit". */
  rate: string;
  /** Added one-way delay in tc syntax, e.g. "1ms". */
  delay?: string;
  /** Random loss in tc syntax, e.g. "0.1%". */
  loss?: string;
}

/** Options of {@link Netlab.create}. */
export interface NetlabOptions {
  /** Number of hosts (host 0 is usually the server). */
  hosts: number;
  /** Shaping of every port, or undefined for unshaped ports. */
  shape?: PortShape;
  /** Shaping of host 0's port when it differs (the server's own shaped port). */
  serverShape?: PortShape;
  /** Shaping of particular hosts' ports, by host index, over the others (a slow node). */
  hostShapes?: Record<number, PortShape>;
  /**
   * Two switches instead of one: hosts from `firstOnSecond` on sit on a second bridge, joined to the
   * first by a trunk (a veth pair) shaped `shape` in both directions — two racks and the link
   * between their switches.
   */
  trunk?: { firstOnSecond: number; shape: PortShape };
}

/** One host of the lab. */
export interface NetlabHost {
  /** Index from 0. */
  index: number;
  /** Its network namespace. */
  namespace: string;
  /** Its address on the lab network. */
  address: string;
  /** The switch-side end of its veth (in the root namespace). */
  port: string;
  /** Its switch: 0, or 1 on the far side of a trunk. */
  switch: number;
}

/** A failure to build or drive the lab, with the command's own error. */
export class NetlabError extends KadError {
  /** Creates the error. */
  constructor(message: string) {
    super("NNF", message);
    this.name = "NetlabError";
  }
}

/** Prefix of every namespace this module creates. */
export const NETLAB_PREFIX = "kadlab-";

/** True when running as root, which the lab needs. */
export function canBuildNetlab(): boolean {
  return Deno.uid() === 0 && hasTool("ip") && hasTool("tc");
}

/** A live lab. */
export class Netlab implements AsyncDisposable {
  /** The hosts, by index. */
  readonly hosts: NetlabHost[];
  /** The bridge's name (the first switch's). */
  readonly bridge: string;
  /** The second switch's bridge and the trunk's two ends, when there is a trunk. */
  readonly #trunk: { bridge: string; near: string; far: string } | null;
  #destroyed = false;

  private constructor(bridge: string, hosts: NetlabHost[], trunk: boolean) {
    this.bridge = bridge;
    this.hosts = hosts;
    this.#trunk = trunk ? { bridge: `${bridge}b`, near: `${bridge}ta`, far: `${bridge}tb` } : null;
  }

  /** Builds the lab; on a failure half-way, removes what it made and throws {@link NetlabError}. */
  static async create(options: NetlabOptions): Promise<Netlab> {
    if (options.hosts < 1 || options.hosts > 250) throw new NetlabError("A lab has 1 to 250 hosts");
    const id = crypto.getRandomValues(new Uint16Array(1))[0];
    const tag = id.toString(16).padStart(4, "0");
    const subnet = `10.213.${id % 250}`;
    const hosts = Array.from({ length: options.hosts }, (_, i): NetlabHost => ({
      index: i,
      namespace: `${NETLAB_PREFIX}${tag}-${i}`,
      address: `${subnet}.${i + 1}`,
      port: `kadv${tag}-${i}`,
      switch: options.trunk && i >= options.trunk.firstOnSecond ? 1 : 0,
    }));
    const lab = new Netlab(`kadbr${tag}`, hosts, options.trunk !== undefined);
    try {
      await ip(["link", "add", lab.bridge, "type", "bridge"]);
      await ip(["link", "set", lab.bridge, "up"]);
      if (lab.#trunk && options.trunk) await lab.#addTrunk(lab.#trunk, options.trunk.shape);
      for (const host of hosts) {
        await lab.#addHost(host);
        const shape = options.hostShapes?.[host.index] ??
          (host.index === 0 && options.serverShape ? options.serverShape : options.shape);
        if (shape) await lab.#shape(host, shape);
      }
      return lab;
    } catch (error) {
      await lab.destroy();
      throw error;
    }
  }

  /** The second switch and the shaped trunk between the two. */
  async #addTrunk(trunk: { bridge: string; near: string; far: string }, shape: PortShape): Promise<void> {
    await ip(["link", "add", trunk.bridge, "type", "bridge"]);
    await ip(["link", "set", trunk.bridge, "up"]);
    await ip(["link", "add", trunk.near, "type", "veth", "peer", "name", trunk.far]);
    await ip(["link", "set", trunk.near, "master", this.bridge, "up"]);
    await ip(["link", "set", trunk.far, "master", trunk.bridge, "up"]);
    await tcShape([], trunk.near, shape); // towards the second switch
    await tcShape([], trunk.far, shape); // and back
  }

  async #addHost(host: NetlabHost): Promise<void> {
    await ip(["netns", "add", host.namespace]);
    await ip(["link", "add", host.port, "type", "veth", "peer", "name", "eth0", "netns", host.namespace]);
    const bridge = host.switch === 1 && this.#trunk ? this.#trunk.bridge : this.bridge;
    await ip(["link", "set", host.port, "master", bridge, "up"]);
    await this.ip(host, ["link", "set", "lo", "up"]);
    await this.ip(host, ["addr", "add", `${host.address}/24`, "brd", "+", "dev", "eth0"]);
    await this.ip(host, ["link", "set", "eth0", "up"]);
  }

  /** Shapes both directions of a host's port: its egress inside the namespace, its ingress on the switch side. */
  async #shape(host: NetlabHost, shape: PortShape): Promise<void> {
    await tcShape([], host.port, shape);
    await tcShape(["ip", "netns", "exec", host.namespace], "eth0", shape);
  }

  /** Runs `ip ARGS` inside a host. */
  async ip(host: NetlabHost, args: string[]): Promise<void> {
    await run(["ip", "-n", host.namespace, ...args]);
  }

  /** The argv that runs `argv` inside a host's namespace. */
  exec(host: NetlabHost, argv: string[]): string[] {
    return ["ip", "netns", "exec", host.namespace, ...argv];
  }

  /** Takes a host's link down or up (a cable pulled). */
  async setLink(host: NetlabHost, up: boolean): Promise<void> {
    await ip(["link", "set", host.port, up ? "up" : "down"]);
  }

  /** Removes every namespace, port and the bridge; safe to call twice; never throws. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const host of this.hosts) {
      await run(["ip", "netns", "pids", host.namespace], true).then(async (pids) => {
        for (const pid of pids.split(/\s+/).filter((p) => p)) await run(["kill", "-9", pid], true);
      });
      await run(["ip", "netns", "del", host.namespace], true);
      await run(["ip", "link", "del", host.port], true);
    }
    if (this.#trunk) {
      await run(["ip", "link", "del", this.#trunk.near], true);
      await run(["ip", "link", "del", this.#trunk.bridge], true);
    }
    await run(["ip", "link", "del", this.bridge], true);
  }

  /** Same as {@link destroy}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.destroy();
  }
}

/** Removes namespaces and bridges left behind by a lab whose process was killed. */
export async function sweepStaleNetlabs(): Promise<number> {
  const list = await run(["ip", "netns", "list"], true);
  const stale = list.split("\n").map((l) => l.split(" ")[0]).filter((n) => n.startsWith(NETLAB_PREFIX));
  for (const ns of stale) await run(["ip", "netns", "del", ns], true);
  // bridges, and a trunk's veth pair (deleting one end removes both)
  const links = await run(["ip", "-o", "link", "show"], true);
  for (const m of links.matchAll(/^\d+: (kadbr[0-9a-f]{4}(?:b|ta)?)[:@]/gm)) {
    await run(["ip", "link", "del", m[1]], true);
  }
  return stale.length;
}

async function tcShape(prefix: string[], dev: string, shape: PortShape): Promise<void> {
  const bits = parseRate(shape.rate);
  // tbf needs a bucket of at least one timer tick of traffic; a few packets more keeps the rate steady
  const burst = Math.max(32 * 1024, Math.ceil(bits / 8 / 250));
  const tbf = ["tbf", "rate", shape.rate, "burst", String(burst), "latency", "50ms"];
  if (shape.delay || shape.loss) {
    const netem = [
      "netem",
      ...(shape.delay ? ["delay", shape.delay] : []),
      ...(shape.loss ? ["loss", shape.loss] : []),
    ];
    await run([...prefix, "tc", "qdisc", "add", "dev", dev, "root", "handle", "1:", ...netem]);
    await run([...prefix, "tc", "qdisc", "add", "dev", dev, "parent", "1:", "handle", "2:", ...tbf]);
  } else {
    await run([...prefix, "tc", "qdisc", "add", "dev", dev, "root", ...tbf]);
  }
}

/** Parses a tc rate ("200mbit", "1gbit", "500kbit") into bits per second. */
export function parseRate(rate: string): number {
  const m = /^(\d+(?:\.\d+)?)(k|m|g)?bit$/i.exec(rate.trim());
  if (!m) throw new NetlabError(`Invalid rate "${rate}": use e.g. 200mbit or 1gbit`);
  const scale = { "": 1, k: 1e3, m: 1e6, g: 1e9 }[(m[2] ?? "").toLowerCase()] ?? 1;
  return Number(m[1]) * scale;
}

async function ip(args: string[]): Promise<void> {
  await run(["ip", ...args]);
}

/** Runs a command of the lab; a failure is a {@link NetlabError} quoting the tool (or ignored when `quiet`). */
async function run(argv: string[], quiet = false): Promise<string> {
  try {
    return await runTool(argv[0], argv.slice(1), `run "${argv.join(" ")}"`);
  } catch (error) {
    if (quiet) return "";
    throw new NetlabError(error instanceof Error ? error.message : String(error));
  }
}
