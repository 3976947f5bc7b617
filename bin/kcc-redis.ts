#!/usr/bin/env node
/**
 * kcc-redis: the operator CLI. Thin on purpose: the commands live in cli/ (`kcc-redis --help`).
 */
import { processIo } from '../cli/io.js';
import { runCli } from '../cli/main.js';

runCli(process.argv.slice(2), processIo()).then(
  (code) => process.exit(code),
  (error: unknown) => {
    // runCli reports every failure itself; this is the last resort.
    process.stderr.write(`kcc-redis: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  },
);
