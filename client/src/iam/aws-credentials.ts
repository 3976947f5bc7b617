import type * as CredentialProviders from '@aws-sdk/credential-providers';
import { KccAwsError, KccConfigError } from '../errors.js';
import { loadSdk } from '../aws/load-sdk.js';

/** AWS credentials, in the shape the AWS SDK resolves them. */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  /** When temporary credentials stop working; a token signed with them stops working too. */
  readonly expiration?: Date;
}

/**
 * An AWS SDK credential provider (`fromNodeProviderChain()`, `fromTemporaryCredentials(…)`, `fromIni()`,
 * or your own). The SDK's own providers memoize and refresh before expiry; `forceRefresh` asks them
 * to resolve again now.
 */
export type AwsCredentialsProvider = (options?: { forceRefresh?: boolean }) => Promise<AwsCredentials>;

let defaultChain: Promise<AwsCredentialsProvider> | undefined;

/**
 * The AWS SDK's default chain for Node.js (`fromNodeProviderChain` of `@aws-sdk/credential-providers`:
 * environment, SSO, web identity (EKS), ECS task role, EC2 instance role…), created once per process
 * so that its memoization (refresh before expiry) serves every caller.
 */
export function defaultCredentialsProvider(): AwsCredentialsProvider {
  return async (options) => {
    defaultChain ??= loadSdk<typeof CredentialProviders>('@aws-sdk/credential-providers', 'IAM authentication (the default AWS credential chain)')
      .then((sdk) => sdk.fromNodeProviderChain() as AwsCredentialsProvider)
      .catch((error: unknown) => {
        defaultChain = undefined;
        throw error;
      });
    return (await defaultChain)(options);
  };
}

/** A provider for credentials given as a provider or as a fixed object (kept in a closure, out of object dumps). */
export function credentialsProviderOf(credentials: AwsCredentials | AwsCredentialsProvider | undefined): AwsCredentialsProvider {
  if (credentials === undefined) return defaultCredentialsProvider();
  if (typeof credentials === 'function') return credentials;
  const fixed = credentials;
  return async () => fixed;
}

/**
 * Resolves credentials through `provider`. A failure is a `KccAwsError` naming the provider's error
 * (SDK provider errors name the source, never a key); credentials missing a key id or secret are refused.
 */
export async function resolveAwsCredentials(provider: AwsCredentialsProvider, forceRefresh = false): Promise<AwsCredentials> {
  let credentials: AwsCredentials;
  try {
    credentials = await provider(forceRefresh ? { forceRefresh: true } : undefined);
  } catch (cause) {
    if (cause instanceof KccAwsError || cause instanceof KccConfigError) throw cause;
    const reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : 'the provider failed';
    throw new KccAwsError(`AWS credentials for IAM authentication could not be resolved (${reason})`, { cause });
  }
  const valid =
    typeof credentials === 'object' &&
    credentials !== null &&
    typeof credentials.accessKeyId === 'string' &&
    credentials.accessKeyId !== '' &&
    typeof credentials.secretAccessKey === 'string' &&
    credentials.secretAccessKey !== '';
  if (!valid) throw new KccAwsError('AWS credentials for IAM authentication are incomplete: the provider returned no accessKeyId or no secretAccessKey');
  return credentials;
}
