import { RemovalPolicy, Token } from 'aws-cdk-lib';
import { DEFAULT_ENVS, IAM_USER_SUFFIX, identifierProblem } from '@kcc-redis/client/contract';
import { APP_ENV_AUTHS, type AppEnvAuth, hasIamUser, hasPasswordUser, usersPerAppEnv } from './app-env-auth.js';
import { everyAddressCidr, tooWideCidr } from './allowed-peer.js';
import { CACHE_ENGINES } from './engine.js';
import { MAX_ROTATION_DAYS, MAX_USERS_PER_GROUP } from './elasticache-rules.js';
import { type KccApp, appEnvAuthsOf, namespaceClashes } from './kcc-app.js';
import type { KccRedisCacheBaseProps } from './kcc-redis-cache-base.js';
import { concreteProblem, notWholeIn, show, unknownPropProblems, type ValidationRule } from './validate-props.js';

/** A cache's props with the namespace (replication group id or serverless cache name) they resolve to. */
export interface Resolved<P extends KccRedisCacheBaseProps> {
  readonly props: P;
  readonly namespace: string;
}

const REMOVAL_POLICIES: readonly RemovalPolicy[] = [RemovalPolicy.SNAPSHOT, RemovalPolicy.RETAIN, RemovalPolicy.DESTROY];

/** Every prop of KccRedisCacheBaseProps (the compiler keeps the list whole); each cache adds its own. */
export const CACHE_BASE_PROP_NAMES = {
  vpc: true, apps: true, envs: true, defaultUserId: true, defaultUserEnabled: true, userGroupId: true, engine: true, aclProfile: true,
  auth: true, allowFrom: true, encryptionKey: true, passwordRotation: true, kekRotation: true, logRetention: true,
} as const satisfies Record<keyof KccRedisCacheBaseProps, true>;
const APP_PROP_NAMES = { name: true, envs: true, auth: true } as const satisfies Record<keyof KccApp, true>;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
/** A value as a shape problem names it: a string, number or boolean shown, anything else by its kind (a construct has cycles). */
const kindOf = (value: unknown): string =>
  typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined ? show(value)
    : Array.isArray(value) ? 'a list' : `a ${typeof value}`;

/** `apps` is a list of objects with a string `name` (from JavaScript it may be anything): what is not. */
function appsShapeProblems(apps: unknown): string[] {
  if (apps === undefined) return ["apps is missing; list the apps that share the cache, e.g. apps: [{ name: 'orders' }]"];
  const example = (name: unknown) => `{ name: ${typeof name === 'string' ? JSON.stringify(name) : "'orders'"} }`;
  if (!Array.isArray(apps)) return [`apps ${kindOf(apps)} must be a list of apps, e.g. apps: [${example(apps)}]`];
  return apps.flatMap((app: unknown, i) => {
    if (!isObject(app)) return [`apps[${i}] ${kindOf(app)} must be an app { name, envs?, auth? }, e.g. ${example(app)}`];
    return typeof app.name === 'string' ? [] : [`apps[${i}].name ${kindOf(app.name)} must be a string, the app's name`];
  });
}

/** `envs` and each app's `envs`, when given, are lists of strings: what is not. */
function envsShapeProblems(props: KccRedisCacheBaseProps): string[] {
  const apps: unknown[] = Array.isArray(props.apps) ? props.apps : [];
  const given: [string, unknown][] = [['envs', props.envs], ...apps.map((app, i): [string, unknown] => [`apps[${i}].envs`, isObject(app) ? app.envs : undefined])];
  return given.flatMap(([where, envs]) =>
    envs === undefined || (Array.isArray(envs) && envs.every((env) => typeof env === 'string')) ? []
      : [`${where} ${kindOf(envs)} must be a list of environment names, e.g. ["prod"]`]);
}

/** Props, and props of apps, that the construct does not have. */
function unknownProps(props: KccRedisCacheBaseProps, constructName: string, known: Readonly<Record<string, true>>): string[] {
  const apps: unknown[] = Array.isArray(props.apps) ? props.apps : [];
  return [
    ...unknownPropProblems(props, known, constructName),
    ...apps.flatMap((app, i) => unknownPropProblems(app, APP_PROP_NAMES, 'an app (KccApp)', `apps[${i}].`)),
  ];
}

const days = (d: { toDays(o?: { integral: boolean }): number } | undefined) => (d === undefined || Token.isUnresolved(d) ? undefined : d.toDays({ integral: false }));

function badAppNames(apps: readonly KccApp[]): string[] {
  return apps.flatMap((app, i) => {
    const problem = identifierProblem(app.name);
    return problem ? [`apps[${i}].name ${show(app.name)} ${problem}`] : [];
  });
}

