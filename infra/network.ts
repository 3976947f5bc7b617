import { Annotations, Aws, Fn } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { validateProps, show, unknownPropProblems, type ValidationRule } from './validate-props.js';

export interface KccRedisNetworkProps {
  /**
   * A VPC you already have in scope (e.g. from `Vpc.fromLookup`); its private (else isolated)
   * subnets hold the cache.
   * @default - `vpcId` + `subnetIds`, or a new VPC
   */
  readonly vpc?: ec2.IVpc;
  /**
   * Id of an existing VPC, imported without a lookup (synth stays offline); needs `subnetIds`.
   * @default - a new VPC
   */
  readonly vpcId?: string;
  /** Subnets of `vpcId` for the cache (two AZs for Multi-AZ), the bastion uses the first. @default - none */
  readonly subnetIds?: readonly string[];
  /**
   * Interface endpoints for Secrets Manager and the ElastiCache API in the new VPC's subnets, so apps
   * there read their secrets and discover endpoints without internet access. Priced per AZ-hour
   * (docs/network.md). Only for the VPC this construct creates.
   * @default false
   */
  readonly interfaceEndpoints?: boolean;
  /**
   * Retention of the new VPC's rejected-traffic flow log.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly flowLogRetention?: logs.RetentionDays;
}

const SUBNET_ID = /^subnet-[0-9a-f]{8,17}$/;
/** The address range of the VPC the construct creates (CDK's default, written out). */
export const NEW_VPC_CIDR = '10.0.0.0/16';

/** Every prop of KccRedisNetworkProps (the compiler keeps the list whole). */
const PROP_NAMES = { vpc: true, vpcId: true, subnetIds: true, interfaceEndpoints: true, flowLogRetention: true } as const satisfies Record<keyof KccRedisNetworkProps, true>;

const RULES: readonly ValidationRule<KccRedisNetworkProps>[] = [
  // From JavaScript a misspelled prop (subnetId) would be ignored: a new VPC instead of yours.
  { note: true, condition: (p) => unknownPropProblems(p, PROP_NAMES, 'KccRedisNetwork').length > 0, message: (p) => unknownPropProblems(p, PROP_NAMES, 'KccRedisNetwork').join('; ') },
  { condition: (p) => p.vpc !== undefined && p.vpcId !== undefined, message: (p) => `vpc and vpcId ${show(p.vpcId)} are both given; give one` },
  { condition: (p) => p.vpcId !== undefined && (p.subnetIds ?? []).length === 0, message: (p) => `vpcId ${show(p.vpcId)} needs subnetIds (the VPC is imported without a lookup)` },
  { condition: (p) => p.subnetIds !== undefined && p.vpcId === undefined, message: (p) => `subnetIds ${show(p.subnetIds)} need vpcId` },
  {
    condition: (p) => (p.subnetIds ?? []).some((s) => !SUBNET_ID.test(s)),
    message: (p) => `subnetIds ${show((p.subnetIds ?? []).filter((s) => !SUBNET_ID.test(s)))} must look like "subnet-0123456789abcdef0"`,
  },
  {
    condition: (p) => p.interfaceEndpoints === true && (p.vpc !== undefined || p.vpcId !== undefined),
    message: () => 'interfaceEndpoints: true is for the VPC this construct creates; add endpoints to your own VPC yourself',
  },
];

/**
 * Where the cache lives. By default a new VPC with two isolated subnets (no NAT, no internet
 * gateway) and a rejected-traffic flow log: apps you bring into it need your own egress for
 * Keycloak, and `interfaceEndpoints` for Secrets Manager and the ElastiCache API. Or an existing
 * VPC, imported by id and subnet ids without a lookup, or passed in.
 */
export class KccRedisNetwork extends Construct {
  readonly vpc: ec2.IVpc;
  /** The subnets for the cache (and endpoints, bastion). */
  readonly subnets: readonly ec2.ISubnet[];
  readonly vpcSubnets: ec2.SubnetSelection;
  /** The interface endpoints, when created. */
  readonly endpoints: readonly ec2.InterfaceVpcEndpoint[];

  constructor(scope: Construct, id: string, props: KccRedisNetworkProps = {}) {
    super(scope, id);
    validateProps(this, 'KccRedisNetwork', props, RULES);
    if (props.vpcId !== undefined) {
      // No lookup: an IVpc carrying the id only (its subnet lists stay empty; the AZ list is a placeholder
      // CDK requires, read by nothing here), and the given subnets by id.
      this.vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', { vpcId: props.vpcId, availabilityZones: [Fn.select(0, Fn.getAzs())] });
      // A subnet's AZ is not known offline; AWS::NoValue lets EC2 take it from the subnet id where a
      // resource (the bastion instance) would otherwise be given one.
      this.subnets = (props.subnetIds ?? []).map((subnetId) => {
        const subnet = ec2.Subnet.fromSubnetAttributes(this, subnetId, { subnetId, availabilityZone: Aws.NO_VALUE });
        Annotations.of(subnet).acknowledgeWarning('@aws-cdk/aws-ec2:noSubnetRouteTableId', 'Nothing here reads the route table of an imported subnet');
        return subnet;
      });
      this.vpcSubnets = { subnets: [...this.subnets] };
      this.endpoints = [];
      return;
    }
    this.vpc = props.vpc ?? this.isolatedVpc(props.flowLogRetention ?? logs.RetentionDays.ONE_MONTH);
    this.subnets = this.vpc.selectSubnets().subnets;
    this.vpcSubnets = {};
    this.endpoints = props.interfaceEndpoints
      ? [
          ['SecretsManagerEndpoint', ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER] as const,
          ['ElastiCacheEndpoint', ec2.InterfaceVpcEndpointAwsService.ELASTICACHE] as const,
        ].map(([endpointId, service]) =>
          this.vpc.addInterfaceEndpoint(endpointId, { service, privateDnsEnabled: true, open: false }),
        )
      : [];
    // HTTPS from the apps in the VPC; the CIDR as a literal so cdk-nag can check the rule (a token it cannot).
    for (const endpoint of this.endpoints) endpoint.connections.allowFrom(ec2.Peer.ipv4(NEW_VPC_CIDR), ec2.Port.tcp(443), 'HTTPS from the VPC');
  }

  private isolatedVpc(retention: logs.RetentionDays): ec2.IVpc {
    const vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(NEW_VPC_CIDR),
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'cache', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
    });
    vpc.addFlowLog('RejectedTraffic', {
      trafficType: ec2.FlowLogTrafficType.REJECT,
      destination: ec2.FlowLogDestination.toCloudWatchLogs(new logs.LogGroup(this, 'FlowLogs', { retention })),
    });
    return vpc;
  }
}
