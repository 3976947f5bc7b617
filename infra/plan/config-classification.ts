import type { CfnTemplate } from './cfn-template.js';
import { losesData } from './data-effects.js';
import { type ResourceChange, type UpdatePlan, planUpdate } from './plan-update.js';
import type { UpdateSpec } from './update-spec.js';

/**
 * Which `kcc` config changes a deployed stack can take, found by planning each change: synthesize
 * the config before and after, run the planner, classify. The base is the smallest config (one app,
 * every other field at its default); `before` and `after` are merged over it.
 */
export interface ConfigVariation {
  readonly field: string;
  /** The change, in words, e.g. "1 → 2". */
  readonly change: string;
  readonly before?: Readonly<Record<string, unknown>>;
  readonly after: Readonly<Record<string, unknown>>;
}

export const BASE_CONFIG: Readonly<Record<string, unknown>> = { apps: ['my-app'] };

const KMS_KEY = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const SERVERLESS = { deployment: 'serverless' } as const;

export const CONFIG_VARIATIONS: readonly ConfigVariation[] = [
  { field: 'apps', change: 'add an app', after: { apps: ['my-app', 'billing'] } },
  { field: 'apps', change: 'remove an app', before: { apps: ['my-app', 'billing'] }, after: { apps: ['my-app'] } },
  { field: 'envs', change: 'remove an env (["prod", "dev"] → ["prod"])', after: { envs: ['prod'] } },
  { field: 'defaultUserId', change: 'another id', after: { defaultUserId: 'kcc-admin-2' } },
  { field: 'defaultUserEnabled', change: 'false → true', after: { defaultUserEnabled: true } },
  { field: 'userGroupId', change: 'another id', after: { userGroupId: 'kcc-group-2' } },
  { field: 'replicationGroupId', change: 'another id', after: { replicationGroupId: 'kcc-redis-2' } },
  { field: 'engine', change: 'valkey → redis', after: { engine: 'redis' } },
  { field: 'engine', change: 'redis → valkey', before: { engine: 'redis' }, after: {} },
  { field: 'engineVersion', change: 'upgrade (8.0 → 8.1)', before: { engineVersion: '8.0' }, after: { engineVersion: '8.1' } },
  { field: 'engineVersion', change: 'downgrade (8.1 → 8.0)', after: { engineVersion: '8.0' } },
  { field: 'nodeType', change: 'another size', after: { nodeType: 'cache.t4g.small' } },
  { field: 'replicas', change: '1 → 2', after: { replicas: 2 } },
  { field: 'replicas', change: '1 → 0', after: { replicas: 0 } },
  { field: 'replicas', change: '0 → 1', before: { replicas: 0 }, after: { replicas: 1 } },
  { field: 'replicas', change: '2 → 1', before: { replicas: 2 }, after: { replicas: 1 } },
  { field: 'shards', change: '1 → 2', after: { shards: 2 } },
  { field: 'port', change: '6379 → 6380', after: { port: 6380 } },
  { field: 'aclProfile', change: 'guide → hardened', after: { aclProfile: 'hardened' } },
  { field: 'snapshotRetentionDays', change: '1 → 7', after: { snapshotRetentionDays: 7 } },
  { field: 'snapshotWindow', change: 'set', after: { snapshotWindow: '03:00-04:00' } },
  { field: 'maintenanceWindow', change: 'another window', after: { maintenanceWindow: 'mon:05:00-mon:06:00' } },
  { field: 'logRetentionDays', change: '30 → 60', after: { logRetentionDays: 60 } },
  { field: 'passwordRotationDays', change: '30 → 10', after: { passwordRotationDays: 10 } },
  { field: 'kekRotationDays', change: '90 → 30', after: { kekRotationDays: 30 } },
  { field: 'removalPolicy', change: 'snapshot → retain', after: { removalPolicy: 'retain' } },
  { field: 'interfaceEndpoints', change: 'false → true', after: { interfaceEndpoints: true } },
  { field: 'bastion', change: 'false → true', after: { bastion: true } },
  { field: 'alarms', change: 'send to a topic', after: { alarms: { topicArn: 'arn:aws:sns:us-east-1:123456789012:ops' } } },
  { field: 'alarms', change: 'turn off', after: { alarms: false } },
  {
    // Adding only: ElastiCache refuses to remove a subnet a node is in (SubnetGroups.Modifying.html),
    // which the plan notes on the row but cannot decide (it does not see node placement).
    field: 'subnetIds',
    change: 'add a subnet of the same VPC',
    before: { vpcId: 'vpc-0123456789abcdef0', subnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'] },
    after: { vpcId: 'vpc-0123456789abcdef0', subnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1', 'subnet-0123456789abcdef2'] },
  },
  { field: 'allowFrom', change: 'add a peer', after: { allowFrom: ['sg-0123456789abcdef0'] } },
  { field: 'kmsKeyArn', change: 'set a customer key', after: { kmsKeyArn: KMS_KEY } },
  { field: 'deployment', change: 'replication-group → serverless', after: SERVERLESS },
  { field: 'auth', change: 'password → password+iam (IAM users added beside the password users)', after: { auth: 'password+iam' } },
  { field: 'auth', change: 'password+iam → iam (the password users and their secrets go)', before: { auth: 'password+iam' }, after: { auth: 'iam' } },
  { field: 'auth', change: 'password → iam in one step', after: { auth: 'iam' } },
  { field: 'engine', change: 'serverless: redis → valkey', before: { ...SERVERLESS, engine: 'redis' }, after: SERVERLESS },
  { field: 'engine', change: 'serverless: valkey → redis', before: SERVERLESS, after: { ...SERVERLESS, engine: 'redis' } },
  { field: 'engineVersion', change: 'serverless: major upgrade (7 → 8)', before: { ...SERVERLESS, engineVersion: '7' }, after: SERVERLESS },
  { field: 'engineVersion', change: 'serverless: major downgrade (8 → 7)', before: SERVERLESS, after: { ...SERVERLESS, engineVersion: '7' } },
  { field: 'maxDataStorageGb', change: 'serverless: 1 → 5', before: SERVERLESS, after: { ...SERVERLESS, maxDataStorageGb: 5 } },
  { field: 'maxEcpuPerSecond', change: 'serverless: 5000 → 10000', before: SERVERLESS, after: { ...SERVERLESS, maxEcpuPerSecond: 10000 } },
  { field: 'dailySnapshotTime', change: 'serverless: 03:00 → 05:00', before: SERVERLESS, after: { ...SERVERLESS, dailySnapshotTime: '05:00' } },
];

/** Fields whose change the planner cannot show by comparing two templates of one stack, and why. */
export const UNPLANNED_FIELDS: Readonly<Record<string, string>> = {
  stackName:
    'deploys another stack: CloudFormation identifies a stack by its name, so the old stack keeps running until you delete it, and the new one collides with it on every custom name (replication group, user and user group ids)',
  vpcId:
    'cannot change once deployed: a template pair shows only the security group replaced (VpcId is create-only) and the subnet group updated, but ElastiCache cannot move a replication group to another VPC (its subnet group cannot take subnets of another VPC while in use); deploy a new stack in the other VPC and move the apps',
};

export type Verdict = 'in place' | 'adds resources' | 'removes resources' | 'loses data' | 'replaces a resource' | 'cannot change once deployed';

export interface FieldClassification {
  readonly field: string;
  readonly change: string;
  readonly verdict: Verdict;
  /** The resources behind the verdict, in words. */
  readonly detail: string;
}

/** Plans every variation with `synthesize` (config → template) and classifies it. */
export function classifyConfigChanges(
  synthesize: (kcc: Readonly<Record<string, unknown>>) => CfnTemplate,
  spec: UpdateSpec,
  variations: readonly ConfigVariation[] = CONFIG_VARIATIONS,
): FieldClassification[] {
  const cache = new Map<string, CfnTemplate>();
  const template = (overrides: Readonly<Record<string, unknown>> | undefined) => {
    const config = { ...BASE_CONFIG, ...overrides };
    const key = JSON.stringify(config);
    if (!cache.has(key)) cache.set(key, synthesize(config));
    return cache.get(key)!;
  };
  return variations.map((v) => ({ field: v.field, change: v.change, ...classifyPlan(planUpdate(template(v.before), template(v.after), spec)) }));
}

/** The verdict of one plan and the resources behind it. */
export function classifyPlan(plan: UpdatePlan): { verdict: Verdict; detail: string } {
  const of = (actions: readonly ResourceChange['action'][]) => plan.changes.filter((c) => actions.includes(c.action));
  const blocked = of(['blocked']);
  if (blocked.length > 0) return { verdict: 'cannot change once deployed', detail: describe(blocked, blockedCause) };
  const replaced = of(['replaced', 'may-replace']);
  const losing = plan.changes.filter((c) => losesData(c.data) && !replaced.includes(c));
  if (replaced.length > 0) return { verdict: 'replaces a resource', detail: describe([...replaced, ...losing], replacedCause) };
  if (losing.length > 0) return { verdict: 'loses data', detail: describe(losing, lossCause) };
  const added = of(['added']);
  if (added.length > 0) return { verdict: 'adds resources', detail: describe(added, () => 'added') };
  const removed = of(['removed']);
  if (removed.length > 0) return { verdict: 'removes resources', detail: describe(removed, () => 'removed, nothing kept in it') };
  const updated = of(['in-place']);
  return { verdict: 'in place', detail: updated.length === 0 ? 'no resource changes' : describe(updated, inPlaceCause) };
}

/** Groups changes by type and cause: "2 × ElastiCache::User: Engine is create-only, UserId kept". */
function describe(changes: readonly ResourceChange[], cause: (change: ResourceChange) => string): string {
  const groups = new Map<string, number>();
  for (const change of changes) {
    const key = `${shortType(change.type)}: ${cause(change)}`;
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  return [...groups].map(([key, n]) => (n > 1 ? `${n} × ${key}` : key)).join('; ');
}

function blockedCause(change: ResourceChange): string {
  // A type change is not a create-only property: its reason (blockedBecause) says it.
  const created = change.causes.filter((c) => c.effect === 'replace' && c.property !== 'Type').map((c) => c.property);
  const because = change.blockedBecause ?? '';
  const name = /^(\w+) .* is a custom name/.exec(because)?.[1];
  const refused = because.split('; ').find((reason) => !reason.includes('is a custom name'));
  const parts = [
    created.length > 0 ? `${created.join(', ')} create-only` : undefined,
    name ? `${name} kept` : undefined,
    refused,
    change.action === 'blocked' && change.causes.length === 0 ? 'name still held by the removed resource' : undefined,
  ];
  return parts.filter(Boolean).join(', ');
}

function replacedCause(change: ResourceChange): string {
  const forced = change.causes.filter((c) => c.effect !== 'in-place').map((c) => c.property);
  const base = change.action === 'removed' || change.action === 'in-place' ? lossCause(change) : `replaced (${forced.join(', ') || 'type'})`;
  return losesData(change.data) && change.action !== 'removed' && change.action !== 'in-place' ? `${base}, data lost` : base;
}

function lossCause(change: ResourceChange): string {
  const fate = change.data?.fate === 'regenerated' ? 'value regenerated' : 'data lost';
  return `${change.action === 'removed' ? 'removed' : 'updated'}, ${fate}`;
}

function inPlaceCause(change: ResourceChange): string {
  // Properties, or else the resource attributes that changed (DeletionPolicy, UpdateReplacePolicy, …).
  const properties = change.causes.map((c) => c.property.split(/[.[]/)[0]);
  const attributes = change.notes.map((note) => /^(\w+):/.exec(note)?.[1]).filter((a): a is string => a !== undefined);
  return [...new Set(properties.length > 0 ? properties : attributes)].join(', ');
}

function shortType(type: string): string {
  return type.replace(/^AWS::/, '');
}

/** The classification as a Markdown table, one row per variation, then the unplanned fields. */
export function renderClassificationTable(rows: readonly FieldClassification[]): string {
  const escape = (text: string) => text.replaceAll('|', '\\|');
  const lines = ['| Field | Change | Effect on a deployed stack | Resources |', '|---|---|---|---|'];
  for (const row of rows) lines.push(`| \`${row.field}\` | ${escape(row.change)} | **${row.verdict}** | ${escape(row.detail)} |`);
  for (const [field, why] of Object.entries(UNPLANNED_FIELDS)) lines.push(`| \`${field}\` | any | **not planned** | ${escape(why)} |`);
  return lines.join('\n');
}
