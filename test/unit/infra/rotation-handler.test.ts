import { ModifyUserCommand } from '@aws-sdk/client-elasticache';
import { randomUUID } from 'node:crypto';
import {
  GetRandomPasswordCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ROTATION_STEPS, ROTATION_TIMING, type RotationStep } from '../../../infra/rotation/rotation-contract.js';
import { type RotationEvent, type RotationHandler, createRotationHandler } from '../../../infra/rotation/rotation-handler.js';
import type { RotationLogEntry } from '../../../infra/rotation/rotation-log.js';
import { FakeElastiCache } from '../../support/fake-elasticache.js';
import { FakeSecretsManager } from '../../support/fake-secrets-manager.js';
import { rotationRejection } from '../../support/rotation-tests.js';

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:CacheUsermyappprodSecret-AbCdEf';
const USER_ARN = 'arn:aws:elasticache:eu-west-1:123456789012:user:my-app-prod';
const TAG = 'kcc-redis';
const OLD_PASSWORD = 'Old0' + 'o'.repeat(60);
const SECRET = { username: 'my-app-prod', password: OLD_PASSWORD, keyPrefix: 'my-app-prod:', userArn: USER_ARN, replicationGroupId: 'kcc-redis' };
const ALPHANUMERIC_64 = /^[A-Za-z0-9]{64,}$/;

let sm: FakeSecretsManager;
let ec: FakeElastiCache;
let clock: number;
let sleeps: number[];
let logged: RotationLogEntry[];
let consoleLines: string[];

function handler(options: { rotationTag?: string | null; log?: boolean } = {}): RotationHandler {
  return createRotationHandler({
    rotationTag: options.rotationTag === null ? undefined : (options.rotationTag ?? TAG),
    now: () => clock,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
    log: options.log === false ? undefined : (entry) => logged.push(entry),
  });
}

const event = (Step: string, ClientRequestToken: string, SecretId = ARN): RotationEvent => ({ Step, SecretId, ClientRequestToken });

/** Runs the steps up to and including `last` for a new rotation; returns its token. */
async function runUntil(last: RotationStep, run = handler()): Promise<string> {
  const token = sm.startRotation(ARN);
  for (const step of ROTATION_STEPS.slice(0, ROTATION_STEPS.indexOf(last) + 1)) await run(event(step, token));
  return token;
}

const rejection = rotationRejection;

const pendingPassword = () => JSON.parse(sm.value(ARN, 'AWSPENDING')!).password as string;
type SecretsCommand = typeof PutSecretValueCommand | typeof GetRandomPasswordCommand | typeof UpdateSecretVersionStageCommand | typeof GetSecretValueCommand;
const calls = (command: SecretsCommand) => sm.mock.calls().filter((call) => call.args[0] instanceof command).length;

beforeEach(() => {
  sm = new FakeSecretsManager();
  ec = new FakeElastiCache();
  sm.add(ARN, JSON.stringify(SECRET), { rotationTag: TAG });
  ec.add('my-app-prod', USER_ARN, [OLD_PASSWORD]);
  clock = 1_000_000;
  sleeps = [];
  logged = [];
  consoleLines = [];
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      consoleLines.push(args.map(String).join(' '));
    });
  }
});

afterEach(() => {
  sm.restore();
  ec.restore();
  vi.restoreAllMocks();
});

