import { type KccLogger, KccRedis } from '@kcc-redis/client';
import type { CliIo } from './io.js';
import { printable } from './terminal-text.js';
import type { AppEnvTarget } from './targets.js';

/**
 * The client's logger for the CLI's connections: warnings go to the CLI's stderr (the escaped io,
 * like everything else the CLI writes), marked as the client's; info is dropped. Never the
 * client's default (console.warn), which would bypass the escaping.
 */
export function cliLogger(io: CliIo): KccLogger {
  return {
    // printable: a client warning may name what it read from Redis (a kid, a reason), line breaks
    // included; each stays one line, never one that reads like a hint of the CLI's.
    warn: (message, context) => io.stderr(`kcc-redis (client): ${printable(message)}${context === undefined ? '' : ` ${JSON.stringify(context)}`}`),
    info: () => undefined,
  };
}

/**
 * Connects to a target's app-env (as a tool, not an instance: no heartbeat), runs `use`, and closes.
 * `logger` replaces the target's (which writes through the CLI's io) for this connection.
 */
export async function withConnection<T>(target: AppEnvTarget, use: (redis: KccRedis) => Promise<T>, logger?: KccLogger): Promise<T> {
  const redis = await KccRedis.connect(logger === undefined ? target.connection : { ...target.connection, logger });
  try {
    return await use(redis);
  } finally {
    // After a change was stored, a failed close must not turn it into exit 2.
    await redis.close().catch(() => undefined);
  }
}
