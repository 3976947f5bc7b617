import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import cdkJson from '../../../cdk.json' with { type: 'json' };
import { buildApp } from '../../../infra/index.js';
import { contextWith } from '../../support/synth.js';

const CDK_OUT = fileURLToPath(new URL('../../../cdk.out', import.meta.url));

// Unit tests synthesize without bundling; this one runs esbuild as `cdk synth` does and loads the result.
describe('rotation function bundle (esbuild at synth, as `npm run synth` does)', () => {
  it('bundles the handler with the shared contract from its sources, and the bundle loads', () => {
    // Inside the repository, so that the bundle's require() of the AWS SDK (the Lambda runtime's) resolves to node_modules.
    mkdirSync(CDK_OUT, { recursive: true });
    const dir = mkdtempSync(join(CDK_OUT, 'bundle-test-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const { app } = buildApp({ context: contextWith(cdkJson.context.kcc, { bundle: true }), outdir: dir });
    const assembly = app.synth();
    const assets = readdirSync(assembly.directory).filter((name) => name.startsWith('asset.'));
    const readable = (file: string) => {
      try {
        return readFileSync(file, 'utf8');
      } catch {
        return '';
      }
    };
    // Our bundle is the asset whose code carries the contract's secret parser (CDK adds its own handlers).
    const bundles = assets.map((asset) => join(assembly.directory, asset, 'index.js')).filter((file) => readable(file).includes('kcc-redis stack writes'));
    expect(bundles).toHaveLength(1);
    // The AWS SDK v3 is the runtime's, left out of the bundle.
    expect(readable(bundles[0]!)).not.toMatch(/node_modules\/@aws-sdk/);
    // The bundle is CommonJS (as Lambda loads it); the repository's package.json says "module", hence .cjs.
    const cjs = bundles[0]!.replace(/\.js$/, '.cjs');
    copyFileSync(bundles[0]!, cjs);
    const loaded = createRequire(import.meta.url)(cjs) as { handler?: unknown };
    expect(typeof loaded.handler).toBe('function');
  });
});
