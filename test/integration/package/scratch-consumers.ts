import { existsSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLIENT_DIR, type ClientManifest, ROOT, type Subpath, explain, npmEnv, run } from './packed-client.js';

/**
 * Scratch apps that use the packed client the three ways users do, under one root folder with one
 * node_modules (one `npm install`):
 * - `esm-nodenext`: ES modules in TypeScript, `module`/`moduleResolution` NodeNext, compiled by tsc;
 * - `bundler`: the same sources under `moduleResolution` Bundler, bundled by esbuild;
 * - `commonjs`: a CommonJS app; plain JavaScript `require()`s every subpath, and `.cts` files are
 *   type-checked and compiled to `require()` calls.
 */
export const CONSUMERS = ['esm-nodenext', 'bundler', 'commonjs'] as const;
export type Consumer = (typeof CONSUMERS)[number];

const FIXTURES = join(ROOT, 'test/integration/package/consumer');

/**
 * What the scratch root links from the repository's node_modules instead of downloading: the
 * package's runtime dependencies (read from its manifest) and what the consumers themselves use.
 * `fastify` for the smoke; `@dapperduckling/keycloak-connector-server` because the declarations of
 * `./keycloak-connector` name it (an app importing that subpath has it). The AWS SDK peers and
 * `@opentelemetry/api` stay absent: every subpath must load, and the smoke run, without them.
 */
const CONSUMER_PACKAGES = ['fastify', '@types/node', '@dapperduckling/keycloak-connector-server'];

/**
 * Strict settings a careful app uses. skipLibCheck stays on, as in nearly every app (and `tsc
 * --init`): with it off, this check would fail on other packages' declarations (ioredis' import
 * redis-errors, which has none; the upstream connector's and lru-cache's), not ours. Ours are
 * emitted by the compiler from strictly checked sources, and those of the main entry name no
 * optional peer (tarball.test.ts checks it); what can go wrong here is resolution (which file a
 * consumer's compiler reads), checked with --listFiles.
 */
const STRICT = {
  target: 'ES2022',
  strict: true,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  skipLibCheck: true,
  resolveJsonModule: true,
  types: ['node'],
};

const TSCONFIGS: Record<Consumer, object> = {
  'esm-nodenext': { compilerOptions: { ...STRICT, module: 'NodeNext', moduleResolution: 'NodeNext', outDir: 'out', rootDir: '.' }, include: ['*.ts'] },
  bundler: { compilerOptions: { ...STRICT, module: 'Preserve', moduleResolution: 'Bundler', noEmit: true }, include: ['*.ts'] },
  commonjs: { compilerOptions: { ...STRICT, module: 'NodeNext', moduleResolution: 'NodeNext', outDir: 'out', rootDir: '.' }, include: ['*.cts'] },
};

function linkTarget(name: string): string {
  for (const dir of [join(CLIENT_DIR, 'node_modules', name), join(ROOT, 'node_modules', name)]) {
    if (existsSync(join(dir, 'package.json'))) return dir;
  }
  throw new Error(`${name} is not installed in the repository (run npm ci): the scratch consumers link it from there`);
}

/** ES module source that imports every subpath statically and prints what each resolved to. */
function esmSubpaths(subpaths: readonly Subpath[]): string {
  const imports = subpaths.map(({ specifier, json }, i) =>
    json ? `import m${i} from '${specifier}' with { type: 'json' };` : `import * as m${i} from '${specifier}';`,
  );
  const entries = subpaths.map(({ specifier }, i) => `  ['${specifier}', m${i}],`);
  return [
    `import { fileURLToPath } from 'node:url';`,
    ...imports,
    `const loaded: [string, object][] = [\n${entries.join('\n')}\n];`,
    `const report: Record<string, { resolved: string; exports: string[] }> = {};`,
    `for (const [specifier, namespace] of loaded) {`,
    `  report[specifier] = { resolved: fileURLToPath(import.meta.resolve(specifier)), exports: Object.keys(namespace).sort() };`,
    `}`,
    `console.log(JSON.stringify(report));`,
    ``,
  ].join('\n');
}

/** CommonJS type-check input: every subpath through `import … = require()`. */
function ctsSubpaths(subpaths: readonly Subpath[]): string {
  const imports = subpaths.map(({ specifier }, i) => `import m${i} = require('${specifier}');`);
  return [...imports, `export const loaded: object[] = [${subpaths.map((_, i) => `m${i}`).join(', ')}];`, ''].join('\n');
}

/** Plain CommonJS JavaScript, as an Express or NestJS app writes it: `require()` every subpath. */
function cjsSubpaths(subpaths: readonly Subpath[]): string {
  return [
    `'use strict';`,
    `const report = {};`,
    `for (const specifier of ${JSON.stringify(subpaths.map(({ specifier }) => specifier))}) {`,
    `  report[specifier] = { resolved: require.resolve(specifier), exports: Object.keys(require(specifier)).sort() };`,
    `}`,
    `console.log(JSON.stringify(report));`,
    ``,
  ].join('\n');
}

/**
 * Writes the consumers under `root` and installs the tarball into it by path, offline: nothing
 * comes from the network. Dependencies are links into the repository's node_modules (fast, and
 * the versions the repository tests with); npm still checks that they satisfy the packed
 * manifest's ranges (a mismatch would need a download, which `--offline` refuses).
 */
export async function createConsumers(root: string, tarball: string, manifest: ClientManifest, subpaths: readonly Subpath[]): Promise<void> {
  const links = [...Object.keys(manifest.dependencies), ...CONSUMER_PACKAGES];
  const dependencies: Record<string, string> = { [manifest.name]: `file:${tarball}` };
  for (const name of links) dependencies[name] = `file:${linkTarget(name)}`;
  await writeFile(join(root, 'package.json'), `${JSON.stringify({ name: 'kcc-redis-scratch-consumers', private: true, dependencies }, null, 2)}\n`);

  for (const consumer of CONSUMERS) {
    const dir = join(root, consumer);
    await mkdir(dir);
    await writeFile(join(dir, 'package.json'), `${JSON.stringify({ private: true, type: consumer === 'commonjs' ? 'commonjs' : 'module' })}\n`);
    await writeFile(join(dir, 'tsconfig.json'), `${JSON.stringify(TSCONFIGS[consumer], null, 2)}\n`);
    const ext = consumer === 'commonjs' ? 'cts' : 'ts';
    for (const fixture of ['smoke', 'stack']) await copyFile(join(FIXTURES, `${fixture}.ts`), join(dir, `${fixture}.${ext}`));
    if (consumer === 'commonjs') {
      await writeFile(join(dir, 'subpaths.cts'), ctsSubpaths(subpaths));
      await writeFile(join(dir, 'require-all.cjs'), cjsSubpaths(subpaths));
    } else {
      await writeFile(join(dir, 'subpaths.ts'), esmSubpaths(subpaths));
    }
  }

  const install = await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--install-links=false', '--no-package-lock'], {
    cwd: root,
    env: npmEnv(),
  });
  if (install.code !== 0) throw new Error(explain('npm install of the tarball (offline)', install));
}

/** Type-checks (and for NodeNext consumers compiles) one consumer; `--listFiles` shows which declarations it read. */
export function typeCheck(root: string, consumer: Consumer): ReturnType<typeof run> {
  return run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(root, consumer), '--listFiles'], { cwd: join(root, consumer), timeoutMs: 300_000 });
}
