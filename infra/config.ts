import {
  ACL_PROFILES,
  type AclProfile,
  type AppEnv,
  DEFAULT_ADMIN_USER_ID,
  DEFAULT_ENVS,
  DEFAULT_REDIS_PORT,
  DEFAULT_USER_GROUP_ID,
  identifierProblem,
} from '@kcc-redis/client/contract';
import { CACHE_ENGINES, CacheEngine, DEFAULT_ENGINE_VERSION, engineVersionProblem } from './engine.js';
import { KccConfigError } from './errors.js';
import { Reader, closest, show } from './config-reader.js';
import { type AllowedPeer, parseAllowedPeer } from './allowed-peer.js';
import { maintenanceWindowProblem, snapshotWindowProblem, windowsOverlap } from './windows.js';

/** The context key in cdk.json that holds the stack's config. */
export const CONFIG_CONTEXT_KEY = 'kcc';

/** One app and the environments it runs in. */
export interface AppConfig {
  readonly name: string;
  readonly envs: readonly string[];
}

/** The validated config the stack is built from. Every field has a default except `apps`. */
export interface KccConfig {
  readonly stackName: string;
  readonly apps: readonly AppConfig[];
  /** Every app × env pair, in config order. */
  readonly appEnvs: readonly AppEnv[];
  readonly defaultUserId: string;
  readonly defaultUserEnabled: boolean;
  readonly userGroupId: string;
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
  readonly vpcId: string | undefined;
  readonly allowFrom: readonly AllowedPeer[];
  readonly kmsKeyArn: string | undefined;
}

/** Values the CloudWatch Logs API accepts for a retention period, in days. */
export const LOG_RETENTION_DAYS: readonly number[] = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/** Defaults, in one object. `engineVersion` defaults per engine (see DEFAULT_ENGINE_VERSION). */
export const CONFIG_DEFAULTS = {
  stackName: 'KccRedis',
  envs: DEFAULT_ENVS,
  defaultUserId: DEFAULT_ADMIN_USER_ID,
  defaultUserEnabled: false,
  userGroupId: DEFAULT_USER_GROUP_ID,
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
  kekRotationDays: 90,
} as const;

const KNOWN_KEYS = [
  'stackName', 'apps', 'envs', 'defaultUserId', 'defaultUserEnabled', 'userGroupId', 'replicationGroupId',
  'engine', 'engineVersion', 'nodeType', 'replicas', 'shards', 'port', 'aclProfile', 'snapshotRetentionDays',
  'snapshotWindow', 'maintenanceWindow', 'logRetentionDays', 'passwordRotationDays', 'kekRotationDays', 'vpcId', 'allowFrom', 'kmsKeyArn',
] as const;

const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;
const NODE_TYPE = /^cache\.[a-z0-9]+\.[a-z0-9]+$/;
const VPC_ID = /^vpc-[0-9a-f]{8,17}$/;
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;
/** ElastiCache's limits: 1 primary + up to 5 replicas per shard, up to 90 shards, 500 nodes. */
const MAX_REPLICAS = 5;
const MAX_SHARDS = 90;
const MAX_NODES = 500;
/** ElastiCache allows at most 100 users in a user group. */
const MAX_USERS_PER_GROUP = 100;
/** Secrets Manager rotation schedules run every 1 to 1000 days. */
const MAX_ROTATION_DAYS = 1000;

/**
 * Parses and validates the `kcc` context object. Throws one {@link KccConfigError} listing every
 * problem; each names the field, the value received and the rule.
 */
