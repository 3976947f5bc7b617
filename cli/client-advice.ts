import { CONNECTION_DEFAULTS } from '@kcc-redis/client';
import { fixedCredentialsHint } from '../client/src/connection.js';

/** How long the CLI's AWS calls and connections wait: the client's default, which no flag changes. */
const WAIT = `kcc-redis waits ${CONNECTION_DEFAULTS.connectTimeoutMs / 1000} s`;

/**
 * The client's errors speak to an app's developer: "set the url option", "pass secretId", "raise
 * connectTimeoutMs". The CLI's operator has none of those options; the fix is a flag of the CLI or
 * a variable of the environment it reads (docs/operations.md, "Credentials"). Each entry is a piece
 * of advice the client gives on a path the CLI takes (resolving a source's credentials, connecting,
 * reading a secret), and what the operator does instead. The client's wording is matched exactly,
 * by its own function where it has one: the CLI tests produce each of these errors for real, so a
 * rewording there fails a test here rather than passing the library's advice through.
 */
const ADVICE: readonly (readonly [string, string])[] = [
  // resolveConnection (client/src/resolve-options.ts): the environment source, or a source without an endpoint.
  ['set the url option or KCC_REDIS_URL (rediss://host:port), CLUSTER_REDIS_HOST, or a replicationGroupId to discover', 'pass --url rediss://host:port (or set KCC_REDIS_URL)'],
  ['set url or KCC_REDIS_URL to its endpoint', 'pass --url (or set KCC_REDIS_URL) with its endpoint'],
  ['set the username option, KCC_REDIS_USERNAME, or KCC_REDIS_SECRET_ID', 'set KCC_REDIS_USERNAME or KCC_REDIS_SECRET_ID, or name a source: --outputs <file>, --secret-id <id> or --local-dir <dir>'],
  ['set the password option, KCC_REDIS_PASSWORD, or KCC_REDIS_SECRET_ID', 'set KCC_REDIS_PASSWORD or KCC_REDIS_SECRET_ID, or name a source: --outputs <file>, --secret-id <id> or --local-dir <dir>'],
  ['use rediss:// (TLS), or for a local Redis only set unsafeAllowPlaintext: true', 'use rediss:// (kcc-redis connects with TLS only; for a local server, kcc-redis local and --local-dir)'],
  ['set keyPrefix or KCC_REDIS_PREFIX', 'set KCC_REDIS_PREFIX'],
  ['(option pubSub or KCC_REDIS_PUBSUB)', '(KCC_REDIS_PUBSUB)'],
  // IAM authentication (client/src/iam/resolve-iam-options.ts).
  ['set iam.cacheName or KCC_REDIS_IAM_CACHE_NAME to the replication group id or serverless cache name (or set replicationGroupId)', 'set KCC_REDIS_IAM_CACHE_NAME to the replication group id or serverless cache name (or KCC_REDIS_REPLICATION_GROUP_ID)'],
  ['set username or KCC_REDIS_USERNAME', 'set KCC_REDIS_USERNAME'],
  ['set region, AWS_REGION or AWS_DEFAULT_REGION', 'pass --region or set AWS_REGION'],
  ['remove it, or use auth "password"', 'unset it, or set KCC_REDIS_AUTH=password'],
  // Redis refused the password (client/src/connection.ts): the CLI reads a source's credentials once
  // per run and connects with them, so the client always calls them fixed, whatever the source.
  [
    fixedCredentialsHint('127.0.0.1'),
    'and they were read once by this command: check the password; for kcc-redis local, pass --local-dir <its folder> (its kcc-local.json holds the current one)',
  ],
  [
    fixedCredentialsHint('cache.example'),
    'and they were read once by this command: if the password was rotated since, run the command again; from the environment, give KCC_REDIS_SECRET_ID (or --secret-id, --outputs) rather than KCC_REDIS_PASSWORD, so that the current password is read',
  ],
  // An AWS call or credential provider that did not answer (client/src/aws/bounded-call.ts, iam/aws-credentials.ts).
  ['or raise connectTimeoutMs for a source that is slow but answers', `or run the command again once it answers (${WAIT})`],
  ['raise connectTimeoutMs for a source that is slow but answers', `run the command again once it answers (${WAIT})`],
];

/** `message`, an error of the client's, with each piece of library advice replaced by the CLI's flag or variable ({@link ADVICE}). */
export function inCliTerms(message: string): string {
  return ADVICE.reduce((text, [library, cli]) => text.replaceAll(library, cli), message);
}
