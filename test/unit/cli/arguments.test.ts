/**
 * The CLI's argument rules that guard destructive commands: a repeated option is refused (parseArgs
 * would keep the last one silently), and a time that does not exist is refused (Date.parse would move
 * it to a later valid one). Both fail before anything is read or changed.
 */
import { describe, expect, it } from 'vitest';
import { parseCommandArgs } from '../../../cli/args.js';
import { CliUsageError } from '../../../cli/exit-codes.js';
import { TARGET_OPTIONS } from '../../../cli/targets.js';
import { parseNotBefore } from '../../../cli/time-arg.js';
import { runCliInProcess } from '../../support/cli.js';

describe('a repeated option', () => {
  it.each<[string, string[], string]>([
    ['revoke --sid twice', ['revoke', '--sid', 'a', '--sid', 'b', '--session-max-lifetime-ms', '1', '--yes'], 'kcc-redis revoke: --sid is given more than once'],
    ['revoke --app twice', ['revoke', '--app', 'blog', '--env', 'dev', '--app', 'shop', '--sub', 'x', '--yes'], 'kcc-redis revoke: --app is given more than once'],
    ['--option=value forms count too', ['revoke', '--all-before=now', '--all-before', '1', '--yes'], 'kcc-redis revoke: --all-before is given more than once'],
    ['rotate-keys --alg twice', ['rotate-keys', '--alg', 'ES256', '--alg', 'PS256', '--yes'], 'kcc-redis rotate-keys: --alg is given more than once'],
    ['status --interval twice', ['status', '--watch', '--interval', '1', '--interval', '5'], 'kcc-redis status: --interval is given more than once'],
    ['check --outputs twice', ['check', '--outputs', 'a.json', '--outputs', 'b.json'], 'kcc-redis check: --outputs is given more than once'],
    ['drift --region twice', ['drift', '--region', 'eu-west-1', '--region', 'us-east-1'], 'kcc-redis drift: --region is given more than once'],
    ['local --port twice', ['local', '--port', '1', '--port', '2'], 'kcc-redis local: --port is given more than once'],
    ['plan --previous twice', ['plan', '--previous', 'a.json', '--previous', 'b.json'], 'kcc-redis plan: --previous is given more than once'],
    ['a flag twice', ['revoke', '--sub', 'x', '--yes', '--yes'], 'kcc-redis revoke: --yes is given more than once'],
  ])('%s: exit 2 naming it, before anything is read', async (_name, argv, message) => {
    const result = await runCliInProcess(argv);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n')[0]).toBe(`${message}; give it once (otherwise only the last would count)`);
  });

  it('with --json, a failure still prints a JSON document with its exit code and error (stderr says it too)', async () => {
    const result = await runCliInProcess(['revoke', '--sub', 'x', '--sid', 'y', '--yes', '--json']);
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout)).toEqual({ v: 1, command: 'revoke', exitCode: 2, error: 'give exactly one of --sid <sid>, --sub <sub>, --all-before <time>' });
    expect(result.stderr).toContain('give exactly one of');
  });

  it('a repeatable option (--secret-id) keeps every value', () => {
    expect(parseCommandArgs('check', ['--secret-id', 'a', '--secret-id', 'b'], TARGET_OPTIONS).values['secret-id']).toEqual(['a', 'b']);
  });
});

describe('a whole-number option', () => {
  it.each<[string, string[], string]>([
    ['revoke --sid without --session-max-lifetime-ms', ['revoke', '--sid', 'a', '--yes'], "kcc-redis revoke: --sid needs --session-max-lifetime-ms <n>: give your instances' sessionMaxLifetimeMs"],
    ['revoke --session-max-lifetime-ms 0', ['revoke', '--sid', 'a', '--session-max-lifetime-ms', '0', '--yes'], 'kcc-redis revoke: --session-max-lifetime-ms "0" must be a whole number from 1 to'],
    ['local --port out of range', ['local', '--port', '65536'], 'kcc-redis local: --port "65536" must be a whole number from 0 to 65535'],
  ])('%s: a usage error naming it, before anything is read', async (_name, argv, message) => {
    const result = await runCliInProcess(argv);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const [first, help] = result.stderr.split('\n');
    expect(first?.slice(0, message.length)).toBe(message);
    expect(help).toBe(`(kcc-redis ${argv[0]} --help shows the options)`);
  });
});

describe('a time that does not exist', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');
  const seconds = (iso: string) => Date.parse(iso) / 1000;

  it.each([
    '2026-02-30T00:00:00Z', // Date.parse: 2026-03-02
    '2026-11-31T00:00:00Z', // 2026-12-01
    '2026-02-29T12:00:00Z', // not a leap year
    '2026-01-01T24:00:00Z', // 2026-01-02T00:00
    '2026-01-01T24:00Z',
    '2026-04-31T10:00:00+02:00',
  ])('%s is refused, naming the option and the value', (raw) => {
    expect(() => parseNotBefore('revoke', '--all-before', raw, now)).toThrow(CliUsageError);
    expect(() => parseNotBefore('revoke', '--all-before', raw, now)).toThrow(`--all-before "${raw}" is not a date and time that exists`);
  });

  it.each<[string, string]>([
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00Z'],
    ['2026-12-31T23:59:59Z', '2026-12-31T23:59:59Z'],
    ['2026-03-01T01:30:00+02:00', '2026-02-28T23:30:00Z'], // the day before in UTC: the fields are checked in the zone written
    ['2026-02-28T22:00:00-05:00', '2026-03-01T03:00:00Z'],
    ['2026-05-01T12:00Z', '2026-05-01T12:00:00Z'],
    ['2026-05-01T12:00:00.750Z', '2026-05-01T12:00:00Z'],
  ])('%s is taken as written', (raw, utc) => {
    expect(parseNotBefore('revoke', '--before', raw, now)).toBe(seconds(utc));
  });
});
