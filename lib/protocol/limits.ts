/**
 * The sizes and shapes the wire protocol allows, owned here so that the decoder and the modules
 * that produce these fields (phases, sealed keys, certificates) agree on one definition.
 *
 * @module
 */

/** What a phase name looks like: a lowercase letter, then up to 31 lowercase letters, digits or dashes. */
export const PHASE_NAME: RegExp = /^[a-z][a-z0-9-]{0,31}$/;

/** What a label's key looks like (`rack` in `--label rack=r12`): as a phase name. */
export const LABEL_KEY: RegExp = PHASE_NAME;

/** Labels a node may carry, and the longest value of one. */
export const MAX_LABELS = 16;
/** Longest label value. */
export const MAX_LABEL_VALUE = 64;

/** Longest detail text of a phase. */
export const MAX_PHASE_DETAIL = 512;

/** Largest PEM text (a certificate chain or a key) a message or a file may carry. */
export const MAX_PEM_BYTES = 24 * 1024;

/** Hex characters of a sealed link key: a 12-byte nonce, the 32-byte key, a 16-byte tag. */
export const SEALED_KEY_HEX = (12 + 32 + 16) * 2;
