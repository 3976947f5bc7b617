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

/**
 * What a ring refused as `unknown-kek` may be, and the way out (`ringKey`: the ring's Redis key). Its
 * header is read before anything verified it, so it names whatever key-encryption key its writer
 * liked: a rotation to a key this reader has not read, or a ring written with the app-env's Redis
 * credentials and no key-encryption key at all. Instances cannot tell the two apart, so they leave
 * it in place (writing over a ring under a newer key would undo the rotation); a person can, by
 * checking whether the fingerprint is a key of the secret.
 */
export function unknownKekMeaning(ringKey: string): string {
  return (
    'either the key-encryption key was rotated and this instance reads an outdated or another source (check KCC_KEYRING_KEK_SECRET_ID: the app-env\'s kekSecretArn), ' +
    'or someone with the app-env\'s Redis credentials wrote the ring without any key-encryption key (its header names what it likes; it stops instances from starting, running ones keep signing and leave it in place). ' +
    `If that fingerprint is not a key of the secret (kcc-redis status lists the ones held): DEL ${ringKey} and start an instance: a running instance writes the ring it holds back, and with none running it creates new signing keys`
  );
}

/** Why an instance cannot start on the ring in Redis (`refusal`, with its `reason`), and the way out. */
export function startRefusalMessage(refusal: string | undefined, reason: RingRefusalReason | undefined, ringKey: string, logKey: string): string {
  const fresh = `delete the ring (DEL ${ringKey}) and start an instance: it creates new signing keys, which Keycloak fetches from the JWKS URL`;
  switch (reason) {
    case 'unknown-kek':
      return (
        `${refusal}. This instance does not hold that key (re-read from its source just now, where that can change): ${unknownKekMeaning(ringKey)}. ` +
        `A ring written under a key that the secret no longer keeps (more than its ${KEK_HISTORY_LENGTH} earlier keys ago) cannot be read: ${fresh}`
      );
    case 'newer-format':
      return `${refusal}. Upgrade this instance to the release that wrote it`;
    case 'not-yet-active':
      return (
        `${refusal}. This instance starts once its clock reaches that time. Check this host's clock first: one behind makes a good ring look early. ` +
        `If it is right and that time is far off (the writer's clock was wrong), stop every instance, delete the ring and its event log ` +
        `(DEL ${ringKey} ${logKey}; running instances would write back what they hold, and the log would still show the refused generation) ` +
        'and start an instance: it creates new signing keys, which Keycloak fetches from the JWKS URL'
      );
    default:
      return `${refusal ?? 'key ring refused'}. A running instance that holds a good ring writes it back; with none running, ${fresh}`;
  }
}