export function parseConfig(raw: unknown): KccConfig {
  const problems: string[] = [];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new KccConfigError([`context "${CONFIG_CONTEXT_KEY}" must be an object, got ${show(raw)}`]);
  }
  const input = raw as Record<string, unknown>;
  const r = new Reader(input, problems);

  for (const key of Object.keys(input)) {
    if (!(KNOWN_KEYS as readonly string[]).includes(key)) {
      const hint = closest(key, KNOWN_KEYS);
      problems.push(`unknown field "${key}"${hint ? `: did you mean "${hint}"?` : ''} (known: ${KNOWN_KEYS.join(', ')})`);
    }
  }

  const stackName = r.string('stackName', CONFIG_DEFAULTS.stackName, (v) =>
    STACK_NAME.test(v) ? undefined : 'must start with a letter and contain only A-Z, a-z, 0-9 and "-" (at most 128)');
  const id = (v: string) => identifierProblem(v);
  const defaultUserId = r.string('defaultUserId', CONFIG_DEFAULTS.defaultUserId, id);
  const userGroupId = r.string('userGroupId', CONFIG_DEFAULTS.userGroupId, id);
  const replicationGroupId = r.string('replicationGroupId', CONFIG_DEFAULTS.replicationGroupId, id);
  const defaultUserEnabled = r.boolean('defaultUserEnabled', CONFIG_DEFAULTS.defaultUserEnabled);
  const engine = r.oneOf('engine', CONFIG_DEFAULTS.engine, CACHE_ENGINES);
  const engineVersion = r.string('engineVersion', DEFAULT_ENGINE_VERSION[engine], (v) => engineVersionProblem(engine, v));
  const nodeType = r.string('nodeType', CONFIG_DEFAULTS.nodeType, (v) =>
    NODE_TYPE.test(v) ? undefined : 'must look like "cache.<family>.<size>", e.g. "cache.t4g.micro"');
  const replicas = r.integer('replicas', CONFIG_DEFAULTS.replicas, 0, MAX_REPLICAS);
  const shards = r.integer('shards', CONFIG_DEFAULTS.shards, 1, MAX_SHARDS);
  // In cluster mode every node also listens on the cluster bus port, port + 10000.
  const maxPort = shards > 1 ? 65535 - 10000 : 65535;
  const port = r.integer('port', CONFIG_DEFAULTS.port, 1, maxPort);
  const aclProfile = r.oneOf('aclProfile', CONFIG_DEFAULTS.aclProfile, ACL_PROFILES);
  const snapshotRetentionDays = r.integer('snapshotRetentionDays', CONFIG_DEFAULTS.snapshotRetentionDays, 0, 35);
  const maintenanceWindow = r.string('maintenanceWindow', CONFIG_DEFAULTS.maintenanceWindow, maintenanceWindowProblem);
  const snapshotWindow = r.optionalString('snapshotWindow', snapshotWindowProblem);
  const logRetentionDays = r.oneOf('logRetentionDays', CONFIG_DEFAULTS.logRetentionDays, LOG_RETENTION_DAYS);
  const passwordRotationDays = r.integer('passwordRotationDays', CONFIG_DEFAULTS.passwordRotationDays, 1, MAX_ROTATION_DAYS);
  const kekRotationDays = r.integer('kekRotationDays', CONFIG_DEFAULTS.kekRotationDays, 1, MAX_ROTATION_DAYS);
  const vpcId = r.optionalString('vpcId', (v) => (VPC_ID.test(v) ? undefined : 'must look like "vpc-0123456789abcdef0"'));
  const kmsKeyArn = r.optionalString('kmsKeyArn', (v) =>
    KMS_KEY_ARN.test(v) ? undefined : 'must be a KMS key ARN, "arn:aws:kms:<region>:<account>:key/<key-id>"');
  const defaultEnvs = r.stringList('envs', CONFIG_DEFAULTS.envs, id);
  const allowFrom = r.list('allowFrom', [], parseAllowedPeer);
  const apps = parseApps(input.apps, defaultEnvs, problems);

  if (shards * (replicas + 1) > MAX_NODES) {
    problems.push(`shards × (1 + replicas) = ${shards * (replicas + 1)}: a replication group has at most ${MAX_NODES} nodes`);
  }
  if (snapshotWindow && !maintenanceWindowProblem(maintenanceWindow) && windowsOverlap(snapshotWindow, maintenanceWindow)) {
    problems.push(`snapshotWindow: "${snapshotWindow}" overlaps maintenanceWindow "${maintenanceWindow}"; ElastiCache requires them apart`);
  }

  const appEnvs = apps.flatMap((app) => app.envs.map((env) => ({ app: app.name, env })));
  const userIds = new Map<string, string>([[defaultUserId, 'defaultUserId']]);
  for (const appEnv of appEnvs) {
    const label = `apps: "${appEnv.app}" env "${appEnv.env}"`;
    const name = `${appEnv.app}-${appEnv.env}`;
    const problem = identifierProblem(name);
    if (problem) {
      problems.push(`${label}: user id "${name}" ${problem}`);
      continue;
    }
    const clash = userIds.get(name);
    if (clash) problems.push(`${label}: user id "${name}" is already used by ${clash}; user ids must be unique`);
    userIds.set(name, label);
  }
  if (userIds.size > MAX_USERS_PER_GROUP) {
    problems.push(`apps: ${userIds.size} users (default user + app-envs); a user group holds at most ${MAX_USERS_PER_GROUP}`);
  }

  if (problems.length > 0) throw new KccConfigError(problems);
  return {
    stackName, apps, appEnvs,
    defaultUserId, defaultUserEnabled, userGroupId, replicationGroupId, engine, engineVersion, nodeType, replicas,
    shards, port, aclProfile, snapshotRetentionDays, snapshotWindow, maintenanceWindow, logRetentionDays,
    passwordRotationDays, kekRotationDays, vpcId, allowFrom, kmsKeyArn,
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
