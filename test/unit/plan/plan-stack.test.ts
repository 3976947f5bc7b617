import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import cdkJson from '../../../cdk.json' with { type: 'json' };
import { KccStackConfigError, parseConfig } from '../../../infra/index.js';
import {
  BASE_CONFIG,
  CONFIG_VARIATIONS,
  type FieldClassification,
  UNPLANNED_FIELDS,
  classifyConfigChanges,
  renderClassificationTable,
} from '../../../infra/plan/config-classification.js';
import { type CfnTemplate, type UpdatePlan, loadUpdateSpec, planUpdate, renderPlanTable, synthesizeWithContext } from '../../../infra/plan/index.js';

/**
 * The stack's own templates planned against each other. Each config is synthesized once (bundling
 * and validation off) and shared by both parts of this file: the table rows of the changes the
 * issue found, and docs/configuration-changes.md's table, which is the planner's output for one
 * change of each `kcc` field. The doc part fails when the page is stale; to rewrite the page:
 *   KCC_UPDATE_DOCS=1 npx vitest run test/unit/plan/plan-stack.test.ts
 * Assertions name resources by type and role, not by today's logical ids.
 */
const spec = loadUpdateSpec();
const templates = new Map<string, CfnTemplate>();

/** The template of BASE_CONFIG with `overrides`, synthesized on first use. */
function synth(overrides: Readonly<Record<string, unknown>> = {}): CfnTemplate {
  const kcc = { ...BASE_CONFIG, ...overrides };
  const key = JSON.stringify(kcc);
  if (!templates.has(key)) templates.set(key, synthesizeWithContext({ ...cdkJson.context, kcc }, { validate: false }));
  return templates.get(key)!;
}

let classification: FieldClassification[];
beforeAll(() => {
  classification = classifyConfigChanges(synth, spec);
}, 300_000);

const KMS_KEY = CONFIG_VARIATIONS.find((v) => v.field === 'kmsKeyArn')!.after.kmsKeyArn;

function planFromBase(overrides: Readonly<Record<string, unknown>>): UpdatePlan {
  return planUpdate(synth(), synth(overrides), spec);
}

/** [action, type] of every change, sorted, for order-independent comparison. */
function rows(plan: UpdatePlan, actions?: readonly string[]): string[] {
  return plan.changes.filter((c) => !actions || actions.includes(c.action)).map((c) => `${c.action} ${c.type}`).sort();
}

function changeOf(plan: UpdatePlan, type: string) {
  const found = plan.changes.filter((c) => c.type === type);
  expect(found).toHaveLength(1);
  return found[0]!;
}

describe('plan on the stack: the same config', () => {
  it('has nothing to change and exits clean', () => {
    const plan = planFromBase({});
    expect(plan).toMatchObject({ changes: [], outputs: [], findings: 0 });
  });
});

