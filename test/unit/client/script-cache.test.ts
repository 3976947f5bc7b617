import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ScriptCache } from '../../../client/src/script-cache.js';

/** A client whose EVALSHA answers each error of `evalshaErrors` in turn, then runs; EVAL always runs. */
function client(evalshaErrors: Error[]) {
  const calls: string[] = [];
  const fake = {
    eval: async () => {
      calls.push('eval');
      return 'ran';
    },
    evalsha: async () => {
      calls.push('evalsha');
      const error = evalshaErrors.shift();
      if (error) throw error;
      return 'ran';
    },
  };
  return { calls, redis: fake as unknown as Redis };
}

const noScript = () => Object.assign(new Error('NOSCRIPT No matching script. Please use EVAL.'), { name: 'ReplyError' });

describe('ScriptCache', () => {
  it.each([
    ['NOSCRIPT (a restart or failover emptied the script cache)', noScript()],
    // Found on 2026-12-03: after a slot moved to a node that never ran the script, with the command's redirections used up.
    ['NOSCRIPT wrapped by ioredis after its redirections', new Error(`Too many Cluster redirections. Last error: ${String(noScript())}`)],
  ])('sends the text again on %s', async (_name, error) => {
    const { calls, redis } = client([error]);
    const cache = new ScriptCache();
    const lua = `return ${Math.random()}`;
    expect(await cache.run(redis, lua, ['k'], [])).toBe('ran');
    expect(await cache.run(redis, lua, ['k'], [])).toBe('ran');
    expect(calls).toEqual(['eval', 'evalsha', 'eval']);
  });

  it('any other error is the caller\'s', async () => {
    const { redis } = client([new Error('Too many Cluster redirections. Last error: Error: Connection is closed.')]);
    const cache = new ScriptCache();
    const lua = `return ${Math.random()}`;
    await cache.run(redis, lua, ['k'], []);
    await expect(cache.run(redis, lua, ['k'], [])).rejects.toThrow('Connection is closed.');
  });
});
