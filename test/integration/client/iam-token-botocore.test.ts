import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createIamAuthToken } from '../../../client/src/index.js';

const SCRIPT = fileURLToPath(new URL('../../support/botocore-iam-token.py', import.meta.url));
const EXAMPLE = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const SESSION = 'IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+example/session+token==';

/** The token botocore's SigV4QueryAuth (Debian's python3-botocore) makes for the same request. */
function botocoreToken(input: Record<string, unknown>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('/usr/bin/python3', [SCRIPT], { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`botocore reference failed: ${stderr || error.message}`));
      else resolve(stdout);
    });
    child.stdin!.end(JSON.stringify(input)); // credentials on stdin, never on the command line
  });
}

describe('IAM auth token against an independent implementation (botocore)', () => {
  it.each([
    { name: 'a replication group', cacheName: 'kcc-redis', serverless: false, sessionToken: undefined },
    { name: 'a replication group, with a session token', cacheName: 'kcc-redis', serverless: false, sessionToken: SESSION },
    { name: 'a serverless cache', cacheName: 'kcc-serverless-01', serverless: true, sessionToken: undefined },
    { name: 'a serverless cache, with a session token', cacheName: 'kcc-serverless-01', serverless: true, sessionToken: SESSION },
  ])('is byte for byte the token botocore signs for $name', async ({ cacheName, serverless, sessionToken }) => {
    const request = { cacheName, userId: 'kcc-redis-my-app-prod', region: 'eu-central-1', serverless };
    const credentials = { ...EXAMPLE, ...(sessionToken ? { sessionToken } : {}) };
    const time = '2027-03-14T15:09:26Z';
    const ours = await createIamAuthToken({ ...request, credentials, now: new Date(time) });
    const theirs = await botocoreToken({ ...request, ...credentials, time });
    expect(theirs).toMatch(/X-Amz-Signature=[0-9a-f]{64}$/);
    expect(ours).toBe(theirs);
  });
});