function badEnvs(apps: readonly KccApp[], envs: readonly string[] | undefined): string[] {
  const lists: [string, readonly string[]][] = [['envs', envs ?? DEFAULT_ENVS], ...apps.flatMap((a, i): [string, readonly string[]][] => (a.envs ? [[`apps[${i}].envs`, a.envs]] : []))];
  return lists.flatMap(([where, list]) => {
    if (list.length === 0) return [`${where} must list at least one environment, got []`];
    if (new Set(list).size !== list.length) return [`${where} ${show(list)} lists an environment twice`];
    return list.flatMap((env) => {
      const problem = identifierProblem(env);
      return problem ? [`${where}: environment ${show(env)} ${problem}`] : [];
    });
  });
}

function badAuths(props: KccRedisCacheBaseProps): string[] {
  const given: [string, AppEnvAuth | undefined][] = [['auth', props.auth], ...props.apps.map((a, i): [string, AppEnvAuth | undefined] => [`apps[${i}].auth`, a.auth])];
  return given.flatMap(([where, auth]) =>
    auth === undefined || APP_ENV_AUTHS.includes(auth) ? [] : [`${where} ${show(auth)} must be one of ${APP_ENV_AUTHS.map((a) => `"${a}"`).join(', ')} (AppEnvAuth)`]);
}

/** The ElastiCache ids the props lead to, or the problems with them (only once names, envs and auths are valid). */
function userIdProblems({ props, namespace }: Resolved<KccRedisCacheBaseProps>, namespaceProp: string): string[] {
  if (badAppNames(props.apps).length > 0 || badEnvs(props.apps, props.envs).length > 0 || badAuths(props).length > 0) return [];
  const problems = namespaceClashes(appEnvAuthsOf(props.apps, props.envs, props.auth)).map((problem) => `apps: ${problem}`);
  const defaultUserId = props.defaultUserId ?? `${namespace}-admin`;
  const seen = new Map<string, string>([[defaultUserId, 'the default user']]);
  const check = (id: string, pattern: string, owner: string) => {
    const problem = identifierProblem(id);
    if (problem) problems.push(`apps: user id ${show(id)} (${pattern}) ${problem}; shorten the app, env or ${namespaceProp}`);
    else if (seen.has(id)) problems.push(`apps: user id ${show(id)} is also ${seen.get(id)}'s; ids must be unique`);
    seen.set(id, owner);
  };
  for (const { auth, ...appEnv } of appEnvAuthsOf(props.apps, props.envs, props.auth)) {
    // Not appEnvUserName: it throws when `<app>-<env>` is too long, which the check below reports.
    const name = `${appEnv.app}-${appEnv.env}`;
    const owner = `app "${appEnv.app}" env "${appEnv.env}"`;
    if (hasPasswordUser(auth)) check(`${namespace}-${name}`, `<${namespaceProp}>-<app>-<env>`, owner);
    if (hasIamUser(auth)) check(`${namespace}-${name}-${IAM_USER_SUFFIX}`, `IAM user: <${namespaceProp}>-<app>-<env>-${IAM_USER_SUFFIX}, its id and name`, `${owner} (IAM)`);
  }
  return problems;
}

function usersInGroup(props: KccRedisCacheBaseProps): number {
  return 1 + appEnvAuthsOf(props.apps, props.envs, props.auth).reduce((n, { auth }) => n + usersPerAppEnv(auth), 0);
}

/**
 * The props rules every kcc-redis cache shares, as a table (aws-cdk's `validate-queue-props.ts`
 * shape): each names the prop, the value and the rule. `namespaceProp` names the prop the namespace
 * comes from (`replicationGroupId`, `serverlessCacheName`); `constructName` and `ownProps` (its props
 * besides {@link CACHE_BASE_PROP_NAMES}) name the props it has, so an unknown one (a misspelling,
 * from JavaScript) is reported. Props of the wrong shape (`apps` not a list) are gates: reported alone.
 * Tokens are left to deploy time.
 */
