import {
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeSecretsManager } from '../../support/fake-secrets-manager.js';

/**
 * The fake's own rules, each as Secrets Manager's API reference states it (see the fake's doc
 * comment): the rotation tests are only as good as the fake they run against.
 */
const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:s-AbCdEf';
let sm: FakeSecretsManager;
let client: SecretsManagerClient;

const errorName = (promise: Promise<unknown>) =>
  promise.then(
    () => 'no error',
    (e: Error) => e.name,
  );
const put = (token: string, value: string, stages?: string[]) =>
  client.send(new PutSecretValueCommand({ SecretId: ARN, ClientRequestToken: token, SecretString: value, VersionStages: stages }));
const errorOf = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (e: Error) => e,
  );
const stageMove = (stage: string, to?: string, from?: string) =>
  client.send(new UpdateSecretVersionStageCommand({ SecretId: ARN, VersionStage: stage, MoveToVersionId: to, RemoveFromVersionId: from }));

beforeEach(() => {
  sm = new FakeSecretsManager();
  client = new SecretsManagerClient({ region: 'eu-west-1' });
  sm.add(ARN, 'v1');
});

afterEach(() => sm.restore());

describe('fake Secrets Manager: versions and stages', () => {
  it('PutSecretValue: the same token and value does nothing; another value fails; no stages given means AWSCURRENT, and AWSPREVIOUS follows', async () => {
    const first = sm.versionId(ARN, 'AWSCURRENT')!;
    await put('t2', 'v2', ['AWSPENDING']);
    await put('t2', 'v2', ['AWSCURRENT']); // same token and value: nothing, not even the stages
    expect(sm.stages(ARN, 't2')).toEqual(['AWSPENDING']);
    expect(await errorName(put('t2', 'other'))).toBe('ResourceExistsException');
    await put('t3', 'v3');
    expect(sm.stages(ARN, 't3')).toEqual(['AWSCURRENT']);
    expect(sm.stages(ARN, first)).toEqual(['AWSPREVIOUS']);
  });

  it('UpdateSecretVersionStage: moving a stage off another version needs RemoveFromVersionId naming it; AWSPREVIOUS follows AWSCURRENT', async () => {
    const first = sm.versionId(ARN, 'AWSCURRENT')!;
    await put('t2', 'v2', ['AWSPENDING']);
    expect(await errorName(stageMove('AWSCURRENT', 't2'))).toBe('InvalidParameterException');
    expect(await errorName(stageMove('AWSCURRENT', 't2', 't2'))).toBe('InvalidParameterException');
    expect(await errorName(stageMove('AWSPENDING', undefined, first))).toBe('InvalidParameterException');
    await stageMove('AWSCURRENT', 't2', first);
    expect(sm.stages(ARN, 't2')).toEqual(['AWSCURRENT', 'AWSPENDING']);
    expect(sm.stages(ARN, first)).toEqual(['AWSPREVIOUS']);
    await stageMove('AWSPENDING', undefined, 't2');
    expect(sm.stages(ARN, 't2')).toEqual(['AWSCURRENT']);
  });

  it('UpdateSecretVersionStage without RemoveFromVersionId answers what AWS answers', async () => {
    const first = sm.versionId(ARN, 'AWSCURRENT')!;
    await put('t2', 'v2', ['AWSPENDING']);
    const error = await errorOf(stageMove('AWSCURRENT', 't2'));
    expect([error?.name, error?.message]).toEqual([
      'InvalidParameterException',
      `The parameter RemoveFromVersionId can't be empty. Staging label AWSCURRENT is currently attached to version ${first}, so you must explicitly reference that version in RemoveFromVersionId.`,
    ]);
  });

  it('GetSecretValue: VersionId and VersionStage must name one version; a version without a value is not found; a deprecated one is readable by id', async () => {
    const first = sm.versionId(ARN, 'AWSCURRENT')!;
    const placeholder = sm.startRotation(ARN);
    expect(await errorName(client.send(new GetSecretValueCommand({ SecretId: ARN, VersionId: placeholder, VersionStage: 'AWSPENDING' })))).toBe('ResourceNotFoundException');
    expect(await errorName(client.send(new GetSecretValueCommand({ SecretId: ARN, VersionId: first, VersionStage: 'AWSPENDING' })))).toBe('ResourceNotFoundException');
    await put('t2', 'v2');
    await put('t3', 'v3'); // `first` has no stage left
    const described = await client.send(new DescribeSecretCommand({ SecretId: ARN }));
    expect(Object.keys(described.VersionIdsToStages!)).not.toContain(first);
    expect((await client.send(new GetSecretValueCommand({ SecretId: ARN, VersionId: first }))).SecretString).toBe('v1');
  });
});

