import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

/** The client package resolves to its TypeScript sources under this condition: no build step before tests. */
const SOURCE_CONDITIONS = ['kcc-redis-source', 'node', 'import', 'default'];

export default defineConfig({
  resolve: { conditions: SOURCE_CONDITIONS },
  ssr: { resolve: { conditions: SOURCE_CONDITIONS, externalConditions: ['kcc-redis-source'] } },
  test: {
    pool: 'forks',
    // The integration files mostly wait (on servers, failovers, key activations), so more files run
    // at once than there are cores: on 2 cores, 12m54s with vitest's default of one worker (6m10s of
    // CPU), 6m26s with three, same machine, idle. Each file picks free ports and its own directories.
    // (Set for both projects: vitest runs projects with different worker counts one after the other.)
    maxWorkers: Math.min(availableParallelism() + 1, 8),
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          // No servers, no external programs (redis-server, openssl, python), no prior build.
          include: ['test/unit/**/*.test.ts'],
          // One module graph per worker: aws-cdk-lib is imported once, not once per test file.
          isolate: false,
          // A hang guard, not a measure: the first synth in a worker also loads aws-cdk-lib's lazy
          // modules, about 2 s alone, and took over 30 s once beside a busy loop and the integration files.
          testTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/support/ensure-test-packages.ts'],
          // Real-Redis tests start servers; end-to-end tests wait out key activations.
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
