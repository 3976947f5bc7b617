import type * as ElastiCache from '@aws-sdk/client-elasticache';
import { KccAwsError } from '../errors.js';
import { callWithin } from './bounded-call.js';
import { loadSdk } from './load-sdk.js';

/** What a lookup of a group that does not exist adds: an ElastiCache Serverless cache is found by its endpoint, not discovered. */
const SERVERLESS_HINT =
  '. If this is an ElastiCache Serverless cache, it has no replication group to discover: set url or KCC_REDIS_URL to its endpoint (rediss://<cache>-<id>.serverless.<region code, e.g. euw1>.cache.amazonaws.com:6379, the stack output) and serverless: true or KCC_REDIS_SERVERLESS=true';

export interface DiscoveredEndpoint {
  readonly host: string;
  readonly port: number;
  readonly clusterMode: boolean;
}

/**
 * Finds the endpoint of a replication group through the ElastiCache API: the configuration
 * endpoint in cluster mode, else the primary endpoint. Refuses a group without transit encryption.
 * Gives up after `timeoutMs`.
 */
export async function discoverEndpoint(replicationGroupId: string, region: string | undefined, timeoutMs: number): Promise<DiscoveredEndpoint> {
  const sdk = await loadSdk<typeof ElastiCache>('@aws-sdk/client-elasticache', 'replicationGroupId (endpoint discovery)');
  const client = new sdk.ElastiCacheClient(region ? { region } : {});
  const fail = (reason: string, cause?: unknown) =>
    new KccAwsError(`replication group "${replicationGroupId}": ${reason}`, { cause });
  try {
    const command = new sdk.DescribeReplicationGroupsCommand({ ReplicationGroupId: replicationGroupId });
    const response = await callWithin('ElastiCache', timeoutMs, (abortSignal) => client.send(command, { abortSignal })).catch((error: unknown) => {
      throw error instanceof KccAwsError ? fail(error.message) : error;
    });
    const group = response.ReplicationGroups?.[0];
    if (!group) throw fail('not found');
    if (!group.TransitEncryptionEnabled) throw fail('has no transit encryption; the kcc-redis stack always enables it');
    const clusterMode = group.ClusterEnabled === true;
    const endpoint = clusterMode ? group.ConfigurationEndpoint : group.NodeGroups?.[0]?.PrimaryEndpoint;
    if (!endpoint?.Address || !endpoint.Port) throw fail(`has no ${clusterMode ? 'configuration' : 'primary'} endpoint yet (status ${group.Status ?? 'unknown'})`);
    return { host: endpoint.Address, port: endpoint.Port, clusterMode };
  } catch (cause) {
    if (cause instanceof KccAwsError) throw cause;
    // The stack's password secret names the cache on a serverless stack as well, which is no replication group.
    const serverlessHint = cause instanceof Error && cause.name === 'ReplicationGroupNotFoundFault' ? SERVERLESS_HINT : '';
    throw fail(`${cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)}${serverlessHint}`, cause);
  } finally {
    client.destroy();
  }
}
