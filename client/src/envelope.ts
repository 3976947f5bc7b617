import { randomUUID } from 'node:crypto';
import { KccInputError } from './errors.js';

/** Every pub/sub message and event-log entry: who sent what, when, with a unique id. */
export interface Envelope<T = unknown> {
  /** Format version. */
  readonly v: 1;
  /** Unique per message; receivers use it to apply each event once. */
  readonly id: string;
  readonly type: string;
  /** Instance id of the sender. */
  readonly sender: string;
  /** Milliseconds since the epoch, at the sender. */
  readonly at: number;
  readonly data: T;
}

/** Why an incoming message was dropped. */
export type DropReason = 'oversized' | 'malformed' | 'invalid';

/** Counts of dropped incoming messages, by reason. */
export type DropCounts = Record<DropReason, number>;

export function emptyDropCounts(): DropCounts {
  return { oversized: 0, malformed: 0, invalid: 0 };
}

const TYPE_PATTERN = /^[a-z][a-z0-9.-]{0,63}$/;

/**
 * The range of `maxMessageBytes`, the largest message an instance writes. Every instance reads
 * messages up to {@link MAX_MESSAGE_BYTES}, whatever it writes itself: instances configured
 * differently (a rolling change of the option) read each other's messages, and a message no
 * instance may write is still refused unread. The smallest holds a batch of one revocation with the
 * longest ids, and a relayed Keycloak admin action of the longest accepted (8,192 characters).
 */
export const MIN_MESSAGE_BYTES = 16_384;
export const MAX_MESSAGE_BYTES = 1_048_576;

/** The longest sender (instance) id a message may carry; longer ones are dropped as malformed. */
export const MAX_SENDER_LENGTH = 128;

/** Serializes a message; throws a KccInputError (KCC_INPUT_INVALID) when it is larger than `maxBytes`. */
export function encodeEnvelope(sender: string, type: string, data: unknown, maxBytes: number, id: string = randomUUID()): { envelope: Envelope; json: string } {
  if (!TYPE_PATTERN.test(type)) {
    throw new TypeError(`message type "${type}" must match ${TYPE_PATTERN}`);
  }
  const envelope: Envelope = { v: 1, id, type, sender, at: Date.now(), data };
  const json = JSON.stringify(envelope);
  const size = Buffer.byteLength(json);
  if (size > maxBytes) {
    throw new KccInputError(`message "${type}" is ${size} bytes; the limit (maxMessageBytes) is ${maxBytes}`);
  }
  return { envelope, json };
}

/** Whether `raw` is longer than `maxBytes` in UTF-8 (what any instance reads: {@link MAX_MESSAGE_BYTES}). */
export function isOversized(raw: string, maxBytes: number = MAX_MESSAGE_BYTES): boolean {
  // A UTF-16 code unit encodes to at most 3 UTF-8 bytes: a message shorter than a third of the limit
  // cannot exceed it, and is not scanned to count its bytes.
  return raw.length > maxBytes || (raw.length * 3 > maxBytes && Buffer.byteLength(raw) > maxBytes);
}

/**
 * Parses and checks an incoming message (at most `maxBytes`: every instance reads up to
 * {@link MAX_MESSAGE_BYTES}). Never throws: a bad message is reported by its reason so the caller
 * can drop and count it.
 */
export function decodeEnvelope<T>(
  raw: string,
  maxBytes: number,
  validate?: (data: unknown) => data is T,
): { ok: true; envelope: Envelope<T> } | { ok: false; reason: DropReason } {
  if (isOversized(raw, maxBytes)) return { ok: false, reason: 'oversized' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (typeof parsed !== 'object' || parsed === null) return { ok: false, reason: 'malformed' };
  const e = parsed as Record<string, unknown>;
  const wellFormed =
    e.v === 1 &&
    typeof e.id === 'string' && e.id.length > 0 && e.id.length <= 64 &&
    typeof e.type === 'string' && TYPE_PATTERN.test(e.type) &&
    typeof e.sender === 'string' && e.sender.length > 0 && e.sender.length <= MAX_SENDER_LENGTH &&
    typeof e.at === 'number' && Number.isFinite(e.at) &&
    'data' in e;
  if (!wellFormed) return { ok: false, reason: 'malformed' };
  if (validate && !validate(e.data)) return { ok: false, reason: 'invalid' };
  return { ok: true, envelope: parsed as Envelope<T> };
}
