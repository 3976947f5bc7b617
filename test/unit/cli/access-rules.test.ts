import { describe, expect, it } from 'vitest';
import { appEnvAccessString, storedAccessString } from '../../../client/src/contract/naming.js';
import { accessDifferences, accessRules } from '../../../cli/drift/access-rules.js';

const ours = appEnvAccessString({ app: 'shop', env: 'prod' });
const stored = storedAccessString(ours);

describe('access strings compared by meaning', () => {
  it.each<[string, string, string]>([
    ['ElastiCache\'s stored form (no directives) against ours', ours, stored],
    ['key and channel patterns in another order', stored, stored.replace('~shop-prod:* &shop-prod:*', '&shop-prod:* ~shop-prod:*')],
    ['on/off elsewhere in the string', stored, `${stored.replace(/^on /, '')} on`],
    ['rules before a -@all are overridden', stored, stored.replace(/^on /, 'on +@all -keys ')],
    ['aliases: allkeys for ~*, allchannels for &*, nocommands for -@all', 'on ~* &* -@all +get', 'on allkeys allchannels nocommands +get'],
    ['%RW~ is ~', 'on ~shop-prod:* &shop-prod:* -@all +get', 'on %RW~shop-prod:* &shop-prod:* -@all +get'],
  ])('the same: %s', (_name, expected, variant) => {
    expect(accessDifferences(expected, variant)).toEqual([]);
  });

  it.each<[string, string, string]>([
    ['widened to +@all', `${stored} +@all`, 'command rules are "+@all" where "-@all +@fast +@pubsub +@keyspace +@string +@read +@write +@scripting -@dangerous +client|setname +info" is expected'],
    ['a dangerous command allowed at the end', `${stored} +keys`, 'command rules after "+client|setname +info" are "+keys" where "(nothing)" is expected'],
    ['command rules reordered (order matters)', stored.replace('+@scripting -@dangerous', '-@dangerous +@scripting'), 'command rules after "+@read +@write" are "-@dangerous +@scripting +client|setname +info" where "+@scripting -@dangerous +client|setname +info" is expected'],
    ['another key pattern', stored.replace('~shop-prod:*', '~*'), 'key patterns added: ~*; key patterns missing: ~shop-prod:*'],
    ['an extra channel pattern', `${stored} &*`, 'channel patterns added: &*'],
    ['off', stored.replace(/^on /, 'off '), 'off where on is expected'],
    ['nopass', `${stored} nopass`, 'nopass: anyone can log in as this user with any password'],
    ['a selector', `${stored} (~other:* +get)`, 'selectors added: (~other:* +get)'],
    ['a rule this reader does not know', `${stored} frobnicate`, 'rules this tool does not know: frobnicate'],
  ])('different: %s', (_name, variant, difference) => {
    expect(accessDifferences(stored, variant).join('; ')).toBe(difference);
  });

  it('resetkeys and resetchannels inside a string drop what came before them', () => {
    expect(accessRules('on ~a:* resetkeys ~b:* &a:* resetchannels &b:*')).toMatchObject({ keys: ['~b:*'], channels: ['&b:*'] });
  });

  it('ignores password rules (they never appear in an ElastiCache access string, and are never shown)', () => {
    expect(accessRules('on >secret-password #abc ~a:* +get')).toMatchObject({ unknown: [], commands: ['+get'] });
  });
});
