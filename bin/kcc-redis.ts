#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CONFIG_CONTEXT_KEY, parseConfig } from '../infra/config.js';
import { runLocal } from '../infra/local/run-local.js';

const USAGE = `Usage: kcc-redis <command> [options]

Commands:
  local    Start an ElastiCache-like Redis (TLS only, default user off, the stack's ACL users)
           from cdk.json's "kcc" config and print the environment each app-env needs.
           Options: --port <n> (0 = any free port; default: the config's port)
                    --dir <folder> (default: .kcc-local)
                    --config <cdk.json path> (default: ./cdk.json)

Options:
  -h, --help   Show this help`;

async function main(argv: string[]): Promise<number> {
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
  const [command] = positionals;
  if (values.help || command === undefined) {
    console.log(USAGE);
    return command === undefined && !values.help ? 1 : 0;
  }
  if (command !== 'local') {
    console.error(`kcc-redis: unknown command "${command}"\n\n${USAGE}`);
    return 1;
  }
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    console.error(`kcc-redis: --port "${values.port}" must be a port number (0 = any free port)`);
    return 1;
  }
  const cdkJson = JSON.parse(readFileSync(values.config!, 'utf8')) as { context?: Record<string, unknown> };
  const config = parseConfig(cdkJson.context?.[CONFIG_CONTEXT_KEY]);
  const server = await runLocal({ config, port, dir: values.dir });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.stop();
  console.log('kcc-redis local: stopped');
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`kcc-redis: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
