import type { Redis } from 'ioredis';
import { KeyEncryptionKey } from '../../client/src/keyring/key-encryption.js';
import type { StoredRing } from '../../client/src/keyring/ring-data.js';
import { sealRing } from '../../client/src/keyring/ring-seal.js';

/** The ring document inside a stored ring (a compact JWS), read without verifying it. */
export function ringPayload(stored: string): StoredRing & Record<string, unknown> {
  return JSON.parse(Buffer.from(stored.split('.')[1]!, 'base64url').toString()) as StoredRing & Record<string, unknown>;
}

/**
 * A stored ring whose document was changed by someone without the key-encryption key: the new
 * document with the original header and MAC.
 */
export function tamperedRing(stored: string, change: (ring: Record<string, unknown> & { keys: Record<string, unknown>[] }) => void): string {
  const [header, , mac] = stored.split('.');
  const doc = ringPayload(stored) as unknown as Record<string, unknown> & { keys: Record<string, unknown>[] };
  change(doc);
  return [header, Buffer.from(JSON.stringify(doc)).toString('base64url'), mac].join('.');
}

/** A ring document sealed under `kek`: what someone holding that key-encryption key can write. */
export function sealedWith(kek: string, ring: StoredRing): Promise<string> {
  return sealRing(ring, new KeyEncryptionKey(kek));
}

/** The stored ring of app-env `user` (the hash written by compare-and-set), or undefined. */
export async function storedRing(client: Redis, user: string): Promise<{ version: number; value: string } | undefined> {
  const [version, value] = await client.hmget(ringKey(user), 'version', 'value');
  return version == null || value == null ? undefined : { version: Number(version), value };
}

/** Writes `value` as the stored ring of `user`, at store version `version` (default: one above the current). */
export async function writeStoredRing(client: Redis, user: string, value: string, version?: number): Promise<void> {
  const current = await storedRing(client, user);
  await client.hset(ringKey(user), 'version', version ?? (current?.version ?? 0) + 1, 'value', value);
}

export function ringKey(user: string): string {
  return `${user}:{${user}}:keyring`;
}
