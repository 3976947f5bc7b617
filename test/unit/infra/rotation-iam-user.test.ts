import { ModifyUserCommand } from '@aws-sdk/client-elasticache';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KccRotationError } from '../../../infra/errors.js';
import { createRotationHandler } from '../../../infra/rotation/rotation-handler.js';
import { FakeElastiCache } from '../../support/fake-elasticache.js';
import { FakeSecretsManager } from '../../support/fake-secrets-manager.js';

/**
 * IAM-authenticated users have no password secret, so the stack gives them no rotation schedule (the
 * template tests show it). If the password rotation function is invoked on a secret that names an IAM
 * user anyway (a secret edited by hand, or by someone with secretsmanager:PutSecretValue on it), it must
 * not give that user a password: a password would let whoever reads the secret log in as the IAM user
 * without IAM. DescribeUsers reports such a user with `Authentication.Type` "iam" and no passwords
 * (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_Authentication.html).
 */
const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:CacheUsermyappprodSecret-AbCdEf';
const IAM_USER = 'kcc-redis-my-app-prod-iam';
const IAM_USER_ARN = `arn:aws:elasticache:eu-west-1:123456789012:user:${IAM_USER}`;
const TAG = 'kcc-redis';
const PASSWORD = 'Cur0' + 'c'.repeat(60);
const SECRET = { username: IAM_USER, password: PASSWORD, keyPrefix: 'my-app-prod:', userArn: IAM_USER_ARN, replicationGroupId: 'kcc-redis' };

let sm: FakeSecretsManager;
let ec: FakeElastiCache;
let clock: number;

const handler = () => createRotationHandler({ rotationTag: TAG, now: () => clock, sleep: async (ms) => void (clock += ms) });

async function rejection(promise: Promise<unknown>): Promise<KccRotationError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(KccRotationError);
  return error as KccRotationError;
}

beforeEach(() => {
  sm = new FakeSecretsManager();
  ec = new FakeElastiCache();
  sm.add(ARN, JSON.stringify(SECRET), { rotationTag: TAG });
  const user = ec.add(IAM_USER, IAM_USER_ARN, []);
  user.authentication = 'iam';
  clock = 1_000_000;
  vi.spyOn(console, 'log').mockImplementation(() => {});
});

afterEach(() => {
  sm.restore();
  ec.restore();
  vi.restoreAllMocks();
});

describe('password rotation of a secret that names an IAM-authenticated user', () => {
  it('a whole rotation stops at setSecret, gives the user no password, and leaves AWSCURRENT as it was', async () => {
    const error = await rejection(sm.rotate(ARN, handler()));
    expect(error.code).toBe('KCC_ROTATION_USER_INVALID');
    expect(error.message).toMatch(new RegExp(`ElastiCache user "${IAM_USER}" is not the secret's password user: it authenticates by "iam", not by password`));
    expect(error.message).not.toContain(PASSWORD);
    expect(ec.mock.commandCalls(ModifyUserCommand)).toHaveLength(0);
    expect(ec.users.get(IAM_USER)).toMatchObject({ authentication: 'iam', passwords: [] });
    expect(sm.value(ARN)).toBe(JSON.stringify(SECRET));
  });

  it.each(['setSecret', 'testSecret', 'finishSecret'] as const)('%s refuses the IAM user without calling ModifyUser', async (step) => {
    const token = sm.startRotation(ARN);
    await handler()({ Step: 'createSecret', SecretId: ARN, ClientRequestToken: token });
    const error = await rejection(handler()({ Step: step, SecretId: ARN, ClientRequestToken: token }));
    expect(error.code).toBe('KCC_ROTATION_USER_INVALID');
    expect(ec.mock.commandCalls(ModifyUserCommand)).toHaveLength(0);
    expect(ec.users.get(IAM_USER)!.passwords).toEqual([]);
  });

  it('fails Secrets Manager\'s configuration test, so such a schedule could not even be created', async () => {
    const token = randomUUID();
    await new SecretsManagerClient({}).send(new PutSecretValueCommand({ SecretId: ARN, ClientRequestToken: token, SecretString: sm.value(ARN)!, VersionStages: ['AWSPENDING'] }));
    const error = await rejection(handler()({ Step: 'testSecret', SecretId: ARN, ClientRequestToken: token }));
    expect(error.code).toBe('KCC_ROTATION_USER_INVALID');
  });
});
