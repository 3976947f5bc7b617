import { ModifyUserCommand } from '@aws-sdk/client-elasticache';
import { RotateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KccRotationError } from '../../../infra/errors.js';
import { createKeyEncryptionKeyRotationHandler } from '../../../infra/rotation/key-encryption-key-rotation-handler.js';
import { KEK_ROTATION_TAG_KEY } from '../../../infra/rotation/rotation-contract.js';
import type { RotationEvent, RotationHandler } from '../../../infra/rotation/rotation-frame.js';
import type { RotationLogEntry } from '../../../infra/rotation/rotation-log.js';
import { FakeElastiCache } from '../../support/fake-elasticache.js';
import { type FakeSecret, FakeSecretsManager, type RotationRecord } from '../../support/fake-secrets-manager.js';
import { passwordRotationHandler, rotationRejection } from '../../support/rotation-tests.js';

/**
 * Secrets Manager's configuration test (RotateSecret with RotateImmediately=false, on every deploy that
 * creates or changes a rotation schedule) invokes testSecret alone on a new AWSPENDING version. AWS
 * does not say what that version holds: a copy of the current value, or nothing (AWS's own ElastiCache
 * user function never reads it: aws-samples/aws-secrets-manager-rotation-lambdas,
 * SecretsManagerElasticacheUserRotation/lambda_function.py, test_secret reads AWSCURRENT only). Both
 * rotation functions must pass it either way, or every such deploy fails; a pending version that holds
 * a malformed value must still fail, and a rotation must still never finish without a new value.
 */
const USER_ARN_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:CacheUsermyappprodSecret-AbCdEf';
const KEK_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:CacheKekmyappprodSecret-AbCdEf';
const USER_ARN = 'arn:aws:elasticache:eu-west-1:123456789012:user:my-app-prod';
const TAG = 'kcc-redis';
const OLD_PASSWORD = 'Old0' + 'o'.repeat(60);
const USER_SECRET = { username: 'my-app-prod', password: OLD_PASSWORD, keyPrefix: 'my-app-prod:', userArn: USER_ARN, replicationGroupId: 'kcc-redis' };
const key = (c: string) => `${c}1${'k'.repeat(62)}`;
const OLD_KEK = key('Old');
const KEK_SECRET = { v: 1, kek: OLD_KEK, previous: [key('A')] };
const SECRET_VALUES = [OLD_PASSWORD, OLD_KEK, key('A')];

const EMPTY_PASSWORD_TEST_PASSED =
  "configuration test passed: the pending version holds no value, so the current version was checked: user active, password authentication, the secret's user";
const EMPTY_KEK_TEST_PASSED = 'configuration test passed: the pending version holds no value, so the current version was checked: it parses';

let sm: FakeSecretsManager;
let ec: FakeElastiCache;
let client: SecretsManagerClient;
let logged: RotationLogEntry[];
let passwordHandler: RotationHandler;
let kekHandler: RotationHandler;
let secrets: Record<string, FakeSecret>;

const user = () => ec.users.get('my-app-prod')!;
const event = (Step: string, SecretId: string, ClientRequestToken: string): RotationEvent => ({ Step, SecretId, ClientRequestToken });
const messages = () => logged.map((l) => l.message);

/** RotateSecret as the stack's schedule calls it (RotateImmediately=false) or rotate-secret does; waits for what it started. */
async function rotateSecret(arn: string, immediately: boolean): Promise<RotationRecord> {
  await client.send(new RotateSecretCommand({ SecretId: arn, RotateImmediately: immediately, RotationRules: { ScheduleExpression: 'rate(30 days)' } }));
  await sm.settled();
  return sm.rotations(arn).at(-1)!;
}

/** A new AWSPENDING version holding `value` exactly (undefined: no value), on a secret whose rotation is enabled (as the schedule leaves it). */
function pendingHolding(arn: string, value: string | undefined): string {
  secrets[arn]!.rotationEnabled = true;
  const token = sm.startRotation(arn);
  secrets[arn]!.versions.get(token)!.value = value;
  return token;
}

const rejection = rotationRejection;

function expectNoSecretValueIn(...texts: string[]): void {
  for (const text of [...texts, ...logged.map((l) => JSON.stringify(l))]) {
    for (const value of SECRET_VALUES) expect(text).not.toContain(value);
  }
}

beforeEach(() => {
  sm = new FakeSecretsManager();
  ec = new FakeElastiCache();
  client = new SecretsManagerClient({ region: 'eu-west-1' });
  logged = [];
  passwordHandler = passwordRotationHandler(ec, TAG, (entry) => logged.push(entry));
  kekHandler = createKeyEncryptionKeyRotationHandler({ rotationTag: TAG, log: (entry) => logged.push(entry) });
  // As the stack creates them, before their schedules.
  secrets = {
    [USER_ARN_SECRET]: sm.add(USER_ARN_SECRET, JSON.stringify(USER_SECRET), { rotationTag: TAG, rotationEnabled: null, rotationFunction: passwordHandler }),
    [KEK_ARN]: sm.add(KEK_ARN, JSON.stringify(KEK_SECRET), { rotationTag: TAG, tagKey: KEK_ROTATION_TAG_KEY, rotationEnabled: null, rotationFunction: kekHandler }),
  };
  ec.add('my-app-prod', USER_ARN, [OLD_PASSWORD]);
});

