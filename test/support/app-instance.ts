import type { Server } from 'node:http';
import * as client from 'openid-client';
import { type ClientAuthFunction, KccRedis, KeyRing, type KeyRingOptions, type SigningKey } from '../../client/src/index.js';
import { privateKeyJwtClientAuth } from '../../client/src/keyring/client-assertion.js';
import { generateSigningKey, importPrivateKey } from '../../client/src/keyring/signing-key.js';
import type { LocalRedis } from '../../local/local-redis.js';
import { close, listen } from './http.js';
import { kccOptions } from './redis.js';

export interface GrantRecord {
  readonly ok: boolean;
  readonly kid: string;
  readonly error?: string;
}

/**
 * One app instance for end-to-end tests: serves its JWKS over HTTP and runs client-credentials
 * grants against the provider with openid-client, authenticating with `private_key_jwt`.
 * `shared` instances use the Redis key ring (the fix); `independent` ones generate their own key
 * (the problem the project solves).
 */
export class AppInstance {
  readonly grants: GrantRecord[] = [];
  private running = false;
  private loop: Promise<void> | undefined;

  private constructor(
    readonly url: string,
    private readonly server: Server,
    private readonly currentKey: () => SigningKey,
    private readonly clientAuth: ClientAuthFunction,
    private readonly ring: KeyRing | undefined,
    private readonly redis: KccRedis | undefined,
  ) {}

  static async shared(redisServer: LocalRedis, user: string, options: KeyRingOptions): Promise<AppInstance> {
    const redis = await KccRedis.connect(kccOptions(redisServer, user));
    const ring = await KeyRing.start(redis, options);
    const { server, url } = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify(ring.jwks()));
    });
    return new AppInstance(url, server, () => ring.signingKey(), ring.clientAuth(), ring, redis);
  }

  static async independent(): Promise<AppInstance> {
    const generated = await generateSigningKey('PS256');
    const key: SigningKey = { kid: generated.kid, alg: 'PS256', key: await importPrivateKey('PS256', generated.kid, generated.publicJwk, generated.privateJwk) };
    const { server, url } = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify({ keys: [generated.publicJwk] }));
    });
    return new AppInstance(url, server, () => key, privateKeyJwtClientAuth(() => key), undefined, undefined);
  }

  get keyRing(): KeyRing | undefined {
    return this.ring;
  }

  /** Starts client-credentials grants in a loop, one every `pauseMs`. */
  async startGrants(issuer: string, clientId: string, pauseMs: number): Promise<void> {
    const config = await client.discovery(new URL(issuer), clientId, undefined, this.clientAuth, { execute: [client.allowInsecureRequests] });
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const kid = this.currentKey().kid;
        try {
          await client.clientCredentialsGrant(config, {});
          this.grants.push({ ok: true, kid });
        } catch (error) {
          // openid-client's ResponseBodyError carries the OAuth error code in `error`.
          const { error: code, message } = error as { error?: string; message: string };
          this.grants.push({ ok: false, kid, error: code ?? message });
        }
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
    })();
  }

  async stopGrants(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Stops abruptly, as a crashed or terminated instance would: no goodbye to Redis. */
  async kill(): Promise<void> {
    this.running = false;
    await close(this.server);
    await this.ring?.close();
    this.redis?.client.disconnect();
    await this.redis?.close();
    await this.loop;
  }
}
