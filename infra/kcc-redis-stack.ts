import { CfnOutput, Duration, Fn, RemovalPolicy, Size, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { KccRedisAlarms } from './alarms.js';
import type { AllowedPeer } from './allowed-peer.js';
import { appEnvOutputs } from './app-env-output.js';
import { KccRedisBastion } from './bastion.js';
import type { CacheRemovalPolicy, KccConfig } from './config.js';
import { KccRedisCache, type KccRedisCacheProps } from './kcc-redis-cache.js';
import type { KccRedisCacheBaseProps } from './kcc-redis-cache-base.js';
import { KccServerlessCache, type KccServerlessCacheProps } from './kcc-serverless-cache.js';
import { acknowledgeNagFindings } from './nag-acknowledgements.js';
import { KccRedisNetwork } from './network.js';
import { KccServerlessAlarms } from './serverless-alarms.js';

export { APP_ENV_OUTPUT_VERSION, type AppEnvOutput } from './app-env-output.js';

export interface KccRedisStackProps extends StackProps {
  readonly config: KccConfig;
}

const REMOVAL_POLICY: Readonly<Record<CacheRemovalPolicy, RemovalPolicy>> = {
  snapshot: RemovalPolicy.SNAPSHOT,
  retain: RemovalPolicy.RETAIN,
  destroy: RemovalPolicy.DESTROY,
};

/** The props every kind of cache takes, from the config (all but the network). */
function basePropsFromConfig(scope: Construct, config: KccConfig): Omit<KccRedisCacheBaseProps, 'vpc'> {
  return {
    apps: config.apps,
    defaultUserId: config.defaultUserId,
    defaultUserEnabled: config.defaultUserEnabled,
    userGroupId: config.userGroupId,
    engine: config.engine,
    aclProfile: config.aclProfile,
    auth: config.auth,
    logRetention: config.logRetentionDays as logs.RetentionDays,
    passwordRotation: Duration.days(config.passwordRotationDays),
    kekRotation: Duration.days(config.kekRotationDays),
    allowFrom: config.allowFrom.map(toPeer),
    encryptionKey: config.kmsKeyArn ? kms.Key.fromKeyArn(scope, 'EncryptionKey', config.kmsKeyArn) : undefined,
  };
}

/**
 * The `kcc` config of cdk.json as {@link KccRedisCache} props (all but the network). Scope is where
 * an imported KMS key is declared.
 */
export function cachePropsFromConfig(scope: Construct, config: KccConfig): Omit<KccRedisCacheProps, 'vpc'> {
  return {
    ...basePropsFromConfig(scope, config),
    replicationGroupId: config.replicationGroupId,
    engineVersion: config.engineVersion,
    cacheNodeType: config.nodeType,
    shards: config.shards,
    replicasPerShard: config.replicas,
    port: config.port,
    snapshotRetention: Duration.days(config.snapshotRetentionDays),
    snapshotWindow: config.snapshotWindow,
    maintenanceWindow: config.maintenanceWindow,
    removalPolicy: REMOVAL_POLICY[config.removalPolicy],
  };
}

/** The `kcc` config of cdk.json (`"deployment": "serverless"`) as {@link KccServerlessCache} props (all but the network). */
export function serverlessCachePropsFromConfig(scope: Construct, config: KccConfig): Omit<KccServerlessCacheProps, 'vpc'> {
  return {
    ...basePropsFromConfig(scope, config),
    serverlessCacheName: config.replicationGroupId,
    majorEngineVersion: config.engineVersion,
    maxDataStorage: Size.gibibytes(config.maxDataStorageGb),
    maxEcpuPerSecond: config.maxEcpuPerSecond,
    dailySnapshotTime: config.dailySnapshotTime,
    snapshotRetention: Duration.days(config.snapshotRetentionDays),
    removalPolicy: REMOVAL_POLICY[config.removalPolicy],
  };
}

/**
 * The deployable stack: the network ({@link KccRedisNetwork}), the cache ({@link KccRedisCache}, or
 * {@link KccServerlessCache} with `"deployment": "serverless"`), an optional bastion, the alarms, and
 * outputs: stable export names for the endpoints and ids, one JSON output per app-env.
 */
export class KccRedisStack extends Stack {
  readonly network: KccRedisNetwork;
  readonly cache: KccRedisCache | KccServerlessCache;
  readonly bastion: KccRedisBastion | undefined;
  readonly alarms: KccRedisAlarms | KccServerlessAlarms | undefined;

  constructor(scope: Construct, id: string, props: KccRedisStackProps) {
    super(scope, id, props);
    const { config } = props;
    const looked = config.vpcId !== undefined && config.subnetIds === undefined;
    this.network = new KccRedisNetwork(this, 'Network', {
      // vpcId alone: a lookup (needs an account and region); with subnetIds: imported offline.
      vpc: looked ? ec2.Vpc.fromLookup(this, 'Vpc', { vpcId: config.vpcId! }) : undefined,
      vpcId: looked ? undefined : config.vpcId,
      subnetIds: config.subnetIds,
      interfaceEndpoints: config.interfaceEndpoints,
      flowLogRetention: config.logRetentionDays as logs.RetentionDays,
    });
    const network = { vpc: this.network.vpc, vpcSubnets: this.network.vpcSubnets };
    // One construct id for both kinds: switching kinds keeps the users' and secrets' logical ids (the
    // cache itself changes type, which CloudFormation refuses in place: see docs/serverless.md).
    this.cache = config.deployment === 'serverless'
      ? new KccServerlessCache(this, 'Cache', { ...serverlessCachePropsFromConfig(this, config), ...network })
      : new KccRedisCache(this, 'Cache', { ...cachePropsFromConfig(this, config), ...network });
    this.bastion = config.bastion
      ? new KccRedisBastion(this, 'Bastion', { vpc: this.network.vpc, subnet: this.network.subnets[0]!, cache: this.cache })
      : undefined;
    this.alarms = this.addAlarms(config);
    this.addOutputs(config);
    acknowledgeNagFindings(this);
  }

  private addAlarms(config: KccConfig): KccRedisAlarms | KccServerlessAlarms | undefined {
    if (!config.alarms) return undefined;
    const topic = config.alarms.topicArn ? sns.Topic.fromTopicArn(this, 'AlarmTopic', config.alarms.topicArn) : undefined;
    return this.cache instanceof KccServerlessCache
      ? new KccServerlessAlarms(this, 'Alarms', { cache: this.cache, thresholds: config.alarms, topic })
      : new KccRedisAlarms(this, 'Alarms', { cache: this.cache, thresholds: config.alarms, topic });
  }

  private addOutputs(config: KccConfig): void {
    const exportPrefix = `${config.stackName}-${config.replicationGroupId}`;
    const output = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description, exportName: `${exportPrefix}-${id}` });

    const cache = this.cache;
    if (cache instanceof KccServerlessCache) {
      const sc = cache.resource;
      output('EndpointAddress', sc.attrEndpointAddress, 'Serverless endpoint (rediss://, cluster mode)');
      output('EndpointPort', sc.attrEndpointPort, 'Port of the endpoint (6379)');
      output('ReaderEndpointAddress', sc.attrReaderEndpointAddress, 'Serverless reader endpoint (reads from replicas)');
      output('ReaderEndpointPort', sc.attrReaderEndpointPort, 'Port of the reader endpoint (6380)');
      output('ServerlessCacheName', cache.serverlessCacheName, 'Serverless cache name (the cache name of IAM tokens)');
    } else {
      const rg = cache.resource;
      if (cache.clusterMode) {
        output('ConfigurationEndpointAddress', rg.attrConfigurationEndPointAddress, 'Cluster-mode configuration endpoint (rediss://)');
        output('ConfigurationEndpointPort', rg.attrConfigurationEndPointPort, 'Port of the configuration endpoint');
      } else {
        output('PrimaryEndpointAddress', rg.attrPrimaryEndPointAddress, 'Primary (read/write) endpoint (rediss://)');
        output('PrimaryEndpointPort', rg.attrPrimaryEndPointPort, 'Port of the primary endpoint');
        output('ReaderEndpointAddress', rg.attrReaderEndPointAddress, 'Reader endpoint (replicas)');
        output('ReaderEndpointPort', rg.attrReaderEndPointPort, 'Port of the reader endpoint');
      }
      output('ReplicationGroupId', cache.replicationGroupId, 'Replication group id (endpoint discovery)');
    }
    output('SecurityGroupId', cache.securityGroup.securityGroupId, 'Join this security group to reach the cache');
    output('UserGroupId', cache.userGroupId, 'RBAC user group attached to the cache');
    output('VpcId', this.network.vpc.vpcId, 'VPC of the cache: run the apps here (or in a peered VPC) and join SecurityGroupId');
    output('SubnetIds', Fn.join(',', this.network.subnets.map((s) => s.subnetId)), 'Subnets of the cache (comma-separated)');
    if (this.bastion) {
      output('BastionInstanceId', this.bastion.instance.instanceId, 'aws ec2-instance-connect ssh --instance-id <this> (then openssl s_client, docs/network.md)');
    }
    appEnvOutputs(this, cache, config.appEnvs);
  }
}

function toPeer(peer: AllowedPeer): ec2.IPeer {
  if (peer.kind === 'securityGroup') return ec2.Peer.securityGroupId(peer.securityGroupId);
  return peer.ipVersion === 4 ? ec2.Peer.ipv4(peer.cidr) : ec2.Peer.ipv6(peer.cidr);
}
