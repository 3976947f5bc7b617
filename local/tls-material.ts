import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A throwaway CA and a server certificate for localhost / 127.0.0.1, as PEM files. */
export interface TlsMaterial {
  /** The CA certificate file (PEM): what `redis-cli --cacert` and `KCC_REDIS_CA_FILE` point at. */
  readonly caFile: string;
  /** The server certificate file (PEM), signed by the CA; SANs DNS:localhost and IP:127.0.0.1. */
  readonly certFile: string;
  /** The server's private key file (PEM, EC P-256, mode 0600). */
  readonly keyFile: string;
  /** The CA certificate (PEM) clients must trust. */
  readonly ca: string;
}

/** Days the generated certificates are valid; reused material is regenerated a day before it expires. */
const VALIDITY_DAYS = 365;
const RENEW_BEFORE_MS = 24 * 60 * 60 * 1000;

/**
 * Creates a throwaway CA and a server certificate for `localhost` (SANs DNS:localhost and
 * IP:127.0.0.1, EC P-256) in `dir` with the openssl CLI, or reuses the files already there when
 * all three are present, belong together and are not about to expire. Private keys are 0600.
 *
 * @throws Error naming the openssl command that failed (never a key or password).
 */
export async function createTlsMaterial(dir: string): Promise<TlsMaterial> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const paths = {
    caFile: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    certFile: join(dir, 'server.crt'),
    keyFile: join(dir, 'server.key'),
  };
  const reused = await readIfUsable(paths.caFile, paths.certFile, paths.keyFile);
  if (reused !== undefined) return { caFile: paths.caFile, certFile: paths.certFile, keyFile: paths.keyFile, ca: reused };

  // Generate under temporary names and move into place with the certificate last, so that an
  // interrupted run never leaves a set that looks complete.
  const tag = randomBytes(6).toString('hex');
  const tmp = (name: string) => join(dir, `.${name}.${tag}.tmp`);
  const t = { caKey: tmp('ca.key'), caFile: tmp('ca.crt'), keyFile: tmp('server.key'), csr: tmp('server.csr'), ext: tmp('server.ext'), certFile: tmp('server.crt') };
  try {
    // Created empty with mode 0600 first: openssl truncates and keeps the mode, so no key is ever readable by others.
    await Promise.all([t.caKey, t.keyFile].map((file) => writeFile(file, '', { mode: 0o600 })));
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    await openssl(dir, 'req', '-x509', ...ec, '-keyout', t.caKey, '-out', t.caFile, '-sha256', '-days', String(VALIDITY_DAYS),
      '-subj', '/CN=kcc-redis local CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    await openssl(dir, 'req', '-new', ...ec, '-keyout', t.keyFile, '-out', t.csr, '-subj', '/CN=localhost');
    await writeFile(t.ext, [
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      // clientAuth too: cluster nodes present this certificate to each other on the cluster bus.
      'extendedKeyUsage=serverAuth,clientAuth',
      '',
    ].join('\n'), { mode: 0o600 });
    await openssl(dir, 'x509', '-req', '-in', t.csr, '-CA', t.caFile, '-CAkey', t.caKey, '-set_serial', `0x${randomBytes(16).toString('hex')}`,
      '-sha256', '-days', String(VALIDITY_DAYS), '-extfile', t.ext, '-out', t.certFile);
    await Promise.all([chmod(t.caKey, 0o600), chmod(t.keyFile, 0o600)]);
    await rename(t.caKey, paths.caKey);
    await rename(t.keyFile, paths.keyFile);
    await rename(t.caFile, paths.caFile);
    await rename(t.certFile, paths.certFile);
  } finally {
    await Promise.all(Object.values(t).map((file) => rm(file, { force: true })));
  }
  return { caFile: paths.caFile, certFile: paths.certFile, keyFile: paths.keyFile, ca: await readFile(paths.caFile, 'utf8') };
}

/** The CA PEM when the three files exist, the certificate is the CA's, matches the key and is not about to expire. */
async function readIfUsable(caFile: string, certFile: string, keyFile: string): Promise<string | undefined> {
  let ca: string;
  try {
    const [caPem, certPem, keyPem] = await Promise.all([caFile, certFile, keyFile].map((file) => readFile(file, 'utf8')));
    ca = caPem!;
    const caCert = new X509Certificate(caPem!);
    const cert = new X509Certificate(certPem!);
    const usable =
      cert.checkIssued(caCert) &&
      cert.verify(caCert.publicKey) &&
      cert.checkPrivateKey(createPrivateKey(keyPem!)) &&
      cert.checkHost('localhost') !== undefined &&
      cert.checkIP('127.0.0.1') !== undefined &&
      Date.parse(cert.validTo) - Date.now() > RENEW_BEFORE_MS &&
      Date.parse(caCert.validTo) - Date.now() > RENEW_BEFORE_MS;
    if (!usable) return undefined;
  } catch {
    return undefined; // missing or unreadable: generate a new set
  }
  return ca;
}

async function openssl(cwd: string, ...args: string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd, timeout: 30_000 });
  } catch (error) {
    const { stderr, code } = error as { stderr?: string; code?: string | number };
    const reason = code === 'ENOENT' ? 'the openssl CLI is not on PATH' : (stderr ?? String(error)).trim().split('\n')[0];
    throw new Error(`\`openssl ${args[0]} ${args[1] ?? ''}\` failed while creating local TLS material in ${cwd}: ${reason}`);
  }
}
