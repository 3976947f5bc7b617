import { App, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import cdkJson from '../../../cdk.json' with { type: 'json' };
import {
  KccRedisCache,
  KccServerlessCache,
  NAG_ACKNOWLEDGEMENTS,
  cachePropsFromConfig,
  parseConfig,
  serverlessCachePropsFromConfig,
} from '../../../infra/index.js';
import { build, contextWith, outdir } from '../../support/synth.js';

const variants: Record<string, unknown> = {
  default: cdkJson.context.kcc,
  'one-node dev': { apps: ['my-app'], replicas: 0 },
  'cluster mode, redis, hardened, peers, KMS, snapshot window': {
    apps: ['a', { name: 'b', envs: ['prod'] }],
    shards: 3,
    engine: 'redis',
    aclProfile: 'hardened',
    allowFrom: ['sg-0123456789abcdef0', '10.0.0.0/8', '2001:db8::/32'],
    kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555',
    snapshotWindow: '01:00-02:00',
  },
  'interface endpoints, bastion, alarms to a topic': {
    apps: ['my-app'],
    interfaceEndpoints: true,
    bastion: true,
    alarms: { topicArn: 'arn:aws:sns:eu-west-1:123456789012:ops' },
  },
  'serverless, IAM and password+iam apps, KMS, endpoints, bastion, alarms to a topic': {
    deployment: 'serverless',
    apps: ['a', { name: 'b', auth: 'iam' }, { name: 'c', envs: ['prod'], auth: 'password+iam' }],
    kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555',
    interfaceEndpoints: true,
    bastion: true,
    alarms: { topicArn: 'arn:aws:sns:eu-west-1:123456789012:ops' },
  },
  'serverless redis, every app by IAM, retained': { deployment: 'serverless', engine: 'redis', auth: 'iam', apps: ['a'], removalPolicy: 'retain' },
  'imported VPC (no lookup), bastion, no alarms': {
    apps: ['my-app'],
    vpcId: 'vpc-0123456789abcdef0',
    subnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
    bastion: true,
    alarms: false,
  },
};

function synthError(app: App): string {
  try {
    app.synth();
  } catch (error) {
    return String(error);
  }
  throw new Error('expected synth to fail validation');
}

describe('compliance: CloudFormation resource schemas', () => {
  it('cdk.json turns template validation issues (errors and warnings) into synth errors', () => {
    expect(cdkJson.context['@aws-cdk/core:validateAgainstDefaultRules']).toBe(true);
    expect(cdkJson.context['@aws-cdk/core:strictCfnValidateErrors']).toBe(true);
  });

  it.each(Object.entries(variants))('the %s stack passes the schemas of every resource', (_name, kcc) => {
    expect(() => build(kcc).app.synth()).not.toThrow();
  });

  it.each<[string, (b: ReturnType<typeof build>) => void, RegExp]>([
    ['an unknown property', (b) => b.stack.cache.defaultUser.resource.addPropertyOverride('UserNam', 'x'), /'UserNam' was unexpected/],
    ['a value of the wrong type', (b) => b.stack.cache.resource.addPropertyOverride('NumNodeGroups', 'two'), /'two' is not of type 'integer'/],
    ['a value outside the enum', (b) => b.stack.cache.resource.addPropertyOverride('TransitEncryptionMode', 'sometimes'), /'sometimes' is not one of \['preferred', 'required'\]/],
  ])('rejects %s (proof that the check runs)', (_name, breakIt, message) => {
    const built = build({ apps: ['a'] });
    breakIt(built);
    expect(synthError(built.app)).toMatch(message);
  });
});

describe('compliance: cdk-nag AwsSolutions', () => {
  it.each(Object.entries(variants))('the %s stack has zero unacknowledged findings', (_name, kcc) => {
    // Synth fails on any unacknowledged cdk-nag error or warning (see the schema test above).
    expect(() => build(kcc).app.synth()).not.toThrow();
  });

  it.each<[string, object, string[]]>([
    // IAM5 only for GetRandomPassword's "*"; no SMG4: every secret (user passwords, key-encryption keys) rotates.
    ['valkey, one node', { replicas: 0 }, ['AwsSolutions-AEC4', 'AwsSolutions-AEC6', 'AwsSolutions-IAM5[Resource::*]']],
    ['redis on 6379', { engine: 'redis' }, ['AwsSolutions-AEC5', 'AwsSolutions-AEC6', 'AwsSolutions-IAM5[Resource::*]']],
  ])('flags exactly the acknowledged rules when the construct (%s) is used without acknowledgements', (_name, kcc, expected) => {
    const app = new App({ context: contextWith(cdkJson.context.kcc), outdir: outdir() });
    const stack = new Stack(app, 'Bare');
    const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 0, subnetConfiguration: [{ name: 'i', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
    Validations.of(vpc).acknowledge({ id: 'AwsSolutions-VPC7', reason: 'test VPC without flow logs' });
    new KccRedisCache(stack, 'Cache', { ...cachePropsFromConfig(stack, parseConfig({ apps: ['a'], ...kcc })), vpc });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const report = synthError(app);
    const flagged = [...new Set(report.match(/AwsSolutions-[A-Z]+\d+(\[[^\]]+\])?/g))].sort();
    expect(flagged).toEqual(expected);
  });

  it('flags nothing of its own when the serverless construct is used without acknowledgements (only the rotation functions\' GetRandomPassword "*")', () => {
    const app = new App({ context: contextWith(cdkJson.context.kcc), outdir: outdir() });
    const stack = new Stack(app, 'Bare');
    const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 0, subnetConfiguration: [{ name: 'i', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
    Validations.of(vpc).acknowledge({ id: 'AwsSolutions-VPC7', reason: 'test VPC without flow logs' });
    const config = parseConfig({ deployment: 'serverless', apps: ['a', { name: 'b', auth: 'iam' }] });
    new KccServerlessCache(stack, 'Cache', { ...serverlessCachePropsFromConfig(stack, config), vpc });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const flagged = [...new Set(synthError(app).match(/AwsSolutions-[A-Z]+\d+(\[[^\]]+\])?/g))].sort();
    expect(flagged).toEqual(['AwsSolutions-IAM5[Resource::*]']);
  });

  it('flags the bastion\'s monitoring and termination protection when used without acknowledgements', async () => {
    const { KccRedisBastion } = await import('../../../infra/index.js');
    const app = new App({ context: contextWith(cdkJson.context.kcc), outdir: outdir() });
    const stack = new Stack(app, 'Bare');
    const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 0, subnetConfiguration: [{ name: 'i', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
    Validations.of(vpc).acknowledge({ id: 'AwsSolutions-VPC7', reason: 'test VPC without flow logs' });
    const target = new ec2.SecurityGroup(stack, 'Target', { vpc });
    new KccRedisBastion(stack, 'Bastion', { vpc, subnet: vpc.isolatedSubnets[0]!, cache: new ec2.Connections({ securityGroups: [target], defaultPort: ec2.Port.tcp(6379) }) });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const flagged = [...new Set(synthError(app).match(/AwsSolutions-[A-Z]+\d+(\[[^\]]+\])?/g))].sort();
    expect(flagged).toEqual(['AwsSolutions-EC28', 'AwsSolutions-EC29']);
  });

  it('gives every acknowledgement a reason', () => {
    for (const { id, reason } of Object.values(NAG_ACKNOWLEDGEMENTS)) {
      expect(id).toMatch(/^AwsSolutions-[A-Z]+\d+(\[(Action|Resource)::[^\]]+\])?$/);
      expect(reason.length).toBeGreaterThan(60);
    }
  });
});
