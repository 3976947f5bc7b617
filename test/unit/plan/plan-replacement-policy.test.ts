/**
 * What a replacement keeps of the old cache when the deployed and the new template disagree about it
 * (UpdateReplacePolicy; a serverless cache's FinalSnapshotName). CloudFormation deletes the OLD
 * resource, and AWS does not document which template's policy and properties it applies then
 * (infra/plan/data-effects.ts, replacementEffect): the plan promises only what both templates promise.
 */
import { describe, expect, it } from 'vitest';
import { type CfnResource, type ResourceChange, loadUpdateSpec, planUpdate } from '../../../infra/plan/index.js';

const spec = loadUpdateSpec();

function replaced(before: CfnResource, after: CfnResource): { change: ResourceChange; findings: number } {
  const plan = planUpdate({ Resources: { Cache: before } }, { Resources: { Cache: after } }, spec);
  const change = plan.changes.find((c) => c.logicalId === 'Cache');
  if (!change) throw new Error('no change for Cache');
  return { change, findings: plan.findings };
}

/** A serverless cache as KccServerlessCache synthesizes it: removalPolicy "snapshot" sets FinalSnapshotName, "destroy" does not; both UpdateReplacePolicy Delete. */
const serverless = (name: string, removal: 'snapshot' | 'destroy' | 'retain'): CfnResource => ({
  Type: 'AWS::ElastiCache::ServerlessCache',
  Properties: { ServerlessCacheName: name, Engine: 'valkey', MajorEngineVersion: '8', ...(removal === 'snapshot' ? { FinalSnapshotName: `${name}-final` } : {}) },
  DeletionPolicy: removal === 'retain' ? 'Retain' : 'Delete',
  UpdateReplacePolicy: removal === 'retain' ? 'Retain' : 'Delete',
});

const group = (id: string, policy?: 'Snapshot' | 'Retain' | 'Delete'): CfnResource => ({
  Type: 'AWS::ElastiCache::ReplicationGroup',
  Properties: { ReplicationGroupId: id, Engine: 'valkey', EngineVersion: '8.1', CacheNodeType: 'cache.t4g.micro', ClusterMode: 'disabled' },
  ...(policy ? { DeletionPolicy: policy, UpdateReplacePolicy: policy } : {}),
});

describe('plan: what replacing a cache keeps, when the two templates disagree', () => {
  it('serverless, deployed "destroy" (no FinalSnapshotName), new "snapshot" and a new name: no snapshot promised, a finding', () => {
    const { change, findings } = replaced(serverless('kcc-redis', 'destroy'), serverless('kcc-redis-2', 'snapshot'));
    expect(change.action).toBe('replaced');
    expect(change.data).toMatchObject({ fate: 'lost' });
    expect(change.data!.what).toMatch(/no final snapshot \(no FinalSnapshotName\)/);
    expect(change.data!.what).toMatch(
      /deployed template \(UpdateReplacePolicy Delete, no FinalSnapshotName\) and the new one \(UpdateReplacePolicy Delete, FinalSnapshotName set\) differ.*cannot promise "snapshot"/,
    );
    expect(findings).toBe(1);
  });

  it('serverless, deployed "snapshot", new "destroy": no snapshot promised either', () => {
    const { change } = replaced(serverless('kcc-redis', 'snapshot'), serverless('kcc-redis-2', 'destroy'));
    expect(change.data).toMatchObject({ fate: 'lost', what: expect.stringMatching(/cannot promise "snapshot"/) });
  });

  it('serverless, "snapshot" in both templates: a final snapshot is kept', () => {
    const { change } = replaced(serverless('kcc-redis', 'snapshot'), serverless('kcc-redis-2', 'snapshot'));
    expect(change.data).toEqual({ fate: 'snapshot', what: expect.stringMatching(/a final snapshot is kept; the replacement starts empty/) });
  });

  it.each([
    ['none → Snapshot', undefined, 'Snapshot', 'lost', /UpdateReplacePolicy Delete \(default\)\) and the new one \(UpdateReplacePolicy Snapshot\) differ.*cannot promise "snapshot"/],
    ['Snapshot → Delete', 'Snapshot', 'Delete', 'lost', /cannot promise "snapshot"/],
    ['Delete → Retain', 'Delete', 'Retain', 'lost', /cannot promise "retained"/],
    ['Snapshot → Retain', 'Snapshot', 'Retain', 'snapshot', /final snapshot is kept.*cannot promise "retained"/],
    ['Snapshot → Snapshot', 'Snapshot', 'Snapshot', 'snapshot', /^cached data.*final snapshot is kept; the replacement starts empty \(restore by hand\)$/],
    ['Retain → Retain', 'Retain', 'Retain', 'retained', /old resource is kept \(Retain\)/],
  ] as const)('replication group, UpdateReplacePolicy %s', (_name, before, after, fate, what) => {
    const { change } = replaced(group('kcc-redis', before), group('kcc-redis-2', after));
    expect(change.action).toBe('replaced');
    expect(change.data).toEqual({ fate, what: expect.stringMatching(what) });
  });

  it('the advice fits what is replaced: a snapshot for a cache, a copy of the value for a secret', () => {
    expect(replaced(group('kcc-redis', 'Snapshot'), group('kcc-redis-2', 'Delete')).change.data!.what).toMatch(/take a snapshot by hand before deploying/);
    const secret = (name: string, policy: 'Retain' | 'Delete'): CfnResource => ({
      Type: 'AWS::SecretsManager::Secret',
      Properties: { Name: name, GenerateSecretString: { PasswordLength: 64 } },
      DeletionPolicy: policy,
      UpdateReplacePolicy: policy,
    });
    const { change } = replaced(secret('kek', 'Retain'), secret('kek-2', 'Delete'));
    expect(change.data).toMatchObject({ fate: 'lost', what: expect.stringMatching(/cannot promise "retained"; copy the secret's value before deploying/) });
    expect(change.data!.what).not.toMatch(/snapshot/);
  });

  it('a removed cache is deleted under the deployed template\'s DeletionPolicy (the new one has no such resource)', () => {
    const plan = planUpdate({ Resources: { Cache: group('kcc-redis', 'Snapshot') } }, { Resources: {} }, spec);
    expect(plan.changes[0]).toMatchObject({ action: 'removed', data: { fate: 'snapshot' } });
  });
});
