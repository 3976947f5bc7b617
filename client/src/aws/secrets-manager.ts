import type * as SecretsManager from '@aws-sdk/client-secrets-manager';
import { KccAwsError, KccSecretError } from '../errors.js';
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
    if (cause instanceof KccAwsError) throw new KccAwsError(`could not read secret "${secretId}": ${cause.message}`);
    const reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    throw new KccAwsError(`could not read secret "${secretId}": ${reason}`, { cause });
  } finally {
    client.destroy();
  }
  try {
    return parse(secretString);
  } catch (error) {
    // The parser names fields, never values; no cause, so nothing of the value travels with it.
    if (error instanceof KccSecretError) throw new KccSecretError(`secret "${secretId}": ${error.message}`);
    throw error;
  }
}
