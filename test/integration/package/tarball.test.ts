/**
 * The client as users install it: `npm pack` (which builds), then the tarball installed by path
 * into scratch consumers (ESM NodeNext, Bundler resolution, CommonJS), type-checked strictly and
 * run against a local Redis (without the optional peers: no AWS SDK, no `@opentelemetry/api`); attw and publint on the same tarball. Subpaths always come from the
 * `exports` map of client/package.json.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { build } from 'esbuild';
import { decodeProtectedHeader } from 'jose';
import { publint } from 'publint';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRedis } from '../../../local/local-redis.js';
import { startTestRedis } from '../../support/redis.js';
import {
  CLIENT_DIR,
  type ClientManifest,
  type PackedClient,
  ROOT,
  type RunResult,
  type Subpath,
  explain,
  exportedSubpaths,
  packClient,
  readClientManifest,
  run,
} from './packed-client.js';
import { CONSUMERS, type Consumer, createConsumers, typeCheck } from './scratch-consumers.js';

const SOURCE_CONDITION = 'kcc-redis-source';
/** The banner docs/lambda.md gives for an ES module bundle: a require() for the CommonJS dependencies inlined in it. */
const LAMBDA_ESM_BANNER = "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);";
/** The output formats of the Lambda bundles tested (NodejsFunction's OutputFormat). */
const LAMBDA_FORMATS = ['esm', 'cjs'] as const;
const KEK = 'package-smoke-key-encryption-key-0123456789';
const INSTALLED = ['node_modules', '@kcc-redis', 'client'] as const;

/** What each subpath resolved to and exported, as the generated subpath scripts print it. */
type SubpathReport = Record<string, { resolved: string; exports: string[] }>;

let tmp: string;
let packed: PackedClient;
let manifest: ClientManifest;
let subpaths: Subpath[];
let server: LocalRedis | undefined;
let checks: Promise<Record<Consumer, RunResult>>;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'kcc-package-test-'));
  manifest = readClientManifest();
  subpaths = exportedSubpaths(manifest);
  // One app-env per consumer, and one per Lambda bundle.
  const redis = startTestRedis({ appEnvs: [...CONSUMERS, ...LAMBDA_FORMATS].map((_, i) => ({ app: `smoke${i}`, env: 'dev' })), persistence: 'none' });
  try {
    packed = await packClient(tmp);
  } finally {
    server = await redis;
  }
  await createConsumers(tmp, packed.tarball, manifest, subpaths);
  // Type-checks run in the background; each test awaits what it needs.
  checks = Promise.all(CONSUMERS.map((consumer) => typeCheck(tmp, consumer))).then(
    (results) => Object.fromEntries(CONSUMERS.map((consumer, i) => [consumer, results[i]!])) as Record<Consumer, RunResult>,
  );
}, 300_000);

