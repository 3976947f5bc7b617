import { execFile } from 'node:child_process';
import { access, chmod, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A throwaway CA and a server certificate for localhost / 127.0.0.1, as PEM files. */
export interface TlsMaterial {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** The CA certificate (PEM) clients must trust. */
  readonly ca: string;
}

/**
 * Creates (or reuses, when all files exist) a throwaway CA and a server certificate for
 * `localhost` and `127.0.0.1` in `dir`, with the openssl CLI. Keys are written 0600.
 */
export async function createTlsMaterial(dir: string): Promise<TlsMaterial> {
  await mkdir(dir, { recursive: true });
  const file = (name: string) => join(dir, name);
  const paths = { caKey: file('ca.key'), caFile: file('ca.crt'), keyFile: file('server.key'), csr: file('server.csr'), certFile: file('server.crt'), ext: file('server.ext') };
  const present = await Promise.all([paths.caFile, paths.certFile, paths.keyFile].map((p) => access(p).then(() => true, () => false)));
  if (!present.every(Boolean)) {
    const openssl = async (...args: string[]) => {
      try {
        await run('openssl', args, { cwd: dir });
      } catch (error) {
        throw new Error(`openssl ${args[0]} failed while creating local TLS material in ${dir}: ${(error as Error).message.split('\n')[0]}`);
      }
    };
    await openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', paths.caKey);
    await openssl('req', '-x509', '-new', '-key', paths.caKey, '-sha256', '-days', '30', '-subj', '/CN=kcc-redis local CA', '-out', paths.caFile);
    await openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', paths.keyFile);
    await openssl('req', '-new', '-key', paths.keyFile, '-subj', '/CN=localhost', '-out', paths.csr);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(paths.ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n');
    await openssl('x509', '-req', '-in', paths.csr, '-CA', paths.caFile, '-CAkey', paths.caKey, '-CAcreateserial', '-days', '30', '-sha256', '-extfile', paths.ext, '-out', paths.certFile);
    await Promise.all([chmod(paths.caKey, 0o600), chmod(paths.keyFile, 0o600)]);
  }
  return { caFile: paths.caFile, certFile: paths.certFile, keyFile: paths.keyFile, ca: await readFile(paths.caFile, 'utf8') };
}
