import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it, vi } from 'vitest';
import { buildExampleApp } from '../../../examples/cdk-app/example-app.js';
import { outdir } from '../../support/synth.js';

vi.setConfig({ testTimeout: 120_000 });

const build = () => buildExampleApp({ outdir: outdir(), context: { 'aws:cdk:bundling-stacks': [] } });

describe('examples/cdk-app: a service of your own using KccRedisCache', () => {
  it('synthesizes cdk-nag clean and passes the resource schemas (every finding fails synth)', () => {
    expect(() => build().app.synth()).not.toThrow();
  });

  it('lets the function through the cache security group on the cache port, and read its own two secrets only', () => {
    const { stack } = build();
    const template = Template.fromStack(stack);
    const fnGroup = stack.getLogicalId(stack.fn.connections.securityGroups[0]!.node.defaultChild as never);
    const ingress = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties);
    expect(ingress).toContainEqual(expect.objectContaining({ FromPort: 6379, ToPort: 6379, SourceSecurityGroupId: { 'Fn::GetAtt': [fnGroup, 'GroupId'] } }));
    const roleId = stack.getLogicalId(stack.fn.role!.node.defaultChild as never);
    const statements = Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.Roles).includes(roleId))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as { Action: string[]; Resource: unknown }[]);
    expect(statements.flatMap((s) => s.Action).sort()).toEqual(['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue']);
    const refs = statements.flatMap((s) => [s.Resource].flat()).map((r) => (r as { Ref: string }).Ref).sort();
    expect(refs).toEqual([
      stack.getLogicalId(stack.cache.keyEncryptionKeys.get('orders-prod')!.secret.node.defaultChild as never),
      stack.getLogicalId(stack.cache.appEnvUser('orders', 'prod').secret.node.defaultChild as never),
    ].sort());
    const fn = Object.values(template.findResources('AWS::Lambda::Function')).find((f) => f.Properties.Environment?.Variables?.KCC_REDIS_SECRET_ID)!;
    expect(Object.keys(fn.Properties.Environment.Variables).sort()).toEqual(['KCC_KEYRING_KEK_SECRET_ID', 'KCC_REDIS_SECRET_ID', 'KCC_REDIS_URL']);
    expect(fn.Properties.VpcConfig).toBeDefined();
  });
});
