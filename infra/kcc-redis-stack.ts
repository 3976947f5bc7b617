import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { appEnvUserName, keyPrefix } from '@kcc-redis/client/contract';
import type { KccConfig } from './config.js';
import { KccRedisCache } from './kcc-redis-cache.js';
import { acknowledgeNagFindings } from './nag-acknowledgements.js';

export interface KccRedisStackProps extends StackProps {
  readonly config: KccConfig;
}

/**
 * The deployable stack: a VPC (looked up by `vpcId`, or a new one with isolated subnets and no NAT),
 * the {@link KccRedisCache}, and outputs with stable export names.
 */
export class KccRedisStack extends Stack {
  readonly cache: KccRedisCache;

  constructor(scope: Construct, id: string, props: KccRedisStackProps) {
    super(scope, id, props);
    const { config } = props;
    const vpc = config.vpcId ? ec2.Vpc.fromLookup(this, 'Vpc', { vpcId: config.vpcId }) : this.isolatedVpc();
    this.cache = new KccRedisCache(this, 'Cache', { config, vpc });
    this.addOutputs(config);
    acknowledgeNagFindings(this.cache);
  }

  private isolatedVpc(): ec2.IVpc {
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'cache', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
    });
    vpc.addFlowLog('RejectedTraffic', {
      trafficType: ec2.FlowLogTrafficType.REJECT,
      destination: ec2.FlowLogDestination.toCloudWatchLogs(
        new logs.LogGroup(this, 'FlowLogs', { retention: logs.RetentionDays.ONE_MONTH }),
      ),
    });
    return vpc;
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
    for (const appEnv of config.appEnvs) {
      const name = appEnvUserName(appEnv);
      const user = this.cache.appEnvUser(appEnv.app, appEnv.env);
      const id = name.replace(/(^|-)([a-z0-9])/g, (_m, _dash: string, c: string) => c.toUpperCase());
      output(`${id}SecretArn`, user.secret.secretArn, `Secret of Redis user ${name} (KCC_REDIS_SECRET_ID)`);
      output(`${id}Username`, user.userName, `Redis user name of ${name}`);
      output(`${id}KeyPrefix`, keyPrefix(appEnv), `Key and channel prefix of ${name}`);
      output(`${id}KekSecretArn`, this.cache.keyEncryptionKeys.get(name)!.secret.secretArn, `Key-encryption key of ${name}'s signing keys (KCC_KEYRING_KEK_SECRET_ID)`);
    }
  }
}
