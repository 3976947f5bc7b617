import { CLOCK_SKEW_ALLOWANCE_MS, MAX_KEYS, type StoredKey, type StoredRing } from './ring-data.js';

/** Keys carried over in one write-back at most: a ring written anew holds one. */
export const MAX_CARRIED_KEYS = 2;

/**
 * The keys of a ring refused as `fork` or `rollback` (never for any other reason: a ring under an
 * earlier key-encryption key, or one bringing back a compromised kid, gives nothing) that the
 * instance writing its own ring back keeps published, so that what they signed still verifies.
 *
 * The case: Redis lost the ring while instances ran, and an instance that started before they
 * reconnected found the namespace empty and created a key of its own. It signed with it (client
 * assertions, keycloak-connector state JWTs) and an identity provider may have fetched it from its
 * JWKS. The running instances' ring wins (`judgeRing`), and without this the newcomer's key would
 * leave every JWKS the moment it moved to theirs.
 *
 * Only keys that cannot come from this ring's own history are carried over: the refused ring was
 * written after the one held here, and the key was created after it too (give or take the clocks'
 * allowed skew, both ways): a key of the history was created before the ring held here was written.
 * A replayed older ring rewritten by an honest instance (re-encrypted, rotated) has a fresh
 * `writtenAt`, but its keys keep their creation times. The key must also have been signing in the
 * refused ring (activated, not retired, not expired). Never a kid held or compromised, at most
 * {@link MAX_CARRIED_KEYS}, and never past {@link MAX_KEYS}. A carried key never signs again (it
 * retires when it activated) and leaves the JWKS after `retireGraceMs`. The caller checks that
 * each carried key's private half decrypts and matches.
 */
export function carriedOverKeys(
  refused: StoredRing,
  held: StoredRing,
  compromised: ReadonlySet<string>,
  now: number,
  retireGraceMs: number,
): StoredKey[] {
  if (refused.writtenAt <= held.writtenAt || retireGraceMs <= 0) return [];
  const createdAfter = held.writtenAt - 2 * CLOCK_SKEW_ALLOWANCE_MS;
  const heldKids = new Set(held.keys.map((k) => k.kid));
  const room = MAX_KEYS - held.keys.length;
  return refused.keys
    .filter((k) => !heldKids.has(k.kid) && !compromised.has(k.kid) && !refused.compromised.includes(k.kid))
    .filter((k) => k.createdAt > createdAfter)
    .filter((k) => k.activatesAt <= now && (k.retiresAt === null || k.retiresAt > now) && (k.expiresAt === null || k.expiresAt > now))
    .sort((a, b) => b.activatesAt - a.activatesAt)
    .slice(0, Math.max(0, Math.min(room, MAX_CARRIED_KEYS)))
    .map((k) => ({ ...k, retiresAt: k.activatesAt, expiresAt: now + retireGraceMs }));
}
