/**
 * Connection failures that retrying cannot fix, told apart from the ones it can, so that a first
 * connect fails at once with the reason instead of after `connectTimeoutMs`.
 */

/** Node's TLS verification codes: the certificate or the CA setting is wrong, and stays wrong. */
const CERTIFICATE_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

/**
 * A refused connection is given this many consecutive attempts (about 0.4 s with the default
 * backoff) before it counts as permanent: enough for a server that is restarting on the spot,
 * short of waiting the whole connect timeout for a port where nothing listens.
 */
export const REFUSALS_BEFORE_GIVING_UP = 3;

/** Why `error` (or, for a cluster, the last node error inside it) will not go away by retrying, or undefined. */
export function permanentFailure(error: Error, consecutiveRefusals: number): string | undefined {
  const cause = (error as { lastNodeError?: Error }).lastNodeError ?? error;
  const code = (cause as NodeJS.ErrnoException).code ?? '';
  if (CERTIFICATE_CODES.has(code)) {
    return `TLS: the server's certificate is not accepted (${code}); trust the CA that signed it with tls.caFile or KCC_REDIS_CA_FILE (for \`npm run local\`: <dir>/tls/ca.crt), or connect with the host name its certificate names`;
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/i.test(cause.message)) {
    return 'TLS: the server did not answer with TLS (wrong version number); is this a plaintext port? kcc-redis needs the TLS port (rediss://)';
  }
  if (code === 'ECONNREFUSED' && consecutiveRefusals >= REFUSALS_BEFORE_GIVING_UP) {
    return `connection refused ${consecutiveRefusals} times in a row (nothing listens there): check the URL and port, and that Redis runs`;
  }
  return undefined;
}

/** Whether `error` is a refused connection (counted by the caller, see {@link REFUSALS_BEFORE_GIVING_UP}). */
export function isRefused(error: Error): boolean {
  const cause = (error as { lastNodeError?: Error }).lastNodeError ?? error;
  return (cause as NodeJS.ErrnoException).code === 'ECONNREFUSED';
}
