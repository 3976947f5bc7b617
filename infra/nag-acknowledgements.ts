import { Validations } from 'aws-cdk-lib';
import { DEFAULT_REDIS_PORT } from '@kcc-redis/client/contract';
import type { KccRedisBastion } from './bastion.js';
import { KccRedisCache } from './kcc-redis-cache.js';
import type { KccRedisCacheBase } from './kcc-redis-cache-base.js';

/**
 * The cdk-nag AwsSolutions findings the stack accepts, each with its reason, each on the one
 * resource it concerns. Everything else must be fixed, not acknowledged.
 */
export const NAG_ACKNOWLEDGEMENTS = {
  defaultPort: {
    id: 'AwsSolutions-AEC5',
    reason:
      "Port 6379 is the setup guide's documented port and what clients expect; it is configurable (\"port\"). " +
      'Access is limited by the security group, TLS and RBAC, not by obscurity.',
  },
  rbacInsteadOfAuthToken: {
    id: 'AwsSolutions-AEC6',
    reason:
      'The cache authenticates with RBAC (a user group with a password or IAM user per app-env), which replaces the ' +
      'single Redis AUTH token this rule looks for; ElastiCache does not allow both.',
  },
  singleNodeByChoice: {
    id: 'AwsSolutions-AEC4',
    reason:
      'The config sets "replicas": 0, the one-node setting for development; Multi-AZ needs at least one replica. ' +
      'The default (1 replica) is Multi-AZ with automatic failover.',
  },
  randomPasswordHasNoResource: {
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'The rotation functions (passwords, key-encryption keys) call secretsmanager:GetRandomPassword for each new ' +
      'value; that action has no resource type, so IAM accepts only "*" for it (the rotation schedule adds the ' +
      "statement). Every other statement of the functions' roles names the stack's own log groups, ElastiCache users " +
      'and secrets.',
  },
  bastionDetailedMonitoring: {
    id: 'AwsSolutions-EC28',
    reason:
      'The optional bastion is a t4g.nano used by hand for the setup guide\'s check; detailed (1-minute) monitoring would ' +
      'cost more than the instance and tells nothing the 5-minute basic metrics do not.',
  },
  bastionTerminationProtection: {
    id: 'AwsSolutions-EC29',
    reason:
      'The optional bastion holds no data and is rebuilt from the template; termination protection would make ' +
      '"bastion": false and cdk destroy fail until someone turns it off by hand.',
  },
} as const;

/**
 * Applies {@link NAG_ACKNOWLEDGEMENTS} to the resources of the cache (and bastion) they concern.
 * cdk-nag's ElastiCache rules (AEC1 to AEC6) look at cache clusters and replication groups only; a
 * serverless cache (always TLS, encrypted at rest, spread over AZs, no port to choose) draws none.
 */
export function acknowledgeNagFindings({ cache, bastion }: { cache: KccRedisCacheBase; bastion?: KccRedisBastion | undefined }): void {
  if (bastion) {
    Validations.of(bastion.instance).acknowledge(NAG_ACKNOWLEDGEMENTS.bastionDetailedMonitoring, NAG_ACKNOWLEDGEMENTS.bastionTerminationProtection);
  }
  if (cache instanceof KccRedisCache) {
    Validations.of(cache.resource).acknowledge(NAG_ACKNOWLEDGEMENTS.rbacInsteadOfAuthToken);
    if (cache.port === DEFAULT_REDIS_PORT) Validations.of(cache.resource).acknowledge(NAG_ACKNOWLEDGEMENTS.defaultPort);
    if (!cache.multiAz) Validations.of(cache.resource).acknowledge(NAG_ACKNOWLEDGEMENTS.singleNodeByChoice);
  }
  for (const rotation of [cache.passwordRotation, cache.kekRotation]) Validations.of(rotation.role).acknowledge(NAG_ACKNOWLEDGEMENTS.randomPasswordHasNoResource);
}
