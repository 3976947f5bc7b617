#!/usr/bin/env node
// `npx kcc-redis <command>`: runs the operator CLI (TypeScript) through tsx, with the client package
// resolved to its sources (the kcc-redis-source export condition), as `npm run kcc-redis` does.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('./kcc-redis.ts', import.meta.url));
const child = spawn(process.execPath, ['--conditions=kcc-redis-source', '--import', 'tsx', entry, ...process.argv.slice(2)], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => (signal ? process.kill(process.pid, signal) : process.exit(code ?? 1)));
