import { readFile } from 'node:fs/promises';
import type { AppEnvOutput } from '../infra/app-env-output.js';
import { CliFailure } from './exit-codes.js';

/** One app-env as a stack's `AppEnv<Name>` output describes it, whichever format version the stack wrote. */
export interface AppEnvFromOutputs {
  readonly stack: string;
  readonly keyPrefix: string;
  readonly kekSecretArn: string;
  /** `rediss://host:port` from the same stack's endpoint outputs, when present. */
  readonly url: string | undefined;
  readonly clusterMode: boolean;
  /** The cache's region (format version 2's cache.region); format 1 has it only in its ARNs. */
  readonly region?: string;
  /** The password user, when the app-env has one. */
  readonly password?: { readonly username: string; readonly secretArn: string };
  /** The IAM-authenticated user and what its tokens are signed for (format version 2 only). */
  readonly iam?: { readonly username: string; readonly cacheName: string; readonly serverless: boolean; readonly region: string };
}

type Fields = Record<string, unknown>;

/**
 * Reads a `cdk deploy --outputs-file <file>` file (`{ "<Stack>": { "<Output>": "<value>" } }`): every
 * `AppEnv<Name>` output of every stack, with the stack's endpoint (the configuration endpoint in
 * cluster mode, the primary endpoint of a replication group, or a serverless cache's endpoint).
 * Reads both formats of the output: version 2 (the stack's current one) and version 1 (stacks
 * deployed before users were grouped by how they authenticate).
 *
 * @throws CliFailure naming the file and what is wrong with it.
 */
export async function readOutputsFile(file: string): Promise<AppEnvFromOutputs[]> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliFailure(code ? `cannot read --outputs ${file} (${code})` : `--outputs ${file} is not JSON (expected the file of cdk deploy --outputs-file)`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new CliFailure(`--outputs ${file}: expected { "<stack>": { "<output>": "<value>" } } (cdk deploy --outputs-file)`);
  const found: AppEnvFromOutputs[] = [];
  for (const [stack, outputs] of Object.entries(doc as Record<string, unknown>)) {
    if (typeof outputs !== 'object' || outputs === null) continue;
    const o = outputs as Fields;
    const endpoint = (address: unknown, port: unknown) => (typeof address === 'string' && address !== '' ? `rediss://${address}:${String(port ?? 6379)}` : undefined);
    const configuration = endpoint(o.ConfigurationEndpointAddress, o.ConfigurationEndpointPort);
    const serverless = endpoint(o.EndpointAddress, o.EndpointPort);
    const url = configuration ?? serverless ?? endpoint(o.PrimaryEndpointAddress, o.PrimaryEndpointPort);
    const endpointClusterMode = configuration !== undefined || serverless !== undefined;
    for (const [name, value] of Object.entries(o)) {
      if (!/^AppEnv[A-Z0-9]/.test(name) || typeof value !== 'string') continue;
      const where = `--outputs ${file}: ${stack}.${name}`;
      let parsed: Fields;
      try {
        parsed = JSON.parse(value) as Fields;
      } catch {
        throw new CliFailure(`${where} is not the JSON the stack writes`);
      }
      if (typeof parsed !== 'object' || parsed === null) throw new CliFailure(`${where} is not the JSON the stack writes`);
      if (parsed.v === 1) found.push({ stack, url, clusterMode: endpointClusterMode, ...fromVersion1(parsed, where) });
      else if (parsed.v === 2) found.push({ stack, url, ...fromVersion2(parsed, where) });
      else throw new CliFailure(`${where} has format version ${JSON.stringify(parsed.v)}; this kcc-redis reads versions 1 and 2 (update @kcc-redis/client)`);
    }
  }
  if (found.length === 0) throw new CliFailure(`--outputs ${file} has no AppEnv<Name> output: is it the outputs file of the kcc-redis stack?`);
  return found;
}

function requireStrings(parsed: Fields, fields: readonly string[], where: string, version: number): void {
  const bad = fields.filter((field) => typeof parsed[field] !== 'string');
  if (bad.length > 0) throw new CliFailure(`${where} is not format version ${version}: it lacks ${bad.join(', ')}`);
}

/** Version 1: `{ v, username, keyPrefix, secretArn, kekSecretArn }` (password users only). */
function fromVersion1(parsed: Fields, where: string): Omit<AppEnvFromOutputs, 'stack' | 'url' | 'clusterMode'> {
  requireStrings(parsed, ['username', 'keyPrefix', 'secretArn', 'kekSecretArn'], where, 1);
  return {
    keyPrefix: parsed.keyPrefix as string,
    kekSecretArn: parsed.kekSecretArn as string,
    password: { username: parsed.username as string, secretArn: parsed.secretArn as string },
  };
}

/** Version 2: {@link AppEnvOutput}. */
function fromVersion2(parsed: Fields, where: string): Omit<AppEnvFromOutputs, 'stack' | 'url'> {
  requireStrings(parsed, ['keyPrefix', 'kekSecretArn'], where, 2);
  const v2 = parsed as unknown as AppEnvOutput;
  const cache = v2.cache as Partial<AppEnvOutput['cache']> | undefined;
  if (typeof cache !== 'object' || cache === null || typeof cache.name !== 'string' || typeof cache.region !== 'string' || typeof cache.clusterMode !== 'boolean') {
    throw new CliFailure(`${where} is not format version 2: it lacks cache.name, cache.region or cache.clusterMode`);
  }
  if (v2.password !== undefined && (typeof v2.password.username !== 'string' || typeof v2.password.secretArn !== 'string')) {
    throw new CliFailure(`${where} is not format version 2: password needs username and secretArn`);
  }
  if (v2.iam !== undefined && typeof v2.iam.username !== 'string') throw new CliFailure(`${where} is not format version 2: iam needs username`);
  if (v2.password === undefined && v2.iam === undefined) throw new CliFailure(`${where} names no user (neither password nor iam)`);
  return {
    keyPrefix: v2.keyPrefix,
    kekSecretArn: v2.kekSecretArn,
    clusterMode: cache.clusterMode,
    region: cache.region,
    ...(v2.password ? { password: { username: v2.password.username, secretArn: v2.password.secretArn } } : {}),
    ...(v2.iam ? { iam: { username: v2.iam.username, cacheName: cache.name, serverless: cache.kind === 'serverless', region: cache.region } } : {}),
  };
}
