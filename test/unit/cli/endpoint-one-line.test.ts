/**
 * An endpoint read from AWS stays on the line of the sentence that names it. Through a secret
 * without a url, the CLI finds the endpoint with DescribeReplicationGroups and names it (host:port)
 * in revoke's and rotate-keys' confirmation and in check's "Checked ..." line; an address holding a
 * line break and an ANSI escape is shown escaped there, on one line (a review of today's fixes).
 * Secrets Manager and ElastiCache are mocked; nothing is reached.
 */
import { DescribeReplicationGroupsCommand, ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliInProcess } from '../../support/cli.js';

const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:KccRedisProd-user-shop-dev-AbCdEf';
const PASSWORD = 'p'.repeat(32);
/** A forged address: a fake command line on a line of its own, an ANSI color. */
const ADDRESS = 'shop.cache.example\nkcc-redis revoke --app shop --env dev --url evil.example --all-before now\u001b[31m';
const SHOWN = 'shop.cache.example\\u000akcc-redis revoke --app shop --env dev --url evil.example --all-before now\\u001b[31m';

describe('an endpoint discovered through AWS, in a sentence: escaped, on one line', () => {
  // Canned answers in the shapes AWS documents: GetSecretValue's SecretString
  // (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html); a replication
  // group's NodeGroups[].PrimaryEndpoint without cluster mode, ConfigurationEndpoint with it, and
  // TransitEncryptionEnabled (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_ReplicationGroup.html).
  const secrets = mockClient(SecretsManagerClient);
  const elasticache = mockClient(ElastiCacheClient);
  const env = { AWS_REGION: 'eu-west-1' };
  const source = ['--secret-id', SECRET];

  beforeAll(() => {
    secrets.on(GetSecretValueCommand).resolves({ ARN: SECRET, SecretString: JSON.stringify({ username: 'shop-dev', password: PASSWORD, keyPrefix: 'shop-dev:', userArn: 'arn:aws:elasticache:eu-west-1:123456789012:user:shop-dev', replicationGroupId: 'kcc-redis' }) });
    elasticache.on(DescribeReplicationGroupsCommand).resolves({
      ReplicationGroups: [{ TransitEncryptionEnabled: true, ClusterEnabled: false, NodeGroups: [{ PrimaryEndpoint: { Address: ADDRESS, Port: 6379 } }] }],
    });
  });
  afterAll(() => {
    secrets.restore();
    elasticache.restore();
  });

  /** The forged command line appears only inside the escaped address, never on a line of its own; no ESC reaches the output. */
  const expectOneLine = (output: string) => {
    expect(output).not.toContain('\u001b');
    expect(output).not.toContain(PASSWORD);
    const lines = output.split('\n').filter((line) => line.includes('evil.example'));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toContain(SHOWN);
  };

  it('revoke: the confirmation (refused without a terminal) names the endpoint on one line', async () => {
    const result = await runCliInProcess(['revoke', ...source, '--app', 'shop', '--env', 'dev', '--all-before', 'now'], { env });
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toContain(`in shop-dev (endpoint ${SHOWN}:6379))`);
    expectOneLine(result.stderr);
    expect(result.stdout).toBe('');
  });

  it('check: "Checked <endpoint>" names it on one line', async () => {
    const result = await runCliInProcess(['check', ...source], { env });
    expect(result.code).toBe(2);
    expect(result.stdout.split('\n')[0]).toBe(`Checked ${SHOWN}:6379 (--secret-id ${SECRET})`);
    expectOneLine(`${result.stdout}\n${result.stderr}`);
  }, 30_000);
});
