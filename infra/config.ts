import {
  ACL_PROFILES,
  type AclProfile,
  DEFAULT_ENVS,
  DEFAULT_REDIS_PORT,
  identifierProblem,
} from '@kcc-redis/client/contract';
import { ALARM_THRESHOLD_DEFAULTS, REPLICATION_GROUP_THRESHOLDS, SERVERLESS_THRESHOLDS, type AlarmsConfig } from './alarm-thresholds.js';
import { APP_ENV_AUTHS, AppEnvAuth, hasIamUser } from './app-env-auth.js';
import { type AllowedPeer, parseAllowedPeer } from './allowed-peer.js';
import { type AppConfig, parseApps, userIdProblems } from './config-apps.js';
import { Reader, closest, show } from './config-reader.js';
import {
  LOG_RETENTION_DAYS,
  MAX_NODES,
  MAX_REPLICAS_PER_SHARD,
  MAX_ROTATION_DAYS,
  MAX_SHARDS,
  MAX_SNAPSHOT_RETENTION_DAYS,
  MIN_SERVERLESS_SNAPSHOT_RETENTION_DAYS,
  SERVERLESS_DATA_STORAGE_GB,
  SERVERLESS_ECPU_PER_SECOND,
  maxPort,
  nodeTypeProblem,
} from './elasticache-rules.js';
import {
  CACHE_ENGINES,
  CacheEngine,
  DEFAULT_ENGINE_VERSION,
  DEFAULT_SERVERLESS_MAJOR_VERSION,
  engineVersionProblem,
  iamAuthVersionProblem,
  serverlessVersionProblem,
} from './engine.js';
import { KccStackConfigError } from './errors.js';
import type { AppEnvWithAuth } from './kcc-app.js';
import { appEnvLimitProblems } from './limits.js';
import { DEFAULT_KEK_ROTATION_DAYS } from './rotation/rotation-contract.js';
import { dailySnapshotTimeProblem, maintenanceWindowProblem, snapshotWindowProblem, windowsOverlap } from './windows.js';

export { LOG_RETENTION_DAYS };
export type { AppConfig };

/** The context key in cdk.json that holds the stack's config. */
export const CONFIG_CONTEXT_KEY = 'kcc';

/** What deleting or replacing the cache does (cdk.json `removalPolicy`). */
export type CacheRemovalPolicy = 'snapshot' | 'retain' | 'destroy';
export const CACHE_REMOVAL_POLICIES: readonly CacheRemovalPolicy[] = ['snapshot', 'retain', 'destroy'];

/** What kind of ElastiCache deployment the stack makes (cdk.json `deployment`). */
export type DeploymentKind = 'replication-group' | 'serverless';
export const DEPLOYMENT_KINDS: readonly DeploymentKind[] = ['replication-group', 'serverless'];

/** Fields that configure a replication group only: refused with `"deployment": "serverless"`. */
export const REPLICATION_GROUP_FIELDS = ['port', 'nodeType', 'replicas', 'shards', 'maintenanceWindow', 'snapshotWindow'] as const;
/** Fields that configure a serverless cache only: refused with a replication group. */
export const SERVERLESS_FIELDS = ['maxDataStorageGb', 'maxEcpuPerSecond', 'dailySnapshotTime'] as const;

/** The validated config the stack is built from. Every field has a default except `apps`. */
export interface KccConfig {
  readonly stackName: string;
  /** Replication group (default) or serverless cache. */
  readonly deployment: DeploymentKind;
  readonly apps: readonly AppConfig[];
  /** Every app × env pair, in config order, with how it authenticates. */
  readonly appEnvs: readonly AppEnvWithAuth[];
  /** How app-envs authenticate unless their app says otherwise. */
  readonly auth: AppEnvAuth;
  /** The configured id, or undefined: `<replicationGroupId>-admin`. */
  readonly defaultUserId: string | undefined;
  readonly defaultUserEnabled: boolean;
  /** The configured id, or undefined: `<replicationGroupId>-users`. */
  readonly userGroupId: string | undefined;
  /** The replication group id, or with `deployment: "serverless"` the serverless cache's name; the namespace of every id. */
  readonly replicationGroupId: string;
  readonly engine: CacheEngine;
  /** A version (`8.1`) for a replication group, a major version (`8`) for a serverless cache. */
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
  /** Serverless: the most data the cache may hold, in GB. */
  readonly maxDataStorageGb: number;
  /** Serverless: the most ECPUs the cache may use per second. */
  readonly maxEcpuPerSecond: number;
  /** Serverless: when the daily snapshot starts, hh24:mi UTC. */
  readonly dailySnapshotTime: string;
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
  deployment: 'replication-group' as DeploymentKind,
  auth: AppEnvAuth.PASSWORD,
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
  maxDataStorageGb: 1,
  maxEcpuPerSecond: 5000,
  dailySnapshotTime: '03:00',
  interfaceEndpoints: false,
  bastion: false,
  alarms: ALARM_THRESHOLD_DEFAULTS,
} as const;

