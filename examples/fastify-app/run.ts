/**
 * `npm run example`: starts the local Redis, the demo identity provider and two instances, prints
 * what to try, and runs until Ctrl-C. `KCC_EXAMPLE_DIR` moves the Redis files (default `.kcc-local/example`).
 */
import { startExample } from './start.js';

const example = await startExample({ dir: process.env.KCC_EXAMPLE_DIR ?? '.kcc-local/example' });
process.stdout.write(`${example.instructions.join('\n')}\n`);

let stopping = false;
const stop = (signal: NodeJS.Signals) => {
  if (stopping) return;
  stopping = true;
  process.stdout.write(`\n${signal}: stopping the instances and Redis…\n`);
  example.stop().then(
    () => process.stdout.write('stopped\n'),
    (error: unknown) => {
      process.stderr.write(`stopping failed: ${String(error)}\n`);
      process.exitCode = 1;
    },
  );
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
