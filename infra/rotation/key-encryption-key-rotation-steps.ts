import { KEK_HISTORY_LENGTH, KEK_SECRET_VERSION, type KeyEncryptionKeySecret } from '@kcc-redis/client/contract';
import { KccRotationError } from '../errors.js';
import { ROTATED_KEK_LENGTH, STAGE } from './rotation-contract.js';
import type { FrameContext } from './rotation-frame.js';
import type { SecretVersion } from './secret-versions.js';
import { refuseStalePending } from './stale-pending.js';

/** What one key-encryption-key step works with. */
export type KekStepContext = FrameContext<KeyEncryptionKeySecret>;

type KekVersion = SecretVersion<KeyEncryptionKeySecret>;

/**
 * The `previous` list a rotation from `current` must write: the current key first, then the earlier
 * ones, newest first, at most {@link KEK_HISTORY_LENGTH}. Keys beyond that are dropped.
 */
export function nextHistory(current: KeyEncryptionKeySecret): string[] {
  return [current.kek, ...current.previous].slice(0, KEK_HISTORY_LENGTH);
}

/**
 * createSecret: a new version with a fresh key-encryption key (GetRandomPassword, 64 letters and
 * digits) and the current one prepended to `previous` (trimmed to {@link KEK_HISTORY_LENGTH}); every
 * other field of the current version kept. A pending version that already holds a new key (a retry)
 * is kept; one that holds the current key is refused and its AWSPENDING removed.
 */
export async function createSecret(ctx: KekStepContext): Promise<void> {
  const current = await ctx.secrets.current();
  const existing = await ctx.secrets.find(ctx.token, STAGE.pending);
  if (existing) {
    await refuseStalePending(ctx, existing.value.kek === current.value.kek, 'key-encryption key');
    ctx.log('info', 'pending version already holds a new key-encryption key; keeping it');
    return;
  }
  const kek = await ctx.secrets.randomAlphanumeric(ROTATED_KEK_LENGTH);
  const previous = nextHistory(current.value);
  await ctx.secrets.putPending(ctx.token, { ...current.json, v: KEK_SECRET_VERSION, kek, previous }, [kek, ...previous]);
  ctx.log('info', `created the pending version with a new key-encryption key (${previous.length} earlier kept)`);
}

/**
 * setSecret: nothing to set. A key-encryption key lives in its secret only: Redis never holds it, and
 * no service keeps a copy to update. Instances take the new key from AWSCURRENT once finishSecret
 * moved it, and still read what the old key protects through `previous`. The step still passes the
 * frame's guards, so an event for another secret or version fails here as anywhere.
 */
export async function setSecret(ctx: KekStepContext): Promise<void> {
  ctx.log('info', 'nothing to set: the key-encryption key exists only in this secret');
}

/**
 * testSecret: the pending version parses and keeps every earlier key a reader may still need.
 *
 * In a rotation: a new `kek` (neither the current one nor an earlier one), and `previous` exactly the
 * current key followed by the current history, trimmed to {@link KEK_HISTORY_LENGTH}: a ring
 * encrypted under any of them stays readable. In Secrets Manager's configuration test (testSecret
 * invoked alone on a new AWSPENDING version:
 * https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html, RotateImmediately)
 * that version may hold a copy of the current value (as AWS's RDS samples imply) or no value at all
 * (AWS's ElastiCache user sample never reads it; see the password rotation's testSecret). A copy must
 * be the current version, key for key. Without a value (or with a blank SecretString) the current
 * version must parse, and nothing else is checked: a rotation's createSecret always stores a value
 * before testSecret, and should testSecret still meet an empty version (invoked by hand, out of
 * order), finishSecret refuses to make it current. A value that is there but malformed fails
 * (KCC_ROTATION_SECRET_INVALID, naming the fields).
 */
export async function testSecret(ctx: KekStepContext): Promise<void> {
  const current = await ctx.secrets.current();
  const pending = await ctx.pendingUnlessEmpty();
  if (pending === undefined) {
    ctx.log('info', 'configuration test passed: the pending version holds no value, so the current version was checked: it parses');
    return;
  }
  if (pending.value.kek === current.value.kek) {
    if (!sameKeys(pending.value.previous, current.value.previous)) {
      throw testFailed(ctx, pending, 'holds the current key-encryption key but another history than the current version');
    }
    ctx.log('info', 'configuration test passed: the pending version parses and is the current key-encryption key');
    return;
  }
  if (current.value.previous.includes(pending.value.kek)) {
    throw testFailed(ctx, pending, 'reuses an earlier key-encryption key as the new one');
  }
  if (!sameKeys(pending.value.previous, nextHistory(current.value))) {
    throw testFailed(
      ctx,
      pending,
      `does not keep the earlier keys: its "previous" must be the current key followed by the current history (${nextHistory(current.value).length} keys, newest first)`,
    );
  }
  ctx.log('info', `verified: a new key-encryption key, ${pending.value.previous.length} earlier keys kept`);
}

/** finishSecret: moves AWSCURRENT to the pending version (Secrets Manager labels the old one AWSPREVIOUS). */
export async function finishSecret(ctx: KekStepContext): Promise<void> {
  const currentVersionId = Object.entries(ctx.stages).find(([, stages]) => stages.includes(STAGE.current))?.[0];
  if (currentVersionId === undefined) {
    throw new KccRotationError('KCC_ROTATION_WRONG_STAGE', `${ctx.where}: no version carries ${STAGE.current}; the secret has no current value`);
  }
  if (currentVersionId === ctx.token) {
    ctx.log('info', `${STAGE.current} is already on this version; nothing to do`);
    return;
  }
  const next = await ctx.secrets.get(ctx.token);
  const current = await ctx.secrets.get(currentVersionId, STAGE.current);
  await refuseStalePending(ctx, next.value.kek === current.value.kek, 'key-encryption key');
  await ctx.secrets.moveCurrent(ctx.token, currentVersionId);
  ctx.log('info', `moved ${STAGE.current} to the new key-encryption key`);
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((key, i) => key === b[i]);
}

function testFailed(ctx: KekStepContext, pending: KekVersion, problem: string): KccRotationError {
  return new KccRotationError(
    'KCC_ROTATION_TEST_FAILED',
    `${ctx.where}: pending version ${pending.versionId} ${problem}; it is not made current. ` +
      `Remove it (aws secretsmanager update-secret-version-stage --secret-id ${ctx.secrets.secretArn} --version-stage ${STAGE.pending} ` +
      `--remove-from-version-id ${pending.versionId}) and rotate again`,
  );
}
