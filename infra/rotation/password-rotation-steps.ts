import type { User } from '@aws-sdk/client-elasticache';
import type { RedisUserSecret } from '@kcc-redis/client/contract';
import { KccRotationError } from '../errors.js';
import { type ElastiCacheUser, userIdFromArn } from './elasticache-user.js';
import { ROTATED_PASSWORD_LENGTH, STAGE } from './rotation-contract.js';
import type { FrameContext } from './rotation-frame.js';
import { refuseStalePending } from './stale-pending.js';
import type { SecretVersion } from './secret-versions.js';

/** One version of a Redis user secret. */
export type UserSecretVersion = SecretVersion<RedisUserSecret>;

/** What one password step works with: the frame, and the ElastiCache user bound to the invocation's deadline and retries. */
export interface PasswordStepContext extends FrameContext<RedisUserSecret> {
  readonly user: (userId: string) => ElastiCacheUser;
}

/**
 * createSecret: puts a new password (64 letters and digits) into the AWSPENDING version, keeping
 * every other field of the current version. A pending version that already holds a new password
 * (a retry of this rotation) is kept. One that holds the current password can never complete a
 * rotation (a version's value is immutable): it is refused and its AWSPENDING removed.
 */
export async function createSecret(ctx: PasswordStepContext): Promise<void> {
  const current = await ctx.secrets.current();
  const userId = userIdFromArn(current.value.userArn, ctx.where);
  const existing = await ctx.secrets.find(ctx.token, STAGE.pending);
  if (existing) {
    sameUser(ctx, current, existing);
    await refuseStalePending(ctx, existing.value.password === current.value.password, 'password');
    ctx.log('info', 'pending version already holds a new password; keeping it', { userId });
    return;
  }
  const password = await ctx.secrets.randomAlphanumeric(ROTATED_PASSWORD_LENGTH);
  await ctx.secrets.putPending(ctx.token, { ...current.json, password }, [password]);
  ctx.log('info', 'created the pending version with a new password', { userId });
}

/**
 * setSecret: asks ElastiCache to give the user both the current and the pending password (ModifyUser
 * accepts two) and returns once ModifyUser is accepted; testSecret waits until the user is `active`
 * (as AWS's SecretsManagerElasticacheUserRotation does), so each wait gets a whole invocation. From
 * then on a connection may authenticate with either: instances that still hold the current password
 * keep working.
 */
export async function setSecret(ctx: PasswordStepContext): Promise<void> {
  const { current, pending, user } = await currentAndPending(ctx);
  await refuseStalePending(ctx, pending.value.password === current.value.password, 'password');
  await user.requestPasswords([current.value.password, pending.value.password]);
  ctx.log('info', 'ModifyUser accepted the current and the pending password; testSecret waits for the user to be active', { userId: user.userId });
}

/**
 * testSecret: waits, through the ElastiCache API, until the user is `active`, and checks that it is
 * the secret's user, authenticates by password and holds the passwords the rotation needs.
 *
 * Two callers. In a rotation, after setSecret: the user must hold two passwords (the current and the
 * pending one). In Secrets Manager's configuration test, which runs when a rotation schedule is
 * created or changed with `RotateImmediately=false`: "The test creates an AWSPENDING version of the
 * secret and then removes it", invoking testSecret alone
 * (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html, RotateImmediately).
 * What that version holds is not documented, so both are accepted as the configuration test:
 * - a copy of the current value (pending password = current password), as AWS's RDS samples imply,
 *   whose testSecret logs in with AWSPENDING (aws-samples/aws-secrets-manager-rotation-lambdas,
 *   SecretsManagerRDSPostgreSQLRotationSingleUser), and as moto models it (getmoto/moto#8547);
 * - no value (or a blank SecretString), which AWS's own ElastiCache user function would not notice:
 *   its test_secret reads AWSCURRENT only (SecretsManagerElasticacheUserRotation/lambda_function.py).
 *   Then everything is checked against the current version.
 * Either way one password suffices (AWS's own function only waits for `active` there).
 *
 * A pending version without a value looks the same whether the configuration test or a rotation
 * invokes testSecret: the event and the version's stages are identical, and a rotation's createSecret
 * always stores a value first (a version's value never changes after), so only a rotation run out of
 * order (testSecret invoked by hand) can meet one. It passes here, logged as such; it changes nothing,
 * and such a rotation still cannot complete: finishSecret reads the version before moving AWSCURRENT
 * and fails on one without a value. A pending value that is there but malformed fails
 * (KCC_ROTATION_SECRET_INVALID, naming the fields).
 *
 * It does not log in to Redis: the function runs outside the VPC (see the construct); ModifyUser
 * accepted and the user settled `active` is ElastiCache's confirmation that the passwords are in
 * place on every node.
 */
export async function testSecret(ctx: PasswordStepContext): Promise<void> {
  const current = await ctx.secrets.current();
  const pending = await ctx.pendingUnlessEmpty();
  const user = await checkedUser(ctx, current, pending);
  const described = await user.waitUntilActive();
  checkIdentity(ctx, described, pending ?? current);
  const count = described.Authentication?.PasswordCount;
  const configurationTest = pending === undefined || pending.value.password === current.value.password;
  const expected = configurationTest ? 'at least 1 (the current one)' : '2 (current and pending)';
  if (configurationTest ? !(count !== undefined && count >= 1) : count !== 2) {
    throw new KccRotationError(
      'KCC_ROTATION_TEST_FAILED',
      `${ctx.where}, user "${user.userId}": the user holds ${count ?? 'an unknown number of'} password(s), expected ${expected}` +
        (configurationTest ? '; the user lost its password outside the stack: redeploy, then rotate' : ' after setSecret; Secrets Manager restarts the rotation, whose setSecret sets them again'),
    );
  }
  ctx.log(
    'info',
    pending === undefined
      ? "configuration test passed: the pending version holds no value, so the current version was checked: user active, password authentication, the secret's user"
      : configurationTest
        ? 'configuration test passed: user active, password authentication, the secret\'s user'
        : 'verified: user active, password authentication, current and pending password in place',
    { userId: user.userId },
  );
}

