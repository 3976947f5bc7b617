import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'client/test/**/*.test.ts'],
    globalSetup: ['test/support/ensure-redis-server.ts'],
    // Synthesizing a CDK app takes seconds on a 2-core machine; real-Redis tests start servers.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
