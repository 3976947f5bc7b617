import {
  ACL_PROFILES,
  type AclProfile,
  type AppEnv,
  DEFAULT_ENVS,
  DEFAULT_REDIS_PORT,
  identifierProblem,
} from '@kcc-redis/client/contract';
import { ALARM_THRESHOLD_DEFAULTS, type AlarmsConfig } from './alarm-thresholds.js';
import { type AllowedPeer, parseAllowedPeer } from './allowed-peer.js';
import { Reader, closest, show } from './config-reader.js';
import {
  LOG_RETENTION_DAYS,
  MAX_NODES,
  MAX_REPLICAS_PER_SHARD,
  MAX_ROTATION_DAYS,
  MAX_SHARDS,
  MAX_SNAPSHOT_RETENTION_DAYS,
  maxPort,
  nodeTypeProblem,
} from './elasticache-rules.js';
import { CACHE_ENGINES, CacheEngine, DEFAULT_ENGINE_VERSION, engineVersionProblem } from './engine.js';
import { KccStackConfigError } from './errors.js';
import { MAX_APP_ENVS } from './limits.js';
import { DEFAULT_KEK_ROTATION_DAYS } from './rotation/rotation-contract.js';
import { maintenanceWindowProblem, snapshotWindowProblem, windowsOverlap } from './windows.js';

export { LOG_RETENTION_DAYS };

/** The context key in cdk.json that holds the stack's config. */
export const CONFIG_CONTEXT_KEY = 'kcc';

/** One app and the environments it runs in. */
export interface AppConfig {
  readonly name: string;
  readonly envs: readonly string[];
}

/** What deleting or replacing the replication group does (cdk.json `removalPolicy`). */
export type CacheRemovalPolicy = 'snapshot' | 'retain' | 'destroy';
export const CACHE_REMOVAL_POLICIES: readonly CacheRemovalPolicy[] = ['snapshot', 'retain', 'destroy'];

/** The validated config the stack is built from. Every field has a default except `apps`. */
export interface KccConfig {
  readonly stackName: string;
  readonly apps: readonly AppConfig[];
  /** Every app × env pair, in config order. */
  readonly appEnvs: readonly AppEnv[];
  /** The configured id, or undefined: `<replicationGroupId>-admin`. */
  readonly defaultUserId: string | undefined;
  readonly defaultUserEnabled: boolean;
  /** The configured id, or undefined: `<replicationGroupId>-users`. */
  readonly userGroupId: string | undefined;
  readonly replicationGroupId: string;
  readonly engine: CacheEngine;
  readonly engineVersion: string;
  readonly nodeType: string;
  readonly replicas: number;
  readonly shards: number;
  readonly port: number;
  readonly aclProfile: AclProfile;
  readonly snapshotRetentionDays: number;
  readonly snapshotWindow: string | undefined;
  readonly maintenanceWindow: string;
  readonly logRetentionDays: number;
  /** Days between automatic rotations of every Redis user's password (Secrets Manager rotation schedule). */
  readonly passwordRotationDays: number;
  /** Days between automatic rotations of every app-env's key-encryption key (Secrets Manager rotation schedule). */
  readonly kekRotationDays: number;
  readonly removalPolicy: CacheRemovalPolicy;
  readonly vpcId: string | undefined;
  /** Subnets of the imported VPC (no lookup): the cache, endpoints and bastion go there. */
  readonly subnetIds: readonly string[] | undefined;
  readonly interfaceEndpoints: boolean;
  readonly bastion: boolean;
  readonly allowFrom: readonly AllowedPeer[];
  readonly kmsKeyArn: string | undefined;
  /** Undefined when `"alarms": false`. */
  readonly alarms: AlarmsConfig | undefined;
}

/** Defaults, in one object. `engineVersion` defaults per engine (see DEFAULT_ENGINE_VERSION). */
export const CONFIG_DEFAULTS = {
  stackName: 'KccRedis',
  envs: DEFAULT_ENVS,
  defaultUserEnabled: false,
  replicationGroupId: 'kcc-redis',
  engine: CacheEngine.VALKEY,
  nodeType: 'cache.t4g.micro',
  replicas: 1,
  shards: 1,
  port: DEFAULT_REDIS_PORT,
  aclProfile: 'guide' as AclProfile,
  snapshotRetentionDays: 1,
  maintenanceWindow: 'sun:05:00-sun:06:00',
  logRetentionDays: 30,
  passwordRotationDays: 30,
  kekRotationDays: DEFAULT_KEK_ROTATION_DAYS,
  removalPolicy: 'snapshot' as CacheRemovalPolicy,
  interfaceEndpoints: false,
  bastion: false,
  alarms: ALARM_THRESHOLD_DEFAULTS,
} as const;

