import { isIP } from 'node:net';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { ResolvedConnection } from '../../client/src/resolve-options.js';

/** Where the probes connect, and how (from the app-env's resolved connection). */
export interface ProbeEndpoint {
  readonly host: string;
  readonly port: number;
  readonly tls: false | { readonly ca?: string | Buffer; readonly servername?: string };
  readonly clusterMode: boolean;
  readonly connectTimeoutMs: number;
}

export function probeEndpoint(resolved: ResolvedConnection): ProbeEndpoint {
  return { host: resolved.host, port: resolved.port, tls: resolved.tls, clusterMode: resolved.clusterMode, connectTimeoutMs: Math.min(resolved.connectTimeoutMs, 10_000) };
}

/** The TLS options Node needs for the endpoint (the client's rule: SNI by host name, never by IP). */
export function tlsOptions(endpoint: ProbeEndpoint): { ca?: string | Buffer; servername?: string } | undefined {
  if (!endpoint.tls) return undefined;
  return { ca: endpoint.tls.ca, servername: endpoint.tls.servername ?? (isIP(endpoint.host) ? undefined : endpoint.host) };
}

/**
 * A probe connection: one attempt, no retries, no offline queue, RESP2, so that every reply is seen
 * as the server sent it. Anonymous connections send nothing before the first command. The caller
 * disconnects it.
 */
export async function openProbe(endpoint: ProbeEndpoint, auth?: { readonly username: string; readonly password: string }, options: { cluster?: boolean } = {}): Promise<Redis | Cluster> {
  const common: RedisOptions = {
    tls: tlsOptions(endpoint),
    ...(auth ? { username: auth.username, password: auth.password } : { enableReadyCheck: false }),
    connectTimeout: endpoint.connectTimeoutMs,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    disableClientInfo: true,
    protocol: 2,
  };
  const client: Redis | Cluster = options.cluster
    ? new Cluster([{ host: endpoint.host, port: endpoint.port }], {
        redisOptions: nodeOptions(common),
        dnsLookup: (address, callback) => callback(null, address),
        clusterRetryStrategy: () => null,
        enableReadyCheck: false,
        enableOfflineQueue: false,
        lazyConnect: true,
      })
    : new Redis({ ...common, host: endpoint.host, port: endpoint.port });
  // Errors surface as rejected commands; a failed connect rejects with its last one (the server's
  // reply, e.g. WRONGPASS, or a cluster node's), where ioredis says only "Connection is closed".
  let lastError: Error | undefined;
  client.on('error', (error: Error) => (lastError = error));
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    throw lastError ?? error;
  }
  return client;
}

/** A cluster manages its nodes' connections: per-node lifecycle settings would fight it. */
function nodeOptions(options: RedisOptions): Omit<RedisOptions, 'retryStrategy' | 'lazyConnect' | 'enableOfflineQueue'> {
  const { retryStrategy: _retry, lazyConnect: _lazy, enableOfflineQueue: _queue, ...rest } = options;
  return rest;
}