afterEach(() => {
  sm.restore();
  ec.restore();
});

describe.each(['copy', 'empty'] as const)('the configuration test, its AWSPENDING version a %s', (mode) => {
  beforeEach(() => {
    sm.configurationTestPending = mode;
  });

  it('password function: passes and changes nothing; the next rotation then rotates', async () => {
    const test = await rotateSecret(USER_ARN_SECRET, false);
    expect(test).toMatchObject({ kind: 'configuration test', succeeded: true });
    expect(test.attempts.map((a) => a.steps)).toEqual([['testSecret']]);
    expect(sm.versionValue(USER_ARN_SECRET, test.token)).toBe(mode === 'copy' ? JSON.stringify(USER_SECRET) : undefined);
    expect(sm.stages(USER_ARN_SECRET, test.token)).toEqual([]);
    expect(sm.value(USER_ARN_SECRET)).toBe(JSON.stringify(USER_SECRET));
    expect(ec.mock.commandCalls(ModifyUserCommand)).toHaveLength(0);
    expect(user().passwords).toEqual([OLD_PASSWORD]);
    expect(messages()).toContain(mode === 'copy' ? "configuration test passed: user active, password authentication, the secret's user" : EMPTY_PASSWORD_TEST_PASSED);

    expect(await rotateSecret(USER_ARN_SECRET, true)).toMatchObject({ kind: 'rotation', succeeded: true });
    const current = JSON.parse(sm.value(USER_ARN_SECRET)!).password as string;
    expect(current).not.toBe(OLD_PASSWORD);
    expect(user().passwords).toEqual([current]);
  });

  it.each<[string, () => void, string]>([
    ['a user that authenticates by IAM', () => void (user().authentication = 'iam'), 'KCC_ROTATION_USER_INVALID'],
    ['a missing user', () => void ec.users.delete('my-app-prod'), 'KCC_ROTATION_USER_INVALID'],
    ['a user without a password', () => void (user().passwords = []), 'KCC_ROTATION_TEST_FAILED'],
  ])('password function: still fails for %s (checked against AWSCURRENT)', async (_name, change, code) => {
    change();
    const test = await rotateSecret(USER_ARN_SECRET, false);
    expect(test.succeeded).toBe(false);
    const error = test.attempts[0]!.error as KccRotationError;
    expect(error.code).toBe(code);
    expectNoSecretValueIn(error.message);
  });

  it('key-encryption-key function: passes and changes nothing; the next rotation then rotates', async () => {
    const test = await rotateSecret(KEK_ARN, false);
    expect(test).toMatchObject({ kind: 'configuration test', succeeded: true });
    expect(sm.stages(KEK_ARN, test.token)).toEqual([]);
    expect(sm.value(KEK_ARN)).toBe(JSON.stringify(KEK_SECRET));
    expect(messages()).toContain(mode === 'copy' ? 'configuration test passed: the pending version parses and is the current key-encryption key' : EMPTY_KEK_TEST_PASSED);

    expect(await rotateSecret(KEK_ARN, true)).toMatchObject({ kind: 'rotation', succeeded: true });
    expect(JSON.parse(sm.value(KEK_ARN)!).previous).toEqual([OLD_KEK, key('A')]);
  });

  it('key-encryption-key function: still fails when the current version does not parse', async () => {
    await client.send(new RotateSecretCommand({ SecretId: KEK_ARN, RotateImmediately: false })); // enables rotation
    await sm.settled();
    secrets[KEK_ARN]!.versions.get(sm.versionId(KEK_ARN, 'AWSCURRENT')!)!.value = JSON.stringify({ v: 1, kek: 'short', previous: [] });
    const test = await rotateSecret(KEK_ARN, false);
    expect(test.succeeded).toBe(false);
    const error = test.attempts[0]!.error as KccRotationError;
    expect(error.code).toBe('KCC_ROTATION_SECRET_INVALID');
    expect(error.message).toMatch(/\(AWSCURRENT\): .*field "kek"/);
  });
});

describe('a pending version with an empty or blank SecretString counts as holding no value', () => {
  // The API does not store an empty SecretString (minimum length 1); accepted anyway, the same way.
  it.each([
    ['empty', ''],
    ['blank', ' \n'],
  ])('%s: both functions pass the configuration test', async (_name, value) => {
    await passwordHandler(event('testSecret', USER_ARN_SECRET, pendingHolding(USER_ARN_SECRET, value)));
    await kekHandler(event('testSecret', KEK_ARN, pendingHolding(KEK_ARN, value)));
    expect(messages()).toEqual(expect.arrayContaining([EMPTY_PASSWORD_TEST_PASSED, EMPTY_KEK_TEST_PASSED]));
    expect(ec.mock.commandCalls(ModifyUserCommand)).toHaveLength(0);
  });
});