const KNOWN_KEYS = [
  'stackName', 'apps', 'envs', 'defaultUserId', 'defaultUserEnabled', 'userGroupId', 'replicationGroupId',
  'engine', 'engineVersion', 'nodeType', 'replicas', 'shards', 'port', 'aclProfile', 'snapshotRetentionDays',
  'snapshotWindow', 'maintenanceWindow', 'logRetentionDays', 'passwordRotationDays', 'kekRotationDays', 'removalPolicy', 'vpcId',
  'subnetIds', 'interfaceEndpoints', 'bastion', 'allowFrom', 'kmsKeyArn', 'alarms',
] as const;
const ALARM_KEYS = ['topicArn', ...Object.keys(ALARM_THRESHOLD_DEFAULTS)];

const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;
const VPC_ID = /^vpc-[0-9a-f]{8,17}$/;
const SUBNET_ID = /^subnet-[0-9a-f]{8,17}$/;
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;
const SNS_TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/;

/**
 * Parses and validates the `kcc` context object. Throws one {@link KccStackConfigError} listing every
 * problem; each names the field, the value received and the rule.
 */
export function parseConfig(raw: unknown): KccConfig {
  const problems: string[] = [];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new KccStackConfigError([`context "${CONFIG_CONTEXT_KEY}" must be an object, got ${show(raw)}`]);
  }
  const input = raw as Record<string, unknown>;
  const r = new Reader(input, problems);
  unknownKeys(input, KNOWN_KEYS, '', problems);

  const stackName = r.string('stackName', CONFIG_DEFAULTS.stackName, (v) =>
    STACK_NAME.test(v) ? undefined : 'must start with a letter and contain only A-Z, a-z, 0-9 and "-" (at most 128)');
  const id = (v: string) => identifierProblem(v);
  const defaultUserId = r.optionalString('defaultUserId', id);
  const userGroupId = r.optionalString('userGroupId', id);
  const replicationGroupId = r.string('replicationGroupId', CONFIG_DEFAULTS.replicationGroupId, id);
  const defaultUserEnabled = r.boolean('defaultUserEnabled', CONFIG_DEFAULTS.defaultUserEnabled);
  const engine = r.oneOf('engine', CONFIG_DEFAULTS.engine, CACHE_ENGINES);
  const engineVersion = r.string('engineVersion', DEFAULT_ENGINE_VERSION[engine], (v) => engineVersionProblem(engine, v));
  const nodeType = r.string('nodeType', CONFIG_DEFAULTS.nodeType, nodeTypeProblem);
  const replicas = r.integer('replicas', CONFIG_DEFAULTS.replicas, 0, MAX_REPLICAS_PER_SHARD);
  const shards = r.integer('shards', CONFIG_DEFAULTS.shards, 1, MAX_SHARDS);
  const port = r.integer('port', CONFIG_DEFAULTS.port, 1, maxPort(shards > 1));
  const aclProfile = r.oneOf('aclProfile', CONFIG_DEFAULTS.aclProfile, ACL_PROFILES);
  const snapshotRetentionDays = r.integer('snapshotRetentionDays', CONFIG_DEFAULTS.snapshotRetentionDays, 0, MAX_SNAPSHOT_RETENTION_DAYS);
  const maintenanceWindow = r.string('maintenanceWindow', CONFIG_DEFAULTS.maintenanceWindow, maintenanceWindowProblem);
  const snapshotWindow = r.optionalString('snapshotWindow', snapshotWindowProblem);
  const logRetentionDays = r.oneOf('logRetentionDays', CONFIG_DEFAULTS.logRetentionDays, LOG_RETENTION_DAYS);
  const passwordRotationDays = r.integer('passwordRotationDays', CONFIG_DEFAULTS.passwordRotationDays, 1, MAX_ROTATION_DAYS);
  const kekRotationDays = r.integer('kekRotationDays', CONFIG_DEFAULTS.kekRotationDays, 1, MAX_ROTATION_DAYS);
  const removalPolicy = r.oneOf('removalPolicy', CONFIG_DEFAULTS.removalPolicy, CACHE_REMOVAL_POLICIES);
  const vpcId = r.optionalString('vpcId', (v) => (VPC_ID.test(v) ? undefined : 'must look like "vpc-0123456789abcdef0"'));
  const subnetIds = input.subnetIds === undefined ? undefined
    : r.stringList('subnetIds', [], (v) => (SUBNET_ID.test(v) ? undefined : 'must look like "subnet-0123456789abcdef0"'));
  const interfaceEndpoints = r.boolean('interfaceEndpoints', CONFIG_DEFAULTS.interfaceEndpoints);
  const bastion = r.boolean('bastion', CONFIG_DEFAULTS.bastion);
  const kmsKeyArn = r.optionalString('kmsKeyArn', (v) =>
    KMS_KEY_ARN.test(v) ? undefined : 'must be a KMS key ARN, "arn:aws:kms:<region>:<account>:key/<key-id>"');
  const defaultEnvs = r.stringList('envs', CONFIG_DEFAULTS.envs, id);
  const allowFrom = r.list('allowFrom', [], parseAllowedPeer);
  const alarms = parseAlarms(input.alarms, problems);
  const apps = parseApps(input.apps, defaultEnvs, problems);

  if (shards * (replicas + 1) > MAX_NODES) {
    problems.push(`shards × (1 + replicas) = ${shards * (replicas + 1)}: a replication group has at most ${MAX_NODES} nodes`);
  }
  if (snapshotWindow && !maintenanceWindowProblem(maintenanceWindow) && windowsOverlap(snapshotWindow, maintenanceWindow)) {
    problems.push(`snapshotWindow: "${snapshotWindow}" overlaps maintenanceWindow "${maintenanceWindow}"; ElastiCache requires them apart`);
  }
  if (subnetIds !== undefined && vpcId === undefined) problems.push(`subnetIds: ${show(subnetIds)} needs "vpcId" (the VPC the subnets belong to)`);
  if (subnetIds !== undefined && subnetIds.length === 0) problems.push('subnetIds: [] must list at least one subnet (two in different AZs for Multi-AZ)');
  if (interfaceEndpoints && vpcId !== undefined) {
    problems.push('interfaceEndpoints: true adds endpoints to the VPC the stack creates only; with "vpcId", add them to your VPC yourself');
  }
  if (vpcId !== undefined && subnetIds === undefined && bastion) {
    problems.push('bastion: true with "vpcId" needs "subnetIds" too (the bastion goes into the first subnet)');
  }

  const appEnvs = apps.flatMap((app) => app.envs.map((env) => ({ app: app.name, env })));
  problems.push(...userIdProblems(appEnvs, replicationGroupId, defaultUserId));
  if (appEnvs.length > MAX_APP_ENVS) {
    problems.push(
      `apps: ${appEnvs.length} app-envs (${apps.length} apps); one stack holds at most ${MAX_APP_ENVS} ` +
        '(CloudFormation resource limit and ElastiCache user-group size, docs/configuration.md "Limits"); split the apps over two stacks',
    );
  }

  if (problems.length > 0) throw new KccStackConfigError(problems);
  return {
    stackName, apps, appEnvs,
    defaultUserId, defaultUserEnabled, userGroupId, replicationGroupId, engine, engineVersion, nodeType, replicas,
    shards, port, aclProfile, snapshotRetentionDays, snapshotWindow, maintenanceWindow, logRetentionDays,
    passwordRotationDays, kekRotationDays, removalPolicy, vpcId, subnetIds, interfaceEndpoints, bastion, allowFrom, kmsKeyArn, alarms,
  };
}

