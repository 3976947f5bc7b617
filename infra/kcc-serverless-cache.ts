import { Annotations, ArnFormat, Aws, type Duration, Fn, RemovalPolicy, type Size, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { CfnServerlessCache } from 'aws-cdk-lib/aws-elasticache';
import type { Construct } from 'constructs';
import { SERVERLESS_PORTS } from './elasticache-rules.js';
import { CACHE_BASE_DEFAULTS, generatedNameNote, generatedNamespace, KccRedisCacheBase, type KccRedisCacheBaseProps } from './kcc-redis-cache-base.js';
import { type KccServerlessCacheProps, KCC_SERVERLESS_CACHE_DEFAULTS, KCC_SERVERLESS_CACHE_RULES } from './kcc-serverless-cache-props.js';
import { validateProps } from './validate-props.js';


/**
 * The setup guide on ElastiCache Serverless: the same users, user group, security group and secrets
 * as {@link KccRedisCache}, with a serverless cache (Valkey or Redis OSS) instead of a replication
 * group: no nodes to size, usage limits as the cost ceiling, a daily snapshot. Clients connect in
 * cluster mode (app users get `+cluster|slots`) on port 6379, or 6380 for the reader endpoint; the
 * security group admits those two ports only. "All serverless caches have in-transit encryption
 * enabled" (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/in-transit-encryption.html), and
 * encryption at rest (with `encryptionKey` if given). Validates its props (`KCC_CACHE_PROPS_INVALID`).
 *
 * Property rules: https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-elasticache-serverlesscache.html
 *
 * @example
 * const cache = new KccServerlessCache(this, 'Cache', { vpc, apps: [{ name: 'orders', auth: AppEnvAuth.IAM }], serverlessCacheName: 'orders-cache' });
 * cache.connections.allowDefaultPortFrom(service);
 * cache.grantConnect(service.taskDefinition.taskRole, 'orders', 'prod');
 * cache.grantRead(service.taskDefinition.taskRole, 'orders', 'prod'); // the key-encryption key
 *
 * @resource AWS::ElastiCache::ServerlessCache
 */
export type { KccServerlessCacheProps };

export class KccServerlessCache extends KccRedisCacheBase {
  /** @attribute */
  readonly serverlessCacheName: string;
  /** ARN of the serverless cache (the cache of `elasticache:Connect`). @attribute */
  readonly cacheArn: string;
  /** The serverless cache name. @attribute */
  readonly cacheName: string;
  /** Port of the reader endpoint (reads from replicas; the endpoint is {@link port}). */
  readonly readerPort: number;
  readonly maxDataStorageGb: number;
  readonly maxEcpuPerSecond: number;
  readonly resource: CfnServerlessCache;

  constructor(scope: Construct, id: string, props: KccServerlessCacheProps) {
    super(scope, id, props, (self) => {
      const namespace = props.serverlessCacheName ?? generatedNamespace(self);
      validateProps(self, 'KccServerlessCache', { props, namespace }, KCC_SERVERLESS_CACHE_RULES);
      // The endpoint on 6379 and the reader endpoint on 6380; the port cannot be chosen. AWS's own
      // getting-started script for a Valkey serverless cache opens exactly these two ports:
      // https://docs.aws.amazon.com/code-library/latest/ug/ec2_example_ec2_GettingStarted_065_section.html
      return { namespace, port: SERVERLESS_PORTS.endpoint, ports: ec2.Port.tcpRange(SERVERLESS_PORTS.endpoint, SERVERLESS_PORTS.reader), clusterMode: true };
    });
    const engine = props.engine ?? CACHE_BASE_DEFAULTS.engine;
    const d = KCC_SERVERLESS_CACHE_DEFAULTS;
    const removalPolicy = props.removalPolicy ?? d.removalPolicy;
    this.readerPort = SERVERLESS_PORTS.reader;
    this.maxDataStorageGb = props.maxDataStorage?.toGibibytes() ?? d.maxDataStorageGb;
    this.maxEcpuPerSecond = props.maxEcpuPerSecond ?? d.maxEcpuPerSecond;
    if (props.serverlessCacheName === undefined) Annotations.of(this).addInfo(generatedNameNote('serverlessCacheName', this.namespace));

    this.resource = new CfnServerlessCache(this, 'Resource', {
      serverlessCacheName: this.namespace,
      description: 'kcc-redis: Keycloak connector cluster sync (RBAC, TLS)',
      engine,
      majorEngineVersion: props.majorEngineVersion ?? d.majorEngineVersion[engine],
      // Always set: the ceiling of what the cache may cost. Unit "GB" is the only one the schema allows.
      cacheUsageLimits: {
        dataStorage: { maximum: this.maxDataStorageGb, unit: 'GB' },
        ecpuPerSecond: { maximum: this.maxEcpuPerSecond },
      },
      // "ARN of the customer managed key for encrypting the data at rest" (CreateServerlessCache).
      kmsKeyId: props.encryptionKey?.keyArn,
      userGroupId: this.userGroup.ref,
      securityGroupIds: [this.securityGroup.securityGroupId],
      // "All the subnetIds must belong to the same VPC" (CreateServerlessCache): one VPC's selection.
      subnetIds: props.vpc.selectSubnets(props.vpcSubnets).subnetIds,
      // Always set: "Default is NULL, i.e. snapshots will not be created at a specific time on a daily basis"
      // https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_ServerlessCache.html
      dailySnapshotTime: props.dailySnapshotTime ?? d.dailySnapshotTime,
      snapshotRetentionLimit: props.snapshotRetention?.toDays() ?? d.snapshotRetentionDays,
      finalSnapshotName: removalPolicy === RemovalPolicy.SNAPSHOT ? finalSnapshotName(this.namespace) : undefined,
    });
    // CloudFormation's DeletionPolicy "Snapshot" does not cover serverless caches (nor does CDK's
    // validateSnapshotRemovalPolicy): the final snapshot is FinalSnapshotName, taken by DeleteServerlessCache.
    this.resource.applyRemovalPolicy(removalPolicy === RemovalPolicy.RETAIN ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY, { applyToUpdateReplacePolicy: true });
    this.serverlessCacheName = this.resource.ref;
    this.cacheName = this.serverlessCacheName;
    // Creating a rotation schedule runs Secrets Manager's configuration test at once; the users are
    // `modifying` until the cache that uses them is created.
    this.passwordRotation.startAfter(this.resource);
    this.cacheArn = Stack.of(this).formatArn({
      service: 'elasticache',
      resource: 'serverlesscache',
      resourceName: this.serverlessCacheName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
  }
}

/**
 * `<name>-final-<id of this stack>`: snapshot names are unique per account and region, so a fixed
 * name would make the second deletion of a redeployed stack fail; the stack id (a UUID) differs per
 * stack instance.
 */
function finalSnapshotName(namespace: string): string {
  return `${namespace}-final-${Fn.select(2, Fn.split('/', Aws.STACK_ID))}`;
}
