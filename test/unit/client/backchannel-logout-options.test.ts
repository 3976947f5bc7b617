import { createLocalJWKSet } from 'jose';
import { beforeAll, beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import { FORM_TYPE, type RealmKey, form, logoutClaims, realmKey, signToken } from '../../support/logout-tokens.js';
import { RecordingSink } from '../../support/recording-sink.js';
import {
  KccConfigError,
  type AsymmetricJwsAlgorithm,
  type BackchannelLogoutOptions,
  type KeycloakAdminOptions,
  type KeycloakPushVerifierOptions,
  type RevocationSink,
  type Revocations,
  createBackchannelLogoutHandler,
  createKeycloakAdminHandlers,
  createKeycloakPushVerifier,
  resolveRealmKeys,
} from '../../../client/src/index.js';

const ISSUER = 'https://sso.example.test/realms/shop';
const quiet = { info: () => {}, warn: () => {} };

function captureError(run: () => unknown): KccConfigError {
  try {
    run();
  } catch (error) {
    return error as KccConfigError;
  }
  throw new Error('expected the call to throw');
}

describe('back-channel logout handler: options', () => {
  it('takes the Redis-backed Revocations as its sink (checked by the typecheck)', () => {
    expectTypeOf<Revocations>().toExtend<RevocationSink>();
  });

  const sink = new RecordingSink();
  const base: BackchannelLogoutOptions = { issuer: ISSUER, clientId: 'shop', sink, replayGuard: sink, logger: quiet };

  it.each<[string, Partial<BackchannelLogoutOptions>, RegExp]>([
    ['an HMAC algorithm', { algorithms: ['HS256' as AsymmetricJwsAlgorithm] }, /^algorithms: "HS256" is not allowed; use asymmetric algorithms only/],
    ['alg none', { algorithms: ['none' as AsymmetricJwsAlgorithm] }, /^algorithms: "none" is not allowed/],
    ['an empty algorithm list', { algorithms: [] }, /^algorithms: must list at least one/],
    ['both jwks and jwksUri', { jwks: createLocalJWKSet({ keys: [] }), jwksUri: 'https://sso.example.test/certs' }, /^jwks, jwksUri: give one of them/],
    ['a relative issuer', { issuer: 'realms/shop' }, /^issuer: "realms\/shop" must be an absolute URL/],
    ['a bad jwksUri', { jwksUri: 'certs' }, /^jwksUri: "certs" must be an absolute URL/],
    ['no client id', { clientId: '' }, /^clientId: "" must be a non-empty string/],
    ['no replay guard', { replayGuard: undefined }, /^replayGuard: must implement ReplayGuard/],
    ['no sink', { sink: undefined }, /^sink: must implement RevocationSink/],
    ['a zero body limit', { maxBodyBytes: 0 }, /^maxBodyBytes: 0 must be a whole number/],
    ['a fractional token age', { maxTokenAgeMs: 1.5 }, /^maxTokenAgeMs: 1.5 must be a whole number/],
    ['a negative clock tolerance', { clockToleranceMs: -1 }, /^clockToleranceMs: -1 must be a whole number/],
    ['a negative cooldown', { jwksCooldownMs: -5 }, /^jwksCooldownMs: -5 must be a whole number of milliseconds/],
    ['no accepted typ', { acceptedTypes: [] }, /^acceptedTypes: must list at least one/],
    // A review of input validation: a key set as jwks was taken, then every logout answered 503 with a warning naming no option.
    ['a key set as jwks', { jwks: { keys: [] } as unknown as BackchannelLogoutOptions['jwks'] }, /^jwks: a key set \(\{ keys: \[\.\.\.\] \}\), not a key getter; pass createLocalJWKSet\(jwks\) \(from jose\), or leave jwks out to fetch jwksUri$/],
    ['a string as jwks', { jwks: 'https://sso.example.test/certs' as unknown as BackchannelLogoutOptions['jwks'] }, /^jwks: a string, not a key getter; pass a function such as jose's createLocalJWKSet\(keySet\)/],
    // The same review: a string or a number among them threw "acceptedTypes.map is not a function" / "typ.toLowerCase is not a function".
    ['one typ as a string', { acceptedTypes: 'JWT' as unknown as string[] }, /^acceptedTypes: "JWT" is a string, not a list; give \["JWT"\] \(e\.g\. \["logout\+jwt","JWT","Logout"\]\)$/],
    ['a number as a typ', { acceptedTypes: [5] as unknown as string[] }, /^acceptedTypes: 5 is not a "typ" value; list non-empty strings/],
    ['one algorithm as a string', { algorithms: 'RS256' as unknown as AsymmetricJwsAlgorithm[] }, /^algorithms: "RS256" is a string, not a list; give \["RS256"\] of asymmetric JWS algorithms/],
    ['allowMissingExp as a string', { allowMissingExp: 'yes' as unknown as boolean }, /^allowMissingExp: "yes" must be true or false; a string is not read as a boolean/],
    // Keycloak's "iss" never ends with "/": every logout would be refused as an "iss" mismatch.
    ['a Keycloak issuer ending with "/"', { issuer: `${ISSUER}/` }, /^issuer: "https:\/\/sso\.example\.test\/realms\/shop\/" ends with "\/", which the "iss" of Keycloak's logout tokens never does \(https:\/\/<host>\/realms\/<realm>\): every logout would be refused; remove the "\/"$/],
    ['a misspelled option', { maxTokenAge: 60_000 } as Partial<BackchannelLogoutOptions>, /^maxTokenAge: not an option; did you mean maxTokenAgeMs\?$/],
    ['a misspelled realm-keys option', { jwksURI: 'https://sso.example.test/certs' } as Partial<BackchannelLogoutOptions>, /^jwksURI: not an option; did you mean jwksUri\?$/],
  ])('throws a KccConfigError naming the option for %s', (_name, override, message) => {
    const options = { ...base, ...override } as BackchannelLogoutOptions;
    const error = captureError(() => createBackchannelLogoutHandler(options));
    expect(error).toBeInstanceOf(KccConfigError);
    expect(error.problems).toEqual([expect.stringMatching(message)]);
    expect(error.message).toMatch(/^kcc-redis back-channel logout options are invalid \(1 problem\):\n  - /);
  });

  it('names every problem at once', () => {
    const error = captureError(() => createBackchannelLogoutHandler({ ...base, clientId: '', maxBodyBytes: 0, algorithms: [] }));
    expect(error.problems).toHaveLength(3);
    expect(error.message).toContain('(3 problems)');
  });

  it('names a misspelled option of the realm keys, the Keycloak admin handlers and the push verifier too', () => {
    expect(captureError(() => resolveRealmKeys({ issuer: ISSUER, jwksCacheMaxAge: 1 } as Parameters<typeof resolveRealmKeys>[0])).problems).toEqual(['jwksCacheMaxAge: not an option; did you mean jwksCacheMaxAgeMs?']);
    const admin = { enabled: true, issuer: ISSUER, clientId: 'shop', sink: new RecordingSink(), replayGuard: sink, logger: quiet, clockTolerance: 5 };
    expect(captureError(() => createKeycloakAdminHandlers(admin as unknown as KeycloakAdminOptions)).problems).toEqual(['clockTolerance: not an option; did you mean clockToleranceMs?']);
    expect(captureError(() => createKeycloakPushVerifier({ issuer: ISSUER, clientId: 'shop', clientID: 'shop' } as KeycloakPushVerifierOptions)).problems).toEqual(['clientID: not an option; did you mean clientId?']);
  });

  it('refuses a key set as jwks for the realm keys and the Keycloak admin handlers too; takes an issuer with "/" that is not a Keycloak realm\'s', () => {
    const keySet = { keys: [] } as unknown as BackchannelLogoutOptions['jwks'];
    expect(captureError(() => resolveRealmKeys({ issuer: ISSUER, jwks: keySet })).problems).toEqual([expect.stringMatching(/^jwks: a key set .*pass createLocalJWKSet\(jwks\)/)]);
    const admin = { enabled: true, issuer: ISSUER, clientId: 'shop', sink: new RecordingSink(), replayGuard: sink, logger: quiet, jwks: keySet } as KeycloakAdminOptions;
    expect(captureError(() => createKeycloakAdminHandlers(admin)).problems).toEqual([expect.stringMatching(/^jwks: a key set /)]);
    expect(() => createBackchannelLogoutHandler({ ...base, issuer: 'https://idp.example.test/' })).not.toThrow();
  });

  it('derives Keycloak\'s JWKS URL from the issuer and exposes the body limit', () => {
    expect(resolveRealmKeys({ issuer: ISSUER }).algorithms).toContain('PS256');
    const handler = createBackchannelLogoutHandler(base);
    expect(handler.maxBodyBytes).toBe(16_384);
    expect(handler.stats).toMatchObject({ accepted: 0, unavailable: 0 });
  });
});

describe('back-channel logout handler: the revocation store is unavailable', () => {
  let key: RealmKey;
  let sink: RecordingSink;
  let warnings: string[];
  const create = () =>
    createBackchannelLogoutHandler({
      issuer: ISSUER, clientId: 'shop', sink, replayGuard: sink,
      jwks: createLocalJWKSet({ keys: [key.publicJwk] }),
      logger: { info: () => {}, warn: (message, context) => warnings.push(`${message} ${JSON.stringify(context)}`) },
    });
  beforeAll(async () => {
    key = await realmKey('realm-1', 'PS256');
  });
  beforeEach(() => {
    sink = new RecordingSink();
    warnings = [];
  });

  it('answers 503 temporarily_unavailable, not 200, when the replay record cannot be written (the revocation, idempotent, is already applied)', async () => {
    const handler = create();
    sink.failing.add('firstUse');
    const token = await signToken(key, logoutClaims(ISSUER));
    const response = await handler({ contentType: FORM_TYPE, body: form(token) });
    expect(response).toEqual({
      status: 503,
      headers: { 'Cache-Control': 'no-store', 'Content-Type': 'application/json' },
      body: '{"error":"temporarily_unavailable"}',
    });
    expect(sink.revocations).toBe(1); // applied first: the provider's retry re-applies it harmlessly
    expect(handler.stats.unavailable).toBe(1);
    expect(warnings.join()).toMatch(/answered 503/);
    expect(warnings.join()).not.toContain(token.split('.')[1]);
  });

  it('answers 503 when the revocation fails, records no jti, and accepts the identity provider\'s retry', async () => {
    const handler = create();
    const token = await signToken(key, logoutClaims(ISSUER, { sid: undefined }));
    sink.failing.add('revokeSubject');
    expect((await handler({ contentType: FORM_TYPE, body: form(token) })).status).toBe(503);
    expect(sink.jtis).toHaveLength(0); // nothing to release: the replay record is written only after the revocation

    sink.failing.clear(); // Redis is back; the provider retries the same token
    expect((await handler({ contentType: FORM_TYPE, body: form(token) })).status).toBe(200);
    expect(sink.subjects.map((s) => s.sub)).toEqual(['user-1']);
    expect(handler.stats).toMatchObject({ accepted: 1, unavailable: 1 });
  });

  it('never rejects, whatever the body', async () => {
    const handler = create();
    const bodies = [Buffer.from([0xff, 0xfe, 0x00, 0x80]), 'logout_token=%E0%A4%A', 'logout_token=', '&&&=&', ''];
    for (const body of bodies) {
      const response = await handler({ contentType: FORM_TYPE, body });
      expect(response.status).toBe(400);
    }
    expect(handler.stats.rejected.malformed_request + handler.stats.rejected.malformed_token).toBe(bodies.length);
  });
});
