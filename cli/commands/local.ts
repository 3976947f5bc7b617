import { optionalIntegerOption, parseCommandArgs, stringOption } from '../args.js';
import type { Command } from '../command.js';
import { readKccConfig } from '../config-file.js';
import { EXIT } from '../exit-codes.js';
import type { CliIo } from '../io.js';

const USAGE = `Usage: kcc-redis local [--port <n>] [--dir <folder>] [--config <cdk.json>]

Starts an ElastiCache-like redis-server on 127.0.0.1 from cdk.json's "kcc" config (TLS only, the
default user off, the stack's ACL users and access strings) and runs until Ctrl-C (SIGINT) or
SIGTERM. The folder is locked while it runs (a second server must use another --dir). Into the
folder, readable by you only, it writes:
  <app>-<env>.env   every variable an instance of that app-env needs, its password and a local-only
                    key-encryption key for the signing-key ring included (node --env-file=<file>)
  admin.env         the local admin user's password (kcc-local-admin), for redis-cli via REDISCLI_AUTH
  kcc-local.json    the same for tools: kcc-redis check, drift, status, rotate-keys and revoke read it
                    with --local-dir <folder>
  tls/ca.crt        the CA to trust (KCC_REDIS_CA_FILE)
It prints the files' paths and the non-secret variables (never a password or a key), then
"kcc-redis local: ready on rediss://127.0.0.1:<port>". A restart keeps passwords, keys and data.

Options:
  --port <n>         TLS port on 127.0.0.1 (0 = any free port; default: the config's port)
  --dir <folder>     the server's folder (default: .kcc-local)
  --config <file>    the cdk.json to read (default: ./cdk.json)
  -h, --help         show this help

Exit codes: 0 after a clean stop; 2 when it cannot start (usage, config, port or folder in use).`;

export const localCommand: Command = {
  name: 'local',
  summary: 'run an ElastiCache-like redis-server from cdk.json (TLS, the stack\'s users) until Ctrl-C',
  usage: USAGE,
  async run(argv, io: CliIo) {
    const { values, help } = parseCommandArgs('local', argv, { port: { type: 'string' }, dir: { type: 'string' }, config: { type: 'string' } });
    if (help) {
      io.stdout(USAGE);
      return EXIT.ok;
    }
    const port = optionalIntegerOption('local', values, 'port', 0, 65535);
    // Listen before starting, so that a Ctrl-C during start-up still stops the server cleanly.
    const stop = io.nextStop();
    const config = await readKccConfig(stringOption(values, 'config') ?? 'cdk.json');
    const { runLocal } = await import('../../local/run-local.js');
    const server = await runLocal({ config, port, dir: stringOption(values, 'dir'), print: (line) => io.stdout(line) });
    const signal = await stop;
    await server.stop();
    io.stdout(`kcc-redis local: stopped (${signal})`);
    return EXIT.ok;
  },
};
