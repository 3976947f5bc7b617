import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';

export interface KccRedisBastionProps {
  readonly vpc: ec2.IVpc;
  /** The subnet of the instance and the EC2 Instance Connect Endpoint (one reachable from the cache). */
  readonly subnet: ec2.ISubnet;
  /** What the bastion may reach on its default port: the cache. */
  readonly cache: ec2.IConnectable;
  /** @default ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.NANO) */
  readonly instanceType?: ec2.InstanceType;
}

/**
 * The setup guide's manual check without a public host: an EC2 Instance Connect Endpoint (no public
 * IP, no SSH key to keep, access by IAM) and a tiny Amazon Linux 2023 instance that may reach the
 * cache port and nothing else on the network. `openssl s_client` (preinstalled) speaks to the cache:
 * `PING` must answer `-NOAUTH`, then `AUTH <user> <password>`, `PING hi`. Pricing: docs/network.md.
 */
export class KccRedisBastion extends Construct {
  readonly instance: ec2.Instance;
  readonly endpoint: ec2.CfnInstanceConnectEndpoint;
  readonly securityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: KccRedisBastionProps) {
    super(scope, id);
    const endpointGroup = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc: props.vpc,
      description: 'kcc-redis bastion: EC2 Instance Connect Endpoint, SSH to the bastion only',
      allowAllOutbound: false,
    });
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'kcc-redis bastion: SSH from the Instance Connect Endpoint, the cache port out',
      allowAllOutbound: false,
    });
    this.securityGroup.connections.allowFrom(endpointGroup, ec2.Port.tcp(22), 'SSH through the EC2 Instance Connect Endpoint');
    props.cache.connections.allowDefaultPortFrom(this.securityGroup, 'The bastion runs the guide\'s manual check');

    this.endpoint = new ec2.CfnInstanceConnectEndpoint(this, 'InstanceConnectEndpoint', {
      subnetId: props.subnet.subnetId,
      securityGroupIds: [endpointGroup.securityGroupId],
      preserveClientIp: false,
    });
    this.instance = new ec2.Instance(this, 'Instance', {
      vpc: props.vpc,
      vpcSubnets: { subnets: [props.subnet] },
      instanceType: props.instanceType ?? ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.NANO),
      machineImage: ec2.MachineImage.latestAmazonLinux2023({ cpuType: ec2.AmazonLinuxCpuType.ARM_64 }),
      securityGroup: this.securityGroup,
      requireImdsv2: true,
      blockDevices: [{ deviceName: '/dev/xvda', volume: ec2.BlockDeviceVolume.ebs(8, { encrypted: true, volumeType: ec2.EbsDeviceVolumeType.GP3 }) }],
      associatePublicIpAddress: false,
    });
  }
}
