import { KccRotationError } from '../errors.js';
import { STAGE } from './rotation-contract.js';
import type { FrameContext } from './rotation-frame.js';

/**
 * Refuses a pending version that holds the current secret value instead of a new one, and removes its
 * AWSPENDING label so that it no longer blocks rotation.
 *
 * Such a version is left by Secrets Manager's configuration test when that test fails (the test puts
 * the current value into a new AWSPENDING version and removes it only afterwards), or by someone
 * writing one by hand. Secrets Manager's next attempt runs the steps with that version's id (a
 * leftover AWSPENDING makes RotateSecret report that the previous rotation "will be reattempted"),
 * and a version's value can never change (PutSecretValue with an existing ClientRequestToken and
 * another value fails: https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html).
 * Finishing with it would report a rotation that changed nothing. Once the label is gone,
 * RotateSecret starts a new rotation with a new version id, whose createSecret makes a fresh value.
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
