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
  const clusterMode = clusterModeRefusal(cause);
  if (clusterMode) return clusterMode;
  if (code === 'ECONNREFUSED' && consecutiveRefusals >= REFUSALS_BEFORE_GIVING_UP) {
    return `connection refused ${consecutiveRefusals} times in a row (nothing listens there): check the URL and port, and that Redis runs`;
  }
  return undefined;
}

/**
 * Why cluster mode cannot start on this server or user, from the error of a node's `CLUSTER SLOTS`
 * (ioredis reports it only as "Failed to refresh slots cache", its `lastNodeError`), or undefined:
 * refused, it is refused on every try.
 */
export function clusterModeRefusal(cause: Error): string | undefined {
  if (/^NOPERM\b/.test(cause.message) && /cluster\|slots/i.test(cause.message)) {
    return `the user may not run CLUSTER SLOTS (${firstLine(cause.message)}), which cluster mode needs to find the nodes: its access string lacks +cluster|slots, which the stack grants when deployed with clusterMode: true. If the cache has cluster mode disabled, connect without clusterMode`;
  }
  if (/cluster support disabled/i.test(cause.message)) {
    return `the server has cluster mode disabled (${firstLine(cause.message)}): connect without clusterMode, or give the configuration endpoint of a cluster-mode-enabled cache`;
  }
  return undefined;
}

/** Whether `error` is a refused connection (counted by the caller, see {@link REFUSALS_BEFORE_GIVING_UP}). */
export function isRefused(error: Error): boolean {
  const cause = (error as { lastNodeError?: Error }).lastNodeError ?? error;
  return (cause as NodeJS.ErrnoException).code === 'ECONNREFUSED';
}

/** A server reply's first line, at most 200 characters: what it says, without what may follow. */
function firstLine(message: string): string {
  return message.split('\n', 1)[0]!.slice(0, 200);
}