describe('rotation handler: each step', () => {
  it('createSecret puts a new 64-character alphanumeric password into AWSPENDING and keeps every other field', async () => {
    const token = sm.startRotation(ARN);
    await handler()(event('createSecret', token));
    expect(sm.mock.commandCalls(GetRandomPasswordCommand)[0]!.args[0].input).toEqual({
      PasswordLength: 64,
      ExcludePunctuation: true,
      IncludeSpace: false,
      RequireEachIncludedType: true,
    });
    const put = sm.mock.commandCalls(PutSecretValueCommand);
    expect(put).toHaveLength(1);
    expect(put[0]!.args[0].input).toMatchObject({ SecretId: ARN, ClientRequestToken: token, VersionStages: ['AWSPENDING'] });
    const pending = JSON.parse(sm.value(ARN, 'AWSPENDING')!);
    expect(pending).toEqual({ ...SECRET, password: expect.stringMatching(/^[A-Za-z0-9]{64}$/) });
    expect(pending.password).not.toBe(OLD_PASSWORD);
    expect(sm.value(ARN)).toBe(JSON.stringify(SECRET)); // AWSCURRENT untouched
    expect(ec.mock.commandCalls(ModifyUserCommand)).toHaveLength(0);
  });

  it('createSecret keeps fields added to the secret later (the JSON object survives whole)', async () => {
    sm.add(`${ARN}2`, JSON.stringify({ ...SECRET, addedLater: 'x' }), { rotationTag: TAG });
    const token = sm.startRotation(`${ARN}2`);
    await handler()(event('createSecret', token, `${ARN}2`));
    expect(JSON.parse(sm.value(`${ARN}2`, 'AWSPENDING')!)).toMatchObject({ addedLater: 'x', username: 'my-app-prod' });
  });

  it('setSecret asks ElastiCache for exactly the current and the pending password and returns without waiting; testSecret waits until the user is active', async () => {
    const token = await runUntil('createSecret');
    const pending = pendingPassword();
    ec.modifyingPolls = 3; // DescribeUsers calls that still see "modifying" after ModifyUser
    await handler()(event('setSecret', token));
    const modify = ec.mock.commandCalls(ModifyUserCommand);
    expect(modify).toHaveLength(1);
    expect(modify[0]!.args[0].input).toEqual({ UserId: 'my-app-prod', Passwords: [OLD_PASSWORD, pending] });
    for (const password of modify[0]!.args[0].input.Passwords!) expect(password).toMatch(ALPHANUMERIC_64);
    // ModifyUser answered; the user is still modifying and setSecret did not wait (its own invocation, its own timeout).
    expect(ec.users.get('my-app-prod')!.status).toBe('modifying');
    expect(sleeps).toEqual([]);
    await handler()(event('testSecret', token));
    expect(sleeps).toEqual([ROTATION_TIMING.pollIntervalMs, ROTATION_TIMING.pollIntervalMs]); // polls that saw "modifying"
    expect(ec.users.get('my-app-prod')).toMatchObject({ status: 'active', passwords: [OLD_PASSWORD, pending] });
    expect(sm.value(ARN)).toBe(JSON.stringify(SECRET));
  });

  it('testSecret checks the user through the API and changes nothing', async () => {
    const token = await runUntil('setSecret');
    ec.mock.resetHistory();
    sm.mock.resetHistory();
    await handler()(event('testSecret', token));
    expect(ec.mock.commandCalls(ModifyUserCommand)).toHaveLength(0);
    expect(calls(PutSecretValueCommand) + calls(UpdateSecretVersionStageCommand)).toBe(0);
    expect(logged.map((l) => l.message)).toContain('verified: user active, password authentication, current and pending password in place');
  });

  it('testSecret fails when the user does not hold both passwords', async () => {
    const token = await runUntil('createSecret');
    const error = await rejection(handler()(event('testSecret', token)));
    expect(error.code).toBe('KCC_ROTATION_TEST_FAILED');
    expect(error.message).toMatch(/user "my-app-prod": the user holds 1 password\(s\), expected 2 \(current and pending\)/);
  });

  it('finishSecret moves AWSCURRENT to the new version, then leaves the user with the new password only', async () => {
    const token = await runUntil('testSecret');
    const pending = pendingPassword();
    const oldVersion = sm.versionId(ARN, 'AWSCURRENT');
    ec.mock.resetHistory();
    await handler()(event('finishSecret', token));
    expect(sm.mock.commandCalls(UpdateSecretVersionStageCommand)[0]!.args[0].input).toEqual({
      SecretId: ARN,
      VersionStage: 'AWSCURRENT',
      MoveToVersionId: token,
      RemoveFromVersionId: oldVersion,
    });
    expect(ec.mock.commandCalls(ModifyUserCommand).map((c) => c.args[0].input)).toEqual([{ UserId: 'my-app-prod', Passwords: [pending] }]);
    expect(JSON.parse(sm.value(ARN)!)).toEqual({ ...SECRET, password: pending });
    expect(sm.value(ARN, 'AWSPREVIOUS')).toBe(JSON.stringify(SECRET));
    expect(ec.users.get('my-app-prod')).toMatchObject({ status: 'active', passwords: [pending] });
  });

  it('a whole rotation, twice: each ends with a new current password that the user alone accepts', async () => {
    const seen = new Set([OLD_PASSWORD]);
    for (let round = 0; round < 2; round++) {
      await sm.rotate(ARN, handler());
      const current = JSON.parse(sm.value(ARN)!).password as string;
      expect(seen.has(current)).toBe(false);
      seen.add(current);
      expect(ec.users.get('my-app-prod')!.passwords).toEqual([current]);
    }
  });
});

