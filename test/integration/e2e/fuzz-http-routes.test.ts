/**
 * Fuzzing two live instances of the app (the Fastify plugin over real HTTP, real redis-server with
 * TLS and the stack's ACL users) as an outsider on the network: generated requests to the
 * back-channel logout route and the Keycloak admin routes (`/kc/k_logout`, `/kc/k_push_not_before`).
 * Bodies as forms, text, JSON or raw bytes, of every size up to past the limits, under matching and
 * mismatching content types; the tokens in them built from valid logout tokens and admin actions
 * with their JWS header and claims mutated (test/support/fuzz-live.ts), and signed by the key the
 * test's realm really serves (its JWKS over loopback), by a stranger's key, by HMAC with the realm's
 * public key, or not at all.
 *
 * After each request: an answer (200, 400, 413 or 415; never a 5xx: Redis and the realm are up),
 * `Cache-Control: no-store`, a body that is empty or the OAuth error shape, with no secret and no
 * internals; a 200 from the logout route revoked what its token named, on every instance; no
 * uncaught exception or unhandled rejection; the canaries `active` everywhere; the built-in
 * prototypes unchanged. At the end: the routes' counts agree with the answers, warnings are paced,
 * and the fleet still works.
 *
 * Runs and seeds: fixed; `KCC_FUZZ_RUNS=10` multiplies the runs, `KCC_FUZZ_SEED=<n>` replaces the seed.
 */
import { createHmac, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../../support/events.js';
import {
  Canaries, pacedAllowance, FUZZ_CLIENT_ID, FUZZ_KEK, LiveFleet, type MutationPlan, ProcessWatch, byteMutationArb, compactJws, expectPrototypesUnchanged, expectStillWorks,
  fuzzParameters, fuzzTimeoutMs, mutatedText, mutationArb, parsedOrUndefined, prototypesSnapshot, repeatedLines, warnLines,
} from '../../support/fuzz-live.js';
import { LOGOUT_EVENT } from '../../support/logout-tokens.js';

let fleet: LiveFleet;
let watch: ProcessWatch;
let prototypes: string;
const canaries = new Canaries();

/** When the file's run began: paced warnings may come again each minute after. */
let startedAt = 0;

beforeAll(async () => {
  startedAt = performance.now();
  watch = new ProcessWatch();
  prototypes = prototypesSnapshot();
  fleet = await LiveFleet.start(2);
}, 60_000);

afterAll(async () => {
  await fleet?.stop();
  watch?.stop();
});

const now = () => Math.floor(Date.now() / 1000);

const FORM = 'application/x-www-form-urlencoded';
const TEXT = 'text/plain';
const ROUTES = ['/backchannel-logout', '/kc/k_logout', '/kc/k_push_not_before'] as const;
type Route = (typeof ROUTES)[number];

/** What a logout token is built from, before mutation. */
const logoutSeedArb = fc.record({
    kind: fc.constant('logout' as const),
    sid: fc.option(fc.oneof(fc.uuid(), fc.constantFrom(...canaries.nearMisses()), fc.string({ minLength: 1, maxLength: 300, unit: 'binary' })), { nil: undefined }),
    sub: fc.option(fc.oneof(fc.uuid(), fc.constantFrom(...canaries.nearMisses())), { nil: undefined }),
    iatOffset: fc.oneof(fc.constant(0), fc.integer({ min: -900, max: 120 })),
    jti: fc.uuid(),
  });
/** What an admin action is built from, before mutation. */
const actionSeedArb = fc.record({
    kind: fc.constant('action' as const),
    action: fc.constantFrom('PUSH_NOT_BEFORE', 'LOGOUT', 'push_not_before', 'TEST'),
    notBeforeOffset: fc.oneof(fc.constant(0), fc.constant(-1_000_000_000), fc.integer({ min: -900, max: 200 })),
    expirationOffset: fc.integer({ min: -120, max: 200 }),
    id: fc.uuid(),
  });

type ClaimsSeed = (typeof logoutSeedArb extends fc.Arbitrary<infer T> ? T : never) | (typeof actionSeedArb extends fc.Arbitrary<infer T> ? T : never);

function claimsOf(seed: ClaimsSeed): Record<string, unknown> {
  const t = now();
  if (seed.kind === 'logout') {
    const claims: Record<string, unknown> = { iss: fleet.realm.issuer, aud: FUZZ_CLIENT_ID, iat: t + seed.iatOffset, exp: t + seed.iatOffset + 120, jti: seed.jti, events: { [LOGOUT_EVENT]: {} } };
    if (seed.sid !== undefined) claims.sid = seed.sid;
    if (seed.sub !== undefined) claims.sub = seed.sub;
    if (seed.sid === undefined && seed.sub === undefined) claims.sid = randomUUID();
    return claims;
  }
  return { id: seed.id, expiration: t + seed.expirationOffset, resource: FUZZ_CLIENT_ID, action: seed.action, notBefore: t + seed.notBeforeOffset };
}

const tokenArb = fc.record({
  claims: fc.record({ logout: logoutSeedArb, action: actionSeedArb }),
  /** Mostly the claims the route takes (a logout token to the back-channel route, an action to the admin routes). */
  matching: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  /** One claim a check reads, dropped or given another type or value, before the random mutations. */
  claimEdit: fc.option(fc.record({
    /** Which claim, among those of the token's kind (`at` modulo their count). */
    at: fc.nat(),
    value: fc.constantFrom<unknown>('drop', 'drop', null, 0, -1, 1e21, '', 'x', {}, [], ['shop'], ['other', 'shop'], { [LOGOUT_EVENT]: [] }, { [LOGOUT_EVENT]: {}, revoke_offline_access: true }, 'a'.repeat(256)),
  }), { freq: 4, nil: undefined }),
  claimMutations: fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(mutationArb, { minLength: 1, maxLength: 3 }) }),
  claimBytes: fc.oneof(
    { weight: 8, arbitrary: fc.constant({ op: 'none' as const }) },
    { weight: 2, arbitrary: byteMutationArb },
    // A payload that is JSON but no object.
    { weight: 1, arbitrary: fc.constantFrom('null', '[]', '"x"', '1', 'true').map((text) => ({ op: 'replace' as const, text })) },
  ),
  typ: fc.oneof({ weight: 6, arbitrary: fc.constant('matching' as const) }, { weight: 1, arbitrary: fc.constantFrom('logout+jwt', 'JWT', 'application/logout+jwt', 'Logout', 'at+jwt', undefined) }),
  headerMutations: fc.oneof({ weight: 5, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(mutationArb, { minLength: 1, maxLength: 2 }) }),
  // Mostly the realm's served key: only then do the claims' checks decide.
  signer: fc.oneof({ weight: 10, arbitrary: fc.constant('realm' as const) }, { weight: 6, arbitrary: fc.constantFrom('stranger', 'none', 'garbage', 'hmac-public-key', 'truncated') }),
});

