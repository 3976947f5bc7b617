import { connect as connectTcp } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { type ProbeEndpoint, tlsOptions } from './endpoint.js';
import type { ProbeResult } from './probe-result.js';

/** Network failures: the endpoint cannot be reached at all (exit 2), as opposed to a finding. */
export class UnreachableError extends Error {
  constructor(message: string, readonly code: string | undefined) {
    super(message);
    this.name = 'UnreachableError';
  }
}

const DAY_MS = 86_400_000;
/** A certificate that expires sooner than this is reported (ElastiCache renews its own; a local CA lasts a year). */
const EXPIRY_WARNING_DAYS = 30;

/**
 * The TLS handshake and the certificate: verified against the trusted CAs and the host name. The
 * handshake is made without rejecting, so that an untrusted certificate is reported with what is
 * wrong instead of as a bare connection failure.
 *
 * @throws UnreachableError when nothing answers (refused, timeout, DNS).
 */
export function probeTls(endpoint: ProbeEndpoint, now = Date.now()): Promise<ProbeResult> {
  const options = tlsOptions(endpoint);
  if (!options) return Promise.resolve({ probe: 'TLS', status: 'fail', detail: 'the endpoint is plaintext (redis://): the stack requires TLS' });
  return new Promise((resolve, reject) => {
    const socket = connectTls({ host: endpoint.host, port: endpoint.port, ...options, rejectUnauthorized: false, timeout: endpoint.connectTimeoutMs });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new UnreachableError(`${endpoint.host}:${endpoint.port}: no TLS handshake within ${endpoint.connectTimeoutMs} ms`, 'ETIMEDOUT'));
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      socket.destroy();
      if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET'].includes(error.code ?? '')) {
        reject(new UnreachableError(`${endpoint.host}:${endpoint.port}: ${error.code}`, error.code));
      } else {
        resolve({ probe: 'TLS', status: 'fail', detail: `no TLS handshake: ${error.code ?? error.message}` });
      }
    });
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate();
      const protocol = socket.getProtocol() ?? 'TLS';
      socket.end();
      const subject = cert.subject?.CN ? `CN=${cert.subject.CN}` : 'no CN';
      const issuer = cert.issuer?.CN ? `CN=${cert.issuer.CN}` : 'unknown issuer';
      const validTo = Date.parse(cert.valid_to);
      const days = Math.floor((validTo - now) / DAY_MS);
      if (!socket.authorized) {
        resolve({ probe: 'TLS', status: 'fail', detail: `${protocol}, certificate ${subject} (issuer ${issuer}) not accepted: ${String(socket.authorizationError)}; trust its CA (KCC_REDIS_CA_FILE) or fix the host name` });
      } else if (days < EXPIRY_WARNING_DAYS) {
        resolve({ probe: 'TLS', status: 'warn', detail: `${protocol}, certificate ${subject} (issuer ${issuer}) expires in ${days} days` });
      } else {
        resolve({ probe: 'TLS', status: 'pass', detail: `${protocol}, certificate ${subject} (issuer ${issuer}) valid for ${days} more days` });
      }
    });
  });
}

/**
 * Plaintext must be refused: a RESP reply to a plaintext PING on the TLS port means the endpoint
 * also speaks plaintext (ElastiCache's transit encryption mode "preferred", or no TLS at all).
 */
export function probePlaintextRefused(endpoint: ProbeEndpoint): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connectTcp({ host: endpoint.host, port: endpoint.port });
    let received = '';
    const done = (result: ProbeResult) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const refused: ProbeResult = { probe: 'plaintext refused', status: 'pass', detail: 'a plaintext PING got no RESP reply' };
    const timer = setTimeout(() => done(refused), 2_000);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (/^[+\-:$*]/.test(received) && received.includes('\r\n')) {
        done({ probe: 'plaintext refused', status: 'fail', detail: `a plaintext PING was answered (${JSON.stringify(received.split('\r\n')[0]!.slice(0, 60))}): transit encryption is not required` });
      } else if (received.length > 0 && !/^[+\-:$*]/.test(received)) {
        done(refused); // a TLS alert or other bytes: not RESP
      }
    });
    socket.on('error', () => done(refused));
    socket.on('close', () => done(refused));
  });
}
