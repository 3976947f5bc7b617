import { beforeAll, describe, expect, it } from 'vitest';
import cdkJson from '../../../cdk.json' with { type: 'json' };
import { type CfnTemplate, type UpdatePlan, loadUpdateSpec, planUpdate, renderPlanTable, synthesizeWithContext } from '../../../infra/plan/index.js';

/**
 * The stack's own templates, each synthesized once (bundling and validation off), planned against
 * the default config's. The assertions name resources by type and role, not by today's logical ids.
 */
const KMS_KEY = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const CONFIGS = {
  base: { apps: ['my-app'] },
  replica: { apps: ['my-app'], replicas: 2 },
  port: { apps: ['my-app'], port: 6380 },
  kms: { apps: ['my-app'], kmsKeyArn: KMS_KEY },
  engine: { apps: ['my-app'], engine: 'redis' },
  shards: { apps: ['my-app'], shards: 2 },
  dropEnv: { apps: [{ name: 'my-app', envs: ['prod'] }] },
  nodeType: { apps: ['my-app'], nodeType: 'cache.t4g.small' },
} as const;

const templates = new Map<keyof typeof CONFIGS, CfnTemplate>();
const spec = loadUpdateSpec();

beforeAll(() => {
  for (const [name, kcc] of Object.entries(CONFIGS)) {
    templates.set(name as keyof typeof CONFIGS, synthesizeWithContext({ ...cdkJson.context, kcc }, { validate: false }));
  }
}, 240_000);

function planFromBase(to: keyof typeof CONFIGS): UpdatePlan {
  return planUpdate(templates.get('base')!, templates.get(to)!, spec);
}

/** [action, type] of every change, sorted, for order-independent comparison. */
function rows(plan: UpdatePlan, actions?: readonly string[]): string[] {
  return plan.changes.filter((c) => !actions || actions.includes(c.action)).map((c) => `${c.action} ${c.type}`).sort();
}

function only(plan: UpdatePlan, type: string) {
  const found = plan.changes.filter((c) => c.type === type);
  expect(found).toHaveLength(1);
  return found[0]!;
}

describe('plan on the stack: the same config', () => {
  it('has nothing to change and exits clean', () => {
    const plan = planFromBase('base');
    expect(plan).toMatchObject({ changes: [], outputs: [], findings: 0 });
  });
});

describe('plan on the stack: what the issue found', () => {
  it('+1 replica: ReplicasPerNodeGroup is create-only and the group keeps its ReplicationGroupId: blocked', () => {
    const plan = planFromBase('replica');
    expect(rows(plan)).toEqual(['blocked AWS::ElastiCache::ReplicationGroup']);
    const rg = only(plan, 'AWS::ElastiCache::ReplicationGroup');
    expect(rg.causes).toEqual([expect.objectContaining({ property: 'ReplicasPerNodeGroup', effect: 'replace', reason: expect.stringMatching(/^1 → 2; create-only/) })]);
    expect(rg.blockedBecause).toMatch(/^ReplicationGroupId "kcc-redis" is a custom name/);
    expect(renderPlanTable(plan, { color: false })).toMatch(/^BLOCKED\s+\S+\s+AWS::ElastiCache::ReplicationGroup\s+ReplicasPerNodeGroup: 1 → 2; create-only \(ReplicasPerNodeGroup\)$/m);
  });

  it('another port: the group is blocked (Port), the security group and its rules are replaced', () => {
    const plan = planFromBase('port');
    expect(only(plan, 'AWS::ElastiCache::ReplicationGroup')).toMatchObject({ action: 'blocked', causes: expect.arrayContaining([expect.objectContaining({ property: 'Port', effect: 'replace' })]) });
    expect(rows(plan, ['blocked', 'replaced'])).toContain('blocked AWS::ElastiCache::ReplicationGroup');
    expect(plan.findings).toBeGreaterThan(0);
  });

  it('another KMS key: the group is blocked (KmsKeyId); the secrets re-encrypt in place', () => {
    const plan = planFromBase('kms');
    expect(only(plan, 'AWS::ElastiCache::ReplicationGroup')).toMatchObject({ action: 'blocked', causes: [expect.objectContaining({ property: 'KmsKeyId', effect: 'replace' })] });
    const secrets = plan.changes.filter((c) => c.type === 'AWS::SecretsManager::Secret');
    expect(secrets.length).toBeGreaterThanOrEqual(3); // default user, one user and one KEK per app-env
    for (const s of secrets) expect(s).toMatchObject({ action: 'in-place', causes: [expect.objectContaining({ property: 'KmsKeyId', effect: 'in-place' })] });
    expect(secrets.some((s) => s.data)).toBe(false);
  });

  it('another engine: the group, every user and the user group keep their custom ids: blocked', () => {
    const plan = planFromBase('engine');
    const blocked = rows(plan, ['blocked']);
    expect(blocked).toContain('blocked AWS::ElastiCache::ReplicationGroup');
    expect(blocked).toContain('blocked AWS::ElastiCache::UserGroup');
    expect(blocked.filter((r) => r === 'blocked AWS::ElastiCache::User')).toHaveLength(3);
  });

  it('more shards: NumNodeGroups without online resharding replaces, and cluster mode cannot switch in one step: blocked', () => {
    const rg = only(planFromBase('shards'), 'AWS::ElastiCache::ReplicationGroup');
    expect(rg.action).toBe('blocked');
    expect(rg.causes).toEqual(expect.arrayContaining([expect.objectContaining({ property: 'NumNodeGroups', effect: 'replace', reason: expect.stringMatching(/UseOnlineResharding/) })]));
    expect(rg.blockedBecause).toMatch(/ClusterMode disabled → enabled/);
  });

  it('an app-env removed: its user, secrets and rotation go; the key-encryption key is lost', () => {
    const plan = planFromBase('dropEnv');
    expect(rows(plan, ['removed'])).toEqual([
      'removed AWS::ElastiCache::User',
      'removed AWS::SecretsManager::ResourcePolicy',
      'removed AWS::SecretsManager::RotationSchedule',
      'removed AWS::SecretsManager::Secret',
      'removed AWS::SecretsManager::Secret',
    ]);
    const lost = plan.changes.filter((c) => c.data?.fate === 'lost').map((c) => c.data!.what);
    expect(lost).toEqual(expect.arrayContaining([expect.stringMatching(/^the key-encryption key/), expect.stringMatching(/^the generated Redis password/)]));
    expect(only(plan, 'AWS::ElastiCache::UserGroup')).toMatchObject({ action: 'in-place', causes: [expect.objectContaining({ property: 'UserIds' })] });
    expect(plan.outputs.filter((o) => o.action === 'removed').length).toBeGreaterThan(0);
    expect(plan.findings).toBeGreaterThan(0);
  });

  it('another node size changes the group in place: no finding', () => {
    const plan = planFromBase('nodeType');
    expect(rows(plan)).toEqual(['in-place AWS::ElastiCache::ReplicationGroup']);
    expect(plan.findings).toBe(0);
  });
});
