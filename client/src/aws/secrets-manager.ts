import type * as SecretsManager from '@aws-sdk/client-secrets-manager';
import { KccAwsError, KccSecretError } from '../errors.js';
import { showShaped } from '../option-checks.js';
import { type KeyEncryptionKeySecret, type RedisUserSecret, parseKeyEncryptionKeySecret, parseRedisUserSecret } from '../contract/user-secret.js';
import { callWithin } from './bounded-call.js';
import { loadSdk } from './load-sdk.js';

/**
 * Reads the stack's user secret (its AWSCURRENT version) from Secrets Manager, `timeoutMs` at most.
 * Errors name the secret id and the AWS error, never the value.
 */
export function readUserSecret(secretId: string, region: string | undefined, timeoutMs: number): Promise<RedisUserSecret> {
  return readSecret(secretId, region, timeoutMs, 'secretId (KCC_REDIS_SECRET_ID)', parseRedisUserSecret);
}

/** Reads the key-encryption-key secret the stack writes per app-env, `timeoutMs` at most. */
export function readKeyEncryptionKeySecret(secretId: string, region: string | undefined, timeoutMs: number): Promise<KeyEncryptionKeySecret> {
  return readSecret(secretId, region, timeoutMs, 'keyEncryptionKeySecretId (KCC_KEYRING_KEK_SECRET_ID)', parseKeyEncryptionKeySecret);
}

/** The region a Secrets Manager ARN names (`arn:aws:secretsmanager:<region>:…`); undefined for a name. */
export function arnRegion(secretId: string | undefined): string | undefined {
  return secretId === undefined ? undefined : /^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):/.exec(secretId)?.[1];
}

/**
 * Reads a secret in the region its ARN names, the only one it can be read in (AWS_REGION may name
 * another: CloudShell, CI, a stack in another region); a secret given by name in `region`, else the
 * SDK's own.
 */
async function readSecret<T>(secretId: string, region: string | undefined, timeoutMs: number, neededFor: string, parse: (s: string | undefined) => T): Promise<T> {
  const sdk = await loadSdk<typeof SecretsManager>('@aws-sdk/client-secrets-manager', neededFor);
  const inRegion = arnRegion(secretId) ?? region;
  const client = new sdk.SecretsManagerClient(inRegion ? { region: inRegion } : {});
  let secretString: string | undefined;
  try {
    const command = new sdk.GetSecretValueCommand({ SecretId: secretId });
    secretString = (await callWithin('Secrets Manager', timeoutMs, (abortSignal) => client.send(command, { abortSignal }))).SecretString;
  } catch (cause) {
    const shown = secretIdShown(secretId);
    if (cause instanceof KccAwsError) throw new KccAwsError(`could not read secret ${shown}: ${cause.message}`);
    const reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    // An id not shown is not shown in AWS's words either (AccessDenied names the resource), nor in the cause.
    const hidden = !shown.startsWith('"');
    const said = hidden ? reason.split(secretId).join('<the secret id>') : reason;
    throw new KccAwsError(`could not read secret ${shown}: ${said}${readAdvice(cause, secretId)}`, hidden ? undefined : { cause });
  } finally {
    client.destroy();
  }
  try {
    return parse(secretString);
  } catch (error) {
    // The parser names fields, never values; no cause, so nothing of the value travels with it.
    if (error instanceof KccSecretError) throw new KccSecretError(`secret ${secretIdShown(secretId)}: ${error.message}`);
    throw error;
  }
}

/**
 * A Secrets Manager secret id: a name (letters, digits and `/_+=.@-`, up to 512 characters) or a
 * secret's ARN. One of another shape is refused before any call (resolve-options.ts, key-ring-options.ts).
 */
export const SECRET_ID = /^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:)?[A-Za-z0-9/_+=.@-]{1,512}$/;

/** The secret id as a message shows it: quoted when it has a secret id's shape, else described without it. */
export function secretIdShown(secretId: string): string {
  return showShaped(secretId, SECRET_ID);
}

/** What to do about an AWS SDK failure that is about the environment, not the secret: no region, no credentials. */
function readAdvice(cause: unknown, secretId: string): string {
  const text = cause instanceof Error ? `${cause.name} ${cause.message}` : String(cause);
  if (/region is missing/i.test(text)) {
    return `; set the region option or AWS_REGION to the secret's region${arnRegion(secretId) === undefined ? ", or give the secret's ARN, which names it" : ''}`;
  }
  if (/CredentialsProviderError|could not load credentials/i.test(text)) {
    return '; no AWS credentials were found: run with a role (an ECS task role, an instance profile, EKS pod identity), or set AWS_PROFILE (after aws sso login) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY';
  }
  return '';
}