const KNOWN_KEYS = [
  'stackName', 'deployment', 'apps', 'envs', 'auth', 'defaultUserId', 'defaultUserEnabled', 'userGroupId', 'replicationGroupId',
  'engine', 'engineVersion', 'nodeType', 'replicas', 'shards', 'port', 'aclProfile', 'snapshotRetentionDays',
  'snapshotWindow', 'maintenanceWindow', 'maxDataStorageGb', 'maxEcpuPerSecond', 'dailySnapshotTime', 'logRetentionDays',
  'passwordRotationDays', 'kekRotationDays', 'removalPolicy', 'vpcId', 'subnetIds', 'interfaceEndpoints', 'bastion', 'allowFrom', 'kmsKeyArn', 'alarms',
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
  const deployment = r.oneOf('deployment', CONFIG_DEFAULTS.deployment, DEPLOYMENT_KINDS);
  const serverless = deployment === 'serverless';
  const id = (v: string) => identifierProblem(v);
  const defaultUserId = r.optionalString('defaultUserId', id);
  const userGroupId = r.optionalString('userGroupId', id);
  const replicationGroupId = r.string('replicationGroupId', CONFIG_DEFAULTS.replicationGroupId, id);
  const defaultUserEnabled = r.boolean('defaultUserEnabled', CONFIG_DEFAULTS.defaultUserEnabled);
  const engine = r.oneOf('engine', CONFIG_DEFAULTS.engine, CACHE_ENGINES);
  const engineVersion = serverless
    ? r.string('engineVersion', DEFAULT_SERVERLESS_MAJOR_VERSION[engine], (v) => serverlessVersionProblem(engine, v))
    : r.string('engineVersion', DEFAULT_ENGINE_VERSION[engine], (v) => engineVersionProblem(engine, v));
  const auth = r.oneOf('auth', CONFIG_DEFAULTS.auth, APP_ENV_AUTHS);
  const nodeType = r.string('nodeType', CONFIG_DEFAULTS.nodeType, nodeTypeProblem);
  const replicas = r.integer('replicas', CONFIG_DEFAULTS.replicas, 0, MAX_REPLICAS_PER_SHARD);
  const shards = r.integer('shards', CONFIG_DEFAULTS.shards, 1, MAX_SHARDS);
  const port = r.integer('port', CONFIG_DEFAULTS.port, 1, maxPort(shards > 1));
  const aclProfile = r.oneOf('aclProfile', CONFIG_DEFAULTS.aclProfile, ACL_PROFILES);
  const snapshotRetentionDays = serverless && input.snapshotRetentionDays === 0
    ? refuse(problems, `snapshotRetentionDays: 0 does not apply to "deployment": "serverless": a serverless cache always takes its daily snapshot; keep it ${MIN_SERVERLESS_SNAPSHOT_RETENTION_DAYS} to ${MAX_SNAPSHOT_RETENTION_DAYS} days`, CONFIG_DEFAULTS.snapshotRetentionDays)
    : r.integer('snapshotRetentionDays', CONFIG_DEFAULTS.snapshotRetentionDays, serverless ? MIN_SERVERLESS_SNAPSHOT_RETENTION_DAYS : 0, MAX_SNAPSHOT_RETENTION_DAYS);
  const maintenanceWindow = r.string('maintenanceWindow', CONFIG_DEFAULTS.maintenanceWindow, maintenanceWindowProblem);
  const snapshotWindow = r.optionalString('snapshotWindow', snapshotWindowProblem);
  const maxDataStorageGb = r.integer('maxDataStorageGb', CONFIG_DEFAULTS.maxDataStorageGb, SERVERLESS_DATA_STORAGE_GB.min, SERVERLESS_DATA_STORAGE_GB.max);
  const maxEcpuPerSecond = r.integer('maxEcpuPerSecond', CONFIG_DEFAULTS.maxEcpuPerSecond, SERVERLESS_ECPU_PER_SECOND.min, SERVERLESS_ECPU_PER_SECOND.max);
  const dailySnapshotTime = r.string('dailySnapshotTime', CONFIG_DEFAULTS.dailySnapshotTime, dailySnapshotTimeProblem);
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
  const alarms = parseAlarms(input.alarms, deployment, problems);
  const apps = parseApps(input.apps, defaultEnvs, auth, problems);

  problems.push(...deploymentFieldProblems(input, deployment));
  if (!serverless && shards * (replicas + 1) > MAX_NODES) {
    problems.push(`shards × (1 + replicas) = ${shards * (replicas + 1)}: a replication group has at most ${MAX_NODES} nodes`);
  }
  // Compared with the maintenance window in force: the user's when valid, the default when unset. An
  // invalid one is reported on its own; the default it fell back to was never the user's choice.
  const maintenanceWindowGiven = input.maintenanceWindow !== undefined;
  const maintenanceWindowValid = !maintenanceWindowGiven || (typeof input.maintenanceWindow === 'string' && !maintenanceWindowProblem(input.maintenanceWindow));
  if (!serverless && snapshotWindow && maintenanceWindowValid && windowsOverlap(snapshotWindow, maintenanceWindow)) {
    const which = maintenanceWindowGiven ? `maintenanceWindow "${maintenanceWindow}"` : `the default maintenanceWindow "${maintenanceWindow}" (set maintenanceWindow to move it)`;
    problems.push(`snapshotWindow: "${snapshotWindow}" overlaps ${which}; ElastiCache requires them apart`);
  }
  if (subnetIds !== undefined && vpcId === undefined) problems.push(`subnetIds: ${show(subnetIds)} needs "vpcId" (the VPC the subnets belong to)`);
  if (subnetIds !== undefined && subnetIds.length === 0) problems.push('subnetIds: [] must list at least one subnet (two in different AZs for Multi-AZ)');
  if (interfaceEndpoints && vpcId !== undefined) {
    problems.push('interfaceEndpoints: true adds endpoints to the VPC the stack creates only; with "vpcId", add them to your VPC yourself');
  }
  if (vpcId !== undefined && subnetIds === undefined && bastion) {
    problems.push('bastion: true with "vpcId" needs "subnetIds" too (the bastion goes into the first subnet)');
  }

  const appEnvs: AppEnvWithAuth[] = apps.flatMap((app) => app.envs.map((env) => ({ app: app.name, env, auth: app.auth })));
  const iamProblem = appEnvs.some((a) => hasIamUser(a.auth)) ? iamAuthVersionProblem(engine, engineVersion) : undefined;
  if (iamProblem) problems.push(`engineVersion: "${engineVersion}": ${iamProblem} (an app has auth "iam" or "password+iam")`);
  problems.push(...userIdProblems(appEnvs, replicationGroupId, defaultUserId));
  problems.push(...appEnvLimitProblems(appEnvs, apps.length));

  if (problems.length > 0) throw new KccStackConfigError(problems);
  return {
    stackName, deployment, apps, appEnvs, auth,
    defaultUserId, defaultUserEnabled, userGroupId, replicationGroupId, engine, engineVersion, nodeType, replicas,
    shards, port, aclProfile, snapshotRetentionDays, snapshotWindow, maintenanceWindow, maxDataStorageGb, maxEcpuPerSecond,
    dailySnapshotTime, logRetentionDays, passwordRotationDays, kekRotationDays, removalPolicy, vpcId, subnetIds, interfaceEndpoints,
    bastion, allowFrom, kmsKeyArn, alarms,
  };
}

