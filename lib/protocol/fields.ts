/**
 * Strict reading of a control message's JSON fields: every field checked for type, size and
 * shape, a bad one named in a {@link ProtocolError}.
 *
 * @module
 */

import { ERROR_CODES, type ErrorCode, ProtocolError } from "../errors.ts";
import {
  LABEL_KEY,
  MAX_LABEL_VALUE,
  MAX_LABELS,
  MAX_PEM_BYTES,
  MAX_PHASE_DETAIL,
  PHASE_NAME,
  SEALED_KEY_HEX,
} from "./limits.ts";
import type {
  Blocked,
  ErrorMessage,
  LinkPeer,
  LinkProblem,
  PhaseNote,
  ResumeRequest,
  StreamInfo,
  WireError,
} from "./messages.ts";

/** Longest name (of a node, a deployment…). */
export const MAX_NAME = 255;
/** Longest free text. */
export const MAX_TEXT = 4096;
/** Pre-join phases a HELLO may carry. */
const MAX_HELLO_PHASES = 16;
const NONCE_HEX = 64;
const HEX = /^[0-9a-f]*$/;

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** A JSON object's fields, read one by one with their checks. */
export class Fields {
  readonly #o: Record<string, unknown>;
  readonly #what: string;

  /** The fields of a JSON payload. @throws {ProtocolError} when it is not a JSON object. */
  static parse(payload: Uint8Array, what: string): Fields {
    let raw: unknown;
    try {
      raw = JSON.parse(UTF8.decode(payload));
    } catch {
      throw new ProtocolError(`Malformed ${what} message: not JSON`);
    }
    return new Fields(raw, what);
  }

