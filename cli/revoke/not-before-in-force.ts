import type { KccRedis } from '@kcc-redis/client';
import { REVOCATION_KEYS } from '@kcc-redis/client/contract';

/** What a revocation by time revoked: one user's tokens, or every token of the app-env. */
export type NotBeforeScope = { readonly kind: 'subject'; readonly sub: string } | { readonly kind: 'client' };

/** Bytes of the stored client-wide not-before read: epoch seconds take 10 (a forged value may be hundreds of MB). */
const CLIENT_VALUE_READ = 40;

/**
 * The not-before in force for `scope` as Redis keeps it, epoch seconds; undefined when none is stored
 * or what is stored is not whole epoch seconds (instances refuse it). Read after a write: Redis keeps
 * the later of the one written and one that stood (a stricter one is never lowered), so this is what
 * instances apply, which may be later than the one the command was given.
 */
export async function notBeforeInForce(redis: KccRedis, scope: NotBeforeScope): Promise<number | undefined> {
  const raw = await redis.run((r) =>
    scope.kind === 'subject' ? r.zscore(redis.key(REVOCATION_KEYS.subjects), scope.sub) : r.getrange(redis.key(REVOCATION_KEYS.clientNotBefore), 0, CLIENT_VALUE_READ - 1),
  );
  if (raw === null || raw === '') return undefined;
  const seconds = Number(raw);
  return Number.isSafeInteger(seconds) && seconds > 0 ? seconds : undefined;
}
