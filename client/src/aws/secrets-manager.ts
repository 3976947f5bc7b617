import type * as SecretsManager from '@aws-sdk/client-secrets-manager';
import { KccAwsError, KccSecretError } from '../errors.js';
import { type KeyEncryptionKeySecret, type RedisUserSecret, parseKeyEncryptionKeySecret, parseRedisUserSecret } from '../contract/user-secret.js';
import { loadSdk } from './load-sdk.js';

/**
 * Reads the stack's user secret (its AWSCURRENT version) from Secrets Manager.
 * Errors name the secret id and the AWS error, never the value.
 */
export function readUserSecret(secretId: string, region: string | undefined): Promise<RedisUserSecret> {
  return readSecret(secretId, region, 'secretId (KCC_REDIS_SECRET_ID)', parseRedisUserSecret);
}

/** Reads the key-encryption-key secret the stack writes per app-env. */
export function readKeyEncryptionKeySecret(secretId: string, region: string | undefined): Promise<KeyEncryptionKeySecret> {
  return readSecret(secretId, region, 'keyEncryptionKeySecretId (KCC_KEYRING_KEK_SECRET_ID)', parseKeyEncryptionKeySecret);
}

async function readSecret<T>(secretId: string, region: string | undefined, neededFor: string, parse: (s: string | undefined) => T): Promise<T> {
  const sdk = await loadSdk<typeof SecretsManager>('@aws-sdk/client-secrets-manager', neededFor);
  const client = new sdk.SecretsManagerClient(region ? { region } : {});
  let secretString: string | undefined;
  try {
    secretString = (await client.send(new sdk.GetSecretValueCommand({ SecretId: secretId }))).SecretString;
  } catch (cause) {
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
