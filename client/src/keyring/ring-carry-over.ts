import { MAX_KEYS, type StoredKey, type StoredRing } from './ring-data.js';

/**
 * The keys of a ring refused as `fork` or `rollback` that the instance writing its own ring back
 * keeps published, so that what they signed still verifies.
 *
 * The case: Redis lost the ring while instances ran, and an instance that started before they
 * reconnected found the namespace empty and created a key of its own. It signed with it (client
 * assertions, keycloak-connector state JWTs) and an identity provider may have fetched it from its
 * JWKS. The running instances' ring wins (`judgeRing`), and without this the newcomer's key would
 * leave every JWKS the moment it moved to theirs.
 *
 * Only keys that cannot be a replay of this ring's own history are carried over: the refused ring
 * was written after the one held here (a replayed ring is older), and the key was signing in it
 * (activated, not retired): a key the history held here let go was retired first, or retired as
 * compromised. Never a kid held or compromised, and never past {@link MAX_KEYS}. A carried key
 * never signs again (it retires when it activated) and leaves the JWKS after `retireGraceMs`.
 */
export function carriedOverKeys(
  refused: StoredRing,
  held: StoredRing,
  compromised: ReadonlySet<string>,
  now: number,
  retireGraceMs: number,
): StoredKey[] {
  if (refused.writtenAt <= held.writtenAt || retireGraceMs <= 0) return [];
  const heldKids = new Set(held.keys.map((k) => k.kid));
  const room = MAX_KEYS - held.keys.length;
  return refused.keys
    .filter((k) => !heldKids.has(k.kid) && !compromised.has(k.kid) && !refused.compromised.includes(k.kid))
    .filter((k) => k.activatesAt <= now && (k.retiresAt === null || k.retiresAt > now))
    .sort((a, b) => b.activatesAt - a.activatesAt)
    .slice(0, Math.max(0, room))
    .map((k) => ({ ...k, retiresAt: k.activatesAt, expiresAt: now + retireGraceMs }));
}
