import type * as CredentialProviders from '@aws-sdk/credential-providers';
import { KccAwsError, KccConfigError } from '../errors.js';
import { loadSdk } from '../aws/load-sdk.js';
import { withTimeout } from '../time-limit.js';

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
 * so that its memoization (refresh before expiry) serves every caller. A missing package is a
 * `KccConfigError` naming it; the next call tries again.
 */
function loadDefaultChain(): Promise<AwsCredentialsProvider> {
  defaultChain ??= loadSdk<typeof CredentialProviders>('@aws-sdk/credential-providers', 'IAM authentication (the default AWS credential chain)')
    .then((sdk) => sdk.fromNodeProviderChain() as AwsCredentialsProvider)
    .catch((error: unknown) => {
      defaultChain = undefined;
      throw error;
    });
  return defaultChain;
}

/** The provider used when no credentials are given: the default chain, loaded on first use. */
const defaultProvider: AwsCredentialsProvider = async (options) => (await loadDefaultChain())(options);

/** Loads the optional package `provider` needs, if any: `@aws-sdk/credential-providers` for the default chain. */
export async function loadCredentialsPeer(provider: AwsCredentialsProvider): Promise<void> {
  if (provider === defaultProvider) await loadDefaultChain();
}

/** A provider for credentials given as a provider or as a fixed object (kept in a closure, out of object dumps). */
export function credentialsProviderOf(credentials: AwsCredentials | AwsCredentialsProvider | undefined): AwsCredentialsProvider {
  if (credentials === undefined) return defaultProvider;
  if (typeof credentials === 'function') return credentials;
  const fixed = credentials;
  return async () => fixed;
}

/**
 * Resolves credentials through `provider`. A failure is a `KccAwsError` naming the provider's error
 * (SDK provider errors name the source, never a key); credentials missing a key id or secret are refused.
 * With `timeoutMs`, a provider that has not answered by then is given up on (a `KccAwsError`): a
 * request that never returns (a black-holed IMDS or STS call, a stalled provider of your own)
 * cannot hold the caller forever. The call itself cannot be cancelled; its late answer is ignored.
 */
export async function resolveAwsCredentials(provider: AwsCredentialsProvider, forceRefresh = false, timeoutMs?: number): Promise<AwsCredentials> {
  let credentials: AwsCredentials;
  try {
    const answer = provider(forceRefresh ? { forceRefresh: true } : undefined);
    credentials = await (timeoutMs === undefined ? answer : withTimeout(answer, timeoutMs, () => providerSilent(timeoutMs)));
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

/** A credential provider that did not answer within `timeoutMs`: what to check, and that the next attempt asks again. */
function providerSilent(timeoutMs: number): KccAwsError {
  return new KccAwsError(
    `AWS credentials for IAM authentication could not be resolved: the credential provider did not answer within ${timeoutMs} ms; ` +
      'check that the source it asks is reachable from here (the EC2 instance metadata service, the ECS or EKS container credentials endpoint, STS) ' +
      'or, for a provider of your own, that it always settles; raise connectTimeoutMs for a source that is slow but answers. ' +
      'The next attempt asks again; a provider that shares one call among its callers (the AWS SDK\'s do) answers them when that call ends',
  );
}