describe('fake Secrets Manager: DescribeSecret', () => {
  it('Name is the friendly name, not the ARN, and names the secret as SecretId', async () => {
    const described = await client.send(new DescribeSecretCommand({ SecretId: ARN }));
    expect([described.ARN, described.Name]).toEqual([ARN, 's']);
    expect((await client.send(new GetSecretValueCommand({ SecretId: 's' }))).SecretString).toBe('v1');
  });

  it('RotationEnabled: absent for a secret never configured for rotation, false once disabled, true after RotateSecret', async () => {
    const lambdaArn = sm.registerFunction(async () => {});
    sm.add(`${ARN}-never`, 'v', { rotationEnabled: null });
    sm.add(`${ARN}-off`, 'v', { rotationEnabled: false });
    const described = async (id: string) => client.send(new DescribeSecretCommand({ SecretId: id }));
    expect('RotationEnabled' in (await described(`${ARN}-never`))).toBe(false);
    expect((await described(`${ARN}-off`)).RotationEnabled).toBe(false);
    await client.send(new RotateSecretCommand({ SecretId: `${ARN}-never`, RotationLambdaARN: lambdaArn }));
    await sm.settled();
    expect((await described(`${ARN}-never`)).RotationEnabled).toBe(true);
  });
});

describe('fake Secrets Manager: GetRandomPassword', () => {
  it('without RequireEachIncludedType, a password holds at least one of every character type', async () => {
    for (let i = 0; i < 50; i++) {
      const { RandomPassword } = await client.send(new GetRandomPasswordCommand({ PasswordLength: 4 }));
      expect(RandomPassword).toMatch(/^(?=.*[A-Z])(?=.*[a-z])(?=.*[0-9])(?=.*[^A-Za-z0-9]).{4}$/);
    }
  });

  it("honours the project's request: letters and digits only, each kind present", async () => {
    const request = { PasswordLength: 64, ExcludePunctuation: true, IncludeSpace: false, RequireEachIncludedType: true };
    const { RandomPassword } = await client.send(new GetRandomPasswordCommand(request));
    expect(RandomPassword).toMatch(/^(?=.*[A-Z])(?=.*[a-z])(?=.*[0-9])[A-Za-z0-9]{64}$/);
  });
});

describe('fake Secrets Manager: RotateSecret', () => {
  it('needs a rotation function, answers before the rotation runs, retries it, and then refuses while a pending version is not current', async () => {
    expect(await errorName(client.send(new RotateSecretCommand({ SecretId: ARN })))).toBe('InvalidRequestException');
    const invoked: string[] = [];
    const lambdaArn = sm.registerFunction(async (event) => {
      invoked.push(event.Step);
      throw new Error('fails');
    });
    const answer = await client.send(new RotateSecretCommand({ SecretId: ARN, RotationLambdaARN: lambdaArn }));
    expect(invoked).toEqual([]); // asynchronous
    await sm.settled();
    expect(invoked).toEqual(Array(sm.rotationAttempts).fill('createSecret')); // retried, same version
    expect(sm.stages(ARN, answer.VersionId!)).toEqual(['AWSPENDING']);
    for (const RotateImmediately of [true, false]) {
      const error = await errorOf(client.send(new RotateSecretCommand({ SecretId: ARN, RotateImmediately })));
      expect([error?.name, error?.message]).toEqual(['InvalidRequestException', "A previous rotation isn't complete. That rotation will be reattempted."]);
    }
    await sm.settled();
    // Refused, and nothing else: the failed rotation is not run again.
    expect(invoked).toHaveLength(sm.rotationAttempts);
    expect(sm.rotations(ARN).map((r) => [r.kind, r.token])).toEqual([['rotation', answer.VersionId]]);
    expect(sm.stages(ARN, answer.VersionId!)).toEqual(['AWSPENDING']);
  });

  it('invokes the function with a Lambda context whose remaining time counts down from the function timeout, afresh at each step', async () => {
    const steps: { atStart: number; later: number }[] = [];
    const lambdaArn = sm.registerFunction(async (_event, context) => {
      const atStart = context!.getRemainingTimeInMillis();
      await new Promise((resolve) => setTimeout(resolve, 25));
      steps.push({ atStart, later: context!.getRemainingTimeInMillis() });
    }, 200_000);
    await client.send(new RotateSecretCommand({ SecretId: ARN, RotationLambdaARN: lambdaArn }));
    await sm.settled();
    expect(steps).toHaveLength(4);
    for (const [i, { atStart, later }] of steps.entries()) {
      expect(atStart).toBeLessThanOrEqual(200_000);
      expect(later).toBeLessThan(atStart); // counts down within an invocation
      expect(later).toBeGreaterThan(0);
      // Each invocation has its whole timeout: more left at its start than at the end of the one before.
      if (i > 0) expect(atStart).toBeGreaterThan(steps[i - 1]!.later);
    }
  });

  it("rotates different secrets side by side: one secret's rotation does not wait for another's to end", async () => {
    sm.add(`${ARN}-b`, 'vb');
    let release!: () => void;
    const bStarted = new Promise<void>((resolve) => (release = resolve));
    // A's rotation waits until B's has begun: with every rotation in one queue, B would wait for A, for good.
    const waitsForB = sm.registerFunction(async (event) => {
      if (event.Step === 'createSecret') await bStarted;
    });
    const startsB = sm.registerFunction(async () => release());
    await client.send(new RotateSecretCommand({ SecretId: ARN, RotationLambdaARN: waitsForB }));
    await client.send(new RotateSecretCommand({ SecretId: `${ARN}-b`, RotationLambdaARN: startsB }));
    await sm.settled();
    expect(sm.rotations(ARN).map((r) => r.succeeded)).toEqual([true]);
    expect(sm.rotations(`${ARN}-b`).map((r) => r.succeeded)).toEqual([true]);
  });
});
