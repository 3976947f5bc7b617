/**
 * The outputs file `kcc-redis --outputs` reads is the one `cdk deploy --outputs-file` writes from
 * the stack's own outputs: here the synthesized template's outputs are resolved as CloudFormation
 * would (Ref, Fn::GetAtt, Fn::Join, pseudo parameters; fake physical ids), so a change of the
 * stack's output format that the CLI does not follow fails here.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOutputsFile } from '../../../cli/outputs-file.js';
import { synth } from '../../support/synth.js';

const REGION = 'eu-west-1';

/** A template value resolved the way CloudFormation would, with made-up physical ids. */
function resolve(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  const v = value as Record<string, unknown>;
  if ('Ref' in v) return v.Ref === 'AWS::Region' ? REGION : v.Ref === 'AWS::AccountId' ? '123456789012' : v.Ref === 'AWS::Partition' ? 'aws' : `arn:aws:secretsmanager:${REGION}:123456789012:secret:${String(v.Ref)}`;
  if ('Fn::GetAtt' in v) {
    const [resource, attribute] = v['Fn::GetAtt'] as [string, string];
    return /Port$/.test(attribute) ? '6379' : `${resource.toLowerCase()}.${attribute.toLowerCase()}.cache.amazonaws.com`;
  }
  if ('Fn::Join' in v) {
    const [separator, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(resolve).join(separator);
  }
  throw new Error(`the test does not resolve ${JSON.stringify(value)}`);
}

describe('kcc-redis --outputs reads what the stack outputs', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-outputs-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function outputsFileOf(kcc: unknown): Promise<string> {
    const outputs = synth(kcc).template.toJSON().Outputs as Record<string, { Value: unknown }>;
    const file = join(dir, `outputs-${Math.random().toString(36).slice(2)}.json`);
    await writeFile(file, JSON.stringify({ KccRedis: Object.fromEntries(Object.entries(outputs).map(([name, o]) => [name, resolve(o.Value)])) }));
    return file;
  }

  it('a replication group with password and IAM users', async () => {
    const found = await readOutputsFile(await outputsFileOf({ apps: [{ name: 'shop', envs: ['prod'] }, { name: 'billing', envs: ['prod'], auth: 'iam' }, { name: 'blog', envs: ['prod'], auth: 'password+iam' }] }));
    const byPrefix = new Map(found.map((o) => [o.keyPrefix, o]));
    expect([...byPrefix.keys()].sort()).toEqual(['billing-prod:', 'blog-prod:', 'shop-prod:']);
    for (const o of found) {
      expect(o.url).toMatch(/^rediss:\/\/[a-z0-9]+\.primaryendpoint\.address\.cache\.amazonaws\.com:6379$/);
      expect(o.clusterMode).toBe(false);
      expect(o.kekSecretArn).toMatch(/^arn:aws:secretsmanager:/);
    }
    expect(byPrefix.get('shop-prod:')).toMatchObject({ password: { username: 'shop-prod' } });
    expect(byPrefix.get('shop-prod:')!.iam).toBeUndefined();
    expect(byPrefix.get('billing-prod:')!.password).toBeUndefined();
    expect(byPrefix.get('billing-prod:')!.iam).toEqual({ username: expect.stringMatching(/-billing-prod-iam$/), cacheName: expect.any(String), serverless: false, region: REGION });
    expect(byPrefix.get('blog-prod:')).toMatchObject({ password: { username: 'blog-prod' }, iam: { username: expect.stringMatching(/-blog-prod-iam$/) } });
  });

  it('a serverless cache: its endpoint, cluster mode, and tokens for a serverless cache', async () => {
    const [o] = await readOutputsFile(await outputsFileOf({ deployment: 'serverless', apps: [{ name: 'billing', auth: 'iam' }] }));
    expect(o!.url).toMatch(/^rediss:\/\/[a-z0-9]+\.endpoint\.address\.cache\.amazonaws\.com:6379$/);
    expect(o!.clusterMode).toBe(true);
    expect(o!.iam).toMatchObject({ serverless: true, region: REGION });
  });

  it('still reads format version 1 (stacks deployed before version 2)', async () => {
    const file = join(dir, 'v1.json');
    const v1 = { v: 1, username: 'shop-dev', keyPrefix: 'shop-dev:', secretArn: 'arn:s', kekSecretArn: 'arn:k' };
    await writeFile(file, JSON.stringify({ Old: { PrimaryEndpointAddress: 'h', PrimaryEndpointPort: '6379', AppEnvShopDev: JSON.stringify(v1) } }));
    expect(await readOutputsFile(file)).toEqual([{ stack: 'Old', url: 'rediss://h:6379', clusterMode: false, keyPrefix: 'shop-dev:', kekSecretArn: 'arn:k', password: { username: 'shop-dev', secretArn: 'arn:s' } }]);
  });

  it.each<[string, unknown, RegExp]>([
    ['an unknown version', { v: 3, keyPrefix: 'a-b:' }, /X\.AppEnvAB has format version 3; this kcc-redis reads versions 1 and 2 \(update @kcc-redis\/client\)/],
    ['version 2 without its cache', { v: 2, keyPrefix: 'a-b:', kekSecretArn: 'k', password: { username: 'a-b', secretArn: 's' } }, /is not format version 2: it lacks cache\.name, cache\.region or cache\.clusterMode/],
    ['version 2 without a user', { v: 2, keyPrefix: 'a-b:', kekSecretArn: 'k', cache: { name: 'c', region: REGION, clusterMode: false, kind: 'replication-group' } }, /names no user \(neither password nor iam\)/],
    ['version 1 without its secret', { v: 1, username: 'a-b', keyPrefix: 'a-b:', kekSecretArn: 'k' }, /is not format version 1: it lacks secretArn/],
  ])('refuses %s, naming the output', async (_case, value, message) => {
    const file = join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ X: { AppEnvAB: JSON.stringify(value) } }));
    await expect(readOutputsFile(file)).rejects.toThrow(message);
  });
});
