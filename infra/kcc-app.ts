import { type AppEnv, DEFAULT_ENVS, identifierProblem, keyPrefix } from '@kcc-redis/client/contract';
import { AppEnvAuth } from './app-env-auth.js';

/** One app that shares the cache, and the environments it runs in (one Redis namespace each). */
export interface KccApp {
  /** Lowercase letter first, then `a-z 0-9 -`; `<name>-<env>` is the key prefix and the password user's name. */
  readonly name: string;
  /**
   * Environments of this app.
   * @default - the cache's `envs`
   */
  readonly envs?: readonly string[];
  /**
   * How this app's instances authenticate (every env of the app).
   * @default - the cache's `auth`
   */
  readonly auth?: AppEnvAuth;
}

/** Every app × env pair of `apps`, in order (apps without `envs` take `envs`). */
export function appEnvsOf(apps: readonly KccApp[], envs: readonly string[] = DEFAULT_ENVS): AppEnv[] {
  return apps.flatMap((app) => (app.envs ?? envs).map((env) => ({ app: app.name, env })));
}

/** One app-env and how it authenticates. */
export interface AppEnvWithAuth extends AppEnv {
  readonly auth: AppEnvAuth;
}

/** {@link appEnvsOf} with each app-env's authentication (apps without `auth` take `auth`). */
export function appEnvAuthsOf(apps: readonly KccApp[], envs?: readonly string[], auth: AppEnvAuth = AppEnvAuth.PASSWORD): AppEnvWithAuth[] {
  const byApp = new Map(apps.map((app) => [app.name, app.auth ?? auth]));
  return appEnvsOf(apps, envs).map((appEnv) => ({ ...appEnv, auth: byApp.get(appEnv.app)! }));
}

/**
 * App-envs whose names join to one Redis namespace (app "a" env "b-c", app "a-b" env "c"): they
 * would read and write each other's keys (key ring, revocations) and share a key-encryption key.
 * User ids do not always show it: a password user's and an IAM user's differ ("-iam").
 * App-envs whose name is not a valid identifier (an app and an env valid each, together over 40
 * characters) are left to the user id checks, which report them with the fix.
 */
export function namespaceClashes(appEnvs: readonly AppEnv[]): string[] {
  const owners = new Map<string, string>();
  const problems: string[] = [];
  for (const appEnv of appEnvs) {
    if (identifierProblem(appEnv.app) ?? identifierProblem(appEnv.env) ?? identifierProblem(`${appEnv.app}-${appEnv.env}`)) continue;
    const owner = `app "${appEnv.app}" env "${appEnv.env}"`;
    const prefix = keyPrefix(appEnv);
    const first = owners.get(prefix);
    if (first) problems.push(`${owner}: its Redis namespace "${prefix}" is already that of ${first}; two app-envs in one namespace would read and write each other's keys: rename one of them`);
    else owners.set(prefix, owner);
  }
  return problems;
}