export function cacheBaseRules<P extends KccRedisCacheBaseProps>(namespaceProp: string, constructName: string, ownProps: Readonly<Record<string, true>>): ValidationRule<Resolved<P>>[] {
  const defaultUserId = ({ props, namespace }: Resolved<P>) => props.defaultUserId ?? `${namespace}-admin`;
  const userGroupId = ({ props, namespace }: Resolved<P>) => props.userGroupId ?? `${namespace}-users`;
  const known = { ...CACHE_BASE_PROP_NAMES, ...ownProps };
  return [
    { note: true, condition: ({ props }) => unknownProps(props, constructName, known).length > 0, message: ({ props }) => unknownProps(props, constructName, known).join('; ') },
    { gate: true, condition: ({ props }) => appsShapeProblems(props.apps).length > 0, message: ({ props }) => appsShapeProblems(props.apps).join('; ') },
    { gate: true, condition: ({ props }) => envsShapeProblems(props).length > 0, message: ({ props }) => envsShapeProblems(props).join('; ') },
    { condition: ({ props }) => props.apps.length === 0, message: () => 'apps must list at least one app, got []' },
    { condition: ({ props }) => badAppNames(props.apps).length > 0, message: ({ props }) => badAppNames(props.apps).join('; ') },
    {
      condition: ({ props }) => new Set(props.apps.map((a) => a.name)).size !== props.apps.length,
      message: ({ props }) => `apps ${show(props.apps.map((a) => a.name))} names an app twice; each app appears once`,
    },
    { condition: ({ props }) => badEnvs(props.apps, props.envs).length > 0, message: ({ props }) => badEnvs(props.apps, props.envs).join('; ') },
    { condition: ({ props }) => badAuths(props).length > 0, message: ({ props }) => badAuths(props).join('; ') },
    {
      condition: ({ namespace }) => concreteProblem(namespace, identifierProblem) !== undefined,
      message: ({ namespace }) => `${namespaceProp} ${show(namespace)} ${identifierProblem(namespace)}`,
    },
    { condition: (r) => identifierProblem(defaultUserId(r)) !== undefined, message: (r) => `defaultUserId ${show(defaultUserId(r))} ${identifierProblem(defaultUserId(r))}` },
    { condition: (r) => identifierProblem(userGroupId(r)) !== undefined, message: (r) => `userGroupId ${show(userGroupId(r))} ${identifierProblem(userGroupId(r))}` },
    { condition: (r) => userIdProblems(r, namespaceProp).length > 0, message: (r) => userIdProblems(r, namespaceProp).join('; ') },
    {
      condition: ({ props }) => badAuths(props).length === 0 && usersInGroup(props) > MAX_USERS_PER_GROUP,
      message: ({ props }) =>
        `apps: ${usersInGroup(props) - 1} app-env users (two for "password+iam") + the default user = ${usersInGroup(props)}; a user group holds at most ${MAX_USERS_PER_GROUP} users`,
    },
    {
      condition: ({ props }) => props.engine !== undefined && !CACHE_ENGINES.includes(props.engine),
      message: ({ props }) => `engine ${show(props.engine)} must be one of ${CACHE_ENGINES.map((e) => `CacheEngine.${e.toUpperCase()}`).join(', ')}`,
    },
    {
      condition: ({ props }) => notWholeIn(days(props.passwordRotation), 1, MAX_ROTATION_DAYS),
      message: ({ props }) => `passwordRotation ${days(props.passwordRotation)} days must be whole days from 1 to ${MAX_ROTATION_DAYS} (Secrets Manager's range)`,
    },
    {
      condition: ({ props }) => notWholeIn(days(props.kekRotation), 1, MAX_ROTATION_DAYS),
      message: ({ props }) => `kekRotation ${days(props.kekRotation)} days must be whole days from 1 to ${MAX_ROTATION_DAYS} (Secrets Manager's range)`,
    },
    {
      condition: ({ props }) => (props.allowFrom ?? []).some((peer) => everyAddressCidr(peer.uniqueId)),
      message: ({ props }) => `allowFrom ${show((props.allowFrom ?? []).map((p) => p.uniqueId))} opens the cache to every address; name the clients' security group or CIDR instead`,
    },
    {
      condition: ({ props }) => (props.allowFrom ?? []).some((peer) => tooWideCidr(peer.uniqueId)),
      message: ({ props }) => `allowFrom ${show((props.allowFrom ?? []).map((p) => p.uniqueId))} has a CIDR wider than /8 (IPv4) or /16 (IPv6): a few such ranges open the cache to every address; name the clients' security group or a narrower CIDR`,
    },
  ];
}

/** The removal policies a cache takes: SNAPSHOT, RETAIN, DESTROY. */
export function removalPolicyRule<P extends { readonly removalPolicy?: RemovalPolicy }>(): ValidationRule<{ readonly props: P }> {
  return {
    condition: ({ props }) => props.removalPolicy !== undefined && !REMOVAL_POLICIES.includes(props.removalPolicy),
    message: ({ props }) => `removalPolicy ${show(props.removalPolicy)} must be RemovalPolicy.SNAPSHOT, RETAIN or DESTROY`,
  };
}
