import { randomUUID } from 'node:crypto';
import {
  GetRandomPasswordCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { KEK_HISTORY_LENGTH, parseKeyEncryptionKeySecret } from '@kcc-redis/client/contract';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createKeyEncryptionKeyRotationHandler } from '../../../infra/rotation/key-encryption-key-rotation-handler.js';
import { KEK_ROTATION_TAG_KEY, KEK_ROTATION_TIMEOUT_SECONDS, ROTATION_STEPS, ROTATION_TAG_KEY, type RotationStep } from '../../../infra/rotation/rotation-contract.js';
import type { RotationEvent, RotationHandler } from '../../../infra/rotation/rotation-frame.js';
import { createRotationHandler } from '../../../infra/rotation/rotation-handler.js';
import type { RotationLogEntry } from '../../../infra/rotation/rotation-log.js';
import { FakeElastiCache } from '../../support/fake-elasticache.js';
import { FakeSecretsManager } from '../../support/fake-secrets-manager.js';
import { rotationRejection } from '../../support/rotation-tests.js';

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:CacheKekmyappprodSecret-AbCdEf';
const TAG = 'kcc-redis';
const key = (c: string) => `${c}1${'k'.repeat(62)}`;
const OLD_KEK = key('Old');
const EARLIER = [key('A'), key('B')];
const SECRET = { v: 1, kek: OLD_KEK, previous: EARLIER };
const ALPHANUMERIC_64 = /^[A-Za-z0-9]{64}$/;

let sm: FakeSecretsManager;
let ec: FakeElastiCache;
let logged: RotationLogEntry[];
let consoleLines: string[];

function handler(options: { rotationTag?: string | null; log?: boolean } = {}): RotationHandler {
  return createKeyEncryptionKeyRotationHandler({
    rotationTag: options.rotationTag === null ? undefined : (options.rotationTag ?? TAG),
    log: options.log === false ? undefined : (entry) => logged.push(entry),
  });
}

const event = (Step: string, ClientRequestToken: string, SecretId = ARN): RotationEvent => ({ Step, SecretId, ClientRequestToken });
const kekSecret = (stage = 'AWSCURRENT') => parseKeyEncryptionKeySecret(sm.value(ARN, stage));
const calls = (command: typeof PutSecretValueCommand | typeof UpdateSecretVersionStageCommand | typeof GetRandomPasswordCommand) =>
  sm.mock.calls().filter((call) => call.args[0] instanceof command).length;

async function runUntil(last: RotationStep, run = handler()): Promise<string> {
  const token = sm.startRotation(ARN);
  for (const step of ROTATION_STEPS.slice(0, ROTATION_STEPS.indexOf(last) + 1)) await run(event(step, token));
  return token;
}

/** A pending version written by hand (or by a broken function), for testSecret to judge. */
async function pendingVersion(value: unknown): Promise<string> {
  const token = randomUUID();
  await new SecretsManagerClient({}).send(new PutSecretValueCommand({ SecretId: ARN, ClientRequestToken: token, SecretString: JSON.stringify(value), VersionStages: ['AWSPENDING'] }));
  return token;
}

const rejection = rotationRejection;

beforeEach(() => {
  sm = new FakeSecretsManager();
  ec = new FakeElastiCache(); // nothing may call it
  sm.add(ARN, JSON.stringify(SECRET), { rotationTag: TAG, tagKey: KEK_ROTATION_TAG_KEY });
  logged = [];
  consoleLines = [];
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      consoleLines.push(args.map(String).join(' '));
    });
  }
});

afterEach(() => {
  expect(ec.mock.calls()).toHaveLength(0);
  sm.restore();
  ec.restore();
  vi.restoreAllMocks();
});