/** What RotateSecret with RotateImmediately=false does before it invokes testSecret: the current value in a new AWSPENDING version. */
async function configurationTestVersion(): Promise<string> {
  const token = randomUUID();
  await new SecretsManagerClient({}).send(
    new PutSecretValueCommand({ SecretId: ARN, ClientRequestToken: token, SecretString: sm.value(ARN)!, VersionStages: ['AWSPENDING'] }),
  );
  sm.mock.resetHistory();
  return token;
}

describe("rotation handler: Secrets Manager's configuration test (pending = current, testSecret alone)", () => {
  it('passes with the one current password the user holds, and changes nothing', async () => {
    const token = await configurationTestVersion();
    await handler()(event('testSecret', token));
    expect(ec.mock.commandCalls(ModifyUserCommand)).toHaveLength(0);
    expect(calls(PutSecretValueCommand) + calls(UpdateSecretVersionStageCommand) + calls(GetRandomPasswordCommand)).toBe(0);
    expect(ec.users.get('my-app-prod')!.passwords).toEqual([OLD_PASSWORD]);
    expect(logged.map((l) => l.message)).toContain("configuration test passed: user active, password authentication, the secret's user");
  });

  it('passes too while the user still holds two passwords (an earlier drop has not happened yet)', async () => {
    ec.users.get('my-app-prod')!.passwords = [OLD_PASSWORD, 'Other0' + 'x'.repeat(58)];
    await handler()(event('testSecret', await configurationTestVersion()));
  });

  it('waits for a user that is modifying, as in a rotation', async () => {
    ec.users.get('my-app-prod')!.status = 'modifying';
    const token = await configurationTestVersion();
    let polls = 0;
    const run = createRotationHandler({
      rotationTag: TAG,
      now: () => clock,
      sleep: async (ms) => {
        clock += ms;
        if (++polls === 2) ec.users.get('my-app-prod')!.status = 'active';
      },
      log: (entry) => logged.push(entry),
    });
    await run(event('testSecret', token));
    expect(polls).toBe(2);
  });

  it.each<[string, () => void, string]>([
    ['a user that authenticates by IAM', () => { ec.users.get('my-app-prod')!.authentication = 'iam'; }, 'KCC_ROTATION_USER_INVALID'],
    ['a missing user', () => ec.users.delete('my-app-prod'), 'KCC_ROTATION_USER_INVALID'],
    ['a user without a password', () => { ec.users.get('my-app-prod')!.passwords = []; }, 'KCC_ROTATION_TEST_FAILED'],
  ])('still fails for %s', async (_name, change, code) => {
    const token = await configurationTestVersion();
    change();
    expect((await rejection(handler()(event('testSecret', token)))).code).toBe(code);
  });
});

