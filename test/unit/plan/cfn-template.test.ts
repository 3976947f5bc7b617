import { describe, expect, it } from 'vitest';
import { KccPlanError, parseTemplate } from '../../../infra/plan/index.js';

const TEMPLATE = {
  Resources: {
    Cache: {
      Type: 'AWS::ElastiCache::ReplicationGroup',
      Properties: {
        ReplicationGroupId: 'kcc-redis',
        CacheSubnetGroupName: { Ref: 'Subnets' },
        SecurityGroupIds: [{ 'Fn::GetAtt': ['Sg', 'GroupId'] }],
        ReplicationGroupDescription: { 'Fn::Join': ['', ['kcc ', { Ref: 'AWS::Region' }]] },
        SnapshotName: { 'Fn::Sub': 'snap-${AWS::StackName}' },
        PreferredCacheClusterAZs: [{ 'Fn::Select': [0, { 'Fn::GetAZs': '' }] }],
      },
    },
  },
};

const YAML = `
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Cache:
    Type: AWS::ElastiCache::ReplicationGroup
    Properties:
      ReplicationGroupId: kcc-redis
      CacheSubnetGroupName: !Ref Subnets
      SecurityGroupIds:
        - !GetAtt Sg.GroupId
      ReplicationGroupDescription: !Join ['', ['kcc ', !Ref AWS::Region]]
      SnapshotName: !Sub 'snap-\${AWS::StackName}'
      PreferredCacheClusterAZs:
        - !Select [0, !GetAZs '']
`;

describe('plan input: the shapes a deployed template reaches us in', () => {
  it.each([
    ['a JSON template (cdk.out)', JSON.stringify(TEMPLATE)],
    ['get-template output without --query (the CLI decodes a JSON TemplateBody)', JSON.stringify({ TemplateBody: TEMPLATE, StagesAvailable: ['Original'] })],
    ['a YAML template with short-form intrinsics (cdk synth > file)', YAML],
    ['get-template --query TemplateBody of a YAML stack: a JSON string holding YAML', JSON.stringify(YAML)],
    ['get-template output around a YAML body', JSON.stringify({ TemplateBody: YAML })],
    ['a JSON template behind a byte-order mark', `\uFEFF${JSON.stringify(TEMPLATE)}`],
  ])('%s', (_name, text) => {
    expect(parseTemplate(text, 'previous.json').Resources).toEqual(TEMPLATE.Resources);
  });
});

describe('plan input: what is not a template is refused with the file name and the fix', () => {
  it.each([
    ['neither JSON nor YAML', '{ "Resources": [', /previous\.json is neither JSON nor a CloudFormation YAML template/],
    ['a YAML tag CloudFormation does not have', 'Resources:\n  A:\n    Type: X\n    Properties:\n      P: !Bogus x\n', /neither JSON nor a CloudFormation YAML template.*!Bogus/],
    ['a list', '[1, 2]', /previous\.json is not a CloudFormation template \(a list\)/],
    ['a stack description, not a template', JSON.stringify({ Stacks: [{ StackName: 'KccRedis' }] }), /has no "Resources" object; give the deployed template: `aws cloudformation get-template/],
    ['empty Resources', JSON.stringify({ Resources: {} }), /has no "Resources" object/],
    ['a resource without Type', JSON.stringify({ Resources: { A: { Properties: {} } } }), /resource "A" has no "Type"/],
    ['Properties that are not an object', JSON.stringify({ Resources: { A: { Type: 'X', Properties: [] } } }), /resource "A" has "Properties" that are not an object/],
    ['an empty file', '', /not a CloudFormation template/],
  ])('%s', (_name, text, message) => {
    let error: unknown;
    try {
      parseTemplate(text, 'previous.json');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(KccPlanError);
    expect((error as KccPlanError).code).toBe('KCC_PLAN_INPUT_INVALID');
    expect((error as KccPlanError).message).toMatch(message);
  });
});