describe('key-encryption-key rotation: each step', () => {
  it('createSecret puts a fresh 64-character key first and the current one at the front of previous', async () => {
    const token = await runUntil('createSecret');
    expect(sm.mock.commandCalls(GetRandomPasswordCommand)[0]!.args[0].input).toEqual({
      PasswordLength: 64,
      ExcludePunctuation: true,
      IncludeSpace: false,
      RequireEachIncludedType: true,
    });
    expect(sm.mock.commandCalls(PutSecretValueCommand)[0]!.args[0].input).toMatchObject({ ClientRequestToken: token, VersionStages: ['AWSPENDING'] });
    const pending = kekSecret('AWSPENDING');
    expect(pending.kek).toMatch(ALPHANUMERIC_64);
    expect(pending.kek).not.toBe(OLD_KEK);
    expect(pending.previous).toEqual([OLD_KEK, ...EARLIER]);
    expect(sm.value(ARN)).toBe(JSON.stringify(SECRET)); // AWSCURRENT untouched
  });

  it('createSecret keeps fields added to the secret later', async () => {
    sm.add(`${ARN}2`, JSON.stringify({ ...SECRET, addedLater: 'x' }), { rotationTag: TAG, tagKey: KEK_ROTATION_TAG_KEY });
    const token = sm.startRotation(`${ARN}2`);
    await handler()(event('createSecret', token, `${ARN}2`));
    expect(JSON.parse(sm.value(`${ARN}2`, 'AWSPENDING')!)).toMatchObject({ v: 1, addedLater: 'x' });
  });

  it(`createSecret keeps at most ${KEK_HISTORY_LENGTH} earlier keys, dropping the oldest`, async () => {
    const full = Array.from({ length: KEK_HISTORY_LENGTH }, (_, i) => key(`H${i}`));
    sm.add(`${ARN}-full`, JSON.stringify({ v: 1, kek: OLD_KEK, previous: full }), { rotationTag: TAG, tagKey: KEK_ROTATION_TAG_KEY });
    const token = sm.startRotation(`${ARN}-full`);
    await handler()(event('createSecret', token, `${ARN}-full`));
    const pending = parseKeyEncryptionKeySecret(sm.value(`${ARN}-full`, 'AWSPENDING'));
    expect(pending.previous).toEqual([OLD_KEK, ...full.slice(0, KEK_HISTORY_LENGTH - 1)]);
  });

  it('setSecret has nothing to set and writes nothing', async () => {
    const token = await runUntil('createSecret');
    sm.mock.resetHistory();
    await handler()(event('setSecret', token));
    expect(calls(PutSecretValueCommand) + calls(UpdateSecretVersionStageCommand) + calls(GetRandomPasswordCommand)).toBe(0);
    expect(logged.map((l) => l.message)).toContain('nothing to set: the key-encryption key exists only in this secret');
  });

  it('testSecret passes a pending version that keeps every earlier key', async () => {
    const token = await runUntil('setSecret');
    await handler()(event('testSecret', token));
    expect(logged.map((l) => l.message)).toContain(`verified: a new key-encryption key, ${EARLIER.length + 1} earlier keys kept`);
  });

  it.each<[string, () => unknown, RegExp]>([
    ['drops the current key', () => ({ v: 1, kek: key('New'), previous: EARLIER }), /does not keep the earlier keys/],
    ['drops an earlier key', () => ({ v: 1, kek: key('New'), previous: [OLD_KEK, EARLIER[0]] }), /does not keep the earlier keys/],
    ['reorders the keys', () => ({ v: 1, kek: key('New'), previous: [EARLIER[0], OLD_KEK, EARLIER[1]] }), /does not keep the earlier keys/],
    ['reuses an earlier key as the new one', () => ({ v: 1, kek: EARLIER[1], previous: [OLD_KEK, ...EARLIER] }), /reuses an earlier key-encryption key/],
    ['keeps the current key but another history (configuration test copy)', () => ({ v: 1, kek: OLD_KEK, previous: [] }), /holds the current key-encryption key but another history/],
  ])('testSecret refuses a pending version that %s', async (_name, value, message) => {
    const token = await pendingVersion(value());
    const error = await rejection(handler()(event('testSecret', token)));
    expect(error.code).toBe('KCC_ROTATION_TEST_FAILED');
    expect(error.message).toMatch(message);
    expect(error.message).toContain(`--remove-from-version-id ${token}`);
    for (const k of [OLD_KEK, ...EARLIER]) expect(error.message).not.toContain(k);
  });

  it.each<[string, unknown, RegExp]>([
    ['no format version', { kek: key('New'), previous: [] }, /format version undefined/],
    ['a short key', { v: 1, kek: 'short', previous: [] }, /field "kek" must be a string of at least 32 characters/],
    ['too many earlier keys', { v: 1, kek: key('New'), previous: Array(KEK_HISTORY_LENGTH + 1).fill(key('X')) }, /at most 12 earlier keys/],
  ])('testSecret refuses a pending version with %s, naming the field, not the value', async (_name, value, message) => {
    const token = await pendingVersion(value);
    const error = await rejection(handler()(event('testSecret', token)));
    expect(error.code).toBe('KCC_ROTATION_SECRET_INVALID');
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain(key('New'));
  });

  it('finishSecret moves AWSCURRENT to the new key; the old version becomes AWSPREVIOUS', async () => {
    const token = await runUntil('testSecret');
    const oldVersion = sm.versionId(ARN, 'AWSCURRENT')!;
    await handler()(event('finishSecret', token));
    expect(sm.stages(ARN, token)).toEqual(['AWSCURRENT', 'AWSPENDING']);
    expect(sm.stages(ARN, oldVersion)).toEqual(['AWSPREVIOUS']);
    expect(kekSecret().previous[0]).toBe(OLD_KEK);
  });

  it.each(ROTATION_STEPS)('%s run twice leaves the same state as once', async (step) => {
    const run = handler();
    const token = await runUntil(step, run);
    const state = () => ({ current: sm.value(ARN), pending: sm.value(ARN, 'AWSPENDING'), stages: sm.stages(ARN, token) });
    const once = state();
    sm.mock.resetHistory();
    await run(event(step, token));
    expect(state()).toEqual(once);
    expect(calls(PutSecretValueCommand) + calls(GetRandomPasswordCommand) + calls(UpdateSecretVersionStageCommand)).toBe(0);
  });
});

