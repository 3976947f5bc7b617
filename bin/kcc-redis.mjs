#!/usr/bin/env node
// `npx kcc-redis <command>`: runs the operator CLI (TypeScript) through tsx, with the client package
// resolved to its sources (the kcc-redis-source export condition), as `npm run kcc-redis` does.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

const SIGNALS = ['SIGINT', 'SIGTERM'];
const entry = fileURLToPath(new URL('./kcc-redis.ts', import.meta.url));
const child = spawn(process.execPath, ['--conditions=kcc-redis-source', '--import', 'tsx', entry, ...process.argv.slice(2)], { stdio: 'inherit' });
for (const signal of SIGNALS) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  if (signal === null) process.exit(code ?? 1);
  // The CLI was ended by a signal (a Ctrl-C while it ran): end the same way, as a shell expects (130
  // for SIGINT). With the forwarding listeners still on, the signal only called them, and the
  // launcher exited 0 as if the command had done its job. Should the signal not end this process
  // (ignored where it was started), the exit code says it: 128 + its number.
  for (const forwarded of SIGNALS) process.removeAllListeners(forwarded);
  process.exitCode = 128 + (constants.signals[signal] ?? 0);
  process.kill(process.pid, signal);
});
