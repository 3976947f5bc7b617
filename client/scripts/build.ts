/**
 * Builds @kcc-redis/client twice from one source with the TypeScript compiler: ES modules into
 * `dist/esm` and CommonJS into `dist/commonjs`, each with declarations, declaration maps and source
 * maps (which point at `src/`, shipped in the tarball). Each output folder gets a package.json with
 * its `type`, so Node and TypeScript read its `.js` and `.d.ts` files in the right format.
 *
 * Why not emit CommonJS with a second tsconfig alone: under `module: NodeNext` (the only mode that
 * resolves `exports` maps like Node does) a `.ts` file's output format follows the `type` of the
 * nearest package.json, and ours says `module`. tshy solves this by writing `src/package.json`
 * during the build; here the compiler is shown that file in memory only, because tests and tools
 * read `src/` through the `kcc-redis-source` condition while a build runs (the tarball test packs
 * in the middle of `npm test`).
 *
 * Usage: `npm run build` in client/ (also the `prepack` script).
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
const SOURCE_DIR = join(PACKAGE_DIR, 'src');
const DIST_DIR = join(PACKAGE_DIR, 'dist');
/**
 * Where this build is emitted before it replaces dist/ by a rename, so a reader of dist/ never sees
 * a half-written build. A sibling of dist/, so the maps' relative paths (`../../src/…`) stay right;
 * one per process, so two builds at once do not mix.
 */
const BUILD_DIR = join(PACKAGE_DIR, `.dist-build-${process.pid}`);
const TSCONFIG = join(PACKAGE_DIR, 'tsconfig.build.json');

/** Output folder (under dist/) → the module format of the files in it. */
const DIALECTS = { esm: 'module', commonjs: 'commonjs' } as const;
type Dialect = keyof typeof DIALECTS;

const formatHost: ts.FormatDiagnosticsHost = {
  getCanonicalFileName: (fileName) => fileName,
  getCurrentDirectory: () => PACKAGE_DIR,
  getNewLine: () => '\n',
};

function parseConfig(dialect: Dialect): ts.ParsedCommandLine {
  const outDir = join(BUILD_DIR, dialect);
  // verbatimModuleSyntax forbids `import`/`export` in a CommonJS file: it checks the sources as
  // written (ESM), which the ESM build already does; the CommonJS build converts them.
  const overrides: ts.CompilerOptions = dialect === 'commonjs' ? { outDir, verbatimModuleSyntax: false } : { outDir };
  let fatal: ts.Diagnostic | undefined;
  const parsed = ts.getParsedCommandLineOfConfigFile(TSCONFIG, overrides, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic) => (fatal = diagnostic),
  });
  if (!parsed || fatal) throw new Error(ts.formatDiagnostics(fatal ? [fatal] : [], formatHost) || `cannot read ${TSCONFIG}`);
  if (parsed.errors.length > 0) throw new Error(ts.formatDiagnostics(parsed.errors, formatHost));
  return parsed;
}

/** A compiler host that sees `src/package.json` with the given `type` (in memory, never written). */
function hostWithSourceType(options: ts.CompilerOptions, type: (typeof DIALECTS)[Dialect]): ts.CompilerHost {
  const host = ts.createCompilerHost(options);
  const sourcePackageJson = resolve(SOURCE_DIR, 'package.json');
  const isSourcePackageJson = (fileName: string) => resolve(PACKAGE_DIR, fileName) === sourcePackageJson;
  const { fileExists, readFile } = host;
  host.fileExists = (fileName) => isSourcePackageJson(fileName) || fileExists.call(host, fileName);
  host.readFile = (fileName) => (isSourcePackageJson(fileName) ? JSON.stringify({ type }) : readFile.call(host, fileName));
  return host;
}

async function build(dialect: Dialect): Promise<void> {
  const config = parseConfig(dialect);
  const program = ts.createProgram({
    rootNames: config.fileNames,
    options: config.options,
    host: hostWithSourceType(config.options, DIALECTS[dialect]),
  });
  const emitted = program.emit();
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics];
  if (diagnostics.length > 0 || emitted.emitSkipped) {
    throw new Error(`${dialect} build failed:\n${ts.formatDiagnosticsWithColorAndContext(diagnostics, formatHost)}`);
  }
  await writeFile(join(BUILD_DIR, dialect, 'package.json'), `${JSON.stringify({ type: DIALECTS[dialect] })}\n`);
}

await rm(BUILD_DIR, { recursive: true, force: true });
await mkdir(BUILD_DIR, { recursive: true });
try {
  for (const dialect of Object.keys(DIALECTS) as Dialect[]) await build(dialect);
} catch (error) {
  await rm(BUILD_DIR, { recursive: true, force: true });
  throw error;
}
await rm(DIST_DIR, { recursive: true, force: true });
await rename(BUILD_DIR, DIST_DIR);
