import { describe, expect, it } from 'vitest';
import { KccAwsError, type RedisCredentials } from '../../../client/src/index.js';
import { CredentialRefresher } from '../../../client/src/credentials.js';
import type { KeyEncryptionKeyMaterial } from '../../../client/src/keyring/key-encryption-keys.js';
import { resolveKeyEncryptionKeys } from '../../../client/src/keyring/key-ring-options.js';
import { resolveConnection } from '../../../client/src/resolve-options.js';

const KEK_A = 'a'.repeat(64);
const KEK_B = 'b'.repeat(64);

/** A source whose answers are scripted: 'hang' never settles (a vault or network that black-holes the call). */
function scripted<T>(answers: (T | 'hang')[]): { source: () => Promise<T>; calls: () => number } {
  let calls = 0;
  return {
    source: () => {
      const answer = answers[Math.min(calls++, answers.length - 1)]!;
      return answer === 'hang' ? new Promise<T>(() => {}) : Promise.resolve(answer);
    },
    calls: () => calls,
  };
}

describe('a source of secrets the app gives that never answers', () => {
  it('keyEncryptionKeyProvider: a re-read that hangs fails after connectTimeoutMs, keeping the keys held, and the next re-read reads again', async () => {
    const warnings: string[] = [];
    const logger = { info: () => {}, warn: (message: string, fields?: object) => warnings.push(`${message} ${JSON.stringify(fields)}`) };
    const material = scripted<KeyEncryptionKeyMaterial>([{ kek: KEK_A }, 'hang', { kek: KEK_B, previous: [KEK_A] }]);
    const { keks } = await resolveKeyEncryptionKeys({ keyEncryptionKeyProvider: material.source, env: {} }, logger, undefined, undefined, 300);
    const first = keks.current.fingerprint;
    // Without the bound this refresh never settled, and every later one joined it.
    expect(await keks.refresh()).toBe(false);
    expect(keks.current.fingerprint).toBe(first);
    expect(warnings.join('\n')).toMatch(/keeping the ones held.*keyEncryptionKeyProvider did not answer within 300 ms \(connectTimeoutMs\)/);
    expect(await keks.refresh()).toBe(true);
    expect(material.calls()).toBe(3);
    expect(keks.fingerprints).toHaveLength(2);
    expect(keks.current.fingerprint).not.toBe(first);
  });

  it('keyEncryptionKeyProvider: a first read that hangs fails the start with a KccAwsError naming the option and the fix', async () => {
    const material = scripted<KeyEncryptionKeyMaterial>(['hang']);
    const failure = await resolveKeyEncryptionKeys({ keyEncryptionKeyProvider: material.source, env: {} }, { info: () => {}, warn: () => {} }, undefined, undefined, 300).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(KccAwsError);
    expect((failure as Error).message).toMatch(/^keyEncryptionKeyProvider did not answer within 300 ms \(connectTimeoutMs\); make it always settle, or raise connectTimeoutMs/);
  });

  it('credentialsProvider: the start fails after connectTimeoutMs, and a re-read that hangs fails so that the next one reads the new password', async () => {
    const base = { url: 'rediss://127.0.0.1:6390', keyPrefix: 'my-app-prod:', connectTimeoutMs: 300, env: {} } as const;
    const hanging = scripted<RedisCredentials>(['hang']);
    const failure = await resolveConnection({ ...base, credentialsProvider: hanging.source }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(KccAwsError);
    expect((failure as Error).message).toMatch(/^credentialsProvider did not answer within 300 ms \(connectTimeoutMs\)/);

    const oldPassword = 'o'.repeat(32);
    const newPassword = 'n'.repeat(32);
    const rotating = scripted<RedisCredentials>([{ username: 'my-app-prod', password: oldPassword }, 'hang', { username: 'my-app-prod', password: newPassword }]);
    const resolved = await resolveConnection({ ...base, credentialsProvider: rotating.source });
    const refresher = new CredentialRefresher(resolved.credentials, resolved.refreshCredentials, 1);
    // Without the bound this re-read never settled, and the re-read of every failing connection after it joined it.
    const hung = await refresher.refresh().catch((e: unknown) => e);
    expect(hung).toBeInstanceOf(KccAwsError);
    expect(String(hung)).not.toContain(oldPassword);
    expect(refresher.credentials.password).toBe(oldPassword);
    expect(await refresher.refresh()).toBe(true);
    expect(refresher.credentials.password).toBe(newPassword);
    expect(rotating.calls()).toBe(3);
  });
});