describe('key-encryption-key rotation: many rotations', () => {
  it(`keeps the ${KEK_HISTORY_LENGTH} keys before the current one readable, newest first, and every secret parses as the client reads it`, async () => {
    const keys = [OLD_KEK];
    for (let i = 0; i < KEK_HISTORY_LENGTH + 2; i++) {
      await sm.rotate(ARN, handler());
      const secret = kekSecret();
      expect(keys).not.toContain(secret.kek);
      keys.unshift(secret.kek);
      expect(secret.previous).toEqual([...keys.slice(1), ...EARLIER].slice(0, KEK_HISTORY_LENGTH));
    }
  });
});

describe('key-encryption-key rotation: configuration test and stale pending versions', () => {
  it("passes Secrets Manager's configuration test (the current value in a new AWSPENDING version, testSecret alone)", async () => {
    const token = await pendingVersion(SECRET);
    sm.mock.resetHistory();
    await handler()(event('testSecret', token));
    expect(calls(PutSecretValueCommand) + calls(UpdateSecretVersionStageCommand)).toBe(0);
    expect(logged.map((l) => l.message)).toContain('configuration test passed: the pending version parses and is the current key-encryption key');
  });

  it.each(['createSecret', 'finishSecret'] as const)('%s refuses a pending version that holds the current key and removes its AWSPENDING label', async (step) => {
    const token = await pendingVersion(SECRET);
    const error = await rejection(handler()(event(step, token)));
    expect(error.code).toBe('KCC_ROTATION_STALE_PENDING');
    expect(error.message).toContain('holds the current key-encryption key, not a new one');
    expect(sm.stages(ARN, token)).toEqual([]);
    expect(sm.value(ARN)).toBe(JSON.stringify(SECRET));
  });

  it('through RotateSecret: the configuration test passes and a rotation then rotates', async () => {
    const lambdaArn = sm.registerFunction(handler(), KEK_ROTATION_TIMEOUT_SECONDS * 1_000);
    const client = new SecretsManagerClient({ region: 'eu-west-1' });
    await client.send(new RotateSecretCommand({ SecretId: ARN, RotationLambdaARN: lambdaArn, RotateImmediately: false }));
    await sm.settled();
    expect(sm.rotations(ARN).at(-1)).toMatchObject({ kind: 'configuration test', succeeded: true });
    expect(sm.value(ARN)).toBe(JSON.stringify(SECRET));
    await client.send(new RotateSecretCommand({ SecretId: ARN }));
    await sm.settled();
    expect(sm.rotations(ARN).at(-1)).toMatchObject({ kind: 'rotation', succeeded: true });
    expect(kekSecret().previous).toEqual([OLD_KEK, ...EARLIER]);
    expect(sm.versionId(ARN, 'AWSPENDING')).toBeUndefined();
  });
});

