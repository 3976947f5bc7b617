import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { describe, expect, it, vi } from 'vitest';
import { appEnvAccessString, storedAccessString } from '../../../client/src/contract/naming.js';
import { CacheEngine, KccStackConfigError, iamAuthVersionProblem, parseConfig } from '../../../infra/index.js';
import { build, synth } from '../../support/synth.js';

vi.setConfig({ testTimeout: 120_000 });

type Resource = { Type: string; Properties: Record<string, unknown> };
type Statement = { Action: string | string[]; Resource: unknown; Effect: string; Condition?: unknown };

/** A template value with intrinsics written out: `arn:${AWS::Partition}:…:${Ref Cache…}`. */
function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value !== 'object' || value === null) return String(value);
  const v = value as Record<string, unknown>;
  if ('Ref' in v) return `\${${String(v.Ref)}}`;
  if ('Fn::Join' in v) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(text).join(sep);
  }
  return JSON.stringify(value);
}

const users = (t: Template) => Object.values(t.findResources('AWS::ElastiCache::User')) as Resource[];
const userNamed = (t: Template, name: string) => users(t).filter((u) => u.Properties.UserName === name);
const secrets = (t: Template) => Object.values(t.findResources('AWS::SecretsManager::Secret')) as Resource[];
const generated = (s: Resource) => s.Properties.GenerateSecretString as { GenerateStringKey: string; SecretStringTemplate: unknown };

function policyOf(t: Template, roleLogicalIdPrefix: string): Statement[] {
  const policies = Object.values(t.findResources('AWS::IAM::Policy')).filter((p) => JSON.stringify(p.Properties.Roles).includes(roleLogicalIdPrefix));
  return policies.flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

describe('IAM authentication: the users', () => {
  const { template, stack } = synth({ apps: ['my-app', { name: 'billing', auth: 'iam' }] });

  it.each(['billing-prod', 'billing-dev'])('%s gets an IAM user: AuthenticationMode type "iam", no password, user id = user name carrying the namespace', (appEnv) => {
    const name = `kcc-redis-${appEnv}-iam`;
    const [user, ...others] = userNamed(template, name);
    expect(others).toEqual([]);
    const [app, env] = [appEnv.slice(0, appEnv.lastIndexOf('-')), appEnv.slice(appEnv.lastIndexOf('-') + 1)];
    // The exact properties: nothing else (no Passwords, no NoPasswordRequired).
    expect(user!.Properties).toEqual({
      UserId: name,
      UserName: name,
      Engine: 'valkey',
      AuthenticationMode: { Type: 'iam' },
      // The same namespace `<app>-<env>:` as a password user would have: the name does not change the prefix.
      AccessString: storedAccessString(appEnvAccessString({ app, env })),
    });
    expect(userNamed(template, appEnv)).toEqual([]);
  });

  it('keeps password users for the apps that do not say otherwise', () => {
    for (const name of ['my-app-prod', 'my-app-dev']) {
      expect(userNamed(template, name).map((u) => (u.Properties.AuthenticationMode as { Type: string }).Type)).toEqual(['password']);
    }
  });

  it('puts the IAM users in the one user group, beside the default and the password users', () => {
    const [group] = Object.values(template.findResources('AWS::ElastiCache::UserGroup')) as Resource[];
    expect(group!.Properties.UserIds).toEqual(['kcc-redis-admin', 'kcc-redis-my-app-prod', 'kcc-redis-my-app-dev', 'kcc-redis-billing-prod-iam', 'kcc-redis-billing-dev-iam']);
  });

  it('creates no password secret for an IAM user; every app-env keeps its key-encryption key', () => {
    const passwordSecrets = secrets(template).filter((s) => generated(s).GenerateStringKey === 'password');
    const usernames = passwordSecrets.map((s) => /\\"username\\":\\"([^\\]+)\\"/.exec(JSON.stringify(generated(s).SecretStringTemplate))![1]);
    expect(usernames.sort()).toEqual(['default', 'my-app-dev', 'my-app-prod']);
    expect([...stack.cache.keyEncryptionKeys.keys()]).toEqual(['my-app-prod', 'my-app-dev', 'billing-prod', 'billing-dev']);
    expect(secrets(template).filter((s) => generated(s).GenerateStringKey === 'kek')).toHaveLength(4);
  });

  it('schedules password rotation for password secrets only, and the rotation function may not touch an IAM user', () => {
    expect([...stack.cache.passwordRotation.schedules.keys()].sort()).toEqual(['kcc-redis-admin', 'kcc-redis-my-app-dev', 'kcc-redis-my-app-prod']);
    const roleId = stack.getLogicalId(stack.cache.passwordRotation.role.node.defaultChild as never);
    const elastiCache = policyOf(template, roleId).filter((s) => [s.Action].flat().some((a) => a.startsWith('elasticache:')));
    expect(elastiCache).toHaveLength(1);
    const userArns = [elastiCache[0]!.Resource].flat().map(text);
    expect(userArns.map((arn) => arn.replace(/^.*:user:/, '')).sort()).toEqual(['kcc-redis-admin', 'kcc-redis-my-app-dev', 'kcc-redis-my-app-prod']);
    expect(userArns.join(' ')).not.toMatch(/-iam\b/);
  });

  it('outputs the IAM user and the cache facts a token needs, and no password block, in format version 2', () => {
    const value = text(template.findOutputs('AppEnvBillingProd').AppEnvBillingProd!.Value);
    const parsed = JSON.parse(value.replace(/\$\{[^}]+\}/g, 'X')) as Record<string, unknown>;
    expect(parsed).toEqual({
      v: 2,
      keyPrefix: 'billing-prod:',
      kekSecretArn: 'X',
      cache: { name: 'X', kind: 'replication-group', clusterMode: false, region: 'X' },
      iam: { username: 'kcc-redis-billing-prod-iam' },
    });
    expect(value).toMatch(/"region":"\$\{AWS::Region\}"/);
    expect(value).toMatch(/"name":"\$\{Cache[0-9A-F]{8}\}"/);
  });
});

