import { App, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Runtime, RuntimeFamily } from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import cdkJson from '../../../cdk.json' with { type: 'json' };
import { KccRedisCache } from '../../../infra/index.js';
import { ROTATION_RUNTIME } from '../../../infra/rotation/redis-password-rotation.js';
import { ROTATION_TAG_ENV, ROTATION_TAG_KEY } from '../../../infra/rotation/rotation-contract.js';
import { contextWith, outdir, synth } from '../../support/synth.js';

type Resource = { Type: string; Properties: Record<string, unknown>; DependsOn?: string[] };
type Statement = { Action: string | string[]; Resource: unknown; Effect: string; Condition?: unknown };

const USER_IDS = ['kcc-redis-admin', 'kcc-redis-my-app-prod', 'kcc-redis-my-app-dev', 'kcc-redis-billing-prod', 'kcc-redis-billing-dev'];
const stack = synth({ apps: ['my-app', 'billing'] });
const { template } = stack;
const resources = (type: string) => template.findResources(type) as Record<string, Resource>;
const logicalId = (construct: { node: { defaultChild?: unknown } } | unknown) =>
  stack.stack.getLogicalId((construct as { node: { defaultChild: never } }).node.defaultChild);

/** Logical ids of the user secrets (default user + app-envs), by user id. */
const userSecrets = new Map(
  [stack.stack.cache.defaultUser, ...stack.stack.cache.appEnvUsers.values()].map((user) => [user.userId, logicalId(user.secret)]),
);
const functionId = logicalId(stack.stack.cache.passwordRotation.function);
const roleId = logicalId(stack.stack.cache.passwordRotation.role);

function rolePolicyStatements(t = template, role = roleId): Statement[] {
  const policies = Object.values(t.findResources('AWS::IAM::Policy') as Record<string, Resource>).filter((p) =>
    (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === role),
  );
  return policies.flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

const actionsOf = (s: Statement) => [s.Action].flat().sort();
const resourcesOf = (s: Statement) => [s.Resource].flat();

describe('stack: password rotation schedules', () => {
  it('gives every user secret (default user and each app-env) exactly one rotation schedule, and nothing else one', () => {
    const schedules = Object.values(resources('AWS::SecretsManager::RotationSchedule'));
    expect(userSecrets.size).toBe(USER_IDS.length);
    expect(schedules.map((s) => (s.Properties.SecretId as { Ref: string }).Ref).sort()).toEqual([...userSecrets.values()].sort());
    for (const schedule of schedules) {
      expect(schedule.Properties).toEqual({
        SecretId: expect.any(Object),
        RotationLambdaARN: { 'Fn::GetAtt': [functionId, 'Arn'] },
        RotationRules: { ScheduleExpression: 'rate(30 days)' },
        RotateImmediatelyOnUpdate: false,
      });
    }
  });

  it('rotates every passwordRotationDays', () => {
    const { template: t } = synth({ apps: ['a'], passwordRotationDays: 7 });
    const expressions = Object.values(t.findResources('AWS::SecretsManager::RotationSchedule')).map((s) => s.Properties.RotationRules.ScheduleExpression);
    expect(expressions).toEqual(['rate(7 days)', 'rate(7 days)', 'rate(7 days)']);
  });

  it('starts rotating a secret only once its ElastiCache user exists', () => {
    const users = resources('AWS::ElastiCache::User');
    for (const [userId, secretId] of userSecrets) {
      const [scheduleId] = Object.entries(resources('AWS::SecretsManager::RotationSchedule')).find(([, s]) => (s.Properties.SecretId as { Ref: string }).Ref === secretId)!;
      const userLogicalId = Object.entries(users).find(([, u]) => u.Properties.UserId === userId)![0];
      expect(resources('AWS::SecretsManager::RotationSchedule')[scheduleId]!.DependsOn).toContain(userLogicalId);
    }
  });

  it('tags exactly the user secrets with the value the function rotates (the replication group id)', () => {
    for (const [id, secret] of Object.entries(resources('AWS::SecretsManager::Secret'))) {
      const tag = (secret.Properties.Tags as { Key: string; Value: string }[] | undefined)?.find((t) => t.Key === ROTATION_TAG_KEY);
      expect(tag?.Value).toBe([...userSecrets.values()].includes(id) ? 'kcc-redis' : undefined);
    }
    const fn = resources('AWS::Lambda::Function')[functionId]!;
    expect(fn.Properties.Environment).toEqual({ Variables: { [ROTATION_TAG_ENV]: 'kcc-redis' } });
  });
});

describe('stack: the rotation function', () => {
  it('runs on the latest Node.js runtime aws-cdk-lib knows, bundled (no Docker), outside any VPC', () => {
    const nodeVersions = Runtime.ALL.filter((r) => r.family === RuntimeFamily.NODEJS && /^nodejs\d+\.x$/.test(r.name)).map((r) => Number(/\d+/.exec(r.name)![0]));
    expect(ROTATION_RUNTIME.name).toBe(`nodejs${Math.max(...nodeVersions)}.x`);
    const fn = resources('AWS::Lambda::Function')[functionId]!.Properties;
    expect(fn).toMatchObject({ Runtime: ROTATION_RUNTIME.name, Handler: 'index.handler', Architectures: ['arm64'], Timeout: 300 });
    expect((fn.Code as { S3Key: string }).S3Key).toMatch(/^[0-9a-f]{64}\.zip$/);
    expect(fn.VpcConfig).toBeUndefined();
    expect(fn.LoggingConfig).toEqual({ LogGroup: { Ref: logicalId(stack.stack.cache.passwordRotation.logGroup) } });
  });

  it('may be invoked by Secrets Manager from its own account only', () => {
    const permissions = Object.values(resources('AWS::Lambda::Permission')).filter((p) => JSON.stringify(p.Properties.FunctionName).includes(functionId));
    expect(permissions.map((p) => p.Properties)).toEqual([
      { Action: 'lambda:InvokeFunction', FunctionName: { 'Fn::GetAtt': [functionId, 'Arn'] }, Principal: 'secretsmanager.amazonaws.com', SourceAccount: { Ref: 'AWS::AccountId' } },
    ]);
  });
});

describe('stack: least privilege of the rotation function', () => {
  const statements = rolePolicyStatements();

  it('has a role of its own without any managed policy', () => {
    const role = resources('AWS::IAM::Role')[roleId]!.Properties;
    expect(role.ManagedPolicyArns).toBeUndefined();
    expect(role.AssumeRolePolicyDocument).toMatchObject({ Statement: [{ Action: 'sts:AssumeRole', Principal: { Service: 'lambda.amazonaws.com' } }] });
  });

  it('may write to its own log group only', () => {
    const logs = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('logs:')));
    expect(logs.map((s) => [actionsOf(s), s.Resource])).toEqual([
      [['logs:CreateLogStream', 'logs:PutLogEvents'], { 'Fn::GetAtt': [logicalId(stack.stack.cache.passwordRotation.logGroup), 'Arn'] }],
    ]);
  });

  it('may describe and modify exactly the stack\'s ElastiCache users', () => {
    const ec = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('elasticache:')));
    expect(ec).toHaveLength(1);
    expect(actionsOf(ec[0]!)).toEqual(['elasticache:DescribeUsers', 'elasticache:ModifyUser']);
    const userIds = resourcesOf(ec[0]!).map((r) => JSON.stringify(r).match(/:user:([a-z0-9-]+)"/)?.[1]);
    expect(userIds.sort()).toEqual([...USER_IDS].sort());
  });

  it('may read and stage exactly the stack\'s user secrets (not the key-encryption keys)', () => {
    const sm = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('secretsmanager:')) && !actionsOf(s).includes('secretsmanager:GetRandomPassword'));
    expect(sm).toHaveLength(1);
    expect(actionsOf(sm[0]!)).toEqual([
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
      'secretsmanager:PutSecretValue',
      'secretsmanager:UpdateSecretVersionStage',
    ]);
    expect(resourcesOf(sm[0]!).map((r) => (r as { Ref: string }).Ref).sort()).toEqual([...userSecrets.values()].sort());
  });

  it('uses "*" only for secretsmanager:GetRandomPassword, which has no resource type, and no action wildcard', () => {
    const star = statements.filter((s) => resourcesOf(s).includes('*'));
    expect(star.map((s) => [actionsOf(s), s.Resource])).toEqual([[['secretsmanager:GetRandomPassword'], '*']]);
    expect(statements.flatMap(actionsOf).filter((a) => a.includes('*'))).toEqual([]);
    expect(statements.every((s) => s.Effect === 'Allow')).toBe(true);
    expect(statements.flatMap(actionsOf).sort()).toEqual([
      'elasticache:DescribeUsers', 'elasticache:ModifyUser', 'logs:CreateLogStream', 'logs:PutLogEvents',
      'secretsmanager:DescribeSecret', 'secretsmanager:GetRandomPassword', 'secretsmanager:GetSecretValue',
      'secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage',
    ]);
  });

  it('may use a customer KMS key for the secrets, through Secrets Manager only', () => {
    const keyArn = 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555';
    const kmsStack = synth({ apps: ['a'], kmsKeyArn: keyArn });
    const kms = rolePolicyStatements(kmsStack.template, kmsStack.stack.getLogicalId(kmsStack.stack.cache.passwordRotation.role.node.defaultChild as never))
      .filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')));
    expect(kms).toEqual([
      {
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Effect: 'Allow',
        Resource: keyArn,
        Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } },
      },
    ]);
  });
});

