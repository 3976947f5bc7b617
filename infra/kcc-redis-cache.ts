import { Annotations, ArnFormat, type Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { CfnReplicationGroup, CfnSubnetGroup } from 'aws-cdk-lib/aws-elasticache';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { DEFAULT_REDIS_PORT } from '@kcc-redis/client/contract';
import { clusterWithoutReplicasNote, nodeQuotaWarning } from './elasticache-rules.js';
import { clusterModeParameterGroup } from './engine.js';
import { CACHE_BASE_DEFAULTS, generatedNameNote, generatedNamespace, KccRedisCacheBase, type KccRedisCacheBaseProps } from './kcc-redis-cache-base.js';
import { type KccRedisCacheProps, KCC_REDIS_CACHE_DEFAULTS, KCC_REDIS_CACHE_RULES } from './kcc-redis-cache-props.js';
import { validateProps } from './validate-props.js';


/**
 * The setup guide as one construct: a security group on the cache port, the default user
 * (disabled unless enabled), per app-env a password user with its own secret and/or an
 * IAM-authenticated user, and a key-encryption-key secret, the user group, and a TLS-required,
 * encrypted-at-rest replication group attached to that group. Validates its props (`KCC_CACHE_PROPS_INVALID`).
 *
 * @example
 * const cache = new KccRedisCache(this, 'Cache', { vpc, apps: [{ name: 'orders' }], replicationGroupId: 'orders-cache' });
 * cache.connections.allowDefaultPortFrom(service);
 * cache.grantRead(service.taskDefinition.taskRole, 'orders', 'prod');
 * // With apps: [{ name: 'orders', auth: AppEnvAuth.IAM }]: no user secret; the role logs in with IAM tokens.
 * cache.grantConnect(service.taskDefinition.taskRole, 'orders', 'prod');
 *
 * @resource AWS::ElastiCache::ReplicationGroup
 */
export type { KccRedisCacheProps };

export class KccRedisCache extends KccRedisCacheBase {
  /** @attribute */
  readonly replicationGroupId: string;
  /** ARN of the replication group. @attribute */
  readonly replicationGroupArn: string;
  /** ARN of the replication group (the cache of `elasticache:Connect`). @attribute */
  readonly cacheArn: string;
  /** The replication group id. @attribute */
  readonly cacheName: string;
  /** Whether nodes are spread over AZs with automatic failover (at least one replica per shard). */
  readonly multiAz: boolean;
  readonly shards: number;
  readonly replicasPerShard: number;
  readonly resource: CfnReplicationGroup;

  constructor(scope: Construct, id: string, props: KccRedisCacheProps) {
    const shards = props.shards ?? KCC_REDIS_CACHE_DEFAULTS.shards;
    super(scope, id, props, (self) => {
      const namespace = props.replicationGroupId ?? generatedNamespace(self);
      validateProps(self, 'KccRedisCache', { props, namespace }, KCC_REDIS_CACHE_RULES);
      const port = props.port ?? DEFAULT_REDIS_PORT;
      return { namespace, port, ports: ec2.Port.tcp(port), clusterMode: shards > 1 };
    });
    const engine = props.engine ?? CACHE_BASE_DEFAULTS.engine;
    const engineVersion = props.engineVersion ?? KCC_REDIS_CACHE_DEFAULTS.engineVersion[engine];
    const replicas = props.replicasPerShard ?? KCC_REDIS_CACHE_DEFAULTS.replicasPerShard;
    const namespace = this.namespace;
    this.shards = shards;
    this.replicasPerShard = replicas;
    this.multiAz = replicas > 0;
    // Said, not refused: an account may have its quota raised. An info annotation, because a warning
    // annotation fails synth under "@aws-cdk/core:strictCfnValidateErrors" with
    // "@aws-cdk/core:annotationsInValidationReport" (both in our cdk.json): the report counts it as a
    // validation warning, and strict mode fails on any warning.
    const quota = nodeQuotaWarning(shards * (replicas + 1), `shards × (1 + replicasPerShard) = ${shards} × ${1 + replicas}`);
    if (quota) Annotations.of(this).addInfo(quota);
    const withoutReplicas = clusterWithoutReplicasNote(shards, replicas);
    if (withoutReplicas) Annotations.of(this).addInfo(withoutReplicas);
    if (props.replicationGroupId === undefined) Annotations.of(this).addInfo(generatedNameNote('replicationGroupId', namespace));

    const subnetGroup = new CfnSubnetGroup(this, 'SubnetGroup', {
      description: `kcc-redis ${namespace} subnets`,
      subnetIds: props.vpc.selectSubnets(props.vpcSubnets).subnetIds,
    });

    const logDelivery = (['slow-log', 'engine-log'] as const).map((logType) => {
      const logGroup = new logs.LogGroup(this, logType === 'slow-log' ? 'SlowLog' : 'EngineLog', {
        retention: props.logRetention ?? CACHE_BASE_DEFAULTS.logRetention,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      return {
        destinationType: 'cloudwatch-logs',
        logFormat: 'json',
        logType,
        destinationDetails: { cloudWatchLogsDetails: { logGroup: logGroup.logGroupName } },
      };
    });

    this.resource = new CfnReplicationGroup(this, 'Resource', {
      replicationGroupId: namespace,
      replicationGroupDescription: `kcc-redis: Keycloak connector cluster sync (RBAC, TLS required)`,
      engine,
      engineVersion,
      cacheNodeType: props.cacheNodeType ?? KCC_REDIS_CACHE_DEFAULTS.cacheNodeType,
      port: this.port,
      clusterMode: this.clusterMode ? 'enabled' : 'disabled',
      cacheParameterGroupName: this.clusterMode ? clusterModeParameterGroup(engine, engineVersion) : undefined,
      // Cluster mode disabled: NumCacheClusters (primary + replicas) changes in place. Cluster mode:
      // ReplicasPerNodeGroup, create-only in the registry schemas until 2026-05-18 and still in two
      // regions (plan/documented-rules.ts).
      // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-elasticache-replicationgroup.html
      ...(this.clusterMode ? { numNodeGroups: shards, replicasPerNodeGroup: replicas } : { numCacheClusters: replicas + 1 }),
      automaticFailoverEnabled: replicas > 0 || this.clusterMode,
      multiAzEnabled: this.multiAz,
      transitEncryptionEnabled: true,
      transitEncryptionMode: 'required',
      atRestEncryptionEnabled: true,
      kmsKeyId: props.encryptionKey?.keyArn,
      userGroupIds: [this.userGroup.ref],
      cacheSubnetGroupName: subnetGroup.ref,
      securityGroupIds: [this.securityGroup.securityGroupId],
      snapshotRetentionLimit: props.snapshotRetention?.toDays() ?? KCC_REDIS_CACHE_DEFAULTS.snapshotRetentionDays,
      snapshotWindow: props.snapshotWindow,
      preferredMaintenanceWindow: props.maintenanceWindow ?? KCC_REDIS_CACHE_DEFAULTS.maintenanceWindow,
      autoMinorVersionUpgrade: true,
      logDeliveryConfigurations: logDelivery,
    });
    // SNAPSHOT makes CloudFormation take a final backup before it deletes or replaces the group.
    // https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html
    this.resource.applyRemovalPolicy(props.removalPolicy ?? KCC_REDIS_CACHE_DEFAULTS.removalPolicy, { applyToUpdateReplacePolicy: true });
    if (this.clusterMode) {
      // Without it, a NumNodeGroups change replaces the group (which its custom name forbids); with it,
      // ElastiCache reshards online. https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-updatepolicy.html
      this.resource.cfnOptions.updatePolicy = { useOnlineResharding: true };
    }
    this.replicationGroupId = this.resource.ref;
    this.cacheName = this.replicationGroupId;
    // Creating a rotation schedule runs Secrets Manager's configuration test at once; the users are
    // `modifying` until the group that uses them is created.
    this.passwordRotation.startAfter(this.resource);
    this.replicationGroupArn = Stack.of(this).formatArn({
      service: 'elasticache',
      resource: 'replicationgroup',
      resourceName: this.replicationGroupId,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.cacheArn = this.replicationGroupArn;
  }

  /**
   * The member clusters (one per node) as ElastiCache names them at creation: `<id>-001`… with
   * cluster mode disabled, `<id>-0001-001`… (node group, then node) with it enabled. The per-node
   * CloudWatch metrics carry these as `CacheClusterId`.
   * https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_NodeGroup.html
   */
  get memberClusterIds(): string[] {
    const id = this.namespace;
    const nodes = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1).padStart(3, '0'));
    if (!this.clusterMode) return nodes(this.replicasPerShard + 1).map((n) => `${id}-${n}`);
    return Array.from({ length: this.shards }, (_, s) => String(s + 1).padStart(4, '0')).flatMap((group) =>
      nodes(this.replicasPerShard + 1).map((n) => `${id}-${group}-${n}`),
    );
  }
}
