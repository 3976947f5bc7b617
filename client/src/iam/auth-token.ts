import type * as SmithyChecksum from '@smithy/core/checksum';
import type * as SmithyProtocols from '@smithy/core/protocols';
import type * as SmithySignatureV4 from '@smithy/signature-v4';
import { loadAll, loadSdk } from '../aws/load-sdk.js';
import { identifierProblem } from '../contract/naming.js';
import { SHAPES, looksGenerated, showShaped } from '../option-checks.js';
import { type AwsCredentials, type AwsCredentialsProvider, credentialsProviderOf, resolveAwsCredentials } from './aws-credentials.js';

/**
 * How long ElastiCache accepts an IAM authentication token: 15 minutes (900 s), the `X-Amz-Expires`
 * of AWS's own sample.
 * @see https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth-iam.html ("Limitations", "Connecting")
 */
export const IAM_TOKEN_LIFETIME_MS = 15 * 60 * 1000;

/** Options of {@link createIamAuthToken}. */
export interface IamAuthTokenOptions {
  /**
   * The replication group id, or the serverless cache name. ElastiCache stores cache names in lower
   * case and expects the token to carry them so: it is lower-cased here.
   */
  readonly cacheName: string;
  /** The IAM-enabled ElastiCache user's id (for such users it must equal the user name). */
  readonly userId: string;
  /** The cache's AWS region, e.g. `eu-west-1`. */
  readonly region: string;
  /** `true` for an ElastiCache Serverless cache (the token then carries `ResourceType=ServerlessCache`). */
  readonly serverless: boolean;
  /** Static credentials or a provider. @default the AWS SDK's Node.js chain (`fromNodeProviderChain`) */
  readonly credentials?: AwsCredentials | AwsCredentialsProvider;
  /** Signing time. @default now */
  readonly now?: Date;
}

/** A signed token and what bounds its use. */
export interface SignedIamToken {
  readonly token: string;
  readonly signedAt: number;
  /** Epoch ms after which ElastiCache refuses it: 15 minutes after signing, or earlier when the credentials expire. */
  readonly expiresAt: number;
}

interface Signer {
  readonly SignatureV4: typeof SmithySignatureV4.SignatureV4;
  readonly Sha256: typeof SmithyChecksum.Sha256;
  readonly escapeUri: typeof SmithyProtocols.escapeUri;
}

const SERVICE = 'elasticache';
const EXPIRES_SECONDS = IAM_TOKEN_LIFETIME_MS / 1000;
const CACHE_NAME = /^[a-z][a-z0-9-]{0,62}$/;
/**
 * An AWS region name: a partition's prefix of 2 to 4 letters, one or more words, a number. The AWS
 * SDK's partition table (`regionRegex` in aws-sdk-js-v3's packages/util-endpoints/src/lib/aws/partitions.json,
 * bundled in @aws-sdk/core) names them so: `(us|eu|ap|sa|ca|me|af|il|mx)-…` (aws), `cn-…`, `us-gov-…`,
 * `us-iso-…`, `us-isob-…`, `eu-isoe-…`, `us-isof-…` and `eusc-de-…` (the European Sovereign Cloud,
 * first region `eusc-de-east-1`). Not a list of known regions: a new one must not need a release.
 */
const REGION = /^[a-z]{2,4}(-[a-z]+)+-\d+$/;
/** Order of the signed query: the request's parameters, then the authentication parameters, the signature last (botocore's order). */
const AUTH_PARAMETERS = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Security-Token', 'X-Amz-Signature'];

let signer: Promise<Signer> | undefined;

