import { describe, expect, it } from 'vitest';
import { refusedForNow } from '../../../client/src/refused-for-now.js';

const replyError = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });
/** ioredis's error once a cluster command has used up its 16 redirections (cluster/index.js). */
const gaveUp = (last: Error) => new Error(`Too many Cluster redirections. Last error: ${String(last)}`);

describe('refusedForNow', () => {
  it.each([
    ['LOADING Redis is loading the dataset in memory', 'LOADING'],
    ['TRYAGAIN Multiple keys request during rehashing of slot', 'SLOT_MOVING'],
    ['CLUSTERDOWN The cluster is down', 'SLOT_MOVING'],
  ] as const)('a reply %s ran nothing: %s', (message, kind) => {
    expect(refusedForNow(replyError(message))).toBe(kind);
  });

  it.each(['TRYAGAIN Multiple keys request during rehashing of slot', 'MOVED 14637 127.0.0.1:7001', 'ASK 14637 127.0.0.1:7001', 'CLUSTERDOWN The cluster is down'])(
    'ioredis giving up after redirections, the last one %s: ran nothing',
    (message) => expect(refusedForNow(gaveUp(replyError(message)))).toBe('SLOT_MOVING'),
  );

  it.each([
    // Found by a review (2026-12-03): a command sent before a connection closed may have run.
    gaveUp(new Error('Connection is closed.')),
    gaveUp(replyError('ERR Error running script (call to f_0123): @user_script:3: wrong number of arguments')),
    gaveUp(replyError('NOSCRIPT No matching script. Please use EVAL.')),
    replyError('NOPERM this user has no permissions to run the \'eval\' command'),
    new Error('Connection is closed.'),
    'TRYAGAIN',
  ])('anything else may have run (or will not run by waiting): not retried (%s)', (error) => {
    expect(refusedForNow(error)).toBeUndefined();
  });
});
