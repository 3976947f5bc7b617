import { CfnOutput, Duration, Fn, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { appEnvUserName, keyPrefix } from '@kcc-redis/client/contract';
import { KccRedisAlarms } from './alarms.js';
import type { AllowedPeer } from './allowed-peer.js';
import { KccRedisBastion } from './bastion.js';
import type { CacheRemovalPolicy, KccConfig } from './config.js';
import { KccStackConfigError } from './errors.js';
import { KccRedisCache, type KccRedisCacheProps } from './kcc-redis-cache.js';
import { acknowledgeNagFindings } from './nag-acknowledgements.js';
import { KccRedisNetwork } from './network.js';

export interface KccRedisStackProps extends StackProps {
  readonly config: KccConfig;
}

/** Version of the per-app-env output's JSON (`AppEnv<Name>`). */
export const APP_ENV_OUTPUT_VERSION = 1;

/** What one app-env's instances need, as the stack outputs it (JSON, one output per app-env). */
export interface AppEnvOutput {
  readonly v: typeof APP_ENV_OUTPUT_VERSION;
  /** Redis user name, `<app>-<env>`. */
  readonly username: string;
  /** Key and channel prefix, `<app>-<env>:`. */
  readonly keyPrefix: string;
  /** The user's password secret (KCC_REDIS_SECRET_ID). */
  readonly secretArn: string;
  /** The key-encryption key of the app-env's signing keys (KCC_KEYRING_KEK_SECRET_ID). */
  readonly kekSecretArn: string;
}

const REMOVAL_POLICY: Readonly<Record<CacheRemovalPolicy, RemovalPolicy>> = {
  snapshot: RemovalPolicy.SNAPSHOT,
  retain: RemovalPolicy.RETAIN,
  destroy: RemovalPolicy.DESTROY,
};

/**
 * The `kcc` config of cdk.json as {@link KccRedisCache} props (all but the network). Scope is where
 * an imported KMS key is declared.
 */
export function cachePropsFromConfig(scope: Construct, config: KccConfig): Omit<KccRedisCacheProps, 'vpc'> {
  return {
    apps: config.apps,
    replicationGroupId: config.replicationGroupId,
    defaultUserId: config.defaultUserId,
    defaultUserEnabled: config.defaultUserEnabled,
    userGroupId: config.userGroupId,
    engine: config.engine,
    engineVersion: config.engineVersion,
    cacheNodeType: config.nodeType,
    shards: config.shards,
    replicasPerShard: config.replicas,
    port: config.port,
    aclProfile: config.aclProfile,
    snapshotRetention: Duration.days(config.snapshotRetentionDays),
    snapshotWindow: config.snapshotWindow,
    maintenanceWindow: config.maintenanceWindow,
    logRetention: config.logRetentionDays as logs.RetentionDays,
    passwordRotation: Duration.days(config.passwordRotationDays),
    kekRotation: Duration.days(config.kekRotationDays),
    removalPolicy: REMOVAL_POLICY[config.removalPolicy],
    allowFrom: config.allowFrom.map(toPeer),
    encryptionKey: config.kmsKeyArn ? kms.Key.fromKeyArn(scope, 'EncryptionKey', config.kmsKeyArn) : undefined,
  };
}

/**
 * The deployable stack: the network ({@link KccRedisNetwork}), the {@link KccRedisCache}, an optional
 * bastion, the alarms, and outputs: stable export names for the endpoints and ids, one JSON output
 * per app-env.
 */
export class KccRedisStack extends Stack {
  readonly network: KccRedisNetwork;
  readonly cache: KccRedisCache;
  readonly bastion: KccRedisBastion | undefined;
  readonly alarms: KccRedisAlarms | undefined;

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
    this.cache = new KccRedisCache(this, 'Cache', {
      ...cachePropsFromConfig(this, config),
      vpc: this.network.vpc,
      vpcSubnets: this.network.vpcSubnets,
    });
    this.bastion = config.bastion
      ? new KccRedisBastion(this, 'Bastion', { vpc: this.network.vpc, subnet: this.network.subnets[0]!, cache: this.cache })
      : undefined;
    this.alarms = config.alarms
      ? new KccRedisAlarms(this, 'Alarms', {
          cache: this.cache,
          thresholds: config.alarms,
          topic: config.alarms.topicArn ? sns.Topic.fromTopicArn(this, 'AlarmTopic', config.alarms.topicArn) : undefined,
        })
      : undefined;
    this.addOutputs(config);
    acknowledgeNagFindings(this);
  }

  private addOutputs(config: KccConfig): void {
    const rg = this.cache.resource;
    const exportPrefix = `${config.stackName}-${config.replicationGroupId}`;
    const output = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description, exportName: `${exportPrefix}-${id}` });

    if (this.cache.clusterMode) {
      output('ConfigurationEndpointAddress', rg.attrConfigurationEndPointAddress, 'Cluster-mode configuration endpoint (rediss://)');
      output('ConfigurationEndpointPort', rg.attrConfigurationEndPointPort, 'Port of the configuration endpoint');
    } else {
      output('PrimaryEndpointAddress', rg.attrPrimaryEndPointAddress, 'Primary (read/write) endpoint (rediss://)');
      output('PrimaryEndpointPort', rg.attrPrimaryEndPointPort, 'Port of the primary endpoint');
      output('ReaderEndpointAddress', rg.attrReaderEndPointAddress, 'Reader endpoint (replicas)');
      output('ReaderEndpointPort', rg.attrReaderEndPointPort, 'Port of the reader endpoint');
    }
    output('SecurityGroupId', this.cache.securityGroup.securityGroupId, 'Join this security group to reach the cache');
    output('UserGroupId', this.cache.userGroupId, 'RBAC user group attached to the cache');
    output('ReplicationGroupId', this.cache.replicationGroupId, 'Replication group id (endpoint discovery)');
    output('VpcId', this.network.vpc.vpcId, 'VPC of the cache: run the apps here (or in a peered VPC) and join SecurityGroupId');
    output('SubnetIds', Fn.join(',', this.network.subnets.map((s) => s.subnetId)), 'Subnets of the cache (comma-separated)');
    if (this.bastion) {
      output('BastionInstanceId', this.bastion.instance.instanceId, 'aws ec2-instance-connect ssh --instance-id <this> (then openssl s_client, docs/network.md)');
    }

    const seen = new Map<string, string>();
    for (const appEnv of config.appEnvs) {
      const name = appEnvUserName(appEnv);
      const user = this.cache.appEnvUser(appEnv.app, appEnv.env);
      const id = `AppEnv${name.replace(/(^|-)([a-z0-9])/g, (_m, _dash: string, c: string) => c.toUpperCase())}`;
      if (seen.has(id)) {
        throw new KccStackConfigError([`apps: app-envs "${seen.get(id)}" and "${name}" both map to output "${id}"; rename one of them`]);
      }
      seen.set(id, name);
      const value: AppEnvOutput = {
        v: APP_ENV_OUTPUT_VERSION,
        username: name,
        keyPrefix: keyPrefix(appEnv),
        secretArn: user.secret.secretArn,
        kekSecretArn: this.cache.keyEncryptionKeys.get(name)!.secret.secretArn,
      };
      // No export: an exported value cannot change while another stack imports it.
      new CfnOutput(this, id, { value: this.toJsonString(value), description: `Redis user ${name}: its secrets and key prefix (JSON)` });
    }
  }
}

function toPeer(peer: AllowedPeer): ec2.IPeer {
  if (peer.kind === 'securityGroup') return ec2.Peer.securityGroupId(peer.securityGroupId);
  return peer.ipVersion === 4 ? ec2.Peer.ipv4(peer.cidr) : ec2.Peer.ipv6(peer.cidr);
}
