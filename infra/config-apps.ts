import { IAM_USER_SUFFIX, identifierProblem } from '@kcc-redis/client/contract';
import { APP_ENV_AUTHS, type AppEnvAuth, hasIamUser, hasPasswordUser } from './app-env-auth.js';
import { Reader, show } from './config-reader.js';
import { type AppEnvWithAuth, namespaceClashes } from './kcc-app.js';

/** One app, the environments it runs in, and how its instances authenticate (cdk.json `apps`). */
export interface AppConfig {
  readonly name: string;
  readonly envs: readonly string[];
  readonly auth: AppEnvAuth;
}

const APP_KEYS = ['name', 'envs', 'auth'];

/**
 * ElastiCache user ids carry the replication group id: `<replicationGroupId>-<app>-<env>` for password
 * users, `<replicationGroupId>-<app>-<env>-iam` (id = name) for IAM users. Each valid and unique.
 */
export function userIdProblems(appEnvs: readonly AppEnvWithAuth[], replicationGroupId: string, defaultUserId: string | undefined): string[] {
  const problems: string[] = [];
  const ids = new Map<string, string>([[defaultUserId ?? `${replicationGroupId}-admin`, 'the default user (defaultUserId)']]);
  const check = (label: string, userId: string, pattern: string) => {
    const problem = identifierProblem(userId);
    if (problem) {
      problems.push(`${label}: user id "${userId}" (${pattern}) ${problem}; shorten the app, the env or replicationGroupId`);
      return;
    }
    const clash = ids.get(userId);
    if (clash) problems.push(`${label}: user id "${userId}" is already used by ${clash}; user ids must be unique`);
    ids.set(userId, label);
  };
  problems.push(...namespaceClashes(appEnvs).map((problem) => `apps: ${problem}`));
  for (const { app, env, auth } of appEnvs) {
    const label = `apps: "${app}" env "${env}"`;
    if (hasPasswordUser(auth)) check(label, `${replicationGroupId}-${app}-${env}`, '<replicationGroupId>-<app>-<env>');
    if (hasIamUser(auth)) check(`${label} (IAM)`, `${replicationGroupId}-${app}-${env}-${IAM_USER_SUFFIX}`, `IAM user id and name: <replicationGroupId>-<app>-<env>-${IAM_USER_SUFFIX}`);
  }
  return problems;
}

/** The `apps` list: names (each once), envs, auth; each problem names the entry. */
export function parseApps(raw: unknown, defaultEnvs: readonly string[], defaultAuth: AppEnvAuth, problems: string[]): AppConfig[] {
  if (raw === undefined) {
    problems.push('apps: missing; list the apps that share this Redis, e.g. ["my-app"] or [{ "name": "my-app", "envs": ["prod"], "auth": "iam" }]');
    return [];
  }
  if (!Array.isArray(raw) || raw.length === 0) {
    problems.push(`apps: must be a non-empty list of app names or { name, envs, auth } objects, got ${show(raw)}`);
    return [];
  }
  const apps: AppConfig[] = [];
  const seen = new Set<string>();
  raw.forEach((entry: unknown, i) => {
    const where = `apps[${i}]`;
    let name: unknown = entry;
    let envs: unknown = defaultEnvs;
    let auth: AppEnvAuth = defaultAuth;
    if (typeof entry === 'object' && entry !== null && !Array.isArray(entry)) {
      const obj = entry as Record<string, unknown>;
      const extra = Object.keys(obj).filter((k) => !APP_KEYS.includes(k));
      if (extra.length > 0) problems.push(`${where}: unknown field(s) ${extra.map((k) => `"${k}"`).join(', ')} (known: ${APP_KEYS.join(', ')})`);
      name = obj.name;
      envs = obj.envs ?? defaultEnvs;
      auth = new Reader(obj, problems, `${where}.`).oneOf('auth', defaultAuth, APP_ENV_AUTHS);
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
    apps.push({ name, envs: envNames, auth });
  });
  return apps;
}