describe('rotation handler: a pending version that holds the current password is refused, never finished', () => {
  it.each(['createSecret', 'setSecret', 'finishSecret'] as const)(
    '%s refuses it, removes its AWSPENDING label and changes nothing else',
    async (step) => {
      const token = await configurationTestVersion(); // as a failed configuration test leaves it
      const currentVersion = sm.versionId(ARN, 'AWSCURRENT');
      const error = await rejection(handler()(event(step, token)));
      expect(error.code).toBe('KCC_ROTATION_STALE_PENDING');
      expect(error.message).toContain(`version ${token} holds the current password, not a new one`);
      expect(error.message).toContain(`aws secretsmanager rotate-secret --secret-id ${ARN}`);
      expect(error.message).not.toContain(OLD_PASSWORD);
      expect(sm.stages(ARN, token)).toEqual([]);
      expect(sm.versionId(ARN, 'AWSCURRENT')).toBe(currentVersion);
      expect(sm.value(ARN)).toBe(JSON.stringify(SECRET));
      expect(calls(PutSecretValueCommand) + calls(GetRandomPasswordCommand)).toBe(0);
      expect(ec.mock.commandCalls(ModifyUserCommand)).toHaveLength(0);
      expect(ec.users.get('my-app-prod')!.passwords).toEqual([OLD_PASSWORD]);
    },
  );

  it('the next rotation (a new version id) makes a fresh password, which the user alone then accepts', async () => {
    const stale = await configurationTestVersion();
    await rejection(handler()(event('createSecret', stale)));
    await sm.rotate(ARN, handler());
    const current = JSON.parse(sm.value(ARN)!).password as string;
    expect(current).not.toBe(OLD_PASSWORD);
    expect(current).toMatch(ALPHANUMERIC_64);
    expect(sm.versionId(ARN, 'AWSCURRENT')).not.toBe(stale);
    expect(ec.users.get('my-app-prod')!.passwords).toEqual([current]);
  });
});

describe('rotation handler: every step can run again (idempotent)', () => {
  it.each(ROTATION_STEPS)('%s run twice leaves the same state as once', async (step) => {
    const run = handler();
    const token = await runUntil(step, run);
    const state = () => ({ current: sm.value(ARN), pending: sm.value(ARN, 'AWSPENDING'), stages: sm.stages(ARN, token), user: { ...ec.users.get('my-app-prod') } });
    const once = state();
    sm.mock.resetHistory();
    await run(event(step, token));
    expect(state()).toEqual(once);
    expect(calls(PutSecretValueCommand) + calls(GetRandomPasswordCommand) + calls(UpdateSecretVersionStageCommand)).toBe(0);
  });

  it('a version that already carries AWSCURRENT (and still AWSPENDING) needs nothing but the password drop', async () => {
    const token = await runUntil('finishSecret');
    expect(sm.stages(ARN, token)).toEqual(['AWSCURRENT', 'AWSPENDING']);
    const current = JSON.parse(sm.value(ARN)!).password as string;
    ec.users.get('my-app-prod')!.passwords = [OLD_PASSWORD, current]; // as if the last drop had failed
    ec.mock.resetHistory();
    sm.mock.resetHistory();
    for (const step of ['createSecret', 'setSecret', 'testSecret'] as const) await handler()(event(step, token));
    expect(ec.mock.commandCalls(ModifyUserCommand)).toHaveLength(0);
    expect(calls(PutSecretValueCommand) + calls(GetSecretValueCommand)).toBe(0);
    expect(logged.filter((l) => l.message.includes('already carries AWSCURRENT'))).toHaveLength(3);
    await handler()(event('finishSecret', token));
    expect(calls(UpdateSecretVersionStageCommand)).toBe(0);
    expect(ec.mock.commandCalls(ModifyUserCommand).map((c) => c.args[0].input.Passwords)).toEqual([[current]]);
    expect(ec.users.get('my-app-prod')!.passwords).toEqual([current]);
  });

  it('a repeated finishSecret of an ended rotation keeps a newer rotation\'s password on the user, and drops every other', async () => {
    const first = await runUntil('finishSecret');
    sm.endRotation(ARN, first);
    const current = JSON.parse(sm.value(ARN)!).password as string;
    const second = await runUntil('setSecret');
    const pending = JSON.parse(sm.versionValue(ARN, second)!).password as string;
    ec.users.get('my-app-prod')!.passwords = [OLD_PASSWORD, current, pending]; // as if the first drop had failed
    ec.mock.resetHistory();
    await handler()(event('finishSecret', first)); // Secrets Manager's retry, or a manual call
    expect(ec.mock.commandCalls(ModifyUserCommand).map((c) => c.args[0].input.Passwords)).toEqual([[current, pending]]);
    expect(ec.users.get('my-app-prod')!.passwords).toEqual([current, pending]);
    expect(logged.some((l) => l.message.includes(`version ${second} carries AWSPENDING (a newer rotation)`))).toBe(true);
    for (const step of ['testSecret', 'finishSecret'] as const) await handler()(event(step, second));
    expect(sm.stages(ARN, second)).toContain('AWSCURRENT');
    expect(ec.users.get('my-app-prod')!.passwords).toEqual([pending]);
  });

  it('a repeated finishSecret beside a configuration test\'s pending copy of the current value still drops the old password', async () => {
    // Found by a review (2026-12-03): any other AWSPENDING version used to count as a newer rotation.
    const first = await runUntil('finishSecret');
    sm.endRotation(ARN, first);
    const current = sm.value(ARN)!;
    ec.users.get('my-app-prod')!.passwords = [OLD_PASSWORD, JSON.parse(current).password as string]; // the last drop failed
    // What RotateSecret with RotateImmediately=false does first: the current value in a new AWSPENDING version.
    const copy = sm.startRotation(ARN);
    await new SecretsManagerClient({}).send(new PutSecretValueCommand({ SecretId: ARN, ClientRequestToken: copy, SecretString: current, VersionStages: ['AWSPENDING'] }));
    await handler()(event('finishSecret', first));
    expect(ec.users.get('my-app-prod')!.passwords).toEqual([JSON.parse(current).password]);
  });
});

