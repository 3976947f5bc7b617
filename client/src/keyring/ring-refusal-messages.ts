import { KEK_HISTORY_LENGTH } from '../contract/user-secret.js';
import type { StoredRing } from './ring-data.js';
import type { RingRefusalReason } from './ring-seal.js';

/** Why a running instance does not adopt `ring` over generation `held`, in words for logs and health. */
export function verdictMessage(verdict: RingRefusalReason, ring: StoredRing, held: number, compromised: ReadonlySet<string>): string {
  switch (verdict) {
    case 'rollback':
      return `generation ${ring.generation} is older than generation ${held} held here (a rewound or replayed ring)`;
    case 'fork':
      return `generation ${ring.generation} differs from the one held here and loses to it`;
    case 'compromised-kid':
      return `it holds kid "${ring.keys.find((k) => compromised.has(k.kid))?.kid}", retired as compromised`;
    case 'kek-downgrade':
      return `it is authenticated under an earlier key-encryption key than generation ${held} held here`;
    default:
      return verdict;
  }
}

/** Why an instance cannot start on the ring in Redis (`refusal`, with its `reason`), and the way out. */
export function startRefusalMessage(refusal: string | undefined, reason: RingRefusalReason | undefined, ringKey: string): string {
  const fresh = `delete the ring (DEL ${ringKey}) and start an instance: it creates new signing keys, which Keycloak fetches from the JWKS URL`;
  switch (reason) {
    case 'unknown-kek':
      return (
        `${refusal}. Check that this instance reads the app-env's key-encryption-key secret (KCC_KEYRING_KEK_SECRET_ID). ` +
        `A ring written under a key that the secret no longer keeps (more than its ${KEK_HISTORY_LENGTH} earlier keys ago) cannot be read: ${fresh}`
      );
    case 'newer-format':
      return `${refusal}. Upgrade this instance to the release that wrote it`;
    case 'not-yet-active':
      return (
        `${refusal}. This instance starts once its clock reaches that time. If that is far off (a writer's clock was wrong) and ` +
        `no instance can wait: ${fresh}`
      );
    default:
      return `${refusal ?? 'key ring refused'}. A running instance that holds a good ring writes it back; with none running, ${fresh}`;
  }
}
