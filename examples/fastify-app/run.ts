/**
 * `npm run example`: starts the local Redis, the demo identity provider and two instances, prints
 * what to try, and runs until Ctrl-C. `KCC_EXAMPLE_DIR` moves the Redis files (default `.kcc-local/example`).
 * On SIGTERM or Ctrl-C the instances shut down as docs/shutdown.md says: their /health answers 503
 * ("draining") for `KCC_EXAMPLE_DRAIN_MS` (default 2000) while they still serve, then they close.
 */
import { startExample } from './start.js';

const example = await startExample({ dir: process.env.KCC_EXAMPLE_DIR ?? '.kcc-local/example' });
process.stdout.write(`${example.instructions.join('\n')}\n`);

let stopping = false;
const stop = (signal: NodeJS.Signals) => {
  if (stopping) return;
  stopping = true;
  const drainMs = Number(process.env.KCC_EXAMPLE_DRAIN_MS ?? 2_000);
  process.stdout.write(`\n${signal}: draining the instances for ${drainMs} ms (their /health answers 503), then stopping them and Redis…\n`);
  example.stop(drainMs).then(
    () => process.stdout.write('stopped\n'),
    (error: unknown) => {
      process.stderr.write(`stopping failed: ${String(error)}\n`);
      process.exitCode = 1;
    },
  );
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