describe('key-encryption-key rotation: fenced in', () => {
  it.each<[string, () => void, RegExp]>([
    ['an untagged secret', () => sm.add(`${ARN}-x`, JSON.stringify(SECRET)), /rotates only secrets tagged kcc-redis:kek-rotation=kcc-redis, and this one is not tagged/],
    ["another stack's secret", () => sm.add(`${ARN}-x`, JSON.stringify(SECRET), { rotationTag: 'other', tagKey: KEK_ROTATION_TAG_KEY }), /is tagged kcc-redis:kek-rotation=other/],
    ['a Redis user secret (tagged for the password rotation)', () => sm.add(`${ARN}-x`, JSON.stringify(SECRET), { rotationTag: TAG, tagKey: ROTATION_TAG_KEY }), /this one is not tagged/],
  ])('refuses %s before reading any value', async (_name, add, message) => {
    add();
    const error = await rejection(handler()(event('createSecret', sm.startRotation(`${ARN}-x`), `${ARN}-x`)));
    expect(error.code).toBe('KCC_ROTATION_NOT_MANAGED');
    expect(error.message).toMatch(message);
    expect(calls(PutSecretValueCommand)).toBe(0);
    expect(sm.mock.calls().filter((c) => c.args[0].constructor.name === 'GetSecretValueCommand')).toHaveLength(0);
  });

  it('refuses everything when deployed without its tag value', async () => {
    expect((await rejection(handler({ rotationTag: null })(event('createSecret', sm.startRotation(ARN))))).code).toBe('KCC_ROTATION_NOT_MANAGED');
  });

  it('the password rotation function refuses a key-encryption-key secret', async () => {
    const passwordHandler = createRotationHandler({ rotationTag: TAG, log: () => {} });
    const error = await rejection(passwordHandler(event('createSecret', sm.startRotation(ARN))));
    expect(error.code).toBe('KCC_ROTATION_NOT_MANAGED');
    expect(error.message).toMatch(/tagged kcc-redis:password-rotation=kcc-redis, and this one is not tagged/);
  });

  it('puts no key in any log line or error, through the default console log', async () => {
    const run = handler({ log: false });
    await sm.rotate(ARN, run);
    const token = await pendingVersion({ v: 1, kek: key('Bad'), previous: [] });
    await run(event('testSecret', token)).catch(() => {});
    const stale = await pendingVersion(JSON.parse(sm.value(ARN)!));
    const errors = [await rejection(run(event('createSecret', stale)))];
    const keys = [OLD_KEK, ...EARLIER, kekSecret().kek, key('Bad')];
    expect(consoleLines.length).toBeGreaterThan(8);
    for (const text of [...consoleLines, ...errors.map((e) => `${e.message} ${e.stack}`)]) {
      for (const k of keys) expect(text).not.toContain(k);
    }
  });
});
