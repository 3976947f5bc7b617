import { describe, expect, it } from 'vitest';
import { appEnvAccessString, storedAccessString } from '../../../client/src/contract/naming.js';
import { accessDifferences, accessRules } from '../../../cli/drift/access-rules.js';

const ours = appEnvAccessString({ app: 'shop', env: 'prod' });
/** The stack's template form: resetchannels kept (ElastiCache's acl-pubsub-default is allchannels). */
const stored = storedAccessString(ours);
/** What ElastiCache shows after the guide's string is submitted: without any of the directives (the setup guide). */
const shown = stored.replace(' resetchannels', '');

describe('access strings compared by meaning', () => {
  it.each<[string, string, string]>([
    ['the template form (resetchannels kept) against ours', ours, stored],
    ['the form ElastiCache shows (no directives) against ours', ours, shown],
    ['the form ElastiCache shows (no directives) against the template form', stored, shown],
    ['key and channel patterns in another order', stored, shown.replace('~shop-prod:* &shop-prod:*', '&shop-prod:* ~shop-prod:*')],
    ['on/off elsewhere in the string', stored, `${stored.replace(/^on /, '')} on`],
    ['rules before a -@all are overridden', stored, stored.replace(/^on /, 'on +@all -keys ')],
    ['aliases: allkeys for ~*, allchannels for &*, nocommands for -@all', 'on ~* &* -@all +get', 'on allkeys allchannels nocommands +get'],
    ['redundant command rules', stored, `${stored} +get +info -flushall`],
    ['command rules in another order that allows the same', stored, stored.replace('+client|setname +info', '+info +client|setname')],
    ['-@dangerous before +@scripting (no scripting command is dangerous)', stored, stored.replace('+@scripting -@dangerous', '-@dangerous +@scripting')],
    ['a category spelled out as its commands', 'on ~a:* -@all +@hyperloglog', 'on ~a:* -@all +pfadd +pfcount +pfdebug +pfmerge +pfselftest'],
    ['%RW~ is ~', 'on ~shop-prod:* &shop-prod:* -@all +get', 'on %RW~shop-prod:* &shop-prod:* -@all +get'],
  ])('the same: %s', (_name, expected, variant) => {
    expect(accessDifferences(expected, variant)).toEqual([]);
  });

  it.each<[string, string, string]>([
    ['widened to +@all', `${stored} +@all`, '+@all: every command, also those a later engine or a module adds, where only the listed ones are expected; commands allowed that are not expected: acl bgrewriteaof bgsave client client|caching client|getname client|getredir client|help client|id client|info client|kill client|list … (53 more)'],
    ['a dangerous command allowed at the end', `${stored} +keys`, 'commands allowed that are not expected: keys'],
    ['FLUSHALL allowed', `${stored} +flushall`, 'commands allowed that are not expected: flushall'],
    ['the @dangerous category allowed', `${stored} +@dangerous`, 'commands allowed that are not expected: acl|deluser acl|dryrun acl|getuser acl|list acl|load acl|log acl|save acl|setuser acl|users bgrewriteaof bgsave client|kill … (62 more)'],
    ['a command taken away', `${stored} -info`, 'commands denied that are expected: info'],
    ['a command the string no longer grants', stored.replace(' +client|setname', ''), 'commands denied that are expected: client|setname'],
    ['-@dangerous moved before the grants (order matters)', stored.replace(' -@dangerous', '').replace('-@all +@fast', '-@all -@dangerous +@fast'), 'commands allowed that are not expected: flushall flushdb keys lastsave migrate pfdebug restore restore-asking role sort sort_ro swapdb'],
    ['another key pattern', stored.replace('~shop-prod:*', '~*'), 'key patterns added: ~*; key patterns missing: ~shop-prod:*'],
    ['an extra channel pattern', `${stored} &*`, 'channel patterns added: &*'],
    ['off', stored.replace(/^on /, 'off '), 'off where on is expected'],
    ['nopass', `${stored} nopass`, 'nopass: anyone can log in as this user with any password'],
    ['a selector', `${stored} (~other:* +get)`, 'selectors added: (~other:* +get)'],
    ['a rule this reader does not know', `${stored} frobnicate`, 'rules this tool does not know: frobnicate'],
    ['a command the command table does not know', `${stored} +frob`, 'cannot tell which commands are allowed: "+frob" not a command or category of redis 7.0.15 (the table this tool evaluates rules with)'],
    ['a category the command table does not know', `${stored} -@search`, 'cannot tell which commands are allowed: "-@search" not a command or category of redis 7.0.15 (the table this tool evaluates rules with)'],
  ])('different: %s', (_name, variant, difference) => {
    expect(accessDifferences(stored, variant).join('; ')).toBe(difference);
  });

  it('the same rules in another order that changes the meaning are different', () => {
    expect(accessDifferences('on -@all +get -get', 'on -@all -get +get')).toEqual(['commands allowed that are not expected: get']);
    expect(accessDifferences('on -@all -get +get', 'on -@all +get -get')).toEqual(['commands denied that are expected: get']);
  });

  describe('the forms AWS documents ElastiCache returning', () => {
    it('User-Secrets-Manager.html: "off +get ~keys*" returned as "off ~keys* -@all +get"', () => {
      expect(accessDifferences('off +get ~keys*', 'off ~keys* -@all +get')).toEqual([]);
    });

    // aws/aws-cli awscli/examples/elasticache/create-user.rst: the categories spelled out as Redis 6.0 described them.
    const createUserReturned = 'on ~app::* -@all +@read +@hash +@bitmap +@geo -setbit -bitfield -hset -hsetnx -hmset -hincrby -hincrbyfloat -hdel -bitop -geoadd -georadius -georadiusbymember';

    it('create-user.rst: "on ~app::* -@all +@read" returned with its categories spelled out, on the engine that printed it (Redis 6.0)', () => {
      expect(accessDifferences('on ~app::* -@all +@read', createUserReturned, { engineVersion: '6.0' })).toEqual([]);
    });

    it('create-user.rst on a Redis 7 command table: GEOSEARCHSTORE (since 6.2, @geo and @write) is allowed by the spelled-out form only', () => {
      // The spelled-out form means "+@read" only on an engine without GEOSEARCHSTORE: compared by commands, not by text.
      expect(accessDifferences('on ~app::* -@all +@read', createUserReturned)).toEqual(['commands allowed that are not expected: geosearchstore']);
    });
  });
  it('resetkeys and resetchannels inside a string drop what came before them', () => {
    expect(accessRules('on ~a:* resetkeys ~b:* &a:* resetchannels &b:*')).toMatchObject({ keys: ['~b:*'], channels: ['&b:*'] });
  });

  it('ignores password rules (they never appear in an ElastiCache access string, and are never shown)', () => {
    expect(accessRules('on >secret-password #abc ~a:* +get')).toMatchObject({ unknown: [], commands: ['+get'] });
  });

  it('takes the directives ElastiCache may keep or drop (clearselectors, resetkeys, resetchannels) as what they do', () => {
    expect(stored).toContain(' resetchannels &shop-prod:*');
    expect(shown).not.toContain('resetchannels');
    for (const [a, b] of [[ours, stored], [ours, shown], [stored, shown]] as const) {
      expect(accessDifferences(a, b)).toEqual([]);
      expect(accessDifferences(b, a)).toEqual([]);
    }
  });
});
