import { randomUUID } from 'node:crypto';
import { encodeEnvelope } from '../../client/src/envelope.js';
import { REVOCATION_BATCH_VERSION, REVOCATION_EVENT } from '../../client/src/revocation/revocation-event.js';

/** Sender of the messages below: an instance id's length (a UUID), as in the messages instances send. */
const SENDER = randomUUID();

/**
 * The message an instance publishes when it revokes one session (a batch of one), built as the
 * client builds it, for context figures that publish it raw: no write script, no client on the
 * sending side.
 */
export function revocationMessage(sid: string): string {
  const batch = { v: REVOCATION_BATCH_VERSION, revocations: [{ kind: 'session', sid, exp: Date.now() + 3_600_000 }] };
  return encodeEnvelope(SENDER, REVOCATION_EVENT, batch, 64 * 1024).json;
}