describe('IAM authentication: both users while moving ("password+iam")', () => {
  const { template } = synth({ apps: [{ name: 'a', envs: ['prod'], auth: 'password+iam' }] });

  it('has the password user and the IAM user, with different ids and the same access string', () => {
    const [password] = userNamed(template, 'a-prod');
    const [iamUser] = userNamed(template, 'kcc-redis-a-prod-iam');
    expect(password!.Properties).toMatchObject({ UserId: 'kcc-redis-a-prod', AuthenticationMode: { Type: 'password' } });
    expect(iamUser!.Properties).toMatchObject({ UserId: 'kcc-redis-a-prod-iam', AuthenticationMode: { Type: 'iam' } });
    expect(iamUser!.Properties.AccessString).toBe(password!.Properties.AccessString);
  });

  it('outputs both users for the app-env', () => {
    const value = text(template.findOutputs('AppEnvAProd').AppEnvAProd!.Value);
    expect(value).toContain('"password":{"username":"a-prod","secretArn":"${CacheUseraprodSecret');
    expect(value).toContain('"iam":{"username":"kcc-redis-a-prod-iam"}');
  });
});

describe('IAM authentication: grantConnect', () => {
  function grantedStatements(kcc: object, app = 'billing', env = 'prod') {
    const built = build(kcc);
    const role = new iam.Role(built.stack, 'AppRole', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
    const grant = built.stack.cache.grantConnect(role, app, env);
    expect(grant.success).toBe(true);
    return { statements: policyOf(Template.fromStack(built.stack), 'AppRole'), built };
  }

  it('gives exactly elasticache:Connect on the replication group and on the app-env\'s IAM user', () => {
    const { statements, built } = grantedStatements({ apps: [{ name: 'billing', auth: 'iam' }, { name: 'other', auth: 'iam' }] });
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatchObject({ Effect: 'Allow', Action: 'elasticache:Connect' });
    expect(statements[0]!.Condition).toBeUndefined();
    const rgId = built.stack.getLogicalId(built.stack.cache.resource as never);
    expect([statements[0]!.Resource].flat().map(text)).toEqual([
      `arn:\${AWS::Partition}:elasticache:\${AWS::Region}:\${AWS::AccountId}:replicationgroup:\${${rgId}}`,
      'arn:${AWS::Partition}:elasticache:${AWS::Region}:${AWS::AccountId}:user:kcc-redis-billing-prod-iam',
    ]);
  });

  it('names the serverless cache (serverlesscache:<name>) on a serverless deployment', () => {
    const { statements, built } = grantedStatements({ deployment: 'serverless', apps: [{ name: 'billing', auth: 'iam' }] });
    const cacheId = built.stack.getLogicalId(built.stack.cache.resource as never);
    expect([statements[0]!.Resource].flat().map(text)).toEqual([
      `arn:\${AWS::Partition}:elasticache:\${AWS::Region}:\${AWS::AccountId}:serverlesscache:\${${cacheId}}`,
      'arn:${AWS::Partition}:elasticache:${AWS::Region}:${AWS::AccountId}:user:kcc-redis-billing-prod-iam',
    ]);
  });

  it('refuses an app-env without an IAM user, and an unknown one, naming the fix', () => {
    const built = build({ apps: ['my-app', { name: 'billing', auth: 'iam' }] });
    const role = new iam.Role(built.stack, 'AppRole', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
    expect(() => built.stack.cache.grantConnect(role, 'my-app', 'prod')).toThrow(TypeError);
    expect(() => built.stack.cache.grantConnect(role, 'my-app', 'prod')).toThrow(/App-env "my-app-prod" has no IAM-authenticated user \(auth "password"\); give its app auth "iam"/);
    expect(() => built.stack.cache.grantConnect(role, 'nope', 'prod')).toThrow(/No Redis user for app "nope" env "prod"; known: my-app-prod, my-app-dev, billing-prod, billing-dev/);
    expect(() => built.stack.cache.appEnvUser('billing', 'prod')).toThrow(/App-env "billing-prod" authenticates by IAM only/);
  });

  it('grantRead of an IAM app-env reads its key-encryption key only (it has no user secret)', () => {
    const built = build({ apps: [{ name: 'billing', auth: 'iam' }] });
    const role = new iam.Role(built.stack, 'AppRole', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
    built.stack.cache.grantRead(role, 'billing', 'prod');
    const granted = policyOf(Template.fromStack(built.stack), 'AppRole').flatMap((s) => [s.Resource].flat().map(text));
    expect(granted).toEqual([expect.stringMatching(/^\$\{CacheKekbillingprodSecret[0-9A-F]{8}\}$/)]);
  });
});

describe('IAM authentication: config', () => {
  function problems(raw: object): string {
    try {
      parseConfig(raw);
    } catch (error) {
      if (error instanceof KccStackConfigError) return error.problems.join('\n');
      throw error;
    }
    throw new Error('expected a config error');
  }

  it('takes auth for every app-env or per app', () => {
    expect(parseConfig({ apps: ['a', { name: 'b', auth: 'password' }], auth: 'iam' }).appEnvs.map((e) => `${e.app}-${e.env}:${e.auth}`)).toEqual([
      'a-prod:iam', 'a-dev:iam', 'b-prod:password', 'b-dev:password',
    ]);
  });

  it.each<[string, object, RegExp]>([
    ['an unknown auth', { apps: ['a'], auth: 'token' }, /auth: "token" must be one of "password", "iam", "password\+iam"/],
    ['an unknown auth of an app', { apps: [{ name: 'a', auth: 'IAM' }] }, /apps\[0\]\.auth: "IAM" must be one of "password", "iam", "password\+iam"/],
    ['an IAM user id past 40 characters (it is also its name)', { apps: [{ name: 'a'.repeat(23), envs: ['prod'], auth: 'iam' }] },
      /apps: "a{23}" env "prod" \(IAM\): user id "kcc-redis-a{23}-prod-iam" \(IAM user id and name: <replicationGroupId>-<app>-<env>-iam\) must be at most 40 characters/],
    ['an IAM user id taken by another app-env\'s password user', { apps: [{ name: 'a', envs: ['prod'], auth: 'iam' }, { name: 'a-prod', envs: ['iam'] }] },
      /user id "kcc-redis-a-prod-iam" is already used by apps: "a" env "prod" \(IAM\)/],
    ['two users per app-env past the user group', { apps: Array.from({ length: 25 }, (_, i) => ({ name: `a${i}`, auth: 'password+iam' })) },
      /apps: 50 app-envs \(25 apps\); one stack holds at most 49 with auth "password\+iam"/],
    ['a mix past the resource limit, counted app-env by app-env',
      { apps: [...Array.from({ length: 50 }, (_, i) => ({ name: `p${i}`, envs: ['prod'] })), ...Array.from({ length: 20 }, (_, i) => ({ name: `i${i}`, envs: ['prod'], auth: 'iam' }))] },
      /apps: 70 app-envs \(70 apps\) need 430 resources, 70 users and 50 dynamic references; one stack has room for 425 resources, 99 users and 59 dynamic references besides its own \(per app-env, resources, users and dynamic references: "password" 7, 1 and 1; "iam" 4, 1 and 0; "password\+iam" 8, 2 and 1\): they would make 505 CloudFormation resources .*past the 500 a template takes; split the apps over two stacks \(/],
  ])('refuses %s', (_name, raw, message) => {
    expect(problems(raw)).toMatch(message);
  });

  it('knows the engine versions IAM authentication needs (Valkey 7.2+, Redis OSS 7.0+)', () => {
    expect(iamAuthVersionProblem(CacheEngine.REDIS, '6.2')).toBe('IAM authentication needs redis 7.0 or later, got 6.2');
    expect(iamAuthVersionProblem(CacheEngine.VALKEY, '7.1')).toBe('IAM authentication needs valkey 7.2 or later, got 7.1');
    for (const [engine, version] of [[CacheEngine.REDIS, '7.0'], [CacheEngine.VALKEY, '7.2'], [CacheEngine.VALKEY, '7'], [CacheEngine.VALKEY, '9.1']] as const) {
      expect(iamAuthVersionProblem(engine, version)).toBeUndefined();
    }
  });
});
