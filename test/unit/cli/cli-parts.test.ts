import { describe, expect, it } from 'vitest';
import { callWithin } from '../../../client/src/aws/bounded-call.js';
import { fixedCredentialsHint } from '../../../client/src/connection.js';
import { KccAuthError } from '../../../client/src/errors.js';
import { parseCommandArgs } from '../../../cli/args.js';
import { mapConcurrently } from '../../../cli/concurrently.js';
import { CliUsageError, describeError } from '../../../cli/exit-codes.js';
import { processIo } from '../../../cli/io.js';
import { unreadable } from '../../../cli/status/unreadable.js';
import { humanDuration, isoTime, paint, plural, renderTable } from '../../../cli/table.js';
import { printable, terminalSafe } from '../../../cli/terminal-text.js';
import { parseNotBefore } from '../../../cli/time-arg.js';
import { runCliInProcess } from '../../support/cli.js';

const NOW = Date.parse('2026-05-01T12:00:00Z');

describe('time arguments', () => {
  it.each<[string, number]>([
    ['now', NOW / 1000],
    ['1777636800', 1777636800],
    ['2026-05-01T11:00:00Z', NOW / 1000 - 3600],
    ['2026-05-01T13:00:00+02:00', NOW / 1000 - 3600],
    ['2026-05-01T12:00:30Z', NOW / 1000 + 30],
  ])('%s', (raw, seconds) => {
    expect(parseNotBefore('revoke', '--all-before', raw, NOW)).toBe(seconds);
  });

  it.each<[string, RegExp]>([
    ['2026-05-01T12:05:00Z', /is in the future: a not-before after now would refuse every token until then, on every instance/],
    ['99999999999', /is in the future/],
    ['yesterday', /is not a time: give "now", epoch seconds \(e\.g\. 1777636800\) or an ISO 8601 time with a zone/],
    ['2026-05-01T11:00:00', /is not a time/],
    // A date written as digits, read as epoch seconds (1970-08-23), and times before any token: they revoked nothing, and the command said done.
    ['20260501', /"20260501" is 1970-08-23T\d{2}:\d{2}:\d{2}Z, before any token an instance holds/],
    ['0', /before any token an instance holds/],
    ['0001-01-01T00:00:00Z', /before any token an instance holds/],
    // Before the client's epoch: the client refuses it (it revokes nothing held), so the command does, before asking (a review of 90950a6).
    ['2023-06-01T00:00:00Z', /"2023-06-01T00:00:00Z" is 2023-06-01T00:00:00Z, before any token an instance holds \(epoch seconds from 1700000001/],
    ['1700000000', /before any token an instance holds/],
  ])('refuses %s', (raw, message) => {
    expect(() => parseNotBefore('revoke', '--all-before', raw, NOW)).toThrow(message);
  });
});

describe('tables', () => {
  it('pads columns, colors only when asked, and shows control characters as escapes', () => {
    const rows = [['a', { text: 'ok', color: 'green' as const }, 'x'], ['bbbb', { text: 'FAIL', color: 'red' as const }, 'evil\u001b[2J\u0007']];
    expect(renderTable(['NAME', 'STATE', 'DETAIL'], rows, { color: false })).toBe('NAME  STATE  DETAIL\na     ok     x\nbbbb  FAIL   evil\\u001b[2J\\u0007');
    const colored = renderTable(['NAME', 'STATE', 'DETAIL'], rows, { color: true });
    expect(colored).toContain('\u001b[32mok   \u001b[0m');
    expect(colored).not.toContain('evil\u001b');
  });

  it('counts and durations read right', () => {
    expect([plural(1, 'problem'), plural(2, 'problem'), plural(1, 'entry', 'entries'), plural(0, 'entry', 'entries')]).toEqual(['1 problem', '2 problems', '1 entry', '0 entries']);
    expect([humanDuration(850), humanDuration(12_000), humanDuration(4 * 60_000), humanDuration(3 * 3_600_000), humanDuration(2 * 86_400_000)]).toEqual(['850 ms', '12 s', '4 min', '3 h', '2 d']);
    expect(paint(false, 'red', 'x')).toBe('x');
    expect(printable('a\nb')).toBe('a\\u000ab');
  });

  it('shows C1 controls and the Unicode characters that reorder or hide text as escapes', () => {
    const hidden = '\u0085\u009b\u061c\u200b\u200e\u200f\u2028\u2029\u202a\u202e\u2066\u2069\ufeff';
    expect(printable(`a${hidden}b`)).toBe('a\\u0085\\u009b\\u061c\\u200b\\u200e\\u200f\\u2028\\u2029\\u202a\\u202e\\u2066\\u2069\\ufeffb');
    expect(renderTable(['HOST'], [['evil\u202egnp.exe']], { color: false })).toBe('HOST\nevil\\u202egnp.exe');
    expect(printable('café ✓ 名前')).toBe('café ✓ 名前');
  });

  it('a time no Date holds reads "invalid time", it never throws', () => {
    expect([isoTime(Date.parse('2026-05-01T12:00:00.123Z')), isoTime(9_000_000_000_000_000), isoTime(1e303), isoTime(Number.NaN)]).toEqual(['2026-05-01T12:00:00Z', 'invalid time', 'invalid time', 'invalid time']);
  });
});

describe('what the CLI writes to its streams', () => {
  const none = { colors: false, clearScreen: false };

  it('escapes every control and format character but line breaks', () => {
    expect(terminalSafe('a\u001b]52;c;eA==\u0007\r\tb\n\u009b2J\u202ec', none)).toBe('a\\u001b]52;c;eA==\\u0007\\u000d\\u0009b\n\\u009b2J\\u202ec');
  });

  it('keeps its own colors and --watch\'s clear-screen only when allowed, and only those', () => {
    const text = '\u001b[2J\u001b[Hred: \u001b[31mx\u001b[0m \u001b[8mhidden\u001b[0m \u001b[2J\u001b[H';
    expect(terminalSafe(text, { colors: true, clearScreen: true })).toBe('\u001b[2J\u001b[Hred: \u001b[31mx\u001b[0m \\u001b[8mhidden\u001b[0m \\u001b[2J\\u001b[H');
    expect(terminalSafe(text, { colors: false, clearScreen: true })).toBe('\u001b[2J\u001b[Hred: \\u001b[31mx\\u001b[0m \\u001b[8mhidden\\u001b[0m \\u001b[2J\\u001b[H');
    expect(terminalSafe(text, none)).not.toContain('\u001b');
  });

  it('escapes invisible characters too: soft hyphen, Mongolian vowel separator, Hangul filler, variation selectors, interlinear annotation, tag characters (found by a review)', () => {
    const hidden = 'a\u00adb\u180ec\u3164d\ufe0fe\ufff9f\u{e0041}\u{e007f}g';
    expect(terminalSafe(hidden, none)).toBe('a\\u00adb\\u180ec\\u3164d\\ufe0fe\\ufff9f\\udb40\\udc41\\udb40\\udc7fg');
    expect(JSON.parse(terminalSafe(JSON.stringify({ hidden }), none))).toEqual({ hidden });
  });

  it('leaves JSON valid, with the same strings', () => {
    const doc = { host: 'a\u0085\u009b\u202e\u2066\u001b\u2028b', n: 1 };
    const safe = terminalSafe(JSON.stringify(doc, null, 2), none);
    expect(safe).not.toMatch(/[\u0080-\u009f\u202e\u2066\u2028]/);
    expect(JSON.parse(safe)).toEqual(doc);
  });

  it('an error message carrying terminal escapes reaches stderr escaped', async () => {
    const result = await runCliInProcess(['\u001b]52;c;ZWNobyBwd25lZA==\u0007\u001b[2J']);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toBe('kcc-redis: unknown command "\\u001b]52;c;ZWNobyBwd25lZA==\\u0007\\u001b[2J"');
    expect(result.stderr).not.toContain('\u001b');
  });
});

describe('command lines', () => {
  it('unknown options and stray words are usage errors naming the command', () => {
    expect(() => parseCommandArgs('check', ['--frobnicate'], {})).toThrow(CliUsageError);
    expect(() => parseCommandArgs('check', ['extra'], {})).toThrow(/Unexpected argument 'extra'/);
  });

  it.each<[string, string[], string]>([
    ['two sources', ['check', '--local-dir', '/x', '--secret-id', 'arn'], 'kcc-redis check: give one credential source, not --local-dir and --secret-id'],
    ['--app without --env', ['status', '--app', 'shop'], 'kcc-redis status: give --app and --env together (or neither, for every app-env)'],
    ['--all with --app', ['check', '--all', '--app', 'a', '--env', 'b'], 'kcc-redis check: --all and --app/--env exclude each other'],
    ['--kek-secret-id without one --secret-id', ['rotate-keys', '--kek-secret-id', 'arn', '--immediate'], 'kcc-redis rotate-keys: --kek-secret-id goes with exactly one --secret-id'],
    ['revoke with two kinds', ['revoke', '--sid', 's', '--sub', 'u'], 'kcc-redis revoke: give exactly one of --sid <sid>, --sub <sub>, --all-before <time>'],
    ['revoke in the future', ['revoke', '--all-before', '2999-01-01T00:00:00Z'], 'kcc-redis revoke: --all-before "2999-01-01T00:00:00Z" is in the future'],
    ['rotate-keys with an unknown algorithm', ['rotate-keys', '--alg', 'HS256'], 'kcc-redis rotate-keys: --alg "HS256" must be one of PS256, ES256, EdDSA, RS256'],
    ['rotate-keys with seconds for milliseconds', ['rotate-keys', '--app', 'shop', '--env', 'dev', '--activation-delay-ms', '120', '--yes'], 'kcc-redis rotate-keys: --activation-delay-ms 120 is under a second: it takes milliseconds (120000 for 120 s'],
    ['an unknown command', ['frobnicate'], 'kcc-redis: unknown command "frobnicate"'],
    ['a missing state file', ['check', '--local-dir', '/nonexistent-kcc'], 'kcc-redis check: /nonexistent-kcc/kcc-local.json does not exist: start the local server with `kcc-redis local --dir /nonexistent-kcc` (or npm run local) first'],
  ])('exit 2 for %s, before connecting to anything', async (_name, argv, message) => {
    const result = await runCliInProcess(argv);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n')[0]).toContain(message);
  });

  it('exit 2 for KCC_KEYRING_KEK and KCC_KEYRING_KEK_SECRET_ID both set in the environment, as an app refuses them, before connecting to anything', async () => {
    const env = { KCC_REDIS_URL: 'rediss://127.0.0.1:1', KCC_KEYRING_KEK: 'k'.repeat(40), KCC_KEYRING_KEK_SECRET_ID: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:kek-AbCdEf' };
    for (const argv of [['status'], ['rotate-keys', '--immediate']]) {
      const result = await runCliInProcess(argv, { env });
      expect(result.code).toBe(2);
      expect(result.stderr.split('\n')[0]).toContain(`kcc-redis ${argv[0]}: KCC_KEYRING_KEK, KCC_KEYRING_KEK_SECRET_ID: both are set; unset one`);
      expect(result.stderr).not.toContain('k'.repeat(40));
    }
  });

  it('every command has --help (exit 0) and the top-level usage lists them', async () => {
    const top = await runCliInProcess(['--help']);
    expect(top.code).toBe(0);
    for (const name of ['local', 'check', 'drift', 'status', 'rotate-keys', 'revoke', 'plan']) {
      expect(top.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
      if (name === 'plan') continue; // its help is infra/plan's (its own test)
      const help = await runCliInProcess([name, '--help']);
      expect([help.code, help.stdout.split('\n')[0]]).toEqual([0, expect.stringMatching(new RegExp(`^Usage: kcc-redis ${name}`))]);
      expect(help.stdout).toMatch(/^Exit codes: /m);
    }
  });

  it('a bad config is one list, counted right, exit 2 (drift and local read cdk.json the same way)', async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'kcc-cli-config-'));
    try {
      const file = join(dir, 'cdk.json');
      writeFileSync(file, JSON.stringify({ context: { kcc: { apps: ['a'], port: 0, replicas: 99 } } }));
      for (const command of ['drift', 'local']) {
        const result = await runCliInProcess([command, '--config', file]);
        expect(result.code).toBe(2);
        expect(result.stderr).toBe(`kcc-redis ${command}: the "kcc" config in ${file} has 2 problems:\n  - replicas: 99 must be a whole number from 0 to 5\n  - port: 0 must be a whole number from 1 to 65535`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('no command: the usage on stderr, exit 2', async () => {
    const result = await runCliInProcess([]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^Usage: kcc-redis <command>/);
  });
});

describe('--json on a failure', () => {
  it('the error is stderr\'s message whole, escaped once (JSON\'s own): a line break parses back to a line break, a quote to a quote', async () => {
    // Two problems (a line break between them) and a quoted key prefix, before anything connects
    // (a user name that is no user name is not shown: it may be a password put there by mistake).
    const result = await runCliInProcess(['status', '--json'], { env: { KCC_REDIS_USERNAME: 'my-app-prod', KCC_REDIS_PASSWORD: 'p', KCC_REDIS_PREFIX: 'my-app-prod' } });
    expect(result.code).toBe(2);
    const { error, exitCode } = result.json<{ error: string; exitCode: number }>();
    expect(exitCode).toBe(2);
    expect(error).toBe(result.stderr.replace(/^kcc-redis status: /, ''));
    expect(error).toContain('(2 problems):\n  - keyPrefix: key prefix "my-app-prod" must be lowercase words');
    expect(result.stdout).not.toContain('\\u000a');
    expect(result.stdout).not.toContain('\\\\');
  });

  it('plan prints one too, for a usage error and an input error (a script piping it gets JSON)', async () => {
    for (const argv of [['plan', '--json'], ['plan', '--json', '--bogus'], ['plan', '--json', '--previous', '/nonexistent-kcc/deployed.json']]) {
      const result = await runCliInProcess(argv);
      expect(result.code).toBe(2);
      const doc = result.json<{ v: number; command: string; exitCode: number; error: string }>();
      expect(doc).toEqual({ v: 1, command: 'plan', exitCode: 2, error: expect.any(String) });
      expect(result.stderr).toContain(`kcc-redis plan: ${doc.error}`);
    }
  });

  it('a part of status that cannot be read keeps its reason as the error says it (the table escapes it, JSON does)', () => {
    expect(unreadable(new Error('first line\nsecond "line"'))).toEqual({ error: 'Error: first line\nsecond "line"' });
  });
});

describe('the client\'s advice in the CLI\'s terms', () => {
  it('a source without an endpoint or credentials names --url, the variables and the sources, not the library\'s options', async () => {
    const result = await runCliInProcess(['status']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('url: missing; pass --url rediss://host:port (or set KCC_REDIS_URL)');
    expect(result.stderr).toContain('username: missing; set KCC_REDIS_USERNAME or KCC_REDIS_SECRET_ID, or name a source: --outputs <file>, --secret-id <id> or --local-dir <dir>');
    expect(result.stderr).toContain('password: missing; set KCC_REDIS_PASSWORD or KCC_REDIS_SECRET_ID, or name a source');
    expect(result.stderr).not.toMatch(/the (url|username|password) option|replicationGroupId/);
  });

  it('plaintext, a key prefix, the pub/sub mode and IAM settings: the variables and flags, never unsafeAllowPlaintext or an option name', async () => {
    const plain = await runCliInProcess(['status'], { env: { KCC_REDIS_URL: 'redis://127.0.0.1:1', KCC_REDIS_USERNAME: 'x', KCC_REDIS_PASSWORD: 'p', KCC_REDIS_PUBSUB: 'bogus' } });
    expect(plain.stderr).toContain('use rediss:// (kcc-redis connects with TLS only; for a local server, kcc-redis local and --local-dir)');
    expect(plain.stderr).toContain('set KCC_REDIS_PREFIX (e.g.');
    expect(plain.stderr).toContain('(KCC_REDIS_PUBSUB)');
    const iam = await runCliInProcess(['status'], { env: { KCC_REDIS_AUTH: 'iam', KCC_REDIS_URL: 'rediss://127.0.0.1:1', KCC_REDIS_PASSWORD: 'p' } });
    expect(iam.stderr).toContain('set KCC_REDIS_IAM_CACHE_NAME to the replication group id or serverless cache name (or KCC_REDIS_REPLICATION_GROUP_ID)');
    expect(iam.stderr).toContain('set KCC_REDIS_USERNAME');
    expect(iam.stderr).toContain('region: missing; IAM tokens are signed for the cache\'s region: pass --region or set AWS_REGION');
    expect(iam.stderr).toContain('unset it, or set KCC_REDIS_AUTH=password');
    for (const text of [plain.stderr, iam.stderr]) expect(text).not.toMatch(/unsafeAllowPlaintext|set keyPrefix|iam\.cacheName or|set region,|option pubSub|use auth "password"/);
  });

  it('a refused password (ElastiCache) and an AWS call that did not answer: what the operator does, not secretId or connectTimeoutMs', async () => {
    const refused = describeError(new KccAuthError(`Redis rejected the credentials of user "shop-prod" ${fixedCredentialsHint('master.kcc.abc123.euw1.cache.amazonaws.com')} (WRONGPASS)`));
    expect(refused).toBe('Redis rejected the credentials of user "shop-prod" and they were read once by this command: if the password was rotated since, run the command again; from the environment, give KCC_REDIS_SECRET_ID (or --secret-id, --outputs) rather than KCC_REDIS_PASSWORD, so that the current password is read (WRONGPASS)');
    const silent = await callWithin('Secrets Manager', 1, () => new Promise(() => undefined)).catch((error: unknown) => error);
    expect(describeError(silent)).toMatch(/^Secrets Manager did not answer within 1 ms .*or run the command again once it answers \(kcc-redis waits 10 s\)$/);
    expect(describeError(silent)).not.toContain('raise connectTimeoutMs');
  });
});

describe('status --interval', () => {
  it('without --watch is a usage error naming --watch, before anything is read (also with --json)', async () => {
    const result = await runCliInProcess(['status', '--interval', '5']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n')[0]).toBe('kcc-redis status: --interval goes with --watch (the seconds between its refreshes): add --watch, or drop --interval');
    const json = await runCliInProcess(['status', '--interval', '5', '--json']);
    expect(json.json()).toEqual({ v: 1, command: 'status', exitCode: 2, error: '--interval goes with --watch (the seconds between its refreshes): add --watch, or drop --interval' });
  });
});

describe('reads at once', () => {
  it('runs the work of several items at once, at most the limit, with the results in the items\' order', async () => {
    const started: number[] = [];
    const release = new Map<number, () => void>();
    const work = (item: number) => {
      started.push(item);
      return new Promise<string>((resolve) => release.set(item, () => resolve(`r${item}`)));
    };
    const all = mapConcurrently([0, 1, 2, 3], 3, work);
    await Promise.resolve();
    expect(started).toEqual([0, 1, 2]);
    // The last started finishes first; the fourth starts in its place; the order of the results stays.
    release.get(2)!();
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([0, 1, 2, 3]);
    for (const item of [3, 1, 0]) release.get(item)!();
    expect(await all).toEqual(['r0', 'r1', 'r2', 'r3']);
  });
});

describe('the process\'s stop (SIGINT, SIGTERM)', () => {
  it('after the first signal, a repeat does not end the process: the stop under way finishes (the launcher forwards the terminal\'s Ctrl-C the CLI also got)', async () => {
    const before = { SIGINT: process.listeners('SIGINT'), SIGTERM: process.listeners('SIGTERM') };
    const io = processIo();
    const stop = io.nextStop();
    try {
      process.emit('SIGINT', 'SIGINT'); // as Node calls a signal's listeners
      expect(await stop).toBe('SIGINT');
      // Still handled by the CLI: without a listener, a second SIGINT would end the process as the signal does.
      for (const signal of ['SIGINT', 'SIGTERM'] as const) expect(process.listenerCount(signal)).toBe(before[signal].length + 1);
      expect(await io.sleep(60_000)).toBe(true);
    } finally {
      for (const signal of ['SIGINT', 'SIGTERM'] as const) for (const listener of process.listeners(signal)) if (!before[signal].includes(listener)) process.off(signal, listener);
    }
  });
});
