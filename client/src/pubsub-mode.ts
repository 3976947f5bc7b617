import { namespacedKey } from './contract/naming.js';
import type { KccLogger } from './logger.js';

/**
 * Which pub/sub a connection uses (option `pubSub`):
 * - `'auto'`: sharded pub/sub (SSUBSCRIBE/SPUBLISH) in cluster mode where the server has it, classic
 *   pub/sub otherwise (standalone, replication groups, servers before Redis 7.0);
 * - `'classic'`: classic pub/sub everywhere;
 * - `'bridge'`: in cluster mode, publish and listen on both (each message delivered once), so that
 *   instances on classic pub/sub and instances on sharded pub/sub hear each other during a rolling
 *   deploy; classic elsewhere.
 */
export type PubSubOption = 'auto' | 'classic' | 'bridge';
export const PUBSUB_OPTIONS: readonly PubSubOption[] = ['auto', 'classic', 'bridge'];

/** What a connection decided: classic only, sharded only, or both (`bridge`). */
export type PubSubMode = 'classic' | 'sharded' | 'bridge';

/** The two ways a message reaches a subscriber (both in bridge mode). */
export type PubSubPath = 'classic' | 'sharded';

/** One way a message is published: the command and the channel name it is published on. */
export interface PublishRoute {
  /** `PUBLISH` (classic) or `SPUBLISH` (sharded). */
  readonly command: 'PUBLISH' | 'SPUBLISH';
  /** The channel as named for that command: the classic name, or its sharded twin ({@link shardChannel}). */
  readonly channel: string;
}

/** The channel the capability probe publishes on (nobody listens; an empty message). */
const PROBE_CHANNEL = 'pubsub-probe';

/**
 * The sharded twin of a classic channel: `<prefix><name>` becomes `<prefix>{<app>-<env>}:<name>`,
 * in the namespace's slot, so every channel of an app-env lives on the shard that holds its keys
 * (one sharded subscriber connection per instance; SPUBLISH from the scripts that write those keys).
 * The `&<prefix>*` channel rule of the access string covers both names.
 *
 * @example shardChannel('my-app-prod:', 'my-app-prod:revocations') // 'my-app-prod:{my-app-prod}:revocations'
 */
export function shardChannel(keyPrefix: string, channel: string): string {
  if (!channel.startsWith(keyPrefix)) throw new TypeError(`channel "${channel}" is outside the namespace "${keyPrefix}"; name it with redis.channel()`);
  return namespacedKey(keyPrefix, channel.slice(keyPrefix.length));
}

/** Where a message of `channel` is published under `mode`, in order. */
export function publishRoutes(mode: PubSubMode, keyPrefix: string, channel: string): readonly PublishRoute[] {
  const classic: PublishRoute = { command: 'PUBLISH', channel };
  const sharded: PublishRoute = { command: 'SPUBLISH', channel: shardChannel(keyPrefix, channel) };
  return mode === 'classic' ? [classic] : mode === 'sharded' ? [sharded] : [sharded, classic];
}

/**
 * Lua for scripts that publish what they write: `publish_routes(at, message)` publishes `message` on
 * each route given in ARGV from index `at` on, as {@link publishRouteArgs} lays them out (a count,
 * then command and channel per route). Prepend it to the script.
 */
export const LUA_PUBLISH_ROUTES = `local function publish_routes(at, message)
  for r = 0, tonumber(ARGV[at]) - 1 do
    local command = ARGV[at + 1 + 2 * r]
    if command == 'PUBLISH' or command == 'SPUBLISH' then redis.call(command, ARGV[at + 2 + 2 * r], message) end
  end
end
`;

/** The script arguments of `routes` for {@link LUA_PUBLISH_ROUTES}: their count, then command and channel of each. */
export function publishRouteArgs(routes: readonly PublishRoute[]): (string | number)[] {
  return [routes.length, ...routes.flatMap((route) => [route.command, route.channel])];
}

/** What {@link decidePubSubMode} needs: the connection's settings and a way to run SPUBLISH. */
export interface PubSubProbe {
  readonly option: PubSubOption;
  readonly clusterMode: boolean;
  readonly keyPrefix: string;
  readonly logger: KccLogger;
  /** Runs `SPUBLISH channel message` on the command connection. */
  spublish(channel: string, message: string): Promise<number>;
}

/**
 * Decides once per connection. Outside cluster mode there is one shard: classic pub/sub, no probe.
 * In cluster mode an SPUBLISH of an empty message to a probe channel in the namespace asks the very
 * server (and ACL) the messages will go through: `ERR unknown command` (before Redis 7.0, or the
 * command renamed away) or `NOPERM` (an access string without it) fall back to classic pub/sub. Any
 * other failure (the connection) is thrown, so the next use asks again.
 */
export async function decidePubSubMode(probe: PubSubProbe): Promise<PubSubMode> {
  if (!probe.clusterMode || probe.option === 'classic') return 'classic';
  try {
    await probe.spublish(namespacedKey(probe.keyPrefix, PROBE_CHANNEL), '');
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (message.startsWith('ERR unknown command')) {
      probe.logger.info('the server has no sharded pub/sub (SPUBLISH, Redis 7.0+): classic pub/sub in cluster mode, broadcast to every node');
      return 'classic';
    }
    if (message.startsWith('NOPERM')) {
      probe.logger.warn('the Redis user may not SPUBLISH (its access string lacks +@pubsub or the channel rule): classic pub/sub in cluster mode', { error: message.split('\n')[0] });
      return 'classic';
    }
    throw error;
  }
  return probe.option === 'bridge' ? 'bridge' : 'sharded';
}
