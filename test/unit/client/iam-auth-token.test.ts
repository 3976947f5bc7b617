import { describe, expect, it } from 'vitest';
import { KccAwsError, createIamAuthToken } from '../../../client/src/index.js';
import { RegionInfo } from 'aws-cdk-lib/region-info';
import { iamTokenOptionsProblem, signIamToken } from '../../../client/src/iam/auth-token.js';
import { secretsIn } from '../../support/secret-scan.js';

const EXAMPLE = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const AT = new Date('2026-12-01T12:00:00Z');
const base = { cacheName: 'my-cache', userId: 'my-user', region: 'us-east-1', serverless: false, credentials: EXAMPLE, now: AT };

describe('createIamAuthToken', () => {
  it('signs the documented request exactly as botocore does (vector derived once from botocore\'s SigV4QueryAuth)', async () => {
    // `echo '{…}' | python3 test/support/botocore-iam-token.py` with these inputs printed this token
    // (see TESTING.md); the integration test compares more cases against botocore live.
    expect(await createIamAuthToken(base)).toBe(
      'my-cache/?Action=connect&User=my-user&X-Amz-Algorithm=AWS4-HMAC-SHA256' +
        '&X-Amz-Credential=AKIDEXAMPLE%2F20261201%2Fus-east-1%2Felasticache%2Faws4_request' +
        '&X-Amz-Date=20261201T120000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host' +
        '&X-Amz-Signature=5cd6f327335ca37db913686c6174224afa124fde34a6645f61fd4e09b377de10',
    );
  });

  it('marks a serverless cache and carries a session token, both under the signature', async () => {
    const plain = await createIamAuthToken(base);
    const serverless = await createIamAuthToken({ ...base, serverless: true });
    expect(serverless).toContain('&User=my-user&ResourceType=ServerlessCache&');
    const signature = (token: string) => new URL(`http://${token}`).searchParams.get('X-Amz-Signature');
    expect(signature(serverless)).not.toBe(signature(plain));
    const withSession = await createIamAuthToken({ ...base, credentials: { ...EXAMPLE, sessionToken: 'FwoG+/=' } });
    expect(withSession).toContain('&X-Amz-Security-Token=FwoG%2B%2F%3D&X-Amz-Signature=');
    expect(signature(withSession)).not.toBe(signature(plain));
  });

  it('lower-cases the cache name, as ElastiCache stores it', async () => {
    expect(await createIamAuthToken({ ...base, cacheName: 'My-Cache' })).toBe(await createIamAuthToken(base));
  });

  it('accepts a credential provider and signs at the current time by default', async () => {
    const before = Date.now();
    const token = await createIamAuthToken({ ...base, now: undefined, credentials: async () => EXAMPLE });
    const date = new URL(`http://${token}`).searchParams.get('X-Amz-Date')!;
    const signedAt = Date.parse(date.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
    expect(signedAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
  });

  it('bounds a token by 15 minutes and by the expiry of the credentials that signed it', async () => {
    const long = await signIamToken(base, EXAMPLE, AT);
    expect(long.expiresAt - long.signedAt).toBe(15 * 60 * 1000);
    const expiration = new Date(AT.getTime() + 60_000);
    const short = await signIamToken(base, { ...EXAMPLE, sessionToken: 's', expiration }, AT);
    expect(short.expiresAt).toBe(expiration.getTime());
  });

  it.each([
    ['cacheName', { cacheName: '' }, /^cacheName: "" /],
    // Not of a cache name's shape: described, not shown (a secret pasted into the wrong variable would be).
    ['cacheName', { cacheName: 'evil.example.com/x?' }, /^cacheName: a string of 19 characters \(not shown: .*\) is not a replication group id/],
    ['userId', { userId: '' }, /^userId: ""/],
    ['userId', { userId: 'a b' }, /^userId: a string of 3 characters \(not shown: .*\) is not an ElastiCache user id/],
    // ElastiCache stores user ids in lower case: a token for "My-User" would be refused with a bare WRONGPASS.
    ['userId', { userId: 'My-User' }, /^userId: "My-User" has upper-case letters, but ElastiCache stores user ids in lower case.*use "my-user"/],
    ['region', { region: 'Europe' }, /^region: "Europe" is not an AWS region/],
    ['serverless', { serverless: 'yes' as unknown as boolean }, /^serverless: "yes" must be true/],
  ])('refuses a malformed %s with a TypeError naming it', async (_name, override, message) => {
    await expect(createIamAuthToken({ ...base, ...override })).rejects.toThrow(TypeError);
    await expect(createIamAuthToken({ ...base, ...override })).rejects.toThrow(message);
  });

  // From a review of today's fixes (ca2ff28): the refusal of an upper-case id showed the value twice.
  it('an upper-case userId shows the value only when its lower-case form is a user id', async () => {
    const pasted = 'Xq7Rk2Lw9Tz4Vb8Nc3Md6Pf1Gh5Js0AeYu2Io7Kl4Zx9Cv3Bn8Mq1We6Rt5Ty0Ui';
    const error = await createIamAuthToken({ ...base, userId: pasted }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as TypeError).message).toMatch(/^userId: has upper-case letters, .*so it is not shown/);
    expect(secretsIn(error, [pasted, pasted.toLowerCase()], { coerce: true })).toEqual([]);
    // Base64 with its + / = is not an id either, nor a lower-case form over 40 characters.
    for (const userId of ['Ab+/cd==', `A${'b'.repeat(40)}`]) expect(iamTokenOptionsProblem({ ...base, userId })).not.toContain(userId.toLowerCase());
    expect(iamTokenOptionsProblem({ ...base, userId: 'My-App-Prod-Iam' })).toMatch(/^userId: "My-App-Prod-Iam" has upper-case letters, .*; use "my-app-prod-iam"/);
  });

  it('takes every region aws-cdk-lib knows, in every partition, and refuses what is not a region', () => {
    const names = RegionInfo.regions.map((region) => region.name);
    // The partitions the SDK's table names (aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-iso-e, aws-iso-f, aws-eusc).
    expect(names).toEqual(expect.arrayContaining(['eu-west-1', 'cn-north-1', 'us-gov-west-1', 'us-iso-east-1', 'us-isob-east-1', 'eu-isoe-west-1', 'us-isof-south-1', 'eusc-de-east-1']));
    const problem = (region: string) => iamTokenOptionsProblem({ ...base, region });
    expect(names.filter((region) => problem(region) !== undefined)).toEqual([]);
    const garbage = ['', 'Europe', 'eu-west', 'EU-WEST-1', 'eu_west_1', 'eu-west-1a', 'eu-west-1.evil.example.com', 'e-west-1', 'europe-west-1', 'eu--west-1', '-eu-west-1', 'eu-west-1\n', 'eu-west-x', 'eu-1-1', 'eu-we_st-1'];
    expect(garbage.filter((region) => problem(region) === undefined)).toEqual([]);
  });

  it('reports a failing provider and incomplete credentials as AWS errors', async () => {
    const failing = createIamAuthToken({ ...base, credentials: async () => Promise.reject(new Error('no role attached')) });
    await expect(failing).rejects.toThrow(KccAwsError);
    await expect(failing).rejects.toThrow('could not be resolved (Error: no role attached)');
    await expect(createIamAuthToken({ ...base, credentials: { accessKeyId: 'AKID', secretAccessKey: '' } })).rejects.toThrow('incomplete');
  });
});
