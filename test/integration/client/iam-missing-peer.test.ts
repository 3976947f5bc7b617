/**
 * `auth: 'iam'` without an optional package it needs (the signer's `@smithy/signature-v4`, or
 * `@aws-sdk/credential-providers` for the default credential chain). A missing package is
 * permanent: `connect` fails at once with the `KccConfigError` a missing AWS SDK package gives
 * elsewhere, naming each package and the install command, before it opens any connection; not
 * after `connectTimeoutMs` of reconnects, each logging a failed signature.
 */
import { type Server, type Socket, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { KccConfigError, KccRedis, type KccConnectionOptions } from '../../../client/src/index.js';

/** Imported as Node imports a package that is not installed: it fails. */
function notInstalled(specifier: string): never {
  throw Object.assign(new Error(`Cannot find package '${specifier}' imported from /app/node_modules/@kcc-redis/client/dist/esm/aws/load-sdk.js`), {
    code: 'ERR_MODULE_NOT_FOUND',
  });
}
vi.mock('@smithy/signature-v4', () => notInstalled('@smithy/signature-v4'));
vi.mock('@aws-sdk/credential-providers', () => notInstalled('@aws-sdk/credential-providers'));

/** Where the client would connect (a plain TCP listener: nothing may reach it, not even a TLS handshake): counts the connections it receives. */
let server: Server;
const accepted: Socket[] = [];

beforeAll(async () => {
  server = createServer((socket) => accepted.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  for (const socket of accepted) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

/** Connects with `auth: 'iam'`; resolves the error connect threw and what was logged meanwhile. */
async function connectFailure(extra: Partial<KccConnectionOptions>): Promise<{ error: unknown; warnings: string[] }> {
  const warnings: string[] = [];
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the listener has no TCP address');
  const options: KccConnectionOptions = {
    url: `rediss://127.0.0.1:${address.port}`,
    auth: 'iam',
    username: 'my-app-prod',
    keyPrefix: 'my-app-prod:',
    region: 'eu-central-1',
    iam: { cacheName: 'kcc-redis' },
    env: {},
    heartbeat: false,
    connectTimeoutMs: 3_000,
    reconnectBaseDelayMs: 20,
    reconnectMaxDelayMs: 200,
    logger: { warn: (message) => warnings.push(message), info: () => {} },
    ...extra,
  };
  try {
    const redis = await KccRedis.connect(options);
    await redis.close();
    return { error: undefined, warnings };
  } catch (error) {
    return { error, warnings };
  }
}

describe('IAM authentication without an optional package it needs', () => {
  it('no @smithy/signature-v4: connect throws KccConfigError naming the package and its install command, and opens no connection', async () => {
    const { error, warnings } = await connectFailure({ iam: { cacheName: 'kcc-redis', credentials: { accessKeyId: 'AKIAKCCTESTKEY000001', secretAccessKey: 'not-used' } } });
    expect(error).toBeInstanceOf(KccConfigError);
    expect((error as KccConfigError).problems).toEqual([
      'IAM authentication (signing tokens) needs the optional dependency @smithy/signature-v4: run `npm install @smithy/signature-v4`',
    ]);
    expect(warnings).toEqual([]);
    expect(accepted).toEqual([]);
  });

  it('no credentials given and no @aws-sdk/credential-providers either: one KccConfigError names both packages', async () => {
    const { error, warnings } = await connectFailure({});
    expect(error).toBeInstanceOf(KccConfigError);
    expect((error as KccConfigError).problems).toEqual([
      'IAM authentication (signing tokens) needs the optional dependency @smithy/signature-v4: run `npm install @smithy/signature-v4`',
      'IAM authentication (the default AWS credential chain) needs the optional dependency @aws-sdk/credential-providers: run `npm install @aws-sdk/credential-providers`',
    ]);
    expect((error as KccConfigError).message).not.toContain('not-used');
    expect(warnings).toEqual([]);
    expect(accepted).toEqual([]);
  });
});