  constructor(raw: unknown, what: string) {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      throw new ProtocolError(`Malformed ${what} message: not an object`);
    }
    this.#o = raw as Record<string, unknown>;
    this.#what = what;
  }

  has(key: string): boolean {
    return this.#o[key] !== undefined;
  }

  fail(key: string): never {
    throw new ProtocolError(`Malformed ${this.#what} message: bad field "${key}"`);
  }

  text(key: string, max = MAX_TEXT, from = this.#o): string {
    const v = from[key];
    if (typeof v !== "string" || v.length > max) this.fail(key);
    return v;
  }

  name(key: string, from = this.#o): string {
    const v = this.text(key, MAX_NAME, from);
    if (v.length === 0 || hasControlCharacter(v)) this.fail(key);
    return v;
  }

  bool(key: string): boolean {
    const v = this.#o[key];
    if (typeof v !== "boolean") this.fail(key);
    return v;
  }

  number(key: string): number {
    const v = this.#o[key];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) this.fail(key);
    return v;
  }

  int(key: string, from = this.#o): number {
    const v = from[key];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) this.fail(key);
    return v;
  }

  intOrNull(key: string): number | null {
    return this.#o[key] === null ? null : this.int(key);
  }

  port(key: string, from = this.#o): number {
    const v = this.int(key, from);
    if (v < 1 || v > 65535) this.fail(key);
    return v;
  }

  /** A port, or 0 for "announced later". */
  portOrZero(key: string): number {
    return this.int(key) === 0 ? 0 : this.port(key);
  }

  /** A field that is a JSON object, with its own checks. */
  object(key: string): Fields {
    const v = this.#o[key];
    if (typeof v !== "object" || v === null || Array.isArray(v)) this.fail(key);
    return new Fields(v, `${this.#what} ${key}`);
  }

  /** An array of at most `max` objects, each read by `item` from its fields. */
  objects<T>(key: string, max: number, item: (fields: Fields) => T): T[] {
    const v = this.#o[key];
    if (!Array.isArray(v) || v.length > max) this.fail(key);
    return v.map((entry) => item(new Fields(entry, `${this.#what} ${key}`)));
  }

  /** An array of at most `max` names. */
  names(key: string, max: number): string[] {
    const v = this.#o[key];
    if (!Array.isArray(v) || v.length > max) this.fail(key);
    return v.map((_, i) => this.name(String(i), v as unknown as Record<string, unknown>));
  }

  /** An array of at most `max` texts of at most `maxEach` characters each. */
  texts(key: string, max: number, maxEach: number): string[] {
    const v = this.#o[key];
    if (!Array.isArray(v) || v.length > max) this.fail(key);
    return v.map((_, i) => this.text(String(i), maxEach, v as unknown as Record<string, unknown>));
  }

  /** True when the field is JSON null. */
  isNull(key: string): boolean {
    return this.#o[key] === null;
  }

  /** A {@link Blocked}, or null. */
  blocked(key: string): Blocked | null {
    if (this.#o[key] === null) return null;
    const blocked = this.object(key);
    const share = blocked.number("share");
    if (share > 1) blocked.fail("share");
    return { by: blocked.name("by"), share };
  }

  /** A text, or null. */
  textOrNull(key: string, max = MAX_TEXT): string | null {
    return this.#o[key] === null ? null : this.text(key, max);
  }

  strings(key: string): string[] {
    const v = this.#o[key];
    if (!Array.isArray(v) || v.length > 64) this.fail(key);
    return v.map((_, i) => this.name(String(i), v as unknown as Record<string, unknown>));
  }

  peers(key: string): LinkPeer[] {
    const v = this.#o[key];
    if (!Array.isArray(v) || v.length > 64) this.fail(key);
    return v.map((p) => {
      if (typeof p !== "object" || p === null) this.fail(key);
      const r = p as Record<string, unknown>;
      return {
        name: this.name("name", r),
        host: this.name("host", r),
        port: this.port("port", r),
        key: this.sealedKey("key", r),
      };
    });
  }

  /** A handshake nonce: 64 lowercase hex digits ("" allowed where a peer may be unauthenticated). */
  nonce(key: string, emptyAllowed: boolean): string {
    const v = this.text(key, NONCE_HEX);
    if (v === "" ? !emptyAllowed : !HEX.test(v) || v.length !== NONCE_HEX) this.fail(key);
    return v;
  }

  /** PEM text (a certificate chain or a key). */
  pem(key: string): string {
    const v = this.text(key, MAX_PEM_BYTES);
    if (!v.includes("-----BEGIN ")) this.fail(key);
    return v;
  }

  /** A proof: 64 lowercase hex digits. */
  proof(key: string): string {
    const v = this.text(key, NONCE_HEX);
    if (v.length !== NONCE_HEX || !HEX.test(v)) this.fail(key);
    return v;
  }

  /** A sealed link key (hex), or "" on an unauthenticated deployment. */
  sealedKey(key: string, from = this.#o): string {
    const v = this.text(key, SEALED_KEY_HEX, from);
    if (v !== "" && (v.length !== SEALED_KEY_HEX || !HEX.test(v))) this.fail(key);
    return v;
  }

  error(from = this.#o): ErrorMessage {
    const code = this.text("code", 16, from);
    if (!(ERROR_CODES as readonly string[]).includes(code)) this.fail("code");
    const out: ErrorMessage = { code: code as ErrorCode, message: this.text("message", MAX_TEXT, from) };
    if (from.node !== undefined) out.node = this.name("node", from);
    return out;
  }

  errorOrNull(key: string): WireError | null {
    const v = this.#o[key];
    if (v === null) return null;
    if (typeof v !== "object" || Array.isArray(v)) this.fail(key);
    const { code, message } = this.error(v as Record<string, unknown>);
    return { code, message };
  }

  /** A {@link StreamInfo}. */
  stream(key: string): StreamInfo {
    const v = this.#o[key];
    if (typeof v !== "object" || v === null || Array.isArray(v)) this.fail(key);
    const r = v as Record<string, unknown>;
    const kind = this.text("kind", 8, r);
    if (kind !== "tar" && kind !== "raw") this.fail(key);
    const bytes = r.bytes === null ? null : this.int("bytes", r);
    const compression = r.compression === null ? null : this.text("compression", 8, r);
    if (compression !== null && compression !== "zstd") this.fail(key);
    return { kind, bytes, description: this.text("description", MAX_TEXT, r), compression };
  }

  /** A phase name and its detail. */
  phaseNote(from = this.#o): PhaseNote {
    const phase = this.text("phase", 32, from);
    if (!PHASE_NAME.test(phase)) this.fail("phase");
    const detail = this.text("detail", MAX_PHASE_DETAIL, from);
    if (hasControlCharacter(detail)) this.fail("detail");
    return { phase, detail };
  }

  resume(key: string): ResumeRequest | null {
    const v = this.#o[key];
    if (v === null) return null;
    if (typeof v !== "object" || Array.isArray(v)) this.fail(key);
    const r = v as Record<string, unknown>;
    return { deployment: this.name("deployment", r), offset: this.int("offset", r) };
  }

  labels(key: string): Record<string, string> {
    const v = this.#o[key];
    if (typeof v !== "object" || v === null || Array.isArray(v)) this.fail(key);
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length > MAX_LABELS) this.fail(key);
    const labels: Record<string, string> = {};
    for (const [name, value] of entries) {
      if (!LABEL_KEY.test(name) || typeof value !== "string" || value.length > MAX_LABEL_VALUE) {
        this.fail(key);
      }
      if (value === "" || hasControlCharacter(value)) this.fail(key);
      labels[name] = value;
    }
    return labels;
  }

  phaseNotes(key: string): PhaseNote[] {
    const v = this.#o[key];
    if (!Array.isArray(v) || v.length > MAX_HELLO_PHASES) this.fail(key);
    return v.map((p) => {
      if (typeof p !== "object" || p === null || Array.isArray(p)) this.fail(key);
      return this.phaseNote(p as Record<string, unknown>);
    });
  }

  linkProblems(key: string): LinkProblem[] {
    const v = this.#o[key];
    if (!Array.isArray(v) || v.length > 64) this.fail(key);
    return v.map((p) => {
      if (typeof p !== "object" || p === null) this.fail(key);
      const r = p as Record<string, unknown>;
      const e = r.error;
      if (typeof e !== "object" || e === null) this.fail(key);
      const { code, message } = this.error(e as Record<string, unknown>);
      return { to: this.name("to", r), error: { code, message } };
    });
  }
}

export function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}
