#!/usr/bin/env node
/**
 * kcc-redis: the operator CLI. Thin on purpose: it parses argv and calls functions in infra/.
 *
 *   npx tsx bin/kcc-redis.ts local [--port <n>] [--dir <folder>] [--config <cdk.json>]
 *   npx tsx bin/kcc-redis.ts plan --previous <template> [--config <cdk.json>] [--json]
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { CONFIG_CONTEXT_KEY, type KccConfig, parseConfig } from '../infra/config.js';
import { runPlanCommand } from '../infra/plan/index.js';
import { runLocal } from '../local/run-local.js';

const USAGE = `Usage: kcc-redis <command> [options]

Commands:
  local    Start an ElastiCache-like Redis (TLS only, default user off, the stack's ACL users)
           from cdk.json's "${CONFIG_CONTEXT_KEY}" config, print the environment each app-env needs,
           and run until Ctrl-C (SIGINT) or SIGTERM.
           Options: --port <n>        TLS port on 127.0.0.1 (0 = any free port; default: the config's port)
                    --dir <folder>    where config, users, TLS material, data and log go (default: .kcc-local)
                    --config <file>   the cdk.json to read (default: ./cdk.json)
  plan     Compare the deployed template with a synth of the current config: per resource, in place,
           replaced or blocked, and what data is lost. \`kcc-redis plan --help\` for its options.

Options:
  -h, --help   Show this help`;

/** Resolves with the first SIGINT/SIGTERM received from now on (handlers stay installed until then). */
function nextStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

async function readConfig(file: string): Promise<KccConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)}); run from the project folder or pass --config <cdk.json>`);
  }
  let cdkJson: { context?: Record<string, unknown> };
  try {
    cdkJson = JSON.parse(text) as { context?: Record<string, unknown> };
  } catch (error) {
    throw new Error(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  return parseConfig(cdkJson.context?.[CONFIG_CONTEXT_KEY]);
}

async function main(argv: string[]): Promise<number> {
  // Subcommands with their own options parse their own arguments.
  if (argv[0] === 'plan') return runPlanCommand(argv.slice(1));
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      port: { type: 'string' },
      dir: { type: 'string' },
      config: { type: 'string', default: 'cdk.json' },
    },
  });
  const [command, ...extra] = positionals;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (command === undefined) {
    console.error(USAGE);
    return 1;
  }
  if (command !== 'local' || extra.length > 0) {
    console.error(`kcc-redis: unknown command "${positionals.join(' ')}"\n\n${USAGE}`);
    return 1;
  }
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && (!/^\d+$/.test(values.port!) || port > 65535)) {
    console.error(`kcc-redis: --port "${values.port}" must be a port number, 0–65535 (0 = any free port)`);
    return 1;
  }
  // Listen before starting, so that a Ctrl-C during start-up still stops the server cleanly.
  const stopSignal = nextStopSignal();
  const config = await readConfig(values.config!);
  const server = await runLocal({ config, port, dir: values.dir });
  const signal = await stopSignal;
  await server.stop();
  console.log(`kcc-redis local: stopped (${signal})`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`kcc-redis: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
