import { App, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Runtime, RuntimeFamily } from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import cdkJson from '../../../cdk.json' with { type: 'json' };
import { CONFIG_DEFAULTS, KccRedisCache, KccStackConfigError, NAG_ACKNOWLEDGEMENTS, parseConfig } from '../../../infra/index.js';
import { ROTATION_RUNTIME } from '../../../infra/rotation/redis-password-rotation.js';
import {
  DEFAULT_KEK_ROTATION_DAYS,
  KEK_ROTATION_TAG_KEY,
  ROTATION_TAG_ENV,
  ROTATION_TAG_KEY,
  ROTATION_TIMING,
} from '../../../infra/rotation/rotation-contract.js';
import { type Synthesized, contextWith, outdir, synth } from '../../support/synth.js';

type Resource = { Type: string; Properties: Record<string, unknown>; DependsOn?: string[] };
type Statement = { Action: string | string[]; Resource: unknown; Effect: string; Condition?: unknown };

const USER_IDS = ['kcc-redis-admin', 'kcc-redis-my-app-prod', 'kcc-redis-my-app-dev', 'kcc-redis-billing-prod', 'kcc-redis-billing-dev'];
const APP_ENVS = ['my-app-prod', 'my-app-dev', 'billing-prod', 'billing-dev'];
const stack = synth({ apps: ['my-app', 'billing'] });
const { template } = stack;
const resources = (type: string, t = template) => t.findResources(type) as Record<string, Resource>;
const logicalIdIn = (s: Synthesized, construct: unknown) => s.stack.getLogicalId((construct as { node: { defaultChild: never } }).node.defaultChild);
const logicalId = (construct: unknown) => logicalIdIn(stack, construct);

/** Logical ids of the user secrets (default user + app-envs), by user id. */
const userSecrets = new Map(
  [stack.stack.cache.defaultUser, ...stack.stack.cache.appEnvUsers.values()].map((user) => [user.userId, logicalId(user.secret)]),
);
/** Logical ids of the key-encryption-key secrets, by app-env. */
const kekSecrets = new Map([...stack.stack.cache.keyEncryptionKeys].map(([name, kek]) => [name, logicalId(kek.secret)]));

const rotations = {
  password: { construct: stack.stack.cache.passwordRotation, secrets: [...userSecrets.values()], tagKey: ROTATION_TAG_KEY },
  'key-encryption-key': { construct: stack.stack.cache.kekRotation, secrets: [...kekSecrets.values()], tagKey: KEK_ROTATION_TAG_KEY },
};
type Kind = keyof typeof rotations;
const KINDS = Object.keys(rotations) as Kind[];
const functionId = (kind: Kind) => logicalId(rotations[kind].construct.function);
const roleId = (kind: Kind) => logicalId(rotations[kind].construct.role);

function rolePolicyStatements(role: string, t = template): Statement[] {
  const policies = Object.values(resources('AWS::IAM::Policy', t)).filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === role));
  return policies.flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

const actionsOf = (s: Statement) => [s.Action].flat().sort();
const resourcesOf = (s: Statement) => [s.Resource].flat();
const schedulesOf = (kind: Kind, t = template, fnId = functionId(kind)) =>
  Object.entries(resources('AWS::SecretsManager::RotationSchedule', t)).filter(([, s]) => JSON.stringify(s.Properties.RotationLambdaARN).includes(fnId));
const secretRef = (schedule: Resource) => (schedule.Properties.SecretId as { Ref: string }).Ref;