function refuse<T>(problems: string[], problem: string, fallback: T): T {
  problems.push(problem);
  return fallback;
}

/** Fields set in the config that the other deployment kind reads: refused, so nothing is silently ignored. */
function deploymentFieldProblems(input: Record<string, unknown>, deployment: DeploymentKind): string[] {
  const serverless = deployment === 'serverless';
  const foreign: readonly string[] = serverless ? REPLICATION_GROUP_FIELDS : SERVERLESS_FIELDS;
  return foreign.filter((field) => input[field] !== undefined).map((field) =>
    serverless
      ? field === 'port'
        ? `port: ${show(input.port)} does not apply to "deployment": "serverless": a serverless cache listens on 6379 (and 6380 for its reader endpoint); remove "port"`
        : `${field}: ${show(input[field])} configures a replication group and does not apply to "deployment": "serverless"; remove it`
      : `${field}: ${show(input[field])} configures a serverless cache; add "deployment": "serverless", or remove it`);
}

function unknownKeys(input: Record<string, unknown>, known: readonly string[], prefix: string, problems: string[]): void {
  for (const key of Object.keys(input)) {
    if (known.includes(key)) continue;
    const hint = closest(key, known);
    problems.push(`unknown field "${prefix}${key}"${hint ? `: did you mean "${prefix}${hint}"?` : ''} (known: ${known.join(', ')})`);
  }
}

function parseAlarms(raw: unknown, deployment: DeploymentKind, problems: string[]): AlarmsConfig | undefined {
  if (raw === false) return undefined;
  if (raw === undefined) return { ...ALARM_THRESHOLD_DEFAULTS, topicArn: undefined };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    problems.push(`alarms: ${show(raw)} must be false (no alarms) or an object { "topicArn"?, thresholds… }`);
    return undefined;
  }
  const input = raw as Record<string, unknown>;
  unknownKeys(input, ALARM_KEYS, 'alarms.', problems);
  const foreign: readonly string[] = deployment === 'serverless' ? REPLICATION_GROUP_THRESHOLDS : SERVERLESS_THRESHOLDS;
  for (const key of foreign.filter((k) => input[k] !== undefined)) {
    problems.push(`alarms.${key}: ${show(input[key])} is a threshold of ${deployment === 'serverless' ? 'replication-group' : 'serverless'} alarms only; remove it (docs/alarms.md, docs/serverless.md)`);
  }
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
    storagePercent: r.number('storagePercent', d.storagePercent, 1, 100),
    ecpuPercent: r.number('ecpuPercent', d.ecpuPercent, 1, 100),
    throttledCommands: r.integer('throttledCommands', d.throttledCommands, 1, 1_000_000),
  };
}
