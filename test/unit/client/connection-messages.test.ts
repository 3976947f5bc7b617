import { describe, expect, it } from 'vitest';
import { fixedCredentialsHint } from '../../../client/src/connection.js';

describe('the hint when Redis rejects fixed credentials (explicit password or KCC_REDIS_PASSWORD)', () => {
  it.each(['127.0.0.1', '127.0.0.2', 'localhost', '::1'])('on loopback (%s, the local harness): the env file `kcc-redis local` wrote, no secret id', (host) => {
    const hint = fixedCredentialsHint(host);
    expect(hint).toMatch(/check the password; for the local harness, load the <app>-<env>\.env file that `kcc-redis local` wrote/);
    expect(hint).not.toMatch(/secret/i);
  });

  it.each(['master.kcc-redis.abc123.euc1.cache.amazonaws.com', '10.0.1.17', 'cache.internal'])('elsewhere (%s): a secret id, so that a rotated password is re-read', (host) => {
    expect(fixedCredentialsHint(host)).toMatch(/against ElastiCache, pass secretId \(KCC_REDIS_SECRET_ID\) instead, so that a rotated password is re-read$/);
  });
});
