import { describe, expect, it } from 'vitest';
import { type KccConnectionOptions, KccConfigError } from '../../../client/src/index.js';
import { PairedCopies } from '../../../client/src/paired-copies.js';
import { type PubSubOption, type PubSubProbe, decidePubSubMode, publishRoutes, shardChannel } from '../../../client/src/pubsub-mode.js';
import { resolveConnection } from '../../../client/src/resolve-options.js';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };

/** A probe whose SPUBLISH answers like the server would (`reply`: a count, or the error text Redis sends). */
function probe(option: PubSubOption, clusterMode: boolean, reply: number | string, calls: string[] = []): PubSubProbe {
  return {
    option, clusterMode, keyPrefix: 'my-app-prod:', logger: silent,
    spublish: async (channel) => {
      calls.push(channel);
      if (typeof reply === 'string') throw new Error(reply);
      return reply;
    },
  };
}

describe('pub/sub mode: classic outside cluster mode, sharded in cluster mode where the server has it', () => {
  it.each([
    ['auto', false, 0, 'classic'],
    ['bridge', false, 0, 'classic'],
    ['classic', true, 0, 'classic'],
    ['auto', true, 0, 'sharded'],
    ['bridge', true, 0, 'bridge'],
    // Redis 6.2's answer to SPUBLISH, and 7.x's with the command renamed away:
    ['auto', true, "ERR unknown command 'spublish', with args beginning with: ", 'classic'],
    ['bridge', true, "ERR unknown command 'spublish', with args beginning with: ", 'classic'],
    ['auto', true, 'NOPERM this user has no permissions to run the \'spublish\' command', 'classic'],
  ] as const)('option %s, cluster mode %s, SPUBLISH answers %s: %s', async (option, clusterMode, reply, mode) => {
    const calls: string[] = [];
    expect(await decidePubSubMode(probe(option, clusterMode, reply, calls))).toBe(mode);
    // Only cluster mode asks the server, on a probe channel in the namespace's slot.
    expect(calls).toEqual(clusterMode && option !== 'classic' ? ['my-app-prod:{my-app-prod}:pubsub-probe'] : []);
  });

  it('throws other failures (a connection that is down) so that the next use asks again', async () => {
    await expect(decidePubSubMode(probe('auto', true, 'Connection is closed.'))).rejects.toThrow('Connection is closed.');
  });

  it('names the sharded twin of a channel in the namespace slot, and refuses a channel outside the namespace', () => {
    expect(shardChannel('my-app-prod:', 'my-app-prod:revocations')).toBe('my-app-prod:{my-app-prod}:revocations');
    expect(shardChannel('my-app-prod:', 'my-app-prod:connector:x')).toBe('my-app-prod:{my-app-prod}:connector:x');
    expect(() => shardChannel('my-app-prod:', 'other-prod:revocations')).toThrow(/outside the namespace "my-app-prod:"/);
  });

  it('publishes one way per mode, both in bridge mode', () => {
    const channel = 'my-app-prod:revocations';
    const sharded = { command: 'SPUBLISH', channel: 'my-app-prod:{my-app-prod}:revocations' };
    const classic = { command: 'PUBLISH', channel };
    expect(publishRoutes('classic', 'my-app-prod:', channel)).toEqual([classic]);
    expect(publishRoutes('sharded', 'my-app-prod:', channel)).toEqual([sharded]);
    expect(publishRoutes('bridge', 'my-app-prod:', channel)).toEqual([sharded, classic]);
  });
});

describe('bridge mode: each message delivered once though it arrives both ways', () => {
  it('drops the twin of a message from the other path, in either order', () => {
    const copies = new PairedCopies('classic', 'sharded');
    expect(copies.isTwin('sharded', 'c', 'm1')).toBe(false);
    expect(copies.isTwin('classic', 'c', 'm1')).toBe(true);
    expect(copies.isTwin('classic', 'c', 'm2')).toBe(false);
    expect(copies.isTwin('sharded', 'c', 'm2')).toBe(true);
  });

  it('delivers a message published twice on purpose twice, and one sent only one way (an instance on classic pub/sub) every time', () => {
    const copies = new PairedCopies('classic', 'sharded');
    const delivered = ['classic', 'classic', 'sharded', 'sharded'].filter((path) => !copies.isTwin(path as 'classic' | 'sharded', 'c', 'same'));
    expect(delivered).toHaveLength(2);
    for (let i = 0; i < 3; i++) expect(copies.isTwin('classic', 'c', 'from-an-old-instance')).toBe(false);
  });

  it('keeps channels apart and forgets the oldest beyond its limit', () => {
    const copies = new PairedCopies('classic', 'sharded', 2);
    expect(copies.isTwin('classic', 'a', 'm')).toBe(false);
    expect(copies.isTwin('sharded', 'b', 'm')).toBe(false);
    copies.isTwin('classic', 'c', 'x');
    copies.isTwin('classic', 'c', 'y'); // 'a'/'m' forgotten
    expect(copies.isTwin('sharded', 'a', 'm')).toBe(false);
  });
});

describe('pubSub option', () => {
  const valid: KccConnectionOptions = { url: 'rediss://cache.example:6379', username: 'my-app-prod', password: 'p'.repeat(64), env: {} };

  it('defaults to auto and reads KCC_REDIS_PUBSUB', async () => {
    expect((await resolveConnection(valid)).pubSub).toBe('auto');
    expect((await resolveConnection({ ...valid, env: { KCC_REDIS_PUBSUB: 'bridge' } })).pubSub).toBe('bridge');
    expect((await resolveConnection({ ...valid, pubSub: 'classic', env: { KCC_REDIS_PUBSUB: 'bridge' } })).pubSub).toBe('classic');
  });

  it('rejects an unknown value, naming the option, the value and the choices', async () => {
    const error = await resolveConnection({ ...valid, env: { KCC_REDIS_PUBSUB: 'sharded' } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KccConfigError);
    expect((error as Error).message).toContain('pubSub: "sharded" is not one of "auto", "classic", "bridge" (option pubSub or KCC_REDIS_PUBSUB)');
  });
});