afterAll(async () => {
  await checks?.catch(() => undefined);
  await server?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const installed = (...path: string[]) => join(tmp, ...INSTALLED, ...path);

/** Every string target in an exports entry, walking nested conditions. */
function targets(entry: unknown): string[] {
  if (typeof entry === 'string') return [entry];
  if (entry && typeof entry === 'object') return Object.values(entry).flatMap(targets);
  return [];
}

/** Files under a folder, relative to it, with forward slashes. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/'));
}

async function compiled(consumer: Consumer): Promise<void> {
  const result = (await checks)[consumer];
  expect(result.code, explain(`tsc -p ${consumer}`, result)).toBe(0);
}

async function node(consumer: Consumer, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const result = await run(process.execPath, args, { cwd: join(tmp, consumer), env, timeoutMs: 60_000 });
  expect(result.code, explain(`node ${args.join(' ')} in ${consumer}`, result)).toBe(0);
  return result.stdout;
}

/** Bundles the bundler consumer's entry points with esbuild (the package included; its dependencies left to Node). */
async function bundle(): Promise<{ inputs: string[] }> {
  const external = [...Object.keys(manifest.dependencies), ...Object.keys(manifest.peerDependencies), 'fastify'];
  const result = await build({
    absWorkingDir: join(tmp, 'bundler'),
    entryPoints: ['smoke.ts', 'stack.ts', 'subpaths.ts'],
    outdir: 'out',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
    external,
    metafile: true,
    logLevel: 'silent',
  });
  return { inputs: Object.keys(result.metafile.inputs) };
}
let bundled: Promise<{ inputs: string[] }> | undefined;

describe('npm pack: what the tarball holds', () => {
  it('LICENSE (Apache-2.0, full text, same as the repository\'s), README, CHANGELOG, manifest with repository, homepage and bugs', async () => {
    for (const file of ['LICENSE', 'README.md', 'CHANGELOG.md', 'package.json']) expect(packed.files).toContain(file);
    const license = await readFile(installed('LICENSE'), 'utf8');
    expect(license).toBe(readFileSync(join(ROOT, 'LICENSE'), 'utf8'));
    expect(license).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004/);
    expect(license).toContain('END OF TERMS AND CONDITIONS');
    const packedManifest = JSON.parse(await readFile(installed('package.json'), 'utf8')) as Record<string, unknown>;
    expect(packedManifest).toMatchObject({ license: 'Apache-2.0', repository: { type: 'git', directory: 'client' } });
    expect(packedManifest.homepage).toMatch(/^https:\/\//);
    expect(packedManifest.bugs).toMatchObject({ url: expect.stringMatching(/^https:\/\//) });
    // Installing must not run anything of ours.
    const scripts = Object.keys((packedManifest.scripts ?? {}) as object);
    for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) expect(scripts).not.toContain(hook);
  });

  it('both builds, each module with its declarations and maps; every exports target shipped', () => {
    const files = new Set(packed.files);
    for (const dialect of ['esm', 'commonjs']) expect(files).toContain(`dist/${dialect}/package.json`);
    const esm = packed.files.filter((file) => file.startsWith('dist/esm/') && file.endsWith('.js'));
    expect(esm.length).toBeGreaterThan(0);
    for (const file of esm) {
      for (const twin of [file, file.replace('dist/esm/', 'dist/commonjs/')]) {
        for (const suffix of ['', '.map']) expect(files).toContain(`${twin}${suffix}`);
        for (const suffix of ['.d.ts', '.d.ts.map']) expect(files).toContain(twin.replace(/\.js$/, suffix));
      }
    }
    for (const { key } of subpaths) {
      for (const target of targets(manifest.exports[key])) expect(files, `${key} → ${target}`).toContain(target.replace(/^\.\//, ''));
    }
  });

  it('the declarations of the main entry, /primitives and /contract name no optional peer (an app without IAM, Secrets Manager or OpenTelemetry type-checks them without skipLibCheck)', () => {
    const reached = new Set<string>();
    const bare = new Set<string>();
    const visit = (file: string) => {
      if (reached.has(file)) return;
      reached.add(file);
      const code = readFileSync(installed(file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, ''); // not the examples in doc comments
      for (const [, specifier] of code.matchAll(/(?:from|import\()\s*'([^']+)'/g)) {
        if (specifier!.startsWith('.')) visit(join(file, '..', specifier!.replace(/\.js$/, '.d.ts')).split(sep).join('/'));
        else bare.add(specifier!.startsWith('@') ? specifier!.split('/').slice(0, 2).join('/') : specifier!.split('/')[0]!);
      }
    };
    for (const entry of ['dist/esm/index.d.ts', 'dist/esm/primitives.d.ts', 'dist/esm/contract/index.d.ts']) visit(entry);
    expect(reached.size).toBeGreaterThan(20);
    const dependencies = new Set(Object.keys(manifest.dependencies));
    expect([...bare].filter((name) => !dependencies.has(name) && !name.startsWith('node:')).sort()).toEqual([]);
  });

  it('the sources the maps point at (all of client/src), and nothing else: no tests, build info, scripts or configs', () => {
    const shippedSources = packed.files.filter((file) => file.startsWith('src/'));
    expect(shippedSources.sort()).toEqual(filesUnder(join(CLIENT_DIR, 'src')).map((file) => `src/${file}`).sort());
    const allowed = [
      /^(LICENSE|README\.md|CHANGELOG\.md|package\.json)$/,
      /^dist\/(esm|commonjs)\/package\.json$/,
      /^dist\/(esm|commonjs)\/.+\.(js|js\.map|d\.ts|d\.ts\.map)$/,
      /^src\/.+\.ts$/,
    ];
    const stray = packed.files.filter((file) => !allowed.some((pattern) => pattern.test(file)));
    expect(stray).toEqual([]);
    const forbidden = packed.files.filter((file) => /\.(test|spec)\.|tsbuildinfo|(^|\/)(test|tests|__tests__|scripts)\/|tsconfig|^src\/.*\.d\.ts$/.test(file));
    expect(forbidden).toEqual([]);
  });
});

describe('exports map', () => {
  it(`every code subpath: "${SOURCE_CONDITION}" first, then import and require, each with types before default`, () => {
    const code = subpaths.filter(({ json }) => !json);
    expect(code.map(({ key }) => key)).toContain('.');
    for (const { key } of code) {
      const entry = manifest.exports[key] as Record<string, Record<string, string>>;
      expect(Object.keys(entry), key).toEqual([SOURCE_CONDITION, 'import', 'require']);
      expect(entry[SOURCE_CONDITION], key).toMatch(/^\.\/src\/.+\.ts$/);
      expect(Object.keys(entry.import!), key).toEqual(['types', 'default']);
      expect(Object.keys(entry.require!), key).toEqual(['types', 'default']);
      expect(entry.import!.default, key).toMatch(/^\.\/dist\/esm\/.+\.js$/);
      expect(entry.require!.default, key).toBe(entry.import!.default!.replace('/dist/esm/', '/dist/commonjs/'));
    }
  });
});

describe('package linters on the tarball', () => {
  it('attw (@arethetypeswrong/cli, profile node16): no problem', async () => {
    const cli = join(ROOT, 'node_modules/@arethetypeswrong/cli/dist/index.js');
    const result = await run(process.execPath, [cli, packed.tarball, '--profile', 'node16', '--format', 'json'], { cwd: tmp });
    expect(result.code, explain('attw', result)).toBe(0);
    const { analysis } = JSON.parse(result.stdout) as { analysis: { entrypoints: Record<string, unknown>; problems: { resolutionKind?: string }[] } };
    expect(Object.keys(analysis.entrypoints).sort()).toEqual(subpaths.map(({ key }) => key).sort());
    // node10 (TypeScript's `moduleResolution: node`, deprecated) ignores `exports`: subpaths cannot resolve there by design.
    expect(analysis.problems.filter((problem) => problem.resolutionKind !== 'node10')).toEqual([]);
  });

  it('publint (strict, suggestions included): no message', async () => {
    const bytes = await readFile(packed.tarball);
    const { messages } = await publint({ pack: { tarball: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) }, strict: true, level: 'suggestion' });
    expect(messages).toEqual([]);
  });
});

describe('scratch consumers installed from the tarball', () => {
  it.each(CONSUMERS)('%s: strict type-check passes, reading the declarations of its module system only', async (consumer) => {
    await compiled(consumer);
    const read = (await checks)[consumer].stdout
      .split('\n')
      .filter((file) => file.includes('/node_modules/@kcc-redis/client/') && !file.endsWith('/client/package.json'));
    expect(read.length).toBeGreaterThan(0);
    const expected = consumer === 'commonjs' ? '/dist/commonjs/' : '/dist/esm/';
    expect(read.filter((file) => !file.includes(expected) || !file.endsWith('.d.ts'))).toEqual([]);
  });

  it('import (ESM) and require (CommonJS) of every subpath: each from its own build, with the same exports', async () => {
    await Promise.all([compiled('esm-nodenext'), compiled('commonjs')]);
    const [esm, cjs] = await Promise.all([node('esm-nodenext', ['out/subpaths.js']), node('commonjs', ['require-all.cjs'])]);
    const imported = JSON.parse(esm) as SubpathReport;
    const required = JSON.parse(cjs) as SubpathReport;
    const specifiers = subpaths.map(({ specifier }) => specifier).sort();
    expect(Object.keys(imported).sort()).toEqual(specifiers);
    expect(Object.keys(required).sort()).toEqual(specifiers);
    for (const { specifier, json } of subpaths) {
      const [fromImport, fromRequire] = [imported[specifier]!, required[specifier]!];
      expect(fromImport.exports.length, specifier).toBeGreaterThan(0);
      expect(fromRequire.exports, specifier).toEqual(fromImport.exports);
      if (json) continue;
      expect(fromImport.resolved, specifier).toContain(join(...INSTALLED, 'dist', 'esm'));
      expect(fromRequire.resolved, specifier).toContain(join(...INSTALLED, 'dist', 'commonjs'));
    }
  });

  it('bundler: esbuild takes the ESM build (never the sources, never CommonJS) and the bundle runs', async () => {
    await compiled('bundler');
    bundled ??= bundle();
    const { inputs } = await bundled;
    const ours = inputs.filter((input) => input.includes('node_modules/@kcc-redis/client/') && !input.endsWith('/client/package.json'));
    expect(ours.length).toBeGreaterThan(0);
    expect(ours.filter((input) => !input.includes('/dist/esm/'))).toEqual([]);
    const report = JSON.parse(await node('bundler', ['out/subpaths.mjs'])) as SubpathReport;
    expect(Object.keys(report).sort()).toEqual(subpaths.map(({ specifier }) => specifier).sort());
  });

  it.each(CONSUMERS)('%s: connect, key ring + client assertion, revocation, Fastify plugin JWKS against a local Redis', async (consumer) => {
    await compiled(consumer);
    const entry = { 'esm-nodenext': 'out/smoke.js', bundler: 'out/smoke.mjs', commonjs: 'out/smoke.cjs' }[consumer];
    if (consumer === 'bundler') await (bundled ??= bundle());
    expectSmokeRan(await node(consumer, [entry], smokeEnv(`smoke${CONSUMERS.indexOf(consumer)}-dev`)));
  });

  it.each(LAMBDA_FORMATS)('Lambda: the app bundled whole into one file, format %s (the package, ioredis, jose, Fastify inlined; the optional peers left out, as NodejsFunction leaves the AWS SDK to the runtime), runs as docs/lambda.md says', async (format) => {
    await compiled('bundler');
    const docs = readFileSync(join(ROOT, 'docs/lambda.md'), 'utf8');
    expect(docs).toContain(LAMBDA_ESM_BANNER);
    const optionalPeers = Object.keys(manifest.peerDependenciesMeta ?? {}).filter((name) => name !== 'fastify');
    const outfile = `out-lambda/smoke.${format === 'esm' ? 'mjs' : 'cjs'}`;
    const result = await build({
      absWorkingDir: join(tmp, 'bundler'),
      entryPoints: ['smoke.ts'],
      outfile,
      bundle: true,
      platform: 'node',
      format,
      target: 'node22',
      external: optionalPeers,
      // ioredis and other CommonJS dependencies require() Node's built-ins, which an ES module bundle
      // has no require() for: without the banner it fails at load ("Dynamic require of "node:events" is
      // not supported"). A CommonJS bundle needs none.
      ...(format === 'esm' ? { banner: { js: LAMBDA_ESM_BANNER } } : {}),
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    for (const inlined of ['node_modules/ioredis/', 'node_modules/jose/', 'node_modules/fastify/', 'node_modules/@kcc-redis/client/dist/esm/']) {
      expect(inputs.some((input) => input.includes(inlined)), inlined).toBe(true);
    }
    expectSmokeRan(await node('bundler', [outfile], smokeEnv(`smoke${CONSUMERS.length + LAMBDA_FORMATS.indexOf(format)}-dev`)));
  });

  /** The environment the smoke script reads: the local Redis, user `username`'s password, the key-encryption key. */
  function smokeEnv(username: string): NodeJS.ProcessEnv {
    return {
      ...process.env,
      SMOKE_REDIS_URL: server!.url,
      SMOKE_REDIS_USERNAME: username,
      SMOKE_REDIS_PASSWORD: server!.users.get(username)!.password,
      SMOKE_REDIS_CA: server!.ca,
      SMOKE_KEK: KEK,
    };
  }

  /** What the smoke script printed: an assertion, the JWKS, revocations, the plugin and its health route, no warning. */
  function expectSmokeRan(stdout: string): void {
    const result = JSON.parse(stdout) as {
      assertion: string;
      signingKid: string;
      jwksStatus: number;
      jwksKids: string[];
      revoked: string;
      other: string;
      pluginSeesRevocation: string;
      metricsEnabled: boolean;
      healthStatus: number;
      healthBody: { status: string };
      warnings: string[];
    };
    expect(decodeProtectedHeader(result.assertion)).toMatchObject({ alg: 'ES256', kid: result.signingKid });
    expect(result.jwksStatus).toBe(200);
    expect(result.jwksKids).toContain(result.signingKid);
    expect([result.revoked, result.other, result.pluginSeesRevocation]).toEqual(['revoked', 'active', 'revoked']);
    // Without the optional peer @opentelemetry/api: metrics off, silently; the plugin (metrics on by default) and its health route work.
    expect(existsSync(join(tmp, 'node_modules', '@opentelemetry', 'api'))).toBe(false);
    expect(result.metricsEnabled).toBe(false);
    expect([result.healthStatus, result.healthBody.status]).toEqual([200, 'ok']);
    expect(result.warnings).toEqual([]);
  }

  it.each(['esm-nodenext', 'commonjs'] as const)('%s: with --enable-source-maps, stack frames in the package name shipped files under src/', async (consumer) => {
    await compiled(consumer);
    const entry = consumer === 'commonjs' ? 'out/stack.cjs' : 'out/stack.js';
    const { configError, code, stack } = JSON.parse(await node(consumer, ['--enable-source-maps', entry])) as { configError: boolean; code: string; stack: string };
    expect([configError, code]).toEqual([true, 'KCC_CONFIG_INVALID']);
    const frames = [...stack.matchAll(/node_modules\/@kcc-redis\/client\/([^\s:)]+):(\d+):\d+/g)].map(([, file, line]) => ({ file: file!, line: Number(line) }));
    expect(frames.length, stack).toBeGreaterThan(0);
    for (const { file, line } of frames) {
      expect(file, stack).toMatch(/^src\/.+\.ts$/);
      expect(packed.files, stack).toContain(file);
      expect(line).toBeLessThanOrEqual(readFileSync(installed(file), 'utf8').split('\n').length);
    }
  });
});
