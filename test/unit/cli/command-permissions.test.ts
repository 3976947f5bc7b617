/**
 * Command rules evaluated the way Redis builds a user's command bitmap (acl.c ACLSetSelector), over a
 * small table here and over the committed one (redis-command-table.ts, read from redis-server).
 * test/integration/cli/access-string-engine-form.test.ts holds the evaluation to a real server.
 */
import { describe, expect, it } from 'vitest';
import type { CommandTableData } from '../../../cli/drift/command-table.js';
import { commandDifferences, commandPermissions } from '../../../cli/drift/command-permissions.js';

const TABLE: CommandTableData = {
  engine: 'test 1.0',
  categories: ['read', 'write', 'slow', 'fast', 'admin', 'dangerous', 'connection'],
  commands: {
    get: ['fast read', '1.0.0'],
    set: ['slow write', '1.0.0'],
    select: ['fast connection', '1.0.0'],
    newcmd: ['fast read', '2.0.0'],
    client: ['slow', '1.0.0'],
    'client|setname': ['connection slow', '1.0.0'],
    'client|kill': ['admin connection dangerous slow', '1.0.0'],
  },
};
const allowed = (rules: string) => [...commandPermissions(rules.split(' '), { table: TABLE }).allowed].sort();

describe('command rules as Redis applies them', () => {
  it.each<[string, string[]]>([
    ['-@all +@read', ['get', 'newcmd']],
    ['-@all +@read -get', ['newcmd']],
    ['-@all -get +@read', ['get', 'newcmd']],
    ['+@all -@dangerous', ['client', 'client|setname', 'get', 'newcmd', 'select', 'set']],
    // A container in a category takes all its subcommands along (CLIENT is @slow, CLIENT KILL @admin).
    ['-@all +@slow', ['client', 'client|kill', 'client|setname', 'set']],
    ['-@all +client -client|kill', ['client', 'client|setname']],
    ['-@all +client|setname', ['client|setname']],
    ['+@all -client', ['get', 'newcmd', 'select', 'set']],
    ['+get +@all -@all +set', ['set']],
  ])('%s', (rules, expected) => {
    expect(allowed(rules)).toEqual(expected);
  });

  it('+@all also allows the commands a later engine adds; -@all and single rules do not', () => {
    expect(commandPermissions(['+@all', '-get'], { table: TABLE }).future).toBe(true);
    expect(commandPermissions(['-@all', '+@read', '+@write', '+@slow', '+@fast'], { table: TABLE }).future).toBe(false);
    expect(commandDifferences(['-@all', '+@read', '+@write', '+@slow', '+@fast', '+@connection', '+@admin', '+@dangerous'], ['+@all'], { table: TABLE }))
      .toEqual(['+@all: every command, also those a later engine or a module adds, where only the listed ones are expected']);
  });

  it('a first argument of a command without subcommands (+select|0) counts only while the command is denied', () => {
    expect([...commandPermissions(['-@all', '+select|0'], { table: TABLE }).firstArgs]).toEqual(['select|0']);
    expect([...commandPermissions(['-@all', '+select|0', '+select'], { table: TABLE }).firstArgs]).toEqual([]);
    expect([...commandPermissions(['-@all', '+select|0', '-@all'], { table: TABLE }).firstArgs]).toEqual([]);
    expect(commandDifferences(['-@all'], ['-@all', '+select|0'], { table: TABLE })).toEqual(['first arguments allowed that are not expected: select|0']);
  });

  it.each([
    ['an unknown command', '+frob'],
    ['an unknown category', '+@search'],
    ['an unknown subcommand of a container', '+client|frob'],
    ['a negative first argument (Redis refuses it)', '-select|0'],
    ['a first argument of a subcommand (Redis refuses it)', '+client|kill|id'],
  ])('%s cannot be evaluated: "cannot tell", never "the same"', (_name, rule) => {
    expect(commandPermissions(['-@all', rule], { table: TABLE }).unknown).toEqual([rule]);
    expect(commandDifferences(['-@all', rule], ['-@all', rule], { table: TABLE })).toEqual([
      `cannot tell which commands are allowed: "${rule}" not a command or category of test 1.0 (the table this tool evaluates rules with)`,
    ]);
  });

  it('with an engine version, only the commands that version has (by the table\'s since)', () => {
    expect([...commandPermissions(['-@all', '+@read'], { table: TABLE, engineVersion: '1.5' }).allowed]).toEqual(['get']);
    expect(commandPermissions(['-@all', '+newcmd'], { table: TABLE, engineVersion: '1.5' }).unknown).toEqual(['+newcmd']);
  });

  it('the committed table knows every command and category of our access strings', () => {
    const rules = '-@all +@fast +@pubsub +@keyspace +@string +@read +@write +@scripting -@dangerous +client|setname +info -scan -randomkey -dbsize -pubsub -@scripting +eval +evalsha -select -copy -move +cluster|slots';
    expect(commandPermissions(rules.split(' ')).unknown).toEqual([]);
  });
});
