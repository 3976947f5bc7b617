import type { User } from '@aws-sdk/client-elasticache';
import { KccRotationError } from '../errors.js';
import { type ElastiCacheUser, userIdFromArn } from './elasticache-user.js';
import { type RotationStep, STAGE } from './rotation-contract.js';
import type { SecretVersions, UserSecretVersion } from './secret-versions.js';

/** What one step works with; built by the handler after the guards passed. */
export interface StepContext {
  readonly step: RotationStep;
  /** The version being rotated in (the event's ClientRequestToken). */
  readonly token: string;
  /** The secret's versions and their stages (DescribeSecret's VersionIdsToStages). */
  readonly stages: Readonly<Record<string, readonly string[]>>;
  readonly secrets: SecretVersions;
  /** The ElastiCache user with this id, bound to the step's deadline and retries. */
  readonly user: (userId: string) => ElastiCacheUser;
  /** Logs one line (never a value of the secret). */
  readonly log: (message: string, userId?: string) => void;
  /** `secret <arn> (<step>)`, for messages. */
  readonly where: string;
}

/**
 * createSecret: puts a new password (64 letters and digits) into the AWSPENDING version, keeping
 * every other field of the current version. Nothing to do when that version already exists.
 */
export async function createSecret(ctx: StepContext): Promise<void> {
  const current = await ctx.secrets.current();
  const userId = userIdFromArn(current.secret.userArn, ctx.where);
  const existing = await ctx.secrets.find(ctx.token, STAGE.pending);
  if (existing) {
    sameUser(ctx, current, existing);
    ctx.log('pending version already exists; nothing to create', userId);
    return;
  }
  const password = await ctx.secrets.randomPassword();
  await ctx.secrets.putPending(ctx.token, { ...current.json, password }, password);
  ctx.log('created the pending version with a new password', userId);
}

/**
 * setSecret: gives the ElastiCache user both the current and the pending password (ModifyUser
 * accepts two), and waits until the user is `active` again. From here on, a connection may
 * authenticate with either: instances that still hold the current password keep working.
 */
export async function setSecret(ctx: StepContext): Promise<void> {
  const { current, pending, user } = await currentAndPending(ctx);
  await user.setPasswords([current.secret.password, pending.secret.password]);
  ctx.log('the user accepts the current and the pending password', user.userId);
}

/**
 * testSecret: verifies, through the ElastiCache API, that the user is `active`, authenticates by
 * password and holds two passwords (the current and the pending one setSecret gave it), and that
 * it is the user the secret names. It does not log in to Redis: the function runs outside the VPC
 * (see the construct), and ModifyUser returning and the user settling `active` is ElastiCache's
 * confirmation that the passwords are in place on every node.
 */
export async function testSecret(ctx: StepContext): Promise<void> {
  const { pending, user } = await currentAndPending(ctx);
  const described = await user.waitUntilActive();
  checkIdentity(ctx, described, pending);
  const count = described.Authentication?.PasswordCount;
  if (count !== 2) {
    throw new KccRotationError(
      'KCC_ROTATION_TEST_FAILED',
      `${ctx.where}, user "${user.userId}": the user holds ${count ?? 'an unknown number of'} password(s), expected 2 (current and pending) after setSecret; ` +
        'Secrets Manager restarts the rotation, whose setSecret sets them again',
    );
  }
  ctx.log('verified: user active, password authentication, current and pending password in place', user.userId);
}

/**
 * finishSecret: moves AWSCURRENT to the pending version (Secrets Manager labels the old one
 * AWSPREVIOUS), then leaves the user with the new password only. Instances still holding the old
 * password keep their authenticated connections; on their next reconnect Redis answers WRONGPASS,
 * the client re-reads AWSCURRENT once and authenticates with the new password. Re-running it (or
 * running it after AWSCURRENT already moved) only repeats the password drop.
 */
export async function finishSecret(ctx: StepContext): Promise<void> {
  const next = await ctx.secrets.get(ctx.token);
  const userId = userIdFromArn(next.secret.userArn, ctx.where);
  const currentVersionId = Object.entries(ctx.stages).find(([, stages]) => stages.includes(STAGE.current))?.[0];
  if (currentVersionId === undefined) {
    throw new KccRotationError('KCC_ROTATION_WRONG_STAGE', `${ctx.where}: no version carries ${STAGE.current}; the secret has no current value`);
  }
  if (currentVersionId !== ctx.token) {
    sameUser(ctx, await ctx.secrets.get(currentVersionId, STAGE.current), next);
    await ctx.secrets.moveCurrent(ctx.token, currentVersionId);
    ctx.log(`moved ${STAGE.current} to the new version`, userId);
  } else {
    ctx.log(`${STAGE.current} is already on this version; making sure the old password is gone`, userId);
  }
  const user = ctx.user(userId);
  checkIdentity(ctx, await user.describe(), next);
  await user.setPasswords([next.secret.password]);
  ctx.log('the user accepts only the new password', userId);
}

async function currentAndPending(ctx: StepContext): Promise<{ current: UserSecretVersion; pending: UserSecretVersion; user: ElastiCacheUser }> {
  const current = await ctx.secrets.current();
  const pending = await ctx.secrets.get(ctx.token, STAGE.pending);
  sameUser(ctx, current, pending);
  const user = ctx.user(userIdFromArn(current.secret.userArn, ctx.where));
  checkIdentity(ctx, await user.describe(), current);
  return { current, pending, user };
}

function sameUser(ctx: StepContext, a: UserSecretVersion, b: UserSecretVersion): void {
  if (a.secret.username !== b.secret.username || a.secret.userArn !== b.secret.userArn) {
    throw new KccRotationError(
      'KCC_ROTATION_SECRET_INVALID',
      `${ctx.where}: version ${b.versionId} names user "${b.secret.username}" (${b.secret.userArn}) but version ${a.versionId} names ` +
        `"${a.secret.username}" (${a.secret.userArn}); a rotation never changes the user: cancel it ` +
        `(aws secretsmanager update-secret-version-stage --secret-id ${ctx.secrets.secretArn} --version-stage ${STAGE.pending} --remove-from-version-id ${b.versionId})`,
    );
  }
}

function checkIdentity(ctx: StepContext, user: User, version: UserSecretVersion): void {
  const problems = [
    user.UserName !== version.secret.username && `its user name is "${user.UserName}", the secret's username is "${version.secret.username}"`,
    user.ARN !== undefined && user.ARN !== version.secret.userArn && `its ARN is ${user.ARN}, the secret's userArn is ${version.secret.userArn}`,
    user.Authentication?.Type !== undefined && user.Authentication.Type !== 'password' && `it authenticates by "${user.Authentication.Type}", not by password`,
  ].filter((p): p is string => typeof p === 'string');
  if (problems.length > 0) {
    throw new KccRotationError(
      'KCC_ROTATION_USER_INVALID',
      `${ctx.where}: ElastiCache user "${user.UserId}" is not the secret's password user: ${problems.join('; ')}`,
    );
  }
}
