import { isPlainObject } from '../plain-object.js';

/** A revocation as carried by the event log and the bus. Times: `exp` in ms, not-befores in epoch seconds. */
export type RevocationEvent =
  | { readonly kind: 'session'; readonly sid: string; readonly exp: number }
  | { readonly kind: 'subject'; readonly sub: string; readonly nbf: number }
  | { readonly kind: 'client'; readonly nbf: number };

/** What one log entry / pub/sub message carries: the revocations written together. */
export interface RevocationBatch {
  readonly revocations: readonly RevocationEvent[];
}

/** Envelope type of revocation batches on the revocation log and channel. */
export const REVOCATION_EVENT = 'revocation';

/** Most revocations in one batch (one script call, one message). */
export const MAX_BATCH = 256;

/** Longest `sid` / `sub` accepted (characters). */
export const MAX_REVOCATION_ID_LENGTH = 256;

const isId = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= MAX_REVOCATION_ID_LENGTH;

/** Whether `value` is a well-formed revocation (ids bounded, times whole numbers). */
export function isRevocationEvent(value: unknown): value is RevocationEvent {
  if (!isPlainObject(value)) return false;
  if (value.kind === 'session') return isId(value.sid) && Number.isSafeInteger(value.exp);
  if (value.kind === 'subject') return isId(value.sub) && Number.isSafeInteger(value.nbf);
  return value.kind === 'client' && Number.isSafeInteger(value.nbf);
}

/** Whether `value` is a well-formed batch of 1 to {@link MAX_BATCH} revocations. */
export function isRevocationBatch(value: unknown): value is RevocationBatch {
  const list = isPlainObject(value) ? value.revocations : undefined;
  return Array.isArray(list) && list.length > 0 && list.length <= MAX_BATCH && list.every(isRevocationEvent);
}