describe('rotation handler: guards', () => {
  it.each<[string, () => void, RegExp]>([
    ['an untagged secret', () => sm.add(`${ARN}-other`, JSON.stringify(SECRET)), /this function rotates only secrets tagged kcc-redis:password-rotation=kcc-redis, and this one is not tagged/],
    ['another stack\'s secret', () => sm.add(`${ARN}-other`, JSON.stringify(SECRET), { rotationTag: 'other-cache' }), /and this one is tagged kcc-redis:password-rotation=other-cache/],
  ])('refuses %s (wrong secret ARN) before reading any value', async (_name, add, message) => {
    add();
    const error = await rejection(handler()(event('createSecret', sm.startRotation(`${ARN}-other`), `${ARN}-other`)));
    expect(error.code).toBe('KCC_ROTATION_NOT_MANAGED');
    expect(error.message).toContain(`secret ${ARN}-other (createSecret)`);
    expect(error.message).toMatch(message);
    expect(calls(GetSecretValueCommand) + calls(PutSecretValueCommand)).toBe(0);
    expect(ec.mock.calls()).toHaveLength(0);
  });

  it('refuses everything when the function was deployed without its tag value', async () => {
    const error = await rejection(handler({ rotationTag: null })(event('createSecret', sm.startRotation(ARN))));
    expect(error.code).toBe('KCC_ROTATION_NOT_MANAGED');
    expect(error.message).toMatch(/has no KCC_ROTATION_TAG environment variable/);
  });

  it('refuses a secret whose rotation is disabled', async () => {
    sm.add(`${ARN}-off`, JSON.stringify(SECRET), { rotationTag: TAG, rotationEnabled: false });
    const error = await rejection(handler()(event('createSecret', sm.startRotation(`${ARN}-off`), `${ARN}-off`)));
    expect(error.code).toBe('KCC_ROTATION_DISABLED');
  });

  it.each<[string, (token: string) => RotationEvent, string, RegExp]>([
    ['an unknown step', (token) => event('rotateSecret', token), 'KCC_ROTATION_BAD_EVENT', /Step "rotateSecret" is not one of createSecret, setSecret, testSecret, finishSecret/],
    ['a missing step', (token) => ({ SecretId: ARN, ClientRequestToken: token }) as unknown as RotationEvent, 'KCC_ROTATION_BAD_EVENT', /Step undefined is not one of/],
    ['a missing token', () => event('createSecret', ''), 'KCC_ROTATION_BAD_EVENT', /ClientRequestToken is missing/],
    ['a version the secret does not have', () => event('setSecret', 'no-such-version'), 'KCC_ROTATION_WRONG_STAGE', /version no-such-version carries no stage: it is not \(or no longer\) a pending version/],
  ])('refuses %s', async (_name, makeEvent, code, message) => {
    const error = await rejection(handler()(makeEvent(sm.startRotation(ARN))));
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
    expect(ec.mock.calls()).toHaveLength(0);
  });

  it('refuses a version that carries neither AWSPENDING nor AWSCURRENT (missing stage)', async () => {
    const first = await runUntil('finishSecret');
    sm.endRotation(ARN, first);
    await sm.rotate(ARN, handler()); // `first` is now AWSPREVIOUS
    expect(sm.stages(ARN, first)).toEqual(['AWSPREVIOUS']);
    const error = await rejection(handler()(event('setSecret', first)));
    expect(error.code).toBe('KCC_ROTATION_WRONG_STAGE');
    expect(error.message).toMatch(new RegExp(`version ${first} carries AWSPREVIOUS, not AWSPENDING`));
  });

  it('refuses a pending version without a value in setSecret (createSecret must run first)', async () => {
    const error = await rejection(handler()(event('setSecret', sm.startRotation(ARN))));
    expect(error.code).toBe('KCC_ROTATION_WRONG_STAGE');
    expect(error.message).toMatch(/no version .* with stage AWSPENDING; createSecret must run first/);
  });

  it.each<[string, () => void, string, RegExp]>([
    ['missing', () => ec.users.delete('my-app-prod'), 'KCC_ROTATION_USER_INVALID', /ElastiCache has no user "my-app-prod"/],
    ['another user name', () => { ec.users.get('my-app-prod')!.userName = 'someone-else'; }, 'KCC_ROTATION_USER_INVALID', /its user name is "someone-else", the secret's username is "my-app-prod"/],
    ['not a password user', () => { ec.users.get('my-app-prod')!.authentication = 'iam'; }, 'KCC_ROTATION_USER_INVALID', /it authenticates by "iam", not by password/],
  ])('refuses to touch a user that is %s', async (_name, change, code, message) => {
    const token = await runUntil('createSecret');
    change();
    const error = await rejection(handler()(event('setSecret', token)));
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
    expect(ec.mock.commandCalls(ModifyUserCommand)).toHaveLength(0);
  });

  it('refuses a secret that is not the stack\'s user secret, naming the fields, not the values', async () => {
    sm.add(`${ARN}-bad`, JSON.stringify({ username: 'x', password: OLD_PASSWORD }), { rotationTag: TAG });
    const error = await rejection(handler()(event('createSecret', sm.startRotation(`${ARN}-bad`), `${ARN}-bad`)));
    expect(error.code).toBe('KCC_ROTATION_SECRET_INVALID');
    expect(error.message).toMatch(/secret lacks string field\(s\): keyPrefix, userArn, replicationGroupId/);
    expect(error.message).not.toContain(OLD_PASSWORD);
  });
});

describe('rotation handler: waiting for ElastiCache, and its throttling', () => {
  it('gives up on a user stuck in "modifying" after the bounded wait, with an error naming the user and the status', async () => {
    const token = await runUntil('setSecret');
    ec.stuck = true;
    const started = clock;
    const error = await rejection(handler()(event('testSecret', token)));
    expect(error.code).toBe('KCC_ROTATION_USER_NOT_ACTIVE');
    expect(error.message).toMatch(/user "my-app-prod": the ElastiCache user is still "modifying" after 7\d0 s \(expected "active"\)/);
    expect(error.message).toContain('aws elasticache describe-users --user-id my-app-prod');
    expect(clock - started).toBeLessThanOrEqual(ROTATION_TIMING.userActiveTimeoutMs);
    expect(sleeps.every((ms) => ms === ROTATION_TIMING.pollIntervalMs)).toBe(true);
  });

  it('waits no longer than Lambda leaves minus the reserve for the calls after the wait', async () => {
    const token = await runUntil('setSecret');
    ec.stuck = true;
    const started = clock;
    const remainingAtStart = 300_000;
    const context = { getRemainingTimeInMillis: () => remainingAtStart - (clock - started) };
    const error = await rejection(handler()(event('testSecret', token), context));
    expect(error.code).toBe('KCC_ROTATION_USER_NOT_ACTIVE');
    expect(clock - started).toBeLessThanOrEqual(remainingAtStart - ROTATION_TIMING.reserveMs);
    expect(context.getRemainingTimeInMillis()).toBeGreaterThanOrEqual(ROTATION_TIMING.reserveMs);
  });

  it('fits every wait and the reserve into the function timeout, which is at least the 12 minutes AWS asks for', () => {
    expect(ROTATION_TIMING.functionTimeoutSeconds).toBeGreaterThanOrEqual(12 * 60);
    expect(ROTATION_TIMING.functionTimeoutSeconds).toBeLessThanOrEqual(15 * 60); // Lambda's maximum
    expect(ROTATION_TIMING.userActiveTimeoutMs + ROTATION_TIMING.reserveMs).toBeLessThanOrEqual(ROTATION_TIMING.functionTimeoutSeconds * 1000);
    // The reserve covers the calls after a wait: ModifyUser with its whole throttling back-off, and more.
    const backoff = Array.from({ length: ROTATION_TIMING.throttleAttempts - 1 }, (_, i) =>
      Math.min(ROTATION_TIMING.throttleMaxDelayMs, ROTATION_TIMING.throttleBaseDelayMs * 2 ** i),
    ).reduce((a, b) => a + b, 0);
    expect(ROTATION_TIMING.reserveMs).toBeGreaterThan(4 * backoff);
  });

  it('waits for a user that is already modifying before it calls ModifyUser', async () => {
    const token = await runUntil('createSecret');
    const user = ec.users.get('my-app-prod')!;
    user.status = 'modifying';
    let polls = 0;
    const run = createRotationHandler({
      rotationTag: TAG,
      now: () => clock,
      sleep: async (ms) => {
        clock += ms;
        if (++polls === 3) user.status = 'active';
      },
      log: (entry) => logged.push(entry),
    });
    await run(event('setSecret', token));
    expect(polls).toBeGreaterThanOrEqual(3);
    expect(user.passwords).toHaveLength(2);
  });

  it('retries ModifyUser when AWS throttles it, with growing bounded back-off, and succeeds', async () => {
    const token = await runUntil('createSecret');
    const throttled = () => Object.assign(new Error('Rate exceeded'), { name: 'Throttling', $retryable: { throttling: true } });
    ec.modifyUserFailures.push(throttled(), throttled());
    await handler()(event('setSecret', token));
    expect(ec.mock.commandCalls(ModifyUserCommand)).toHaveLength(3);
    expect(ec.users.get('my-app-prod')!.passwords).toHaveLength(2);
    const retries = logged.filter((l) => l.level === 'warn');
    expect(retries.map((l) => [l.attempt, l.awsError, l.userId])).toEqual([[1, 'Throttling', 'my-app-prod'], [2, 'Throttling', 'my-app-prod']]);
    const backoffs = sleeps.filter((ms) => ms !== ROTATION_TIMING.pollIntervalMs);
    expect(backoffs.every((ms) => ms <= ROTATION_TIMING.throttleMaxDelayMs)).toBe(true);
  });

  it('stops after the bounded attempts when AWS keeps throttling, and says so', async () => {
    const token = await runUntil('createSecret');
    for (let i = 0; i < 10; i++) ec.modifyUserFailures.push(Object.assign(new Error('Rate exceeded'), { name: 'Throttling' }));
    const error = await rejection(handler()(event('setSecret', token)));
    expect(error.code).toBe('KCC_ROTATION_AWS_FAILED');
    expect(error.message).toMatch(/ModifyUser failed for secret .*\(setSecret\), user "my-app-prod": Throttling: Rate exceeded \(still refused after 5 attempts with back-off\)/);
    expect(ec.mock.commandCalls(ModifyUserCommand)).toHaveLength(ROTATION_TIMING.throttleAttempts);
  });

  it('blanks the passwords out of an AWS error that echoes its input', async () => {
    const token = await runUntil('createSecret');
    const pending = pendingPassword();
    ec.modifyUserFailures.push((input) =>
      Object.assign(new Error(`Value '${(input.Passwords ?? []).join(',')}' at 'passwords' failed to satisfy constraint`), { name: 'InvalidParameterValue' }),
    );
    const error = await rejection(handler()(event('setSecret', token)));
    expect(error.message).toMatch(/InvalidParameterValue: Value '\*\*\*,\*\*\*' at 'passwords'/);
    for (const text of [error.message, error.stack ?? '', ...logged.map((l) => JSON.stringify(l))]) {
      expect(text).not.toContain(OLD_PASSWORD);
      expect(text).not.toContain(pending);
    }
  });
});

describe('rotation handler: no password in any log line', () => {
  it('logs the secret ARN, the step and the user id, and no password, through the default console log', async () => {
    const run = handler({ log: false });
    await sm.rotate(ARN, run);
    const newPassword = JSON.parse(sm.value(ARN)!).password as string;
    // And some failures, which log too.
    await run(event('setSecret', 'no-such-version')).catch(() => {});
    ec.stuck = true;
    const token = sm.startRotation(ARN);
    await run(event('createSecret', token));
    const pending = pendingPassword();
    await run(event('setSecret', token));
    await run(event('testSecret', token)).catch(() => {});

    expect(consoleLines.length).toBeGreaterThan(10);
    const entries = consoleLines.map((line) => JSON.parse(line) as RotationLogEntry);
    expect(entries.every((e) => e.secretArn === ARN && typeof e.step === 'string')).toBe(true);
    expect(entries.some((e) => e.userId === 'my-app-prod' && e.step === 'finishSecret')).toBe(true);
    expect(entries.some((e) => e.level === 'error' && e.code === 'KCC_ROTATION_USER_NOT_ACTIVE')).toBe(true);
    // A failed testSecret leaves AWSPENDING on the version: its error line says how to clear it if Secrets Manager's retries fail too.
    const failedTest = entries.find((e) => e.level === 'error' && e.step === 'testSecret');
    expect(failedTest?.ifRetriesFail).toBe(`remove AWSPENDING from this version, then rotate again: aws secretsmanager update-secret-version-stage --secret-id ${ARN} --version-stage AWSPENDING --remove-from-version-id ${token}`);
    expect(entries.filter((e) => e.step === 'finishSecret').every((e) => e.ifRetriesFail === undefined)).toBe(true);
    for (const line of consoleLines) {
      for (const password of [OLD_PASSWORD, newPassword, pending]) expect(line).not.toContain(password);
    }
  });

  it('sends passwords only where they belong: PutSecretValue.SecretString and ModifyUser.Passwords', async () => {
    await sm.rotate(ARN, handler());
    await sm.rotate(ARN, handler());
    const passwords = [...new Set(ec.mock.commandCalls(ModifyUserCommand).flatMap((c) => c.args[0].input.Passwords ?? []))];
    expect(passwords).toHaveLength(3);
    const inputs = [
      ...sm.mock.calls().map((c) => (c.args[0] as unknown as { input: Record<string, unknown> }).input),
      ...ec.mock.calls().map((c) => (c.args[0] as unknown as { input: Record<string, unknown> }).input),
    ];
    for (const input of inputs) {
      const { SecretString: _s, Passwords: _p, ...rest } = input;
      for (const password of passwords) expect(JSON.stringify(rest)).not.toContain(password);
    }
    for (const entry of logged) for (const password of passwords) expect(JSON.stringify(entry)).not.toContain(password);
  });
});
