import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KccConfigError, type KccConnectionOptions } from '../../../client/src/index.js';
import { resolveConnection } from '../../../client/src/resolve-options.js';

/** tls.ca takes PEM text, tls.caFile and KCC_REDIS_CA_FILE a path: each says so when given the other. */
const PASSWORD = 'p'.repeat(64);
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const dir = mkdtempSync(join(tmpdir(), 'kcc-ca-options-'));
const caFile = join(dir, 'ca.crt');
const notPem = join(dir, 'notes.txt');
writeFileSync(caFile, PEM);
writeFileSync(notPem, 'hello');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base: KccConnectionOptions = { url: 'rediss://127.0.0.1:6379', username: 'shop-dev', password: PASSWORD, env: {} };

async function problems(options: KccConnectionOptions): Promise<readonly string[]> {
  const error = await resolveConnection(options).then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(KccConfigError);
  return (error as KccConfigError).problems;
}

describe('CA options: the name says what it takes', () => {
  it('reads tls.caFile (a path) and KCC_REDIS_CA_FILE (a path) into the PEM the connection uses', async () => {
    expect((await resolveConnection({ ...base, tls: { caFile } })).tls).toEqual({ ca: PEM, servername: undefined });
    expect((await resolveConnection({ ...base, env: { KCC_REDIS_CA_FILE: caFile } })).tls).toEqual({ ca: PEM, servername: undefined });
  });

  it('lets tls.caFile win over KCC_REDIS_CA_FILE and tls.ca over both', async () => {
    expect((await resolveConnection({ ...base, tls: { caFile }, env: { KCC_REDIS_CA_FILE: notPem } })).tls).toMatchObject({ ca: PEM });
    const other = PEM.replace('MIIB', 'MIIC');
    expect((await resolveConnection({ ...base, tls: { ca: other }, env: { KCC_REDIS_CA_FILE: caFile } })).tls).toMatchObject({ ca: other });
  });

  it('refuses a path given as tls.ca, naming tls.caFile', async () => {
    expect(await problems({ ...base, tls: { ca: caFile } })).toEqual([
      `tls.ca: expected PEM text starting with "-----BEGIN CERTIFICATE-----"; got what looks like a file path: pass it as tls.caFile (or KCC_REDIS_CA_FILE)`,
    ]);
  });

  it.each<[string, KccConnectionOptions, string]>([
    ['both ca and caFile', { ...base, tls: { ca: PEM, caFile } }, 'tls: give either ca (PEM text) or caFile (a path to a PEM file), not both'],
    ['a missing caFile', { ...base, tls: { caFile: join(dir, 'missing.crt') } }, `tls.caFile: cannot read "${join(dir, 'missing.crt')}" (ENOENT); give the path of the CA certificate's PEM file`],
    ['a caFile without a certificate', { ...base, tls: { caFile: notPem } }, `tls.caFile: "${notPem}" holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`],
    ['a missing KCC_REDIS_CA_FILE', { ...base, env: { KCC_REDIS_CA_FILE: join(dir, 'nope') } }, `KCC_REDIS_CA_FILE: cannot read "${join(dir, 'nope')}" (ENOENT); give the path of the CA certificate's PEM file`],
  ])('refuses %s with a message naming the option', async (_name, options, message) => {
    expect(await problems(options)).toEqual([message]);
  });
});
