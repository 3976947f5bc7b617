import { randomUUID } from 'node:crypto';
import { CompactSign, createLocalJWKSet } from 'jose';
import { beforeAll, beforeEach } from 'vitest';
import type { KccLogger } from '../../client/src/index.js';
import { type RealmKey, realmKey } from './logout-tokens.js';
import { RecordingSink } from './recording-sink.js';

export const ISSUER = 'https://sso.example.test/realms/shop';
/** The media type of a Keycloak admin action's body. */
export const TEXT = 'text/plain';
export const now = () => Math.floor(Date.now() / 1000);

/**
 * What the logout endpoints' unit tests share: one realm key (made once), a recording sink and the
 * logger's warnings (fresh for each test), the handlers' options over them, and admin actions signed
 * with the key. Registers its own beforeAll and beforeEach: call it at the top of a test file.
 */
export function logoutEndpointFixture() {
  const fixture = {
    key: undefined as unknown as RealmKey,
    sink: new RecordingSink(),
    warnings: [] as string[],
    logger: undefined as unknown as KccLogger,
    /** The options both handlers take: this realm, the sink as sink and replay guard, the key's JWKS. */
    realm: () => ({ issuer: ISSUER, clientId: 'shop', sink: fixture.sink, replayGuard: fixture.sink, jwks: createLocalJWKSet({ keys: [fixture.key.publicJwk] }), logger: fixture.logger }),
    /** A Keycloak admin action (30 s to expire, for the client `shop`) signed with the key. */
    adminAction: (action: Record<string, unknown>) =>
      new CompactSign(Buffer.from(JSON.stringify({ id: randomUUID(), expiration: now() + 30, resource: 'shop', ...action })))
        .setProtectedHeader({ alg: fixture.key.alg, kid: fixture.key.kid, typ: 'JWT' })
        .sign(fixture.key.privateKey),
  };
  fixture.logger = { info: () => {}, warn: (message) => void fixture.warnings.push(message) };
  beforeAll(async () => {
    fixture.key = await realmKey('realm-1', 'ES256');
  });
  beforeEach(() => {
    fixture.sink = new RecordingSink();
    fixture.warnings.length = 0;
  });
  return fixture;
}
