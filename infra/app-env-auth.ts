/**
 * How an app-env's instances authenticate to the cache, i.e. which ElastiCache users it gets.
 *
 * IAM authentication (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth-iam.html) needs
 * Valkey 7.2+ or Redis OSS 7.0+ and in-transit encryption, both of which every cache of this stack
 * has; the user's id must equal its user name.
 */
export enum AppEnvAuth {
  /** A password user (`<app>-<env>`) whose generated password lives in a Secrets Manager secret and rotates. */
  PASSWORD = 'password',
  /** An IAM-authenticated user (`<namespace>-<app>-<env>-iam`): no password, no secret; the role needs `elasticache:Connect`. */
  IAM = 'iam',
  /**
   * Both users, with the same key prefix and access string: for moving an app-env from passwords to
   * IAM (or back) while old and new instances run side by side.
   */
  PASSWORD_AND_IAM = 'password+iam',
}

export const APP_ENV_AUTHS: readonly AppEnvAuth[] = [AppEnvAuth.PASSWORD, AppEnvAuth.IAM, AppEnvAuth.PASSWORD_AND_IAM];

/** Whether the app-env has a password user (and its secret). */
export function hasPasswordUser(auth: AppEnvAuth): boolean {
  return auth === AppEnvAuth.PASSWORD || auth === AppEnvAuth.PASSWORD_AND_IAM;
}

/** Whether the app-env has an IAM-authenticated user. */
export function hasIamUser(auth: AppEnvAuth): boolean {
  return auth === AppEnvAuth.IAM || auth === AppEnvAuth.PASSWORD_AND_IAM;
}

/** ElastiCache users one app-env of this kind adds to the user group. */
export function usersPerAppEnv(auth: AppEnvAuth): number {
  return (hasPasswordUser(auth) ? 1 : 0) + (hasIamUser(auth) ? 1 : 0);
}
