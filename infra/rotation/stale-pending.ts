import { KccRotationError } from '../errors.js';
import { STAGE } from './rotation-contract.js';
import type { FrameContext } from './rotation-frame.js';

/**
 * Refuses a pending version that holds the current secret value instead of a new one, and removes its
 * AWSPENDING label so that it no longer blocks rotation.
 *
 * Such a version is left by a failed configuration test (its AWSPENDING version holds the current
 * value, as far as AWS's samples let us infer; see the password rotation's testSecret) or written by
 * hand. While it carries AWSPENDING, RotateSecret only answers "A previous rotation isn't complete.
 * That rotation will be reattempted." (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html);
 * that Secrets Manager then runs the steps again with that version's id is not documented, so nothing
 * relies on it: the operator removes the label (docs/operations-rotation.md, "A leftover AWSPENDING").
 * Should the function still be invoked with that id (a reattempt, a manual invocation), it cannot
 * finish: a version's value never changes (PutSecretValue with an existing ClientRequestToken and
 * another value fails: https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html),
 * and finishing would report a rotation that changed nothing. Removing the label here unblocks the
 * next RotateSecret, whose new version id gets a fresh value from createSecret.
 */
export async function refuseStalePending<T>(ctx: FrameContext<T>, stale: boolean, what: 'password' | 'key-encryption key'): Promise<void> {
  if (!stale) return;
  await ctx.secrets.removePending(ctx.token);
  ctx.log('warn', `pending version holds the current ${what}, not a new one; removed its ${STAGE.pending} label`);
  throw new KccRotationError(
    'KCC_ROTATION_STALE_PENDING',
    `${ctx.where}: version ${ctx.token} holds the current ${what}, not a new one (left by a failed configuration test or written by hand), ` +
      `so it cannot complete a rotation; its ${STAGE.pending} label is removed and nothing else changed. ` +
      `The next rotation creates a new ${what}: aws secretsmanager rotate-secret --secret-id ${ctx.secrets.secretArn}`,
  );
}