describe('plan on the stack: what the issue found', () => {
  it('+1 replica (cluster mode off): NumCacheClusters changes in place, nothing is replaced', () => {
    const plan = planFromBase({ replicas: 2 });
    const rg = changeOf(plan, 'AWS::ElastiCache::ReplicationGroup');
    expect(rg.action).toBe('in-place');
    expect(rg.causes).toEqual([expect.objectContaining({ property: 'NumCacheClusters', effect: 'in-place' })]);
    expect(rows(plan, ['blocked', 'replaced', 'removed', 'may-replace'])).toEqual([]);
    expect(plan.findings).toBe(0);
  });

  it('another port: the group is blocked (Port), the security group and its rules are replaced', () => {
    const plan = planFromBase({ port: 6380 });
    expect(changeOf(plan, 'AWS::ElastiCache::ReplicationGroup')).toMatchObject({ action: 'blocked', causes: expect.arrayContaining([expect.objectContaining({ property: 'Port', effect: 'replace' })]) });
    expect(rows(plan, ['blocked', 'replaced'])).toContain('blocked AWS::ElastiCache::ReplicationGroup');
    expect(plan.findings).toBeGreaterThan(0);
  });

  it('another KMS key: the group is blocked (KmsKeyId); the secrets re-encrypt in place', () => {
    const plan = planFromBase({ kmsKeyArn: KMS_KEY });
    expect(changeOf(plan, 'AWS::ElastiCache::ReplicationGroup')).toMatchObject({ action: 'blocked', causes: [expect.objectContaining({ property: 'KmsKeyId', effect: 'replace' })] });
    const secrets = plan.changes.filter((c) => c.type === 'AWS::SecretsManager::Secret');
    expect(secrets.length).toBeGreaterThanOrEqual(3); // default user, one user and one KEK per app-env
    for (const s of secrets) expect(s).toMatchObject({ action: 'in-place', causes: [expect.objectContaining({ property: 'KmsKeyId', effect: 'in-place' })] });
    expect(secrets.some((s) => s.data)).toBe(false);
  });

  it('redis → valkey: blocked for this stack\'s reasons (users before their group, the group before its cache, no parameter group), not a create-only Engine', () => {
    const plan = planUpdate(synth({ engine: 'redis' }), synth(), spec);
    const users = plan.changes.filter((c) => c.type === 'AWS::ElastiCache::User');
    expect(users).toHaveLength(3);
    for (const user of users) expect(user).toMatchObject({ action: 'blocked', blockedBecause: expect.stringMatching(/^Engine redis → valkey: ElastiCache keeps Valkey users in Valkey user groups only, and user group "kcc-redis-users" is still engine redis/) });
    expect(changeOf(plan, 'AWS::ElastiCache::UserGroup')).toMatchObject({ action: 'blocked', blockedBecause: expect.stringMatching(/^Engine redis → valkey: ElastiCache attaches Valkey user groups to Valkey caches only, and replication group "kcc-redis" is still engine redis/) });
    expect(changeOf(plan, 'AWS::ElastiCache::ReplicationGroup')).toMatchObject({ action: 'blocked', blockedBecause: expect.stringMatching(/"requires a parameter group", and the template sets no CacheParameterGroupName; this stack cannot change its engine in place: deploy a second stack/) });
    // The security group's description names the engine: a new group, which the apps have not joined.
    expect(changeOf(plan, 'AWS::EC2::SecurityGroup')).toMatchObject({ action: 'replaced', data: { fate: 'disconnected', what: expect.stringMatching(/SecurityGroupId output/) } });
    const table = renderPlanTable(plan, { color: false });
    expect(table).toMatch(/Engine: "redis" → "valkey"; updates in place \(AWS's resource schema has not marked it create-only since 2024-11-18/);
    expect(table).not.toMatch(/create-only \(Engine\)|is a custom name/);
  });

  it('valkey → redis: only the replication group is blocked (no way back from Valkey); users and group would follow in place', () => {
    const plan = planFromBase({ engine: 'redis' });
    expect(rows(plan, ['blocked'])).toEqual(['blocked AWS::ElastiCache::ReplicationGroup']);
    expect(changeOf(plan, 'AWS::ElastiCache::ReplicationGroup').blockedBecause).toMatch(/^Engine valkey → redis: ElastiCache upgrades Redis OSS to Valkey in place, not back; this stack cannot change its engine in place/);
    expect(changeOf(plan, 'AWS::ElastiCache::UserGroup').action).toBe('in-place');
    expect(renderPlanTable(plan, { color: false })).not.toMatch(/create-only \(Engine\)/);
  });

  it('serverless: redis → valkey blocks the users and the group, not the cache; valkey → redis blocks the cache, and nothing that refers to it changes', () => {
    const serverless = { deployment: 'serverless' };
    const up = planUpdate(synth({ ...serverless, engine: 'redis' }), synth(serverless), spec);
    expect(changeOf(up, 'AWS::ElastiCache::ServerlessCache').action).toBe('in-place');
    expect(changeOf(up, 'AWS::ElastiCache::UserGroup').blockedBecause).toMatch(/serverless cache "kcc-redis" is still engine redis/);
    expect(up.changes.filter((c) => c.type === 'AWS::ElastiCache::User').every((c) => c.action === 'blocked')).toBe(true);
    expect(renderPlanTable(up, { color: false })).not.toMatch(/create-only \(Engine\)/);
    const down = planUpdate(synth(serverless), synth({ ...serverless, engine: 'redis' }), spec);
    expect(rows(down, ['blocked'])).toEqual(['blocked AWS::ElastiCache::ServerlessCache']);
    expect(down.changes.filter((c) => c.type === 'AWS::CloudWatch::Alarm')).toEqual([]);
  });

  it('one shard, the replicas crossing zero turn automatic failover on or off in the same update: blocked both ways; 2 → 1 in place', () => {
    const up = changeOf(planUpdate(synth({ replicas: 0 }), synth({ replicas: 1 }), spec), 'AWS::ElastiCache::ReplicationGroup');
    expect(up.action).toBe('blocked');
    expect(up.blockedBecause).toMatch(/^NumCacheClusters 1 → 2 with AutomaticFailoverEnabled false → true in one update/);
    const down = changeOf(planFromBase({ replicas: 0 }), 'AWS::ElastiCache::ReplicationGroup');
    expect(down.action).toBe('blocked');
    expect(down.blockedBecause).toMatch(/^NumCacheClusters 2 → 1 with AutomaticFailoverEnabled true → false/);
    expect(changeOf(planUpdate(synth({ replicas: 2 }), synth({ replicas: 1 }), spec), 'AWS::ElastiCache::ReplicationGroup').action).toBe('in-place');
  });

  it('from one shard to two: cluster mode cannot switch in one step: blocked', () => {
    const rg = changeOf(planFromBase({ shards: 2 }), 'AWS::ElastiCache::ReplicationGroup');
    expect(rg.action).toBe('blocked');
    expect(rg.blockedBecause).toMatch(/ClusterMode disabled → enabled/);
  });

  it('an app-env removed: its user, password secret and both rotations go; the key-encryption key is retained', () => {
    const plan = planFromBase({ envs: ['prod'] });
    expect(rows(plan, ['removed'])).toEqual([
      'removed AWS::ElastiCache::User',
      'removed AWS::SecretsManager::ResourcePolicy',
      'removed AWS::SecretsManager::ResourcePolicy',
      'removed AWS::SecretsManager::RotationSchedule',
      'removed AWS::SecretsManager::RotationSchedule',
      'removed AWS::SecretsManager::Secret',
      'removed AWS::SecretsManager::Secret',
    ]);
    const fates = plan.changes.filter((c) => c.data).map((c) => `${c.data!.fate}: ${c.data!.what}`);
    expect(fates).toEqual(expect.arrayContaining([expect.stringMatching(/^lost: the generated Redis password/), expect.stringMatching(/^retained: the key-encryption key/)]));
    expect(changeOf(plan, 'AWS::ElastiCache::UserGroup')).toMatchObject({ action: 'in-place', causes: [expect.objectContaining({ property: 'UserIds' })] });
    expect(plan.outputs.filter((o) => o.action === 'removed').length).toBeGreaterThan(0);
    expect(plan.findings).toBeGreaterThan(0);
  });

  it('another node size changes the group in place: no finding', () => {
    const plan = planFromBase({ nodeType: 'cache.t4g.small' });
    expect(rows(plan)).toEqual(['in-place AWS::ElastiCache::ReplicationGroup']);
    expect(plan.findings).toBe(0);
  });
});

const DOC = fileURLToPath(new URL('../../../docs/configuration-changes.md', import.meta.url));
const BEGIN = '<!-- BEGIN GENERATED: classification (test/unit/plan/plan-stack.test.ts) -->';
const END = '<!-- END GENERATED: classification -->';

/** The config fields parseConfig knows, from its own "unknown field" message (the parser is the source of truth). */
function knownConfigFields(): string[] {
  try {
    parseConfig({ apps: ['my-app'], notAField: true });
  } catch (error) {
    const problem = (error as KccStackConfigError).problems.find((p) => p.includes('(known: '));
    if (problem) return /\(known: ([^)]*)\)/.exec(problem)![1]!.split(', ');
  }
  throw new Error('parseConfig no longer lists the known fields in its unknown-field message: update knownConfigFields()');
}

describe('docs/configuration-changes.md: every config field classified by the planner', () => {
  it('covers every field the config parser knows', () => {
    const covered = new Set([...CONFIG_VARIATIONS.map((v) => v.field), ...Object.keys(UNPLANNED_FIELDS)]);
    const fields = knownConfigFields();
    expect(fields).toEqual(expect.arrayContaining(['apps', 'replicas', 'port', 'kmsKeyArn']));
    const missing = fields.filter((field) => !covered.has(field));
    expect(missing, 'add a variation for each new kcc field to CONFIG_VARIATIONS (infra/plan/config-classification.ts)').toEqual([]);
  });

  it('the page holds the table the planner produces today', () => {
    const generated = `${BEGIN}\n${renderClassificationTable(classification)}\n${END}`;
    const page = readFileSync(DOC, 'utf8');
    const start = page.indexOf(BEGIN);
    const end = page.indexOf(END);
    expect(start, `${DOC} lacks the generated-table markers`).toBeGreaterThanOrEqual(0);
    const current = page.slice(start, end + END.length);
    if (current !== generated && process.env.KCC_UPDATE_DOCS === '1') {
      writeFileSync(DOC, page.slice(0, start) + generated + page.slice(end + END.length));
      return;
    }
    expect(current, 'the table is stale: KCC_UPDATE_DOCS=1 npx vitest run test/unit/plan/plan-stack.test.ts').toBe(generated);
  });
});