/**
 * Creates an ElastiCache IAM authentication token: the password an IAM-enabled user sends in `AUTH`
 * or `HELLO`. It is the SigV4 query-presigned URL of `GET http://<cacheName>/?Action=connect&User=<userId>`
 * (plus `&ResourceType=ServerlessCache` for a serverless cache) for the service `elasticache`,
 * valid 15 minutes, without its `http://` scheme, signed by the AWS SDK's own signer
 * (`@smithy/signature-v4`). For users of other Redis clients; `KccRedis` with `auth: 'iam'` signs
 * one for every connection by itself.
 *
 * Needs the optional dependencies `@smithy/signature-v4` and `@smithy/core` (and
 * `@aws-sdk/credential-providers` for the default credentials).
 *
 * @see https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth-iam.html
 * @throws TypeError naming the option when an option is malformed; KccConfigError when an optional
 *   dependency is missing; KccAwsError when the credentials cannot be resolved.
 *
 * @example
 * const token = await createIamAuthToken({ cacheName: 'my-cache', userId: 'my-app-prod', region: 'eu-west-1', serverless: true });
 * const redis = new Redis({ host, port: 6379, tls: {}, username: 'my-app-prod', password: token });
 */
export async function createIamAuthToken(options: IamAuthTokenOptions): Promise<string> {
  const provider = credentialsProviderOf(options.credentials);
  return (await signIamToken(options, await resolveAwsCredentials(provider), options.now ?? new Date())).token;
}

/** Checks the token options; throws a TypeError naming the first malformed one. */
export function assertIamTokenOptions(options: Pick<IamAuthTokenOptions, 'cacheName' | 'userId' | 'region' | 'serverless'>): void {
  const problem = iamTokenOptionsProblem(options);
  if (problem) throw new TypeError(problem);
}

/** The first malformed token option, described (`"<option>: <what is wrong>"`), or undefined. */
export function iamTokenOptionsProblem(options: Partial<Pick<IamAuthTokenOptions, 'cacheName' | 'userId' | 'region' | 'serverless'>>): string | undefined {
  const { cacheName, userId, region, serverless } = options;
  const cacheNameProblem = iamCacheNameProblem(cacheName);
  if (cacheNameProblem) return cacheNameProblem;
  if (typeof userId !== 'string' || userId === '' || /[\s\p{Cc}]/u.test(userId)) {
    return `userId: ${showShaped(userId, SHAPES.userName)} is not an ElastiCache user id (non-empty, no spaces or control characters)`;
  }
  // ElastiCache stores a user id in lower case ("This value is stored as a lowercase string",
  // https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_CreateUser.html; AWS's own
  // token library, aws/developer-toolkit-elasticache, notes that a token signed otherwise "can fail
  // with WRONGPASS"), and an IAM user's id must equal its name. WRONGPASS says nothing of the case.
  // Refused rather than lower-cased here: the AUTH username sent with the token must match it too.
  if (userId !== userId.toLowerCase()) return upperCaseUserIdProblem(userId);
  if (typeof region !== 'string' || !REGION.test(region)) return `region: ${showShaped(region, SHAPES.region)} is not an AWS region (e.g. "eu-west-1")`;
  if (typeof serverless !== 'boolean') return `serverless: ${showShaped(serverless, SHAPES.word)} must be true (ElastiCache Serverless) or false (replication group)`;
  return undefined;
}

/** What is wrong with a token's cache name (`"cacheName: <what>"`), or undefined. */
export function iamCacheNameProblem(cacheName: unknown): string | undefined {
  if (typeof cacheName === 'string' && CACHE_NAME.test(cacheName.toLowerCase())) return undefined;
  // Shown only when it could be one (too long, say): another shape may be a secret pasted into the wrong variable.
  const given = showShaped(cacheName, /^[A-Za-z0-9.-]{1,100}$/);
  return `cacheName: ${given} is not a replication group id or serverless cache name (a letter, then letters, digits and hyphens)`;
}

/**
 * An IAM user id with upper-case letters. The id and its lower-case form are shown only when that
 * form is an ElastiCache user id (the stack's `<namespace>-<app>-<env>-iam`): a value that is not
 * may be a password or token pasted into KCC_REDIS_USERNAME by mistake (mixed case, like most), and
 * this message lands in logs; then only the option (or variable) and the rule are named.
 */
