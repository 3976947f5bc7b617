import { readFile } from 'node:fs/promises';
import { CliFailure } from './exit-codes.js';

/** One app-env as the stack's `AppEnv<Name>` output describes it (JSON, format version 1). */
export interface AppEnvFromOutputs {
  readonly stack: string;
  readonly username: string;
  readonly keyPrefix: string;
  readonly secretArn: string;
  readonly kekSecretArn: string;
  /** `rediss://host:port` from the same stack's endpoint outputs, when present. */
  readonly url: string | undefined;
  readonly clusterMode: boolean;
}

/**
 * Reads a `cdk deploy --outputs-file <file>` file (`{ "<Stack>": { "<Output>": "<value>" } }`): every
 * `AppEnv<Name>` output of every stack, with the stack's endpoint (the configuration endpoint in
 * cluster mode, else the primary endpoint).
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
    const o = outputs as Record<string, unknown>;
    const endpoint = (address: unknown, port: unknown) => (typeof address === 'string' && address !== '' ? `rediss://${address}:${String(port ?? 6379)}` : undefined);
    const configuration = endpoint(o.ConfigurationEndpointAddress, o.ConfigurationEndpointPort);
    const url = configuration ?? endpoint(o.PrimaryEndpointAddress, o.PrimaryEndpointPort);
    for (const [name, value] of Object.entries(o)) {
      if (!/^AppEnv[A-Z0-9]/.test(name) || typeof value !== 'string') continue;
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(value) as Record<string, unknown>;
      } catch {
        throw new CliFailure(`--outputs ${file}: ${stack}.${name} is not the JSON the stack writes`);
      }
      const fields = ['username', 'keyPrefix', 'secretArn', 'kekSecretArn'] as const;
      const bad = fields.filter((field) => typeof parsed[field] !== 'string');
      if (parsed.v !== 1 || bad.length > 0) throw new CliFailure(`--outputs ${file}: ${stack}.${name} is not format version 1 with ${fields.join(', ')}${bad.length > 0 ? ` (lacks ${bad.join(', ')})` : ''}`);
      found.push({
        stack,
        username: parsed.username as string,
        keyPrefix: parsed.keyPrefix as string,
        secretArn: parsed.secretArn as string,
        kekSecretArn: parsed.kekSecretArn as string,
        url,
        clusterMode: configuration !== undefined,
      });
    }
  }
  if (found.length === 0) throw new CliFailure(`--outputs ${file} has no AppEnv<Name> output: is it the outputs file of the kcc-redis stack?`);
  return found;
}
