/**
 * Drift's access-string comparison against the forms a real redis-server prints. Redis 7.0 describes
 * a user's command rules from its command bitmap (categories, then single commands), so the form it
 * prints says the same as the string it was given in other words: the comparison must find the two
 * the same, and still report a real difference through that rewording. Also holds the committed
 * command table (cli/drift/redis-command-table.ts) to the server.
 */
import { readFile } from 'node:fs/promises';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessDifferences } from '../../../cli/drift/access-rules.js';
import { REDIS_COMMAND_TABLE } from '../../../cli/drift/redis-command-table.js';
import { ACL_DIRECTIVES, appEnvAccessString, defaultUserAccessString, storedAccessString } from '../../../client/src/contract/naming.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { commandTableModule, readCommandTable } from '../../support/command-table-source.js';
import { engineAccessString } from '../../support/engine-access-string.js';
import { startTestRedis } from '../../support/redis.js';

const SHOP = { app: 'shop', env: 'prod' };
const OURS: Array<[string, string]> = [
  ['guide', appEnvAccessString(SHOP)],
  ['guide, cluster mode', appEnvAccessString(SHOP, { clusterMode: true })],
  ['hardened', appEnvAccessString(SHOP, { profile: 'hardened' })],
  ['hardened, cluster mode', appEnvAccessString(SHOP, { profile: 'hardened', clusterMode: true })],
];
const withoutDirectives = (text: string) => text.split(' ').filter((rule) => !ACL_DIRECTIVES.includes(rule)).join(' ');

describe('access strings against the form a real redis-server prints', () => {
  let server: LocalRedis;
  let admin: Redis;
  beforeAll(async () => {
    server = await startTestRedis({ appEnvs: [], persistence: 'none' });
    admin = await server.admin();
  });
  afterAll(async () => {
    await admin?.quit();
    await server?.stop();
  });

  it('the committed command table is what this server reports (or, on another version, agrees on every command both know)', async () => {
    const live = await readCommandTable(admin);
    if (live.engine === REDIS_COMMAND_TABLE.engine) {
      const committed = await readFile(new URL('../../../cli/drift/redis-command-table.ts', import.meta.url), 'utf8');
      expect(committed, 'regenerate with `npx tsx test/support/command-table-source.ts`').toBe(commandTableModule(live));
    } else {
      const shared = Object.keys(REDIS_COMMAND_TABLE.commands).filter((name) => live.commands[name]);
      expect(shared.filter((name) => live.commands[name]![0] !== REDIS_COMMAND_TABLE.commands[name]![0])).toEqual([]);
    }
  });

  it.each(OURS)('%s: the engine\'s form (ACL LIST) is the same as the stored string, with or without the directives', async (_name, accessString) => {
    const engineForm = await engineAccessString(admin, accessString);
    expect(engineForm).not.toBe(storedAccessString(accessString)); // the test means something only if the text differs
    expect(accessDifferences(storedAccessString(accessString), engineForm)).toEqual([]);
    expect(accessDifferences(storedAccessString(accessString), withoutDirectives(engineForm))).toEqual([]);
    expect(accessDifferences(accessString, engineForm)).toEqual([]);
  });

  it.each([[false], [true]])('the default user (enabled: %s): printed as given, the same', async (enabled) => {
    expect(accessDifferences(defaultUserAccessString(enabled), await engineAccessString(admin, defaultUserAccessString(enabled)))).toEqual([]);
  });

  it('the guide string: ACL GETUSER\'s fields, put together, are the same as the stored string', async () => {
    await admin.call('ACL', 'SETUSER', 'kcc-getuser-probe', ...appEnvAccessString(SHOP).split(' '));
    try {
      const reply = (await admin.call('ACL', 'GETUSER', 'kcc-getuser-probe')) as unknown[];
      const field = (name: string) => reply[reply.indexOf(name) + 1];
      const form = [...(field('flags') as string[]), field('keys'), field('channels'), field('commands')].join(' ');
      expect(accessDifferences(storedAccessString(appEnvAccessString(SHOP)), form)).toEqual([]);
    } finally {
      await admin.call('ACL', 'DELUSER', 'kcc-getuser-probe');
    }
  });

  // Command rules only. `resetchannels` first: a user given no channel rule gets the server's
  // acl-pubsub-default, allchannels here as on ElastiCache, which the engine prints as `&*` and
  // accessRules (which starts from no channels) would count as a channel pattern added.
  it.each([
    ['-@all +@slow'],
    ['+@all -@dangerous'],
    ['-@all +client -client|kill'],
    ['-@all +@read -@hash +hget'],
    ['-@all +select|0'],
    ['on ~app::* -@all +@read'],
  ])('%s: the same as the server\'s bitmap-derived form of it', async (rules) => {
    const engineForm = await engineAccessString(admin, `resetchannels ${rules}`);
    expect(accessDifferences(rules, engineForm)).toEqual([]);
  });

  it('a string without a channel rule: the engine gives the user every channel (acl-pubsub-default allchannels, as on ElastiCache)', async () => {
    expect(await engineAccessString(admin, 'on ~app::* -@all +get')).toContain(' &* ');
  });

  const stored = storedAccessString(appEnvAccessString(SHOP));
  it.each<[string, string, string[]]>([
    ['FLUSHALL added', `${stored} +flushall`, ['commands allowed that are not expected: flushall']],
    ['@dangerous added', `${stored} +@dangerous`, ['commands allowed that are not expected: acl|deluser acl|dryrun acl|getuser acl|list acl|load acl|log acl|save acl|setuser acl|users bgrewriteaof bgsave client|kill … (62 more)']],
    ['INFO taken away', `${stored} -info`, ['commands denied that are expected: info']],
    ['+@all', `${stored} +@all`, [
      '+@all: every command, also those a later engine or a module adds, where only the listed ones are expected',
      'commands allowed that are not expected: acl bgrewriteaof bgsave client client|caching client|getname client|getredir client|help client|id client|info client|kill client|list … (53 more)',
    ]],
  ])('%s: reported through the engine\'s rewording', async (_name, changed, differences) => {
    expect(accessDifferences(stored, await engineAccessString(admin, changed))).toEqual(differences);
  });

  it('the same rules in an order that changes the meaning: different through the engine too', async () => {
    const allowsGet = await engineAccessString(admin, 'on resetchannels -@all -get +get');
    const deniesGet = await engineAccessString(admin, 'on resetchannels -@all +get -get');
    expect(accessDifferences('on -@all +get -get', allowsGet)).toEqual(['commands allowed that are not expected: get']);
    expect(accessDifferences('on -@all -get +get', deniesGet)).toEqual(['commands denied that are expected: get']);
  });
});
