import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalRedis } from '../../local/local-redis.js';

/**
 * Restarts a local server with `commands` renamed away (`rename-command <name> ""`): on it they do
 * not exist, for any user, as on ElastiCache, which makes CONFIG unavailable
 * (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/ClientConfig.RestrictedCommands.html).
 * Redis answers such a command `ERR unknown command '<name>', with args beginning with: …`, before
 * any ACL check.
 *
 * `dir` is the folder the server was started in (LocalRedis.start's or runLocal's `dir`): LocalRedis
 * keeps its config in `<dir>/redis.conf` and restart() starts the server from it again, on the same
 * port, with the same users (its ACL file) and data. The lines stay until the folder is removed.
 */
export async function restartWithoutCommands(server: LocalRedis, dir: string, commands: readonly string[]): Promise<void> {
  await appendFile(join(dir, 'redis.conf'), commands.map((command) => `rename-command ${command} ""\n`).join(''));
  await server.restart();
}