function upperCaseUserIdProblem(userId: string): string {
  const lower = userId.toLowerCase();
  const rule = 'ElastiCache stores user ids in lower case, so a token signed for it is refused (WRONGPASS)';
  if (identifierProblem(lower) === undefined && !looksGenerated(userId)) {
    return `userId: ${describe(userId)} has upper-case letters, but ${rule}; use ${describe(lower)}, the id as the stack creates it (its output's iam.username)`;
  }
  return `userId: has upper-case letters, but ${rule}; nor is it an ElastiCache user id in lower case (a letter, then letters, digits and single hyphens, at most 40 characters), so it is not shown (a secret pasted by mistake?): give the IAM user's id as the stack creates it (its output's iam.username)`;
}

/** Signs a token with already resolved credentials at `now`. */
export async function signIamToken(
  options: Pick<IamAuthTokenOptions, 'cacheName' | 'userId' | 'region' | 'serverless'>,
  credentials: AwsCredentials,
  now: Date,
): Promise<SignedIamToken> {
  assertIamTokenOptions(options);
  if (Number.isNaN(now.getTime())) throw new TypeError('now: not a valid Date');
  const { SignatureV4, Sha256, escapeUri } = await signerModules();
  const hostname = options.cacheName.toLowerCase();
  const query: Record<string, string> = { Action: 'connect', User: options.userId };
  if (options.serverless) query.ResourceType = 'ServerlessCache';
  const sigv4 = new SignatureV4({ service: SERVICE, region: options.region, credentials, sha256: Sha256 });
  const presigned = await sigv4.presign(
    { method: 'GET', protocol: 'http:', hostname, path: '/', query: { ...query }, headers: { host: hostname } },
    { expiresIn: EXPIRES_SECONDS, signingDate: now },
  );
  const signed = presigned.query ?? {};
  const order = [...Object.keys(query), ...AUTH_PARAMETERS];
  const unexpected = Object.keys(signed).filter((name) => !order.includes(name));
  // A signer that added parameters we do not serialize would produce a token that fails to verify.
  if (unexpected.length > 0) throw new Error(`the SigV4 signer added unexpected query parameters: ${unexpected.join(', ')}`);
  const pairs = order.flatMap((name) => {
    const value = signed[name];
    return typeof value === 'string' ? [`${escapeUri(name)}=${escapeUri(value)}`] : [];
  });
  const signedAt = Math.floor(now.getTime() / 1000) * 1000;
  const credentialsEnd = credentials.expiration?.getTime() ?? Number.POSITIVE_INFINITY;
  return { token: `${hostname}/?${pairs.join('&')}`, signedAt, expiresAt: Math.min(signedAt + IAM_TOKEN_LIFETIME_MS, credentialsEnd) };
}

/**
 * Loads the signer's optional packages (`@smithy/signature-v4`, `@smithy/core`) once per process.
 * A missing one is a `KccConfigError` naming it; the next call tries again. Typed `unknown` where
 * exported: the package's declarations must not name those packages' types, which an app without
 * them (no IAM) could not resolve when it type-checks without `skipLibCheck`.
 */
export function loadSigner(): Promise<unknown> {
  return signerModules();
}

function signerModules(): Promise<Signer> {
  signer ??= (async () => {
    const neededFor = 'IAM authentication (signing tokens)';
    const [sigv4, checksum, protocols] = await loadAll([
      loadSdk<typeof SmithySignatureV4>('@smithy/signature-v4', neededFor),
      loadSdk<typeof SmithyChecksum>('@smithy/core', neededFor, '/checksum'),
      loadSdk<typeof SmithyProtocols>('@smithy/core', neededFor, '/protocols'),
    ]);
    return { SignatureV4: sigv4.SignatureV4, Sha256: checksum.Sha256, escapeUri: protocols.escapeUri };
  })().catch((error: unknown) => {
    signer = undefined;
    throw error;
  });
  return signer;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
