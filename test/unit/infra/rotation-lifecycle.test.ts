import { ModifyUserCommand } from '@aws-sdk/client-elasticache';
import { DescribeSecretCommand, RotateSecretCommand, SecretsManagerClient, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KccRotationError } from '../../../infra/errors.js';
import type { RotationLogEntry } from '../../../infra/rotation/rotation-log.js';
import { FakeElastiCache } from '../../support/fake-elasticache.js';
import { FakeSecretsManager, type RotationRecord } from '../../support/fake-secrets-manager.js';
import { passwordRotationHandler } from '../../support/rotation-tests.js';

/**
 * The password rotation function as Secrets Manager drives it through RotateSecret: the configuration
 * test a schedule triggers, rotations, Secrets Manager's retries, and what a failed run leaves behind.
 */
const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:CacheUsermyappprodSecret-AbCdEf';
const USER_ARN = 'arn:aws:elasticache:eu-west-1:123456789012:user:my-app-prod';
const TAG = 'kcc-redis';
const OLD_PASSWORD = 'Old0' + 'o'.repeat(60);
const SECRET = { username: 'my-app-prod', password: OLD_PASSWORD, keyPrefix: 'my-app-prod:', userArn: USER_ARN, replicationGroupId: 'kcc-redis' };

let sm: FakeSecretsManager;
let ec: FakeElastiCache;
let client: SecretsManagerClient;
let logged: RotationLogEntry[];

const currentPassword = () => JSON.parse(sm.value(ARN)!).password as string;
const user = () => ec.users.get('my-app-prod')!;
const errorOf = (attempt: RotationRecord['attempts'][number]) => attempt.error as KccRotationError;

/** RotateSecret as CloudFormation's schedule (RotateImmediately=false) or `aws secretsmanager rotate-secret` calls it; waits for what it started. */
async function rotateSecret(options: { immediately?: boolean } = {}): Promise<RotationRecord> {
  await client.send(new RotateSecretCommand({ SecretId: ARN, RotateImmediately: options.immediately ?? true, RotationRules: { ScheduleExpression: 'rate(30 days)' } }));
  await sm.settled();
  return sm.rotations(ARN).at(-1)!;
}

/** rotate-secret while a version carries AWSPENDING without AWSCURRENT: refused, and nothing runs (no new rotation, no re-run). */
async function rotateSecretRefused(options: { immediately?: boolean } = {}): Promise<Error> {
  const before = sm.rotations(ARN).length;
  const error = await client.send(new RotateSecretCommand({ SecretId: ARN, RotateImmediately: options.immediately ?? true })).then(
    () => undefined,
    (e: Error) => e,
  );
  await sm.settled();
  expect(error).toBeInstanceOf(Error);
  expect(sm.rotations(ARN)).toHaveLength(before);
  return error!;
}

/** The fix docs/operations-rotation.md gives: find the leftover in DescribeSecret's VersionIdsToStages, remove its AWSPENDING. */
async function clearLeftoverPending(): Promise<string> {
  const { VersionIdsToStages } = await client.send(new DescribeSecretCommand({ SecretId: ARN }));
  const leftovers = Object.entries(VersionIdsToStages ?? {}).filter(([, stages]) => stages.includes('AWSPENDING') && !stages.includes('AWSCURRENT'));
  expect(leftovers).toHaveLength(1);
  const [versionId] = leftovers[0]!;
  await client.send(new UpdateSecretVersionStageCommand({ SecretId: ARN, VersionStage: 'AWSPENDING', RemoveFromVersionId: versionId }));
  return versionId;
}

beforeEach(() => {
  sm = new FakeSecretsManager();
  ec = new FakeElastiCache();
  client = new SecretsManagerClient({ region: 'eu-west-1' });
  logged = [];
  const handler = passwordRotationHandler(ec, TAG, (entry) => logged.push(entry));
  sm.add(ARN, JSON.stringify(SECRET), { rotationTag: TAG, rotationEnabled: null, rotationFunction: handler }); // as the stack creates it, before its schedule
  ec.add('my-app-prod', USER_ARN, [OLD_PASSWORD]);
});

afterEach(() => {
  sm.restore();
  ec.restore();
});

describe('rotation lifecycle: the configuration test a rotation schedule triggers (RotateImmediately=false)', () => {
  it('runs testSecret alone on a copy of the current value; it passes, the copy loses AWSPENDING, nothing changes', async () => {
    expect((await client.send(new DescribeSecretCommand({ SecretId: ARN }))).RotationEnabled).toBeUndefined(); // never configured
    const test = await rotateSecret({ immediately: false });
    expect(test).toMatchObject({ kind: 'configuration test', succeeded: true });
    expect(test.attempts.map((a) => a.steps)).toEqual([['testSecret']]);
    expect(sm.versionValue(ARN, test.token)).toBe(JSON.stringify(SECRET));
    expect(sm.stages(ARN, test.token)).toEqual([]);
    expect(currentPassword()).toBe(OLD_PASSWORD);
    expect(ec.mock.commandCalls(ModifyUserCommand)).toHaveLength(0);
    expect(user().passwords).toEqual([OLD_PASSWORD]);
    const described = await client.send(new DescribeSecretCommand({ SecretId: ARN }));
    expect(described.RotationEnabled).toBe(true);
    expect(described.LastRotatedDate).toBeUndefined();
  });

  it('leaves nothing that blocks the next rotation: rotate-secret then rotates', async () => {
    await rotateSecret({ immediately: false });
    const rotation = await rotateSecret();
    expect(rotation).toMatchObject({ kind: 'rotation', succeeded: true });
    expect(currentPassword()).not.toBe(OLD_PASSWORD);
    expect(user().passwords).toEqual([currentPassword()]);
  });
});

