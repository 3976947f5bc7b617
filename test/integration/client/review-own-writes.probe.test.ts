import { afterAll, beforeAll, expect, it } from 'vitest';
import { KccRedis, Revocations } from '../../../client/src/index.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { closeAfterEach } from '../../support/closing.js';
import { kccOptions, startTestRedis } from '../../support/redis.js';

let server: LocalRedis;
const closeLater = closeAfterEach();
beforeAll(async () => {
  server = await startTestRedis({ appEnvs: [{ app: 'own', env: 'prod' }], persistence: 'none' });
});
afterAll(() => server?.stop());

it('instances that write between polls read the log on every poll (their own messages are not heard)', async () => {
  const start = async () => closeLater(await Revocations.start(closeLater(await KccRedis.connect(kccOptions(server, 'own-prod'), ['subscriber'])), { maxStalenessMs: 600 }));
  const [a, b, quiet] = [await start(), await start(), await start()];
  const before = [a, b, quiet].map((r) => ({ ...r.stats.logPolls }));
  for (let i = 0; i < 40; i++) {
    await a.revokeSession(`a-${i}`);
    await b.revokeSession(`b-${i}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const polls = [a, b, quiet].map((r, i) => ({ confirmed: r.stats.logPolls.confirmed - before[i]!.confirmed, read: r.stats.logPolls.read - before[i]!.read }));
  console.log(JSON.stringify(polls));
  // The writers' polls could be confirmed as often as the quiet instance's: every entry came over pub/sub or from themselves.
  expect(polls[0]!.confirmed).toBeGreaterThan(0);
});
