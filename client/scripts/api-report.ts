/**
 * The public API report of @kcc-redis/client: one `api/<entry>.api.md` per entry point of the
 * package's `exports` map, made by API Extractor from the declarations `tsc` emits. `npm test` runs
 * it in check mode and fails when the public API changed without the report; `npm run api:update`
 * writes the new report for review.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CompilerState, Extractor, ExtractorConfig, ExtractorLogLevel, type IConfigFile } from '@microsoft/api-extractor';

const clientDir = fileURLToPath(new URL('..', import.meta.url));
const buildDir = join(clientDir, '.api-build');
const update = process.argv.includes('--update');

interface PackageJson {
  readonly exports: Record<string, string | { readonly 'kcc-redis-source'?: string }>;
}

/** Entry points: every subpath of the exports map that leads to our sources, e.g. '.' → 'index', './fastify' → 'fastify/index'. */
function entryPoints(): { readonly subpath: string; readonly source: string }[] {
  const pkg = JSON.parse(readFileSync(join(clientDir, 'package.json'), 'utf8')) as PackageJson;
  return Object.entries(pkg.exports).flatMap(([subpath, target]) => {
    const source = typeof target === 'object' ? target['kcc-redis-source'] : undefined;
    return source ? [{ subpath, source: source.replace(/^\.\/src\//, '').replace(/\.ts$/, '') }] : [];
  });
}

rmSync(buildDir, { recursive: true, force: true });
execFileSync(process.execPath, [join(clientDir, '..', 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(clientDir, 'tsconfig.api.json')], { stdio: 'inherit' });

const entries = entryPoints();
const dts = (source: string) => join(buildDir, 'dts', `${source}.d.ts`);
let compilerState: CompilerState | undefined;
let failed = 0;
for (const { subpath, source } of entries) {
  const name = subpath === '.' ? 'client' : `client-${subpath.slice(2).replace(/\//g, '-')}`;
  const configObject: IConfigFile = {
    projectFolder: clientDir,
    mainEntryPointFilePath: dts(source),
    compiler: { overrideTsconfig: { compilerOptions: { strict: true, skipLibCheck: true, module: 'nodenext', moduleResolution: 'nodenext', types: ['node'] }, include: [join(buildDir, 'dts')] } },
    apiReport: { enabled: true, reportFolder: join(clientDir, 'api'), reportTempFolder: join(buildDir, 'report'), reportFileName: `${name}.api.md` },
    docModel: { enabled: false },
    dtsRollup: { enabled: false },
    tsdocMetadata: { enabled: false },
    messages: {
      compilerMessageReporting: { default: { logLevel: ExtractorLogLevel.Warning } },
      extractorMessageReporting: {
        default: { logLevel: ExtractorLogLevel.Warning },
        // Release tags (@public/@beta) are not used: everything an entry exports is public.
        'ae-missing-release-tag': { logLevel: ExtractorLogLevel.None },
        // A type used by the API but exported only from another entry point is fine.
        'ae-forgotten-export': { logLevel: ExtractorLogLevel.None, addToApiReportFile: true },
        // Documentation is reviewed in the sources; links may point across entry points.
        'ae-undocumented': { logLevel: ExtractorLogLevel.None },
        'ae-unresolved-link': { logLevel: ExtractorLogLevel.None },
      },
      tsdocMessageReporting: { default: { logLevel: ExtractorLogLevel.None } },
    },
  };
  const config = ExtractorConfig.prepare({ configObject, configObjectFullPath: undefined, packageJsonFullPath: join(clientDir, 'package.json') });
  // One TypeScript program for every entry point: analysing them one by one would compile five times.
  compilerState ??= CompilerState.create(config, { additionalEntryPoints: entries.map((e) => dts(e.source)) });
  const result = Extractor.invoke(config, { localBuild: update, showVerboseMessages: false, compilerState });
  if (!result.succeeded) {
    failed++;
    console.error(`api-report: the public API of @kcc-redis/client${subpath === '.' ? '' : subpath.slice(1)} changed (${result.errorCount} errors, ${result.warningCount} warnings).` +
      (update ? '' : ' Review the change and run `npm run api:update` to accept it; commit client/api/*.api.md with it.'));
  } else if (update && result.apiReportChanged) {
    console.log(`api-report: updated client/api/${name}.api.md`);
  }
}
rmSync(buildDir, { recursive: true, force: true });
process.exit(failed > 0 ? 1 : 0);