describe('stack: rotation schedules', () => {
  it('gives every user secret one password rotation schedule and every key-encryption-key secret one KEK rotation schedule, and nothing else one', () => {
    expect(userSecrets.size).toBe(USER_IDS.length);
    expect(kekSecrets.size).toBe(APP_ENVS.length);
    const all = Object.values(resources('AWS::SecretsManager::RotationSchedule'));
    expect(all).toHaveLength(USER_IDS.length + APP_ENVS.length);
    for (const kind of KINDS) {
      const schedules = schedulesOf(kind).map(([, s]) => s);
      expect(schedules.map(secretRef).sort()).toEqual([...rotations[kind].secrets].sort());
      for (const schedule of schedules) {
        expect(schedule.Properties).toEqual({
          SecretId: expect.any(Object),
          RotationLambdaARN: { 'Fn::GetAtt': [functionId(kind), 'Arn'] },
          RotationRules: { ScheduleExpression: kind === 'password' ? 'rate(30 days)' : `rate(${DEFAULT_KEK_ROTATION_DAYS} days)` },
          RotateImmediatelyOnUpdate: false,
        });
      }
    }
  });

  it('rotates every passwordRotationDays and kekRotationDays', () => {
    const s = synth({ apps: ['a'], passwordRotationDays: 7, kekRotationDays: 365 });
    const expressions = (kind: Kind) =>
      schedulesOf(kind, s.template, logicalIdIn(s, kind === 'password' ? s.stack.cache.passwordRotation.function : s.stack.cache.kekRotation.function)).map(
        ([, schedule]) => (schedule.Properties.RotationRules as { ScheduleExpression: string }).ScheduleExpression,
      );
    expect(expressions('password')).toEqual(['rate(7 days)', 'rate(7 days)', 'rate(7 days)']);
    expect(expressions('key-encryption-key')).toEqual(['rate(365 days)', 'rate(365 days)']);
  });

  it('defaults kekRotationDays to 90 and refuses values outside 1-1000, naming the field', () => {
    expect(CONFIG_DEFAULTS.kekRotationDays).toBe(DEFAULT_KEK_ROTATION_DAYS);
    expect(parseConfig({ apps: ['a'] }).kekRotationDays).toBe(90);
    for (const bad of [0, 1001, 1.5, '90']) {
      let error: unknown;
      try {
        parseConfig({ apps: ['a'], kekRotationDays: bad });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(KccStackConfigError);
      expect((error as KccStackConfigError).problems.join('\n')).toMatch(/kekRotationDays/);
      expect((error as KccStackConfigError).problems.join('\n')).toContain(JSON.stringify(bad));
    }
  });

  it("starts rotating a user secret only once its ElastiCache user and the replication group exist (the configuration test waits for an active user)", () => {
    const users = resources('AWS::ElastiCache::User');
    const rg = logicalId(stack.stack.cache);
    for (const [userId, secretId] of userSecrets) {
      const [, schedule] = schedulesOf('password').find(([, s]) => secretRef(s) === secretId)!;
      const userLogicalId = Object.entries(users).find(([, u]) => u.Properties.UserId === userId)![0];
      expect(schedule.DependsOn).toEqual(expect.arrayContaining([userLogicalId, rg]));
    }
  });

  it('tags the user secrets for the password function and the key-encryption-key secrets for the KEK function, each with the replication group id', () => {
    for (const [id, secret] of Object.entries(resources('AWS::SecretsManager::Secret'))) {
      const tags = Object.fromEntries(((secret.Properties.Tags as { Key: string; Value: string }[] | undefined) ?? []).map((t) => [t.Key, t.Value]));
      expect(tags[ROTATION_TAG_KEY]).toBe(rotations.password.secrets.includes(id) ? 'kcc-redis' : undefined);
      expect(tags[KEK_ROTATION_TAG_KEY]).toBe(rotations['key-encryption-key'].secrets.includes(id) ? 'kcc-redis' : undefined);
    }
    for (const kind of KINDS) {
      expect(resources('AWS::Lambda::Function')[functionId(kind)]!.Properties.Environment).toEqual({ Variables: { [ROTATION_TAG_ENV]: 'kcc-redis' } });
    }
  });
});

describe('stack: the rotation functions', () => {
  it.each(KINDS)('the %s function runs on the latest Node.js runtime aws-cdk-lib knows, bundled (no Docker), outside any VPC, logging to its own group', (kind) => {
    const nodeVersions = Runtime.ALL.filter((r) => r.family === RuntimeFamily.NODEJS && /^nodejs\d+\.x$/.test(r.name)).map((r) => Number(/\d+/.exec(r.name)![0]));
    expect(ROTATION_RUNTIME.name).toBe(`nodejs${Math.max(...nodeVersions)}.x`);
    const fn = resources('AWS::Lambda::Function')[functionId(kind)]!.Properties;
    expect(fn).toMatchObject({ Runtime: ROTATION_RUNTIME.name, Handler: 'index.handler', Architectures: ['arm64'] });
    expect((fn.Code as { S3Key: string }).S3Key).toMatch(/^[0-9a-f]{64}\.zip$/);
    expect(fn.VpcConfig).toBeUndefined();
    expect(fn.LoggingConfig).toEqual({ LogGroup: { Ref: logicalId(rotations[kind].construct.logGroup) } });
  });

  it('gives the password function the 12 minutes AWS asks for ElastiCache user rotation, and more (15, Lambda\'s maximum)', () => {
    const timeout = resources('AWS::Lambda::Function')[functionId('password')]!.Properties.Timeout as number;
    expect(timeout).toBeGreaterThanOrEqual(12 * 60);
    expect(timeout).toBe(ROTATION_TIMING.functionTimeoutSeconds);
    expect(resources('AWS::Lambda::Function')[functionId('key-encryption-key')]!.Properties.Timeout).toBe(60);
  });

  it.each(KINDS)('the %s function may be invoked by Secrets Manager from its own account only', (kind) => {
    const permissions = Object.values(resources('AWS::Lambda::Permission')).filter((p) => JSON.stringify(p.Properties.FunctionName).includes(functionId(kind)));
    expect(permissions.map((p) => p.Properties)).toEqual([
      { Action: 'lambda:InvokeFunction', FunctionName: { 'Fn::GetAtt': [functionId(kind), 'Arn'] }, Principal: 'secretsmanager.amazonaws.com', SourceAccount: { Ref: 'AWS::AccountId' } },
    ]);
  });
});

describe('stack: least privilege of the rotation functions', () => {
  it.each(KINDS)('the %s function has a role of its own without any managed policy', (kind) => {
    const role = resources('AWS::IAM::Role')[roleId(kind)]!.Properties;
    expect(role.ManagedPolicyArns).toBeUndefined();
    expect(role.AssumeRolePolicyDocument).toMatchObject({ Statement: [{ Action: 'sts:AssumeRole', Principal: { Service: 'lambda.amazonaws.com' } }] });
    expect(roleId('password')).not.toBe(roleId('key-encryption-key'));
  });

  it.each(KINDS)('the %s function may write to its own log group only', (kind) => {
    const logs = rolePolicyStatements(roleId(kind)).filter((s) => actionsOf(s).some((a) => a.startsWith('logs:')));
    expect(logs.map((s) => [actionsOf(s), s.Resource])).toEqual([
      [['logs:CreateLogStream', 'logs:PutLogEvents'], { 'Fn::GetAtt': [logicalId(rotations[kind].construct.logGroup), 'Arn'] }],
    ]);
  });

  it.each(KINDS)('the %s function may read and stage exactly its own secrets, never the other function\'s', (kind) => {
    const sm = rolePolicyStatements(roleId(kind)).filter((s) => actionsOf(s).some((a) => a.startsWith('secretsmanager:')) && !actionsOf(s).includes('secretsmanager:GetRandomPassword'));
    expect(sm).toHaveLength(1);
    expect(actionsOf(sm[0]!)).toEqual([
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
      'secretsmanager:PutSecretValue',
      'secretsmanager:UpdateSecretVersionStage',
    ]);
    expect(resourcesOf(sm[0]!).map((r) => (r as { Ref: string }).Ref).sort()).toEqual([...rotations[kind].secrets].sort());
  });

  it('only the password function may describe and modify ElastiCache users: exactly the stack\'s', () => {
    const ec = rolePolicyStatements(roleId('password')).filter((s) => actionsOf(s).some((a) => a.startsWith('elasticache:')));
    expect(ec).toHaveLength(1);
    expect(actionsOf(ec[0]!)).toEqual(['elasticache:DescribeUsers', 'elasticache:ModifyUser']);
    const userIds = resourcesOf(ec[0]!).map((r) => JSON.stringify(r).match(/:user:([a-z0-9-]+)"/)?.[1]);
    expect(userIds.sort()).toEqual([...USER_IDS].sort());
  });

  it.each<[Kind, string[]]>([
    ['password', ['elasticache:DescribeUsers', 'elasticache:ModifyUser']],
    ['key-encryption-key', []],
  ])('the %s function: "*" only for secretsmanager:GetRandomPassword (no resource type), no action wildcard, nothing else', (kind, extra) => {
    const statements = rolePolicyStatements(roleId(kind));
    const star = statements.filter((s) => resourcesOf(s).includes('*'));
    expect(star.map((s) => [actionsOf(s), s.Resource])).toEqual([[['secretsmanager:GetRandomPassword'], '*']]);
    expect(statements.flatMap(actionsOf).filter((a) => a.includes('*'))).toEqual([]);
    expect(statements.every((s) => s.Effect === 'Allow')).toBe(true);
    expect(statements.flatMap(actionsOf).sort()).toEqual(
      [
        ...extra,
        'logs:CreateLogStream', 'logs:PutLogEvents',
        'secretsmanager:DescribeSecret', 'secretsmanager:GetRandomPassword', 'secretsmanager:GetSecretValue',
        'secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage',
      ].sort(),
    );
  });

  it.each(KINDS)('the %s function may use a customer KMS key for the secrets, through Secrets Manager only', (kind) => {
    const keyArn = 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555';
    const kmsStack = synth({ apps: ['a'], kmsKeyArn: keyArn });
    const construct = kind === 'password' ? kmsStack.stack.cache.passwordRotation : kmsStack.stack.cache.kekRotation;
    const kms = rolePolicyStatements(logicalIdIn(kmsStack, construct.role), kmsStack.template).filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')));
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
  it('cdk-nag flags no secret for missing rotation (SMG4), and nothing acknowledges SMG4', () => {
    const app = new App({ context: contextWith(cdkJson.context.kcc), outdir: outdir() });
    const bare = new Stack(app, 'Bare');
    const vpc = new ec2.Vpc(bare, 'Vpc', { natGateways: 0, subnetConfiguration: [{ name: 'i', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
    const cache = new KccRedisCache(bare, 'Cache', { apps: [{ name: 'a' }], replicationGroupId: 'kcc-redis', vpc });
    app.synth();
    const report = new AwsSolutionsChecks().validateScope(app);
    const smg4 = report.violations.filter((v) => v.ruleName === 'AwsSolutions-SMG4');
    expect(smg4).toEqual([]);
    // The rule did look at every secret: the construct has user and key-encryption-key secrets.
    expect(cache.keyEncryptionKeys.size).toBe(2);
    expect(Object.values(NAG_ACKNOWLEDGEMENTS).map((a) => a.id)).not.toContain('AwsSolutions-SMG4');

    for (const secret of [...stack.stack.cache.appEnvUsers.values(), stack.stack.cache.defaultUser, ...stack.stack.cache.keyEncryptionKeys.values()].map((s) => s.secret)) {
      const acknowledged = secret.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY).flatMap((m) => Object.keys(m.data as object));
      expect(acknowledged.filter((id) => id.includes('SMG4'))).toEqual([]);
    }
  });

  it('cdk-nag does flag SMG4 for a key-encryption-key secret without its schedule (proof that the check runs)', () => {
    const app = new App({ context: contextWith(cdkJson.context.kcc), outdir: outdir() });
    const bare = new Stack(app, 'Bare');
    const vpc = new ec2.Vpc(bare, 'Vpc', { natGateways: 0, subnetConfiguration: [{ name: 'i', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
    const cache = new KccRedisCache(bare, 'Cache', { vpc, apps: [{ name: 'a' }] });
    for (const schedule of cache.kekRotation.schedules.values()) schedule.node.scope!.node.tryRemoveChild(schedule.node.id);
    app.synth();
    const report = new AwsSolutionsChecks().validateScope(app);
    const flagged = report.violations.filter((v) => v.ruleName === 'AwsSolutions-SMG4').flatMap((v) => v.violatingResources.map((r) => r.constructPath ?? ''));
    expect(flagged.length).toBe(2);
    expect(flagged.every((p) => p.includes('/Kek-'))).toBe(true);
  });
});
