import { describe, expect, it, vi } from 'vitest';
import { KccCachePropsError, KccRedisNetwork } from '../../../infra/index.js';
import { build, synth } from '../../support/synth.js';

vi.setConfig({ testTimeout: 120_000 });

type Props = Record<string, unknown>;
const props = (t: ReturnType<typeof synth>['template'], type: string): Props[] => Object.values(t.findResources(type)).map((r) => r.Properties as Props);
const idOf = (t: ReturnType<typeof synth>['template'], type: string, pick: (p: Props) => boolean) =>
  Object.entries(t.findResources(type)).find(([, r]) => pick(r.Properties as Props))![0];

describe('network: interface endpoints (optional)', () => {
  it('are off by default', () => {
    expect(props(synth({ apps: ['a'] }).template, 'AWS::EC2::VPCEndpoint')).toEqual([]);
  });

  it('reach Secrets Manager and the ElastiCache API privately, HTTPS from the VPC only', () => {
    const { template } = synth({ apps: ['a'], interfaceEndpoints: true });
    const endpoints = props(template, 'AWS::EC2::VPCEndpoint');
    expect(endpoints.map((e) => JSON.stringify(e.ServiceName).match(/\.(secretsmanager|elasticache)/)?.[1]).sort()).toEqual(['elasticache', 'secretsmanager']);
    for (const endpoint of endpoints) {
      expect(endpoint).toMatchObject({ VpcEndpointType: 'Interface', PrivateDnsEnabled: true });
      const groupIds = (endpoint.SecurityGroupIds as { 'Fn::GetAtt': [string, string] }[]).map((g) => g['Fn::GetAtt'][0]);
      for (const groupId of groupIds) {
        const group = template.findResources('AWS::EC2::SecurityGroup')[groupId]!.Properties;
        expect(group.SecurityGroupIngress).toEqual([expect.objectContaining({ CidrIp: '10.0.0.0/16', FromPort: 443, ToPort: 443, IpProtocol: 'tcp' })]);
      }
    }
  });
});

