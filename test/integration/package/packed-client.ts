import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const CLIENT_DIR = join(ROOT, 'client');

/** What a child process left behind; never throws, so a failing assertion can show all of it. */
export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program without a shell, bounded in time, and collects its output. */
export function run(file: string, args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd: options.cwd, env: options.env ?? process.env, timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, stdout, stderr: error && code === null ? `${stderr}\n${error.message}` : stderr });
      },
    );
  });
}

/**
 * The environment for a nested npm: without the `npm_*` variables of the `npm test` around us
 * (its config, package and lifecycle), so the nested npm reads only its own command line.
 */
export function npmEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_')));
}

/** Formats a RunResult for an assertion message. */
export function explain(what: string, result: RunResult): string {
  return `${what} exited ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}

/** One entry of client/package.json's `exports` map, as a consumer names it. */
export interface Subpath {
  /** The key in the map: `.`, `./fastify`, `./package.json`, … */
  readonly key: string;
  /** What a consumer writes: `@kcc-redis/client`, `@kcc-redis/client/fastify`, … */
  readonly specifier: string;
  /** The entry maps to JSON (package.json), not to code. */
  readonly json: boolean;
}

export interface ClientManifest {
  readonly name: string;
  readonly version: string;
  readonly exports: Readonly<Record<string, unknown>>;
  readonly dependencies: Readonly<Record<string, string>>;
  readonly peerDependencies: Readonly<Record<string, string>>;
  readonly peerDependenciesMeta?: Readonly<Record<string, { readonly optional?: boolean }>>;
}

export function readClientManifest(): ClientManifest {
  return JSON.parse(readFileSync(join(CLIENT_DIR, 'package.json'), 'utf8')) as ClientManifest;
}

/** Every subpath of the exports map (tests iterate this, never a hand-written list). */
export function exportedSubpaths(manifest: ClientManifest = readClientManifest()): Subpath[] {
  return Object.entries(manifest.exports).map(([key, target]) => ({
    key,
    specifier: key === '.' ? manifest.name : `${manifest.name}/${key.slice(2)}`,
    json: typeof target === 'string' && target.endsWith('.json'),
  }));
}

/** The result of {@link packClient}. */
export interface PackedClient {
  readonly tarball: string;
  /** Paths inside the tarball, relative to its `package/` folder. */
  readonly files: readonly string[];
}

/**
 * `npm pack` in client/, as a release does: the `prepack` script builds dist/ first. The tarball
 * lands in `destination`.
 */
export async function packClient(destination: string): Promise<PackedClient> {
  const result = await run('npm', ['pack', '--json', '--pack-destination', destination], { cwd: CLIENT_DIR, env: npmEnv(), timeoutMs: 300_000 });
  if (result.code !== 0) throw new Error(explain('npm pack', result));
  const [packed] = JSON.parse(result.stdout) as { filename: string; files: { path: string }[] }[];
  if (!packed) throw new Error(explain('npm pack (no package in its JSON output)', result));
  return { tarball: join(destination, packed.filename), files: packed.files.map((file) => file.path) };
}
