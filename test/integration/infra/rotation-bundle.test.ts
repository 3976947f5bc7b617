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
  it('bundles each rotation handler with the shared contract from its sources, and each bundle loads', () => {
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
    // Our bundles are the assets whose code carries the secret formats' messages (CDK adds its own handlers):
    // the password rotation function and the key-encryption-key rotation function.
    const bundles = assets.map((asset) => join(assembly.directory, asset, 'index.js')).filter((file) => readable(file).includes('kcc-redis stack writes'));
    expect(bundles).toHaveLength(2);
    // Only the password function's code reaches ElastiCache at all.
    expect(bundles.filter((file) => readable(file).includes('@aws-sdk/client-elasticache'))).toHaveLength(1);
    for (const bundle of bundles) {
      // The AWS SDK v3 is the runtime's, left out of the bundle.
      expect(readable(bundle)).not.toMatch(/node_modules\/@aws-sdk/);
      // The bundle is CommonJS (as Lambda loads it); the repository's package.json says "module", hence .cjs.
      const cjs = bundle.replace(/\.js$/, '.cjs');
      copyFileSync(bundle, cjs);
      const loaded = createRequire(import.meta.url)(cjs) as { handler?: unknown };
      expect(typeof loaded.handler).toBe('function');
    }
  });
});