/**
 * finishSecret: moves AWSCURRENT to the pending version (Secrets Manager labels the old one
 * AWSPREVIOUS), then leaves the user with the new password only and waits until it is `active`.
 * Instances still holding the old password keep their authenticated connections; on their next
 * reconnect Redis answers WRONGPASS, the client re-reads AWSCURRENT once and authenticates with the
 * new password. Re-running it (or running it after AWSCURRENT already moved) only repeats the drop;
 * once a newer rotation has a pending password, that one is kept beside the current one.
 */
export async function finishSecret(ctx: PasswordStepContext): Promise<void> {
  const next = await ctx.secrets.get(ctx.token);
  const userId = userIdFromArn(next.value.userArn, ctx.where);
  const currentVersionId = Object.entries(ctx.stages).find(([, stages]) => stages.includes(STAGE.current))?.[0];
  if (currentVersionId === undefined) {
    throw new KccRotationError('KCC_ROTATION_WRONG_STAGE', `${ctx.where}: no version carries ${STAGE.current}; the secret has no current value`);
  }
  /** Passwords the user keeps beside the new one: a newer rotation's, when one is under way. */
  const keep: string[] = [];
  if (currentVersionId !== ctx.token) {
    const current = await ctx.secrets.get(currentVersionId, STAGE.current);
    sameUser(ctx, current, next);
    await refuseStalePending(ctx, next.value.password === current.value.password, 'password');
    await ctx.secrets.moveCurrent(ctx.token, currentVersionId);
    ctx.log('info', `moved ${STAGE.current} to the new version`, { userId });
  } else {
    // A repeated finishSecret (Secrets Manager's retry, or a manual call) for a rotation that has
    // ended while a newer one is under way: that one's password may already be on the user, and
    // dropping it would fail that rotation. It stays; every other old password goes. A pending
    // version without a value yet (before its createSecret), or holding the current password (a
    // configuration test's copy), has no password of its own to keep.
    const newer = Object.entries(ctx.stages).find(([versionId, stages]) => versionId !== ctx.token && stages.includes(STAGE.pending))?.[0];
    const pending = newer === undefined ? undefined : await ctx.secrets.find(newer, STAGE.pending);
    if (pending !== undefined && pending.value.password !== next.value.password) {
      sameUser(ctx, next, pending);
      keep.push(pending.value.password);
      ctx.log('info', `${STAGE.current} is already on this version and version ${pending.versionId} carries ${STAGE.pending} (a newer rotation): keeping its password, dropping the others`, { userId });
    } else {
      ctx.log('info', `${STAGE.current} is already on this version; making sure the old password is gone`, { userId });
    }
  }
  const user = ctx.user(userId);
  checkIdentity(ctx, await user.describe(), next);
  await user.setPasswords([next.value.password, ...keep]);
  ctx.log('info', keep.length === 0 ? 'the user accepts only the new password' : 'the user accepts the new password and the newer rotation\'s', { userId });
}

async function currentAndPending(ctx: PasswordStepContext): Promise<{ current: UserSecretVersion; pending: UserSecretVersion; user: ElastiCacheUser }> {
  const current = await ctx.secrets.current();
  const pending = await ctx.secrets.get(ctx.token, STAGE.pending);
  return { current, pending, user: await checkedUser(ctx, current, pending) };
}

/** The current version's ElastiCache user, checked against it; a pending version with a value must name the same user. */
async function checkedUser(ctx: PasswordStepContext, current: UserSecretVersion, pending: UserSecretVersion | undefined): Promise<ElastiCacheUser> {
  if (pending !== undefined) sameUser(ctx, current, pending);
  const user = ctx.user(userIdFromArn(current.value.userArn, ctx.where));
  checkIdentity(ctx, await user.describe(), current);
  return user;
}

function sameUser(ctx: PasswordStepContext, a: UserSecretVersion, b: UserSecretVersion): void {
  if (a.value.username !== b.value.username || a.value.userArn !== b.value.userArn) {
    throw new KccRotationError(
      'KCC_ROTATION_SECRET_INVALID',
      `${ctx.where}: version ${b.versionId} names user "${b.value.username}" (${b.value.userArn}) but version ${a.versionId} names ` +
        `"${a.value.username}" (${a.value.userArn}); a rotation never changes the user: cancel it ` +
        `(aws secretsmanager update-secret-version-stage --secret-id ${ctx.secrets.secretArn} --version-stage ${STAGE.pending} --remove-from-version-id ${b.versionId})`,
    );
  }
}

function checkIdentity(ctx: PasswordStepContext, user: User, version: UserSecretVersion): void {
  const problems = [
    user.UserName !== version.value.username && `its user name is "${user.UserName}", the secret's username is "${version.value.username}"`,
    user.ARN !== undefined && user.ARN !== version.value.userArn && `its ARN is ${user.ARN}, the secret's userArn is ${version.value.userArn}`,
    user.Authentication?.Type !== undefined && user.Authentication.Type !== 'password' && `it authenticates by "${user.Authentication.Type}", not by password`,
  ].filter((p): p is string => typeof p === 'string');
  if (problems.length > 0) {
    throw new KccRotationError(
      'KCC_ROTATION_USER_INVALID',
      `${ctx.where}: ElastiCache user "${user.UserId}" is not the secret's password user: ${problems.join('; ')}`,
    );
  }
}
