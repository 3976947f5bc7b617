/**
 * Makes the package throw from inside its own code (a plaintext URL is a configuration error) and
 * prints the error's code and stack. The tarball test runs it with `--enable-source-maps`, as ESM
 * (`stack.ts`) and as CommonJS (`stack.cts`), and checks that every frame in the package names a
 * file the tarball ships.
 */
import { KccConfigError, KccRedis } from '@kcc-redis/client';

KccRedis.connect({ url: 'redis://127.0.0.1:1', username: 'stack-dev', password: 'not-a-secret', env: {} }).then(
  async (redis) => {
    await redis.close();
    console.error('connected over plaintext without unsafeAllowPlaintext');
    process.exitCode = 1;
  },
  (error: unknown) => {
    console.log(JSON.stringify({ configError: error instanceof KccConfigError, code: (error as { code?: unknown }).code, stack: (error as Error).stack }));
  },
);
