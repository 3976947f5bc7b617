import { type AppEnv, DEFAULT_ENVS } from '@kcc-redis/client/contract';
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
