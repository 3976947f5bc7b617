import type * as SecretsManager from '@aws-sdk/client-secrets-manager';
import { KccClientError } from '../errors.js';
import { type RedisUserSecret, parseRedisUserSecret } from '../user-secret.js';
import { loadSdk } from './load-sdk.js';

/**
 * Reads the stack's user secret (its AWSCURRENT version) from Secrets Manager.
 * Errors name the secret id and the AWS error, never the value.
 */
export async function readUserSecret(secretId: string, region: string | undefined): Promise<RedisUserSecret> {
  const sdk = await loadSdk<typeof SecretsManager>('@aws-sdk/client-secrets-manager', 'secretId (KCC_REDIS_SECRET_ID)');
  const client = new sdk.SecretsManagerClient(region ? { region } : {});
  try {
    const response = await client.send(new sdk.GetSecretValueCommand({ SecretId: secretId }));
    return parseRedisUserSecret(response.SecretString);
  } catch (cause) {
    const reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    throw new KccClientError('KCC_AWS_LOOKUP_FAILED', `could not read secret "${secretId}": ${reason}`, { cause });
  } finally {
    client.destroy();
  }
}