function unknownKeys(input: Record<string, unknown>, known: readonly string[], prefix: string, problems: string[]): void {
  for (const key of Object.keys(input)) {
    if (known.includes(key)) continue;
    const hint = closest(key, known);
    problems.push(`unknown field "${prefix}${key}"${hint ? `: did you mean "${prefix}${hint}"?` : ''} (known: ${known.join(', ')})`);
  }
}

/** ElastiCache user ids carry the replication group id (`<replicationGroupId>-<app>-<env>`): each valid and unique. */
function userIdProblems(appEnvs: readonly AppEnv[], replicationGroupId: string, defaultUserId: string | undefined): string[] {
  const problems: string[] = [];
  const ids = new Map<string, string>([[defaultUserId ?? `${replicationGroupId}-admin`, 'the default user (defaultUserId)']]);
  for (const { app, env } of appEnvs) {
    const label = `apps: "${app}" env "${env}"`;
    const userId = `${replicationGroupId}-${app}-${env}`;
    const problem = identifierProblem(userId);
    if (problem) {
      problems.push(`${label}: user id "${userId}" (<replicationGroupId>-<app>-<env>) ${problem}; shorten the app, the env or replicationGroupId`);
      continue;
    }
    const clash = ids.get(userId);
    if (clash) problems.push(`${label}: user id "${userId}" is already used by ${clash}; user ids must be unique`);
    ids.set(userId, label);
  }
  return problems;
}