describe('network: an existing VPC', () => {
  const vpcId = 'vpc-0123456789abcdef0';
  const subnetIds = ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'];

  it('is imported by id and subnet ids without a lookup (synth stays offline)', () => {
    const built = build({ apps: ['a'], vpcId, subnetIds });
    const assembly = built.app.synth();
    expect(assembly.manifest.missing ?? []).toEqual([]);
    const template = synth({ apps: ['a'], vpcId, subnetIds }).template;
    expect(props(template, 'AWS::EC2::VPC')).toEqual([]);
    expect(props(template, 'AWS::ElastiCache::SubnetGroup')[0]!.SubnetIds).toEqual(subnetIds);
    expect(props(template, 'AWS::EC2::SecurityGroup')[0]!.VpcId).toBe(vpcId);
    const outputs = template.findOutputs('*');
    expect([outputs.VpcId!.Value, outputs.SubnetIds!.Value]).toEqual([vpcId, subnetIds.join(',')]);
  });

  it('refuses endpoints it would have to add to your VPC, and half an import', () => {
    const attempt = (p: object) => {
      try {
        new KccRedisNetwork(build({ apps: ['a'] }).stack, 'Other', p);
      } catch (e) {
        return (e as KccCachePropsError).problems.join('\n');
      }
      return '';
    };
    expect(attempt({ vpcId, subnetIds, interfaceEndpoints: true })).toMatch(/interfaceEndpoints: true is for the VPC this construct creates/);
    expect(attempt({ vpcId })).toMatch(/vpcId "vpc-0123456789abcdef0" needs subnetIds/);
    expect(attempt({ vpcId, subnetIds: ['sn-1'] })).toMatch(/subnetIds \["sn-1"\] must look like "subnet-/);
    // A review of input validation: from JavaScript a misspelled prop was ignored (a new VPC instead of yours).
    // Said (an info note), not refused: the refusal is that of the props as they stand.
    expect(attempt({ vpcId, subnetId: subnetIds })).toBe('vpcId "vpc-0123456789abcdef0" needs subnetIds (the VPC is imported without a lookup)');
  });
});

describe('network: the bastion (optional)', () => {
  it('is off by default', () => {
    const { template } = synth({ apps: ['a'] });
    expect([props(template, 'AWS::EC2::Instance'), props(template, 'AWS::EC2::InstanceConnectEndpoint')]).toEqual([[], []]);
  });

  it('reaches the cache port through its own security group; the cache still admits the cache port only; SSH only from the Instance Connect Endpoint', () => {
    const { template } = synth({ apps: ['a'], bastion: true });
    const groups = template.findResources('AWS::EC2::SecurityGroup');
    const cacheGroup = idOf(template, 'AWS::EC2::SecurityGroup', (p) => String(p.GroupDescription).startsWith('kcc-redis kcc-redis:'));
    const bastionGroup = idOf(template, 'AWS::EC2::SecurityGroup', (p) => String(p.GroupDescription).includes('SSH from the Instance Connect Endpoint'));
    const endpointGroup = idOf(template, 'AWS::EC2::SecurityGroup', (p) => String(p.GroupDescription).includes('EC2 Instance Connect Endpoint, SSH'));
    const ref = (id: string) => ({ 'Fn::GetAtt': [id, 'GroupId'] });
    const ingress = props(template, 'AWS::EC2::SecurityGroupIngress');
    const egress = props(template, 'AWS::EC2::SecurityGroupEgress');
    // Everything the cache's group admits is the cache port.
    const intoCache = ingress.filter((r) => JSON.stringify(r.GroupId) === JSON.stringify(ref(cacheGroup)));
    expect(intoCache.map((r) => [r.FromPort, r.ToPort])).toEqual([[6379, 6379], [6379, 6379]]);
    expect(intoCache.map((r) => r.SourceSecurityGroupId)).toContainEqual(ref(bastionGroup));
    expect(groups[cacheGroup]!.Properties.SecurityGroupIngress).toBeUndefined();
    // The bastion: SSH in from the endpoint only, the cache port out only.
    expect(ingress.filter((r) => JSON.stringify(r.GroupId) === JSON.stringify(ref(bastionGroup)))).toEqual([
      expect.objectContaining({ FromPort: 22, ToPort: 22, SourceSecurityGroupId: ref(endpointGroup) }),
    ]);
    expect(egress.filter((r) => JSON.stringify(r.GroupId) === JSON.stringify(ref(bastionGroup)))).toEqual([
      expect.objectContaining({ FromPort: 6379, ToPort: 6379, DestinationSecurityGroupId: ref(cacheGroup) }),
    ]);
    expect(egress.filter((r) => JSON.stringify(r.GroupId) === JSON.stringify(ref(endpointGroup)))).toEqual([
      expect.objectContaining({ FromPort: 22, ToPort: 22, DestinationSecurityGroupId: ref(bastionGroup) }),
    ]);
    for (const group of [bastionGroup, endpointGroup]) {
      expect(JSON.stringify(groups[group]!.Properties.SecurityGroupEgress ?? [])).not.toContain('0.0.0.0/0');
    }
  });

  it('is a small instance without a public address, IMDSv2 only, encrypted disk, in the first subnet with the endpoint', () => {
    const { template } = synth({ apps: ['a'], bastion: true });
    const [instance] = props(template, 'AWS::EC2::Instance');
    const [endpoint] = props(template, 'AWS::EC2::InstanceConnectEndpoint');
    expect(instance).toMatchObject({ InstanceType: 't4g.nano', BlockDeviceMappings: [{ Ebs: { Encrypted: true, VolumeSize: 8 } }] });
    expect(instance!.NetworkInterfaces).toEqual([expect.objectContaining({ AssociatePublicIpAddress: false, SubnetId: endpoint!.SubnetId })]);
    const [launchTemplate] = props(template, 'AWS::EC2::LaunchTemplate');
    expect(launchTemplate!.LaunchTemplateData).toMatchObject({ MetadataOptions: { HttpTokens: 'required' } });
    expect(template.findOutputs('BastionInstanceId')).toHaveProperty('BastionInstanceId');
  });
});