describe('stack: compliance with rotation', () => {
  it('cdk-nag flags no user secret for missing rotation (SMG4), and no user secret acknowledges it', () => {
    const app = new App({ context: contextWith(cdkJson.context.kcc), outdir: outdir() });
    const bare = new Stack(app, 'Bare');
    const vpc = new ec2.Vpc(bare, 'Vpc', { natGateways: 0, subnetConfiguration: [{ name: 'i', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
    const cache = new KccRedisCache(bare, 'Cache', { apps: [{ name: 'a' }], replicationGroupId: 'kcc-redis', vpc });
    app.synth();
    const report = new AwsSolutionsChecks().validateScope(app);
    const smg4 = report.violations.filter((v) => v.ruleName === 'AwsSolutions-SMG4').flatMap((v) => v.violatingResources.map((r) => r.constructPath ?? ''));
    const userSecretPaths = [cache.defaultUser, ...cache.appEnvUsers.values()].map((u) => u.secret.node.path);
    for (const path of userSecretPaths) expect(smg4.some((p) => p.startsWith(`${path}/`))).toBe(false);
    // What SMG4 still flags are the key-encryption-key secrets, acknowledged on their own.
    expect(smg4.length).toBeGreaterThan(0);
    expect(smg4.every((p) => p.includes('/Kek-'))).toBe(true);

    for (const user of [stack.stack.cache.defaultUser, ...stack.stack.cache.appEnvUsers.values()]) {
      const acknowledged = user.secret.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY).flatMap((m) => Object.keys(m.data as object));
      expect(acknowledged.filter((id) => id.includes('SMG4'))).toEqual([]);
    }
  });
});