type TokenSeed = typeof tokenArb extends fc.Arbitrary<infer T> ? T : never;

/** The token, and the claims it was signed over when those parse (what a 200 may have applied). */
async function tokenOf(seed: TokenSeed, route: Route): Promise<{ token: string; claims: unknown; header: unknown }> {
  const plan: MutationPlan = { mutations: seed.claimMutations, bytes: seed.claimBytes };
  const logoutRoute = route === '/backchannel-logout';
  const claims = logoutRoute === seed.matching ? seed.claims.logout : seed.claims.action;
  const edited = claimsOf(claims);
  if (seed.claimEdit) {
    const names = claims.kind === 'logout' ? ['iss', 'aud', 'iat', 'exp', 'jti', 'sid', 'sub', 'events', 'nonce'] : ['resource', 'action', 'expiration', 'notBefore', 'id', 'keycloakSessionIds', 'iss'];
    const name = names[seed.claimEdit.at % names.length]!;
    if (seed.claimEdit.value === 'drop') delete edited[name];
    else edited[name] = seed.claimEdit.value;
  }
  const payload = mutatedText(edited, plan);
  const typ = seed.typ === 'matching' ? (claims.kind === 'logout' ? 'logout+jwt' : 'JWT') : seed.typ;
  const signer = seed.signer;
  const alg = signer === 'hmac-public-key' ? 'HS256' : signer === 'none' ? 'none' : 'ES256';
  const kid = signer === 'stranger' ? fleet.realm.stranger.kid : fleet.realm.key.kid;
  const header = mutatedText({ alg, kid, ...(typ === undefined ? {} : { typ }) }, { mutations: seed.headerMutations, bytes: { op: 'none' } });
  let token: string;
  if (signer === 'realm' || signer === 'truncated') token = await compactJws(header, payload, fleet.realm.key);
  else if (signer === 'stranger') token = await compactJws(header, payload, fleet.realm.stranger);
  else if (signer === 'none') token = await compactJws(header, payload, { signature: Buffer.alloc(0) });
  else if (signer === 'garbage') token = await compactJws(header, payload, { signature: Buffer.alloc(64, 7) });
  else {
    const input = `${header.toString('base64url')}.${payload.toString('base64url')}`;
    token = `${input}.${createHmac('sha256', JSON.stringify(fleet.realm.key.publicJwk)).update(input).digest('base64url')}`;
  }
  if (signer === 'truncated') token = token.slice(0, -3);
  // JWT parts that are not UTF-8 are no JSON to jose (a fatal decoder): no claims, no header.
  const utf8 = (bytes: Buffer) => Buffer.from(bytes.toString('utf8'), 'utf8').equals(bytes);
  return { token, claims: utf8(payload) ? parsedOrUndefined(payload) : undefined, header: utf8(header) ? parsedOrUndefined(header) : undefined };
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Whether a logout token must be accepted, refused, or either (`unknown`: near a time boundary, or
 * a header or claim whose handling is jose's business, not this package's), by OpenID Connect
 * Back-Channel Logout 1.0 and the documented options (docs/logout-sync.md), written out here apart
 * from the handler: signed by the realm's key with ES256 and its kid, an accepted `typ`; `iss`, `aud`
 * containing the client id, `iat` within 10 minutes (and 60 s of tolerance), `exp` not past (60 s),
 * a non-empty `jti`, `sid` or `sub` strings of 1 to 255 characters, the logout event, no `nonce`.
 */
function logoutVerdict(seed: TokenSeed, header: unknown, claims: unknown): 'valid' | 'invalid' | 'unknown' {
  if (seed.signer !== 'realm') return 'invalid';
  if (!isObject(header) || header.alg !== 'ES256') return 'invalid';
  if (Object.keys(header).some((k) => !['alg', 'kid', 'typ'].includes(k))) return 'unknown';
  if (header.kid === undefined) return 'unknown';
  if (header.kid !== fleet.realm.key.kid) return 'invalid';
  if (typeof header.typ !== 'string' || !['logout+jwt', 'jwt', 'logout'].includes(header.typ.toLowerCase().replace(/^application\//, ''))) return 'invalid';
  if (!isObject(claims)) return 'invalid';
  if (Object.hasOwn(claims, 'nbf')) return 'unknown';
  const t = Date.now() / 1000;
  const { iss, aud, iat, exp, jti, sid, sub, events } = claims;
  if (iss !== fleet.realm.issuer) return 'invalid';
  if (Array.isArray(aud) ? !aud.every((a) => typeof a === 'string') : typeof aud !== 'string') return 'unknown';
  if (!(Array.isArray(aud) ? aud.includes(FUZZ_CLIENT_ID) : aud === FUZZ_CLIENT_ID)) return 'invalid';
  if (typeof iat !== 'number' || typeof exp !== 'number') return iat === undefined || exp === undefined ? 'invalid' : 'unknown';
  if (!Number.isFinite(iat) || !Number.isFinite(exp)) return 'unknown';
  const near = (a: number, b: number) => Math.abs(a - b) < 3;
  if (near(iat, t + 60) || near(iat, t - 660) || near(exp, t - 60)) return 'unknown';
  if (iat > t + 60 || iat < t - 660 || exp < t - 60) return 'invalid';
  if (typeof jti !== 'string' || jti.length === 0) return jti === undefined || typeof jti === 'string' ? 'invalid' : 'unknown';
  const isId = (v: unknown) => v === undefined || (typeof v === 'string' && v.length > 0 && v.length <= 255);
  if (!isId(sid) || !isId(sub) || (sid === undefined && sub === undefined)) return 'invalid';
  if (!isObject(events) || !isObject(events[LOGOUT_EVENT])) return 'invalid';
  if (Object.hasOwn(claims, 'nonce')) return 'invalid';
  return 'valid';
}

/** The `jti`s of logout tokens accepted so far: a replay of one is refused on every instance. */
const acceptedJtis = new Set<string>();

const requestArb = fc.record({
  route: fc.oneof({ weight: 2, arbitrary: fc.constant(ROUTES[0]) }, { weight: 2, arbitrary: fc.constantFrom(...ROUTES.slice(1)) }),
  instance: fc.nat({ max: 1 }),
  token: tokenArb,
  // Mostly what the route takes, so that most requests reach the token's checks.
  body: fc.oneof(
    { weight: 12, arbitrary: fc.constant('matching' as const) },
    { weight: 6, arbitrary: fc.constantFrom('form', 'text', 'json', 'form-twice', 'form-empty', 'form-other-name', 'form-extra', 'huge', 'bytes') },
  ),
  contentType: fc.oneof({ weight: 12, arbitrary: fc.constant('matching' as const) }, { weight: 4, arbitrary: fc.constantFrom<string | undefined>(FORM, TEXT, 'application/json', `${FORM}; charset=utf-8`, 'TEXT/PLAIN; charset=ISO-8859-1', 'FORM'.toLowerCase(), 'multipart/form-data; boundary=x', '', ';', 'text/plain;;;', `${FORM}, ${TEXT}`, 'application/x-www-form-urlencoded ; q="\u00e9"', undefined) }),
  hugeBytes: fc.constantFrom(16_385, 65_537, 300_000),
  bytes: fc.uint8Array({ maxLength: 2_000 }),
});

type RequestSeed = typeof requestArb extends fc.Arbitrary<infer T> ? T : never;

function bodyOf(seed: RequestSeed, token: string): Buffer | string {
  const mediaType = seed.route === '/backchannel-logout' ? FORM : TEXT;
  const asForm = (name = 'logout_token') => `${name}=${encodeURIComponent(token)}`;
  switch (seed.body) {
    case 'matching': return mediaType === FORM ? asForm() : token;
    case 'form': return asForm();
    case 'text': return token;
    case 'json': return JSON.stringify({ logout_token: token });
    case 'form-twice': return `${asForm()}&${asForm()}`;
    case 'form-empty': return 'logout_token=';
    case 'form-other-name': return asForm('logout_token ');
    case 'form-extra': return `${asForm()}&__proto__=x&constructor[prototype][polluted]=1`;
    case 'huge': return mediaType === FORM ? `${asForm()}&pad=${'a'.repeat(seed.hugeBytes)}` : token + ' '.repeat(seed.hugeBytes);
    case 'bytes': return Buffer.from(seed.bytes);
  }
  return token;
}

function contentTypeOf(seed: RequestSeed): string | undefined {
  if (seed.contentType !== 'matching') return seed.contentType;
  return seed.route === '/backchannel-logout' ? FORM : TEXT;
}

const answers = { logout200: 0, status: new Map<number, number>() };

/** What must hold of one answer. */
async function expectAnswer(route: Route, response: Response, secrets: readonly string[]): Promise<string> {
  const text = await response.text();
  answers.status.set(response.status, (answers.status.get(response.status) ?? 0) + 1);
  expect([200, 400, 413, 415], `status of ${route}: ${text.slice(0, 200)}`).toContain(response.status);
  expect(response.headers.get('cache-control'), `Cache-Control of a ${response.status}`).toBe('no-store');
  if (response.status === 200) expect(text).toBe('');
  else {
    const body = parsedOrUndefined(text) as Record<string, unknown> | undefined;
    expect(body && Object.keys(body).sort(), `body of a ${response.status}: ${text.slice(0, 200)}`).toEqual(['error', 'error_description']);
    expect(body!.error).toBe('invalid_request');
    expect(typeof body!.error_description === 'string' && body!.error_description.length < 300, 'a terse description').toBe(true);
  }
  for (const secret of secrets) expect(text.includes(secret), 'a secret in an answer').toBe(false);
  expect(text, 'internals in an answer').not.toMatch(/\bat .+:\d+:\d+|\/work\/|node_modules|Error:|ioredis|redis-server/i);
  return text;
}

describe('an outsider on the network', () => {
  it('posts generated requests to the logout routes: every answer is a 2xx or 4xx without internals, and only valid tokens revoke', async () => {
    const secrets = [fleet.password, FUZZ_KEK, fleet.realm.key.publicJwk.x as string];
    await fc.assert(
      fc.asyncProperty(requestArb, async (seed) => {
        const { token, claims, header } = await tokenOf(seed.token, seed.route);
        const instance = fleet.instances[seed.instance]!;
        const contentType = contentTypeOf(seed);
        const body = bodyOf(seed, token);
        const response = await fetch(`${instance.url}${seed.route}`, {
          method: 'POST',
          headers: contentType === undefined ? {} : { 'content-type': contentType },
          body,
        });
        await expectAnswer(seed.route, response, secrets);
        if (seed.route === '/backchannel-logout' && seed.body === 'matching' && [FORM, 'matching', `${FORM}; charset=utf-8`].includes(String(seed.contentType))) {
          // Past the route's limit (16 KiB) nothing is read: 413, whatever the token.
          const verdict = Buffer.byteLength(body) > 16_384 ? 'too-large' : logoutVerdict(seed.token, header, claims);
          const jti = isObject(claims) ? claims.jti : undefined;
          const expected = { valid: acceptedJtis.has(jti as string) ? 400 : 200, invalid: 400, 'too-large': 413, unknown: response.status }[verdict];
          if (response.status !== expected) {
            // Shown only then (JSON.stringify recurses: a claim nested 20,000 deep overflows the stack).
            const shown = (value: unknown) => { try { return JSON.stringify(value)?.slice(0, 300); } catch { return '(too deep to show)'; } };
            expect.fail(`a logout token judged ${verdict} was answered ${response.status}, not ${expected} (claims ${shown(claims)}, header ${shown(header)})`);
          }
        }
        if (response.status === 200 && seed.route === '/backchannel-logout') {
          answers.logout200++;
          // Whichever way it came (a form with other parameters too): its jti is spent, cluster-wide.
          if (isObject(claims)) acceptedJtis.add(claims.jti as string);
          // Accepted: what the token named is revoked on every instance (its iat is a whole number the realm signed).
          const { sid, sub, iat } = (isObject(claims) ? claims : {}) as { sid?: unknown; sub?: unknown; iat?: unknown };
          const before = typeof iat === 'number' ? Math.ceil(iat) - 10 : now() - 10;
          const probe = typeof sid === 'string' ? { sid, iat: before } : { sub: sub as string, iat: before };
          for (const [n, { app }] of fleet.instances.entries()) {
            await until(() => app.kcc.check(probe) === 'revoked', `the accepted logout on instance ${n}`, 10_000);
          }
        }
        watch.expectNone();
        canaries.expectActive(fleet.instances, `after a request to ${seed.route}`);
        expectPrototypesUnchanged(prototypes);
      }),
      fuzzParameters(1_200, 0x5eed_1001),
    );
  }, fuzzTimeoutMs(60_000));

  it('at the end: the counts agree with the answers, warnings are paced, and the fleet still works', async () => {
    const accepted = fleet.instances.reduce((sum, { app }) => sum + (app.kcc.logoutStats().backchannelLogout?.accepted ?? 0), 0);
    expect(accepted, 'logouts counted accepted').toBe(answers.logout200);
    expect(answers.status.get(200) ?? 0, `answers by status: ${JSON.stringify([...answers.status])}`).toBeGreaterThan(0);
    expect(answers.status.get(400) ?? 0).toBeGreaterThan(0);
    for (const [n, { lines }] of fleet.instances.entries()) {
      const warnings = warnLines(lines);
      // Paced: at most one a minute for each cause (about 25: the key set's three reasons and the
      // admin refusals' four per route, the claim mismatches, the clock), whatever the count of requests.
      expect(warnings.length, `instance ${n}'s warnings:\n${repeatedLines(warnings).slice(0, 8).join('\n')}`).toBeLessThanOrEqual(30 * pacedAllowance(startedAt));
      for (const [line, count] of repeatedLines(warnings, 100)) expect(count, `repeated warning: ${line}`).toBeLessThanOrEqual(pacedAllowance(startedAt));
    }
    await expectStillWorks(fleet);
    watch.expectNone();
    canaries.expectActive(fleet.instances, 'at the end');
    expectPrototypesUnchanged(prototypes);
  }, 60_000);
});
