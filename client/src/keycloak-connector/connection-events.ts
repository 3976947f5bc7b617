import type { KccRedis, KccRedisEvents } from '../connection.js';
import { KccAuthError } from '../errors.js';

/** Events our cluster provider adds to upstream's `BaseClusterEvents`, mapped from the connection's. */
export type KccClusterEvent = 'ready' | 'reconnecting' | 'auth-failure';

/** Where mapped events go: upstream's `emitEvent`, and its ERROR event name. */
export interface EventSink {
  emit(event: KccClusterEvent, ...args: unknown[]): void;
  error(error: Error): void;
}

/**
 * Forwards the connection's `ready`, `reconnecting` and `auth-failure` events (same names and
 * arguments); an authentication failure that re-reading the credentials did not fix is also an
 * upstream ERROR. Returns the function that stops forwarding.
 */
export function forwardConnectionEvents(redis: KccRedis, sink: EventSink): () => void {
  const onReady = (...args: KccRedisEvents['ready']) => sink.emit('ready', ...args);
  const onReconnecting = (...args: KccRedisEvents['reconnecting']) => sink.emit('reconnecting', ...args);
  const onAuthFailure = (...[role, refreshed]: KccRedisEvents['auth-failure']) => {
    sink.emit('auth-failure', role, refreshed);
    if (!refreshed) sink.error(new KccAuthError(`Redis rejected the credentials of user "${redis.username}" on the ${role} connection`));
  };
  redis.on('ready', onReady);
  redis.on('reconnecting', onReconnecting);
  redis.on('auth-failure', onAuthFailure);
  return () => {
    redis.off('ready', onReady);
    redis.off('reconnecting', onReconnecting);
    redis.off('auth-failure', onAuthFailure);
  };
}