function parseAlarms(raw: unknown, problems: string[]): AlarmsConfig | undefined {
  if (raw === false) return undefined;
  if (raw === undefined) return { ...ALARM_THRESHOLD_DEFAULTS, topicArn: undefined };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    problems.push(`alarms: ${show(raw)} must be false (no alarms) or an object { "topicArn"?, thresholds… }`);
    return undefined;
  }
  const input = raw as Record<string, unknown>;
  unknownKeys(input, ALARM_KEYS, 'alarms.', problems);
  const r = new Reader(input, problems, 'alarms.');
  const d = ALARM_THRESHOLD_DEFAULTS;
  return {
    topicArn: r.optionalString('topicArn', (v) => (SNS_TOPIC_ARN.test(v) ? undefined : 'must be an SNS topic ARN, "arn:aws:sns:<region>:<account>:<name>"')),
    authenticationFailures: r.integer('authenticationFailures', d.authenticationFailures, 1, 1_000_000),
    authorizationFailures: r.integer('authorizationFailures', d.authorizationFailures, 1, 1_000_000),
    memoryPercent: r.number('memoryPercent', d.memoryPercent, 1, 100),
    evictions: r.integer('evictions', d.evictions, 1, 1_000_000),
    replicationLagSeconds: r.number('replicationLagSeconds', d.replicationLagSeconds, 1, 3600),
    rotationErrors: r.integer('rotationErrors', d.rotationErrors, 1, 1000),
  };
}

function parseApps(raw: unknown, defaultEnvs: readonly string[], problems: string[]): AppConfig[] {
  if (raw === undefined) {
    problems.push('apps: missing; list the apps that share this Redis, e.g. ["my-app"] or [{ "name": "my-app", "envs": ["prod"] }]');
    return [];
  }
  if (!Array.isArray(raw) || raw.length === 0) {
    problems.push(`apps: must be a non-empty list of app names or { name, envs } objects, got ${show(raw)}`);
    return [];
  }
  const apps: AppConfig[] = [];
  const seen = new Set<string>();
  raw.forEach((entry: unknown, i) => {
    const where = `apps[${i}]`;
    let name: unknown = entry;
    let envs: unknown = defaultEnvs;
    if (typeof entry === 'object' && entry !== null && !Array.isArray(entry)) {
      const obj = entry as Record<string, unknown>;
      const extra = Object.keys(obj).filter((k) => k !== 'name' && k !== 'envs');
      if (extra.length > 0) problems.push(`${where}: unknown field(s) ${extra.map((k) => `"${k}"`).join(', ')} (known: name, envs)`);
      name = obj.name;
      envs = obj.envs ?? defaultEnvs;
    }
    if (typeof name !== 'string') {
      problems.push(`${where}: app name must be a string, got ${show(name)}`);
      return;
    }
    const nameProblem = identifierProblem(name);
    if (nameProblem) {
      problems.push(`${where}: app name "${name}" ${nameProblem}`);
      return;
    }
    if (seen.has(name)) {
      problems.push(`${where}: app "${name}" is listed twice; each app appears once`);
      return;
    }
    seen.add(name);
    if (!Array.isArray(envs) || envs.length === 0 || envs.some((e) => typeof e !== 'string')) {
      problems.push(`${where}.envs: must be a non-empty list of environment names, got ${show(envs)}`);
      return;
    }
    const envNames = envs as string[];
    const badEnv = envNames.find((e) => identifierProblem(e));
    if (badEnv !== undefined) {
      problems.push(`${where}.envs: environment "${badEnv}" ${identifierProblem(badEnv)}`);
      return;
    }
    if (new Set(envNames).size !== envNames.length) {
      problems.push(`${where}.envs: ${show(envNames)} lists an environment twice`);
      return;
    }
    apps.push({ name, envs: envNames });
  });
  return apps;
}