describe('rotation lifecycle: rotations through RotateSecret', () => {
  it('runs the four steps; the new version is AWSCURRENT, the old one AWSPREVIOUS, AWSPENDING is gone', async () => {
    const oldVersion = sm.versionId(ARN, 'AWSCURRENT')!;
    const rotation = await rotateSecret();
    expect(rotation.attempts.map((a) => a.steps)).toEqual([['createSecret', 'setSecret', 'testSecret', 'finishSecret']]);
    expect(sm.stages(ARN, rotation.token)).toEqual(['AWSCURRENT']);
    expect(sm.stages(ARN, oldVersion)).toEqual(['AWSPREVIOUS']);
    expect(JSON.parse(sm.value(ARN, 'AWSPREVIOUS')!).password).toBe(OLD_PASSWORD);
    expect(user().passwords).toEqual([currentPassword()]);
    expect((await client.send(new DescribeSecretCommand({ SecretId: ARN }))).LastRotatedDate).toBeInstanceOf(Date);
  });

  it("Secrets Manager's retry after a failed step reuses the version: one new password, not two", async () => {
    ec.modifyUserFailures.push(Object.assign(new Error('internal'), { name: 'InternalFailure' }));
    const rotation = await rotateSecret();
    expect(rotation.succeeded).toBe(true);
    expect(rotation.attempts.map((a) => [a.steps.at(-1), errorOf(a)?.code])).toEqual([
      ['setSecret', 'KCC_ROTATION_AWS_FAILED'],
      ['finishSecret', undefined],
    ]);
    const passwordsSet = new Set(ec.mock.commandCalls(ModifyUserCommand).flatMap((c) => c.args[0].input.Passwords ?? []));
    expect([...passwordsSet].sort()).toEqual([OLD_PASSWORD, currentPassword()].sort());
    expect(logged.some((l) => l.message === 'pending version already holds a new password; keeping it')).toBe(true);
  });
});

describe('rotation lifecycle: a leftover AWSPENDING blocks rotate-secret until an operator removes it', () => {
  it('from a failed configuration test (the current value): refused, nothing runs; once the label is removed the next rotation makes a fresh password', async () => {
    user().authentication = 'iam'; // the configuration test fails (any reason would do)
    const test = await rotateSecret({ immediately: false });
    expect(test.succeeded).toBe(false);
    expect(sm.stages(ARN, test.token)).toEqual(['AWSPENDING']);
    user().authentication = 'password';

    // rotate-secret and a schedule change (the stack update) are refused; nothing runs, nothing clears it.
    for (const immediately of [true, false, true]) {
      const error = await rotateSecretRefused({ immediately });
      expect(error.name).toBe('InvalidRequestException');
      expect(error.message).toBe("A previous rotation isn't complete. That rotation will be reattempted.");
    }
    expect(sm.stages(ARN, test.token)).toEqual(['AWSPENDING']);
    expect(currentPassword()).toBe(OLD_PASSWORD);
    expect(ec.mock.commandCalls(ModifyUserCommand)).toHaveLength(0);

    expect(await clearLeftoverPending()).toBe(test.token);
    const rotation = await rotateSecret();
    expect(rotation.succeeded).toBe(true);
    expect(rotation.token).not.toBe(test.token);
    expect(currentPassword()).not.toBe(OLD_PASSWORD);
    expect(user().passwords).toEqual([currentPassword()]);
  });

  it('from a failed rotation (a new password): refused, nothing runs; once the label is removed the next rotation replaces both passwords', async () => {
    ec.stuck = true; // ModifyUser accepted, the user never settles: every testSecret runs out of time
    const failed = await rotateSecret();
    expect(failed.succeeded).toBe(false);
    expect(failed.attempts.map((a) => errorOf(a).code)).toEqual(Array(sm.rotationAttempts).fill('KCC_ROTATION_USER_NOT_ACTIVE'));
    const abandoned = JSON.parse(sm.value(ARN, 'AWSPENDING')!).password as string;
    expect(currentPassword()).toBe(OLD_PASSWORD); // instances keep working with the current password
    expect(user().passwords).toEqual([OLD_PASSWORD, abandoned]);

    ec.stuck = false;
    expect((await rotateSecretRefused()).name).toBe('InvalidRequestException');
    expect(sm.stages(ARN, failed.token)).toEqual(['AWSPENDING']);
    expect(user().passwords).toEqual([OLD_PASSWORD, abandoned]);

    expect(await clearLeftoverPending()).toBe(failed.token);
    const rotation = await rotateSecret();
    expect(rotation).toMatchObject({ kind: 'rotation', succeeded: true });
    expect(rotation.token).not.toBe(failed.token);
    expect([OLD_PASSWORD, abandoned]).not.toContain(currentPassword());
    expect(user().passwords).toEqual([currentPassword()]); // the abandoned password is no longer accepted
    expect(sm.stages(ARN, failed.token)).toEqual([]);
  });
});