describe('a pending version holding a malformed value still fails, naming the field, never a value', () => {
  it.each<[string, string, RegExp]>([
    ['not JSON', `{"password":"${OLD_PASSWORD}"`, /\(AWSPENDING\): secret is not JSON/],
    ['JSON without the user fields', JSON.stringify({ username: 'my-app-prod', password: OLD_PASSWORD }), /\(AWSPENDING\): secret lacks string field\(s\): keyPrefix, userArn, replicationGroupId/],
  ])('password function: %s', async (_name, value, message) => {
    const token = pendingHolding(USER_ARN_SECRET, value);
    const error = await rejection(passwordHandler(event('testSecret', USER_ARN_SECRET, token)));
    expect(error.code).toBe('KCC_ROTATION_SECRET_INVALID');
    expect(error.message).toMatch(message);
    expect(error.message).toContain('the kcc-redis stack writes');
    expect(error.cause).toBeUndefined();
    expectNoSecretValueIn(error.message, String(error.stack));
    expect(messages().some((m) => m.startsWith('configuration test passed'))).toBe(false);
  });

  it.each<[string, string, RegExp]>([
    ['not JSON', `{"kek":"${OLD_KEK}"`, /\(AWSPENDING\): key-encryption-key secret is not JSON/],
    ['a short key', JSON.stringify({ v: 1, kek: 'short', previous: [OLD_KEK] }), /\(AWSPENDING\): .*field "kek" must be a string of at least 32 characters/],
  ])('key-encryption-key function: %s', async (_name, value, message) => {
    const token = pendingHolding(KEK_ARN, value);
    const error = await rejection(kekHandler(event('testSecret', KEK_ARN, token)));
    expect(error.code).toBe('KCC_ROTATION_SECRET_INVALID');
    expect(error.message).toMatch(message);
    expect(error.cause).toBeUndefined();
    expectNoSecretValueIn(error.message, String(error.stack));
    expect(messages().some((m) => m.startsWith('configuration test passed'))).toBe(false);
  });
});

/**
 * A rotation's createSecret always stores a value before testSecret runs (and a version's value never
 * changes), so testSecret meets a pending version without a value only when the steps run out of order.
 * testSecret cannot tell that from the configuration test (same event, same stages) and passes it,
 * saying the version holds no value; what matters is that the rotation cannot complete: finishSecret
 * refuses to make such a version current.
 */
describe('a rotation whose pending version holds no value at testSecret never completes', () => {
  it('password function: testSecret passes on AWSCURRENT (indistinguishable, logged), finishSecret refuses; nothing changed', async () => {
    const token = pendingHolding(USER_ARN_SECRET, undefined); // RotateSecret's new version, createSecret not run
    await passwordHandler(event('testSecret', USER_ARN_SECRET, token));
    expect(messages()).toContain(EMPTY_PASSWORD_TEST_PASSED);
    const error = await rejection(passwordHandler(event('finishSecret', USER_ARN_SECRET, token)));
    expect(error.code).toBe('KCC_ROTATION_WRONG_STAGE');
    expect(sm.stages(USER_ARN_SECRET, token)).toEqual(['AWSPENDING']);
    expect(sm.value(USER_ARN_SECRET)).toBe(JSON.stringify(USER_SECRET));
    expect(ec.mock.commandCalls(ModifyUserCommand)).toHaveLength(0);
    expect(user().passwords).toEqual([OLD_PASSWORD]);
  });

  it('key-encryption-key function, createSecret skipped in every attempt: each attempt stops at finishSecret, AWSCURRENT stays', async () => {
    const skipCreate: RotationHandler = (e, context) => (e.Step === 'createSecret' ? Promise.resolve() : kekHandler(e, context));
    await client.send(new RotateSecretCommand({ SecretId: KEK_ARN, RotateImmediately: false })); // enables rotation
    await sm.settled();
    const lambdaArn = sm.registerFunction(skipCreate);
    await client.send(new RotateSecretCommand({ SecretId: KEK_ARN, RotationLambdaARN: lambdaArn, RotateImmediately: true }));
    await sm.settled();
    const rotation = sm.rotations(KEK_ARN).at(-1)!;
    expect(rotation).toMatchObject({ kind: 'rotation', succeeded: false });
    expect(rotation.attempts).toHaveLength(sm.rotationAttempts);
    for (const attempt of rotation.attempts) {
      expect(attempt.steps.at(-1)).toBe('finishSecret');
      expect((attempt.error as KccRotationError).code).toBe('KCC_ROTATION_WRONG_STAGE');
    }
    expect(sm.value(KEK_ARN)).toBe(JSON.stringify(KEK_SECRET));
    expect(sm.versionValue(KEK_ARN, rotation.token)).toBeUndefined();
  });
});
