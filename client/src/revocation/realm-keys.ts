import { type ExportedJWKSCache, type FetchImplementation, type JSONWebKeySet, type JWTVerifyGetKey, type RemoteJWKSetOptions, createLocalJWKSet, createRemoteJWKSet, customFetch, jwksCache } from 'jose';
import { type KccLogger, defaultLogger, kccLogger } from '../logger.js';
import { OptionProblems, kindOf, requireOptionsObject, show } from '../option-checks.js';
import { isPlainObject } from '../plain-object.js';
import { pause, waitAtMost } from '../time-limit.js';

/**
 * The JWS algorithms a realm may sign logout tokens and admin actions with: asymmetric only. `none`
 * and the HMAC family (`HS256`…) are never accepted: with HMAC, anyone holding the realm's public
 * key could forge a token.
 */
export const ASYMMETRIC_JWS_ALGORITHMS = [
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA', 'Ed25519',
] as const;

export type AsymmetricJwsAlgorithm = (typeof ASYMMETRIC_JWS_ALGORITHMS)[number];

/** Where the realm's signing keys come from, and which algorithms they may use. */
export interface RealmKeysOptions {
  /** The realm's issuer URL, e.g. `https://sso.example.com/realms/shop`. */
  readonly issuer: string;
  /**
   * The realm's JWKS endpoint, fetched with caching and an unknown-`kid` refetch.
   * @default `<issuer>/protocol/openid-connect/certs` (Keycloak's)
   */
  readonly jwksUri?: string | URL;
  /**
   * A key getter (a function) to use instead of fetching `jwksUri`: jose's `createLocalJWKSet(keySet)`
   * for a key set you hold, or a getter shared by several handlers. A key set itself (`{ keys: [...] }`) is refused.
   */
  readonly jwks?: JWTVerifyGetKey;
  /** Accepted `alg` values; asymmetric only. @default every entry of ASYMMETRIC_JWS_ALGORITHMS */
  readonly algorithms?: readonly AsymmetricJwsAlgorithm[];
  /**
   * How long a fetched JWKS is used before it is fetched again: a key the realm has removed is
   * trusted this long after the last successful fetch. When that fetch fails, a token signed by a
   * key of the set held is still verified with it for one more such period (up to twice this after
   * the set was fetched), and a warning says so at most once a minute; a token whose `kid` the set
   * held does not have still needs a fetch (503 while it fails).
   * @default 600000
   */
  readonly jwksCacheMaxAgeMs?: number;
  /**
   * Minimum time between two fetches triggered by an unknown `kid`. A token with an unknown `kid`
   * that arrives while the JWKS is cooling down waits for the cooldown to end (up to 3 s) and is
   * looked up again, so a forged token cannot make the realm's genuine new key look unknown. After
   * a fetch that failed, no fetch at all is tried for this long: a token that needs one meanwhile
   * is verified with the key set held when that has its key; otherwise it waits for the cooldown to
   * end (up to 3 s, the same wait) and one fetch is then tried for all those waiting. A token whose
   * wait ends first (only with a cooldown over 3 s) is answered 503 without a fetch.
   * @default 3000
   */
  readonly jwksCooldownMs?: number;
  /** Timeout of one JWKS fetch. @default 5000 */
  readonly jwksTimeoutMs?: number;
  /** Where a JWKS fetch that failed while the key set held was still used is reported (`warn`). @default defaultLogger */
  readonly logger?: KccLogger;
}

export const REALM_KEYS_DEFAULTS = {
  jwksCacheMaxAgeMs: 600_000,
  jwksCooldownMs: 3_000,
  jwksTimeoutMs: 5_000,
} as const;

/** The realm key getter and algorithm list, resolved from RealmKeysOptions. */
export interface RealmKeys {
  readonly getKey: JWTVerifyGetKey;
  readonly algorithms: readonly AsymmetricJwsAlgorithm[];
}

/** Every option of RealmKeysOptions (the compiler keeps the list whole); the handlers' lists add theirs. */
export const REALM_KEYS_OPTION_NAMES = {
  issuer: true, jwksUri: true, jwks: true, algorithms: true, jwksCacheMaxAgeMs: true, jwksCooldownMs: true, jwksTimeoutMs: true, logger: true,
} as const satisfies Record<keyof RealmKeysOptions, true>;

/**
 * Resolves where keys come from and which algorithms are allowed; throws one KccConfigError naming
 * every problem (an HMAC or `none` algorithm, both `jwks` and `jwksUri`, a bad issuer, …).
 *
 * @example
 * const keys = resolveRealmKeys({ issuer: 'https://sso.example.com/realms/shop' });
 * // share keys.getKey between the back-channel and Keycloak admin handlers:
 * createBackchannelLogoutHandler({ ..., jwks: keys.getKey });
 */
export function resolveRealmKeys(options: RealmKeysOptions): RealmKeys {
  requireOptionsObject(options, 'kcc-redis realm keys options', 'resolveRealmKeys({ issuer })');
  const problems = new OptionProblems();
  problems.unknownKeys(options, REALM_KEYS_OPTION_NAMES);
  const keys = realmKeysFrom(options, problems);
  problems.throwIfAny('kcc-redis realm keys options');
  return keys!;
}

/** {@link resolveRealmKeys} recording its problems into `problems` (undefined when there are any). */
export function realmKeysFrom(options: RealmKeysOptions, problems: OptionProblems): RealmKeys | undefined {
  const before = problems.list.length;
  let issuerUrl: URL | undefined;
  try {
    issuerUrl = new URL(options.issuer);
  } catch {
    problems.add(`issuer: ${show(options.issuer)} must be an absolute URL (the realm's issuer)`);
  }
  const algorithms: readonly AsymmetricJwsAlgorithm[] = options.algorithms ?? ASYMMETRIC_JWS_ALGORITHMS;
  if (!Array.isArray(algorithms)) {
    const given = typeof algorithms === 'string' ? `${show(algorithms)} is a string, not a list; give [${show(algorithms)}]` : `${kindOf(algorithms)}, not a list; give a list`;
    problems.add(`algorithms: ${given} of asymmetric JWS algorithms (${ASYMMETRIC_JWS_ALGORITHMS.join(', ')})`);
  } else if (algorithms.length === 0) problems.add('algorithms: must list at least one asymmetric JWS algorithm');
  for (const alg of Array.isArray(algorithms) ? algorithms : []) {
    if (!(ASYMMETRIC_JWS_ALGORITHMS as readonly string[]).includes(alg)) {
      problems.add(`algorithms: ${show(alg)} is not allowed; use asymmetric algorithms only (${ASYMMETRIC_JWS_ALGORITHMS.join(', ')})`);
    }
  }
  const d = REALM_KEYS_DEFAULTS;
  const cacheMaxAge = problems.number('jwksCacheMaxAgeMs', options.jwksCacheMaxAgeMs, d.jwksCacheMaxAgeMs, { unit: 'ms' });
  const cooldownDuration = problems.number('jwksCooldownMs', options.jwksCooldownMs, d.jwksCooldownMs, { unit: 'ms' });
  const timeoutDuration = problems.number('jwksTimeoutMs', options.jwksTimeoutMs, d.jwksTimeoutMs, { unit: 'ms' });
  const jwks: unknown = options.jwks;
  if (jwks !== undefined && typeof jwks !== 'function') {
    problems.add(isPlainObject(jwks) && Array.isArray(jwks.keys)
      ? 'jwks: a key set ({ keys: [...] }), not a key getter; pass createLocalJWKSet(jwks) (from jose), or leave jwks out to fetch jwksUri'
      : `jwks: ${kindOf(jwks)}, not a key getter; pass a function such as jose's createLocalJWKSet(keySet), or leave jwks out to fetch jwksUri`);
  }
  if (jwks !== undefined && options.jwksUri !== undefined) problems.add('jwks, jwksUri: give one of them, not both');
  let jwksUrl: URL | undefined;
  if (jwks === undefined && issuerUrl) {
    try {
      jwksUrl = new URL(options.jwksUri ?? `${issuerUrl.href.replace(/\/+$/, '')}/protocol/openid-connect/certs`);
    } catch {
      problems.add(`jwksUri: ${show(String(options.jwksUri))} must be an absolute URL`);
    }
  }
  if (problems.list.length > before) return undefined;
  return {
    getKey: options.jwks ?? lazyRemoteJwks(jwksUrl!, { cacheMaxAge, cooldownDuration, timeoutDuration }, 2 * cacheMaxAge, options.logger ? kccLogger(options.logger) : defaultLogger),
    algorithms,
  };
}

/** The URL each key getter made here fetches, kept beside it so that one shared as `jwks` (the Fastify plugin's) is still known by it. */
const jwksUrls = new WeakMap<JWTVerifyGetKey, string>();

/**
 * The JWKS URL `getKey` fetches (origin and path, as the warnings show it), when {@link realmKeysFrom}
 * made it; undefined for a key getter of the app's own.
 */
export function jwksUrlOf(getKey: JWTVerifyGetKey): string | undefined {
  return jwksUrls.get(getKey);
}

/**
 * jose's remote key set, made at the first verification: making it loads Node's fetch machinery
 * (undici), about 30 ms of a cold start on Node 20, which an instance that never receives a logout
 * token does not need.
 *
 * jose refetches on an unknown `kid` at most once per cooldown and refuses every unknown `kid`
 * meanwhile. Anyone can start a cooldown with a made-up `kid`; a genuine token signed by a key the
 * realm has just added would then be refused (Keycloak sends a logout token once). So a `kid`
 * unknown during a cooldown waits for it to end, {@link UNKNOWN_KID_WAIT_MS} at most, and is looked
 * up again with a fresh fetch.
 *
 * jose also refetches once its cache has expired, and throws when that fetch fails rather than use
 * the set it holds: a logout signed by a key held here would be answered 503 and lost. The set held
 * is then used ({@link withHeldKeys}) up to `heldMaxAgeMs` after its fetch: twice the cache's age,
 * so a key the realm removed is trusted one cache period longer than while the JWKS answers, never
 * a fixed time that a short `jwksCacheMaxAgeMs` (set to stop trusting removed keys sooner) would
 * not bound.
 *
 * jose judges its cache's age and its cooldown by the wall clock: after the clock steps back, both
 * would last that much longer (a removed key trusted, a new key refused, for as long as the step).
 * Each is also judged here on the monotonic clock ({@link FetchClock}), and a fetch made when
 * either clock says so.
 *
 * jose's cooldown starts only after a fetch that succeeded: while the JWKS answers errors, every
 * lookup that needs keys (a made-up `kid`; any token once the cache has expired) would fetch again.
 * {@link FailedFetchCooldown} allows one attempt per cooldown after a failure, whatever asks for it.
 * A token that needs a fetch within that cooldown (and whose key the set held does not have) waits
 * for it to end, as an unknown `kid` waits for jose's, and is looked up once more: one failed
 * fetch, which anyone can make sure is recorded by sending a made-up `kid` while the identity
 * provider blips, no longer gets the genuine logouts signed by a new key that follow it refused for
 * the whole cooldown (a review of 7802a3a: answered 503 at once, and lost). The waits share one
 * poll of the cooldown and, when it ends, jose's single fetch in flight; each waits
 * {@link UNKNOWN_KID_WAIT_MS} at most, counted from the lookup's start and shared with the
 * unknown-`kid` wait, so what waits at once is what arrives within that time, as for an unknown
 * `kid`.
 */
function lazyRemoteJwks(url: URL, options: RemoteJWKSetOptions & { cacheMaxAge: number; cooldownDuration: number }, heldMaxAgeMs: number, logger: KccLogger): JWTVerifyGetKey {
  let remote: ReturnType<typeof createRemoteJWKSet> | undefined;
  // jose records here the set it last fetched and when (`uat`, wall clock).
  const fetched: Partial<ExportedJWKSCache> = {};
  const clock = new FetchClock(fetched);
  const failures = new FailedFetchCooldown(fetched, options.cooldownDuration);
  const lookup: Lookup = async (protectedHeader, token, deadline) => {
    const jwks = (remote ??= createRemoteJWKSet(url, { ...options, [jwksCache]: fetched as Record<string, never>, [customFetch]: failures.fetch }));
    if (jwks.fresh && clock.ageMs() >= options.cacheMaxAge) await clock.watch(() => jwks.reload());
    try {
      return await clock.watch(() => jwks(protectedHeader, token));
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'ERR_JWKS_NO_MATCHING_KEY' || !jwks.coolingDown) throw error;
      const coolingDown = () => jwks.coolingDown && clock.ageMs() < options.cooldownDuration;
      while (coolingDown() && performance.now() < deadline) await pause(COOLDOWN_POLL_MS);
      if (jwks.coolingDown && !coolingDown()) await clock.watch(() => jwks.reload());
      // Looked up again even if still cooling down: another lookup may have fetched the key set
      // meanwhile (a stale cache refetches whatever the cooldown), starting a cooldown of its own that
      // this wait never saw end (found by review: the new key was then refused although held).
      return clock.watch(() => jwks(protectedHeader, token));
    }
  };
  // jose replaces both on every successful fetch (never on a failed one): the set held is the latest.
  const held = () => (fetched.jwks && fetched.uat !== undefined ? { jwks: fetched.jwks, ageMs: Math.max(Date.now() - fetched.uat, clock.ageMs()) } : undefined);
  const getKey = withHeldKeys(lookup, held, heldMaxAgeMs, url, logger);
  const remoteGetKey: JWTVerifyGetKey = async (protectedHeader, token) => {
    const startedAt = performance.now();
    const deadline = startedAt + UNKNOWN_KID_WAIT_MS;
    try {
      return await getKey(protectedHeader, token, deadline);
    } catch (error) {
      if (!(error instanceof JwksFetchSkipped)) throw error;
    }
    // Nothing was fetched for this token (the last fetch failed within the cooldown) and the set
    // held cannot verify it: wait for the cooldown to end, then look up once more. A cooldown that
    // ends on the monotonic clock before the deadline is waited for whole (not cut by a timer that
    // may fire a moment early); a longer one until the deadline, unless the wall clock ends it first.
    const leftMs = deadline - performance.now();
    if (failures.monotonicLeftMs() <= leftMs) await failures.over();
    else await waitAtMost(failures.over(), leftMs);
    try {
      return await getKey(protectedHeader, token, deadline);
    } catch (error) {
      // Skipped again after an attempt made (and failed) while this token waited: that failure is
      // its answer, not the cooldown.
      if (error instanceof JwksFetchSkipped && error.failedAt >= startedAt) {
        throw new Error(`the realm JWKS fetch tried while this token waited failed; the next is tried once jwksCooldownMs (${Math.round(options.cooldownDuration / 1000)} s) has passed`);
      }
      throw error;
    }
  };
  jwksUrls.set(remoteGetKey, `${url.origin}${url.pathname}`);
  return remoteGetKey;
}

type GetKeyArguments = Parameters<JWTVerifyGetKey>;
/** A key lookup that waits for nothing past `deadline` (performance.now()). */
type Lookup = (protectedHeader: GetKeyArguments[0], token: GetKeyArguments[1], deadline: number) => ReturnType<JWTVerifyGetKey>;

/**
 * When jose last fetched the key set, on the monotonic clock: the start of the call during which
 * jose's record changed (at or before the fetch, so an age read from it is never too short).
 */
class FetchClock {
  private seen: unknown;
  private fetchedAt = -Infinity;
  constructor(private readonly fetched: Partial<ExportedJWKSCache>) {}

  /** Runs `call`, which may make jose fetch. */
  async watch<T>(call: () => Promise<T>): Promise<T> {
    const startedAt = performance.now();
    try {
      return await call();
    } finally {
      if (this.fetched.jwks !== this.seen) {
        this.seen = this.fetched.jwks;
        this.fetchedAt = startedAt;
      }
    }
  }

  ageMs(): number {
    return performance.now() - this.fetchedAt;
  }
}

/**
 * A JWKS fetch refused by {@link FailedFetchCooldown}: the last attempt failed less than
 * `jwksCooldownMs` ago. A token verification that fails with it had no fetch tried for it (the
 * handlers warn and count these apart from the fetches that failed).
 */
class JwksFetchSkipped extends Error {
  constructor(message: string, /** When the failed attempt ended (performance.now()). */ readonly failedAt: number) {
    super(message);
    this.name = 'JwksFetchSkipped';
  }
}

/** Whether a verification failed because the realm JWKS was not fetched for it (the cooldown after a failed fetch), rather than because a fetch failed. */
export function isJwksFetchSkipped(error: unknown): boolean {
  return error instanceof JwksFetchSkipped;
}

/**
 * At most one JWKS fetch attempt per `cooldownMs` after an attempt that failed (an error status, a
 * timeout, a dropped connection, a body that is no key set): jose's own cooldown starts only after
 * a fetch that succeeded, so while the realm's JWKS answered errors each forged logout token with a
 * made-up `kid` made one fetch (an attack review: 200 requests, 200 fetches of an identity provider
 * already answering 503). A fetch asked for meanwhile fails at once, without a request
 * ({@link JwksFetchSkipped}): the lookup uses the key set held when it has the token's key, and
 * otherwise waits for {@link over} and tries once more. Concurrent
 * lookups still share the one attempt in flight (jose's). An attempt failed when jose did not record
 * a new key set from it. The cooldown counts from the attempt's end and is over when either clock
 * says so (the wall clock as jose's, the monotonic one so that a clock stepped back lengthens
 * nothing). It applies to the first fetch after start too: an instance that has never fetched the
 * key set retries once per cooldown, not once per request.
 */
class FailedFetchCooldown {
  private last: { readonly before: unknown; readonly endedAt: number; readonly endedAtWall: number } | undefined;
  private ending: Promise<void> | undefined;

  constructor(private readonly fetched: Partial<ExportedJWKSCache>, private readonly cooldownMs: number) {}

  /** How long ago the last attempt failed, if a fetch asked for now would be refused. */
  private failedMsAgo(): number | undefined {
    const last = this.last;
    if (last === undefined || this.fetched.jwks !== last.before) return undefined;
    const sinceMs = Math.max(performance.now() - last.endedAt, Date.now() - last.endedAtWall);
    return sinceMs < this.cooldownMs ? sinceMs : undefined;
  }

  /** How long until the monotonic clock ends the cooldown (0 when none is on; the wall clock may end it sooner). */
  monotonicLeftMs(): number {
    return this.failedMsAgo() === undefined ? 0 : Math.max(0, this.last!.endedAt + this.cooldownMs - performance.now());
  }

  /**
   * Resolves once a fetch would no longer be refused. One poll serves every waiter: every
   * {@link COOLDOWN_POLL_MS} (the wall clock may end the cooldown), and just after the monotonic
   * clock ends it; it stops then.
   */
  over(): Promise<void> {
    if (this.failedMsAgo() === undefined) return Promise.resolve();
    return (this.ending ??= (async () => {
      try {
        do await pause(Math.min(COOLDOWN_POLL_MS, Math.ceil(this.monotonicLeftMs()) + 1));
        while (this.failedMsAgo() !== undefined);
      } finally {
        this.ending = undefined;
      }
    })());
  }

  readonly fetch: FetchImplementation = async (url, init) => {
    const sinceMs = this.failedMsAgo();
    if (sinceMs !== undefined) {
      throw new JwksFetchSkipped(`not fetched: the last fetch failed ${Math.max(0, Math.round(sinceMs / 1000))} s ago, and the next is tried once jwksCooldownMs (${Math.round(this.cooldownMs / 1000)} s) has passed`, this.last!.endedAt);
    }
    const before = this.fetched.jwks;
    try {
      return await fetch(url, init);
    } finally {
      this.last = { before, endedAt: performance.now(), endedAtWall: Date.now() };
    }
  };
}

/**
 * `lookup`, falling back on the key set `held()` returns when the lookup could not get keys (a fetch
 * failed, timed out, or returned no key set), if that set was fetched at most `maxAgeMs` ago and
 * has the token's key. Otherwise the lookup's error stands (503): a `kid` the held set does not
 * have needs the fetch. Said at `warn` at most once a minute.
 */
function withHeldKeys(lookup: Lookup, held: () => { jwks: JSONWebKeySet; ageMs: number } | undefined, maxAgeMs: number, url: URL, logger: KccLogger): Lookup {
  let local: { set: JSONWebKeySet; getKey: JWTVerifyGetKey } | undefined;
  let warnedAt = -Infinity;
  return async (protectedHeader, token, deadline) => {
    try {
      return await lookup(protectedHeader, token, deadline);
    } catch (error) {
      const set = held();
      if (classifyVerificationError(error) !== 'keys_unavailable' || !set || set.ageMs > maxAgeMs) throw error;
      if (local?.set !== set.jwks) local = { set: set.jwks, getKey: createLocalJWKSet(set.jwks) };
      let key: Awaited<ReturnType<JWTVerifyGetKey>>;
      try {
        key = await local.getKey(protectedHeader, token);
      } catch {
        throw error;
      }
      const now = Date.now();
      if (now - warnedAt >= STALE_WARNING_INTERVAL_MS || now < warnedAt) {
        warnedAt = now;
        logger.warn(`the realm JWKS could not be fetched (${url.origin}${url.pathname}); verifying with the key set fetched ${Math.round(set.ageMs / 1000)} s ago (used up to ${Math.round(maxAgeMs / 1000)} s after its fetch, twice jwksCacheMaxAgeMs)`, {
          error: error instanceof Error ? error.message : String(error),
        });
      }
      return key;
    }
  };
}

const STALE_WARNING_INTERVAL_MS = 60_000;

/**
 * The longest a token waits for a JWKS cooldown to end (jose's, for an unknown `kid`; or the one
 * after a failed fetch, for a token the key set held cannot verify), both waits together: within
 * Keycloak's outgoing HTTP socket timeout (5 s by default), with room for the fetch.
 */
const UNKNOWN_KID_WAIT_MS = 3_000;
const COOLDOWN_POLL_MS = 50;

/** Why a signed token failed before its payload was looked at. */
export type SignatureFailure = 'malformed_token' | 'unsupported_alg' | 'unknown_kid' | 'bad_signature';

const SIGNATURE_FAILURES: Readonly<Record<string, SignatureFailure>> = {
  ERR_JWS_INVALID: 'malformed_token',
  ERR_JWT_INVALID: 'malformed_token',
  ERR_JOSE_NOT_SUPPORTED: 'malformed_token',
  ERR_JOSE_ALG_NOT_ALLOWED: 'unsupported_alg',
  ERR_JWKS_NO_MATCHING_KEY: 'unknown_kid',
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: 'bad_signature',
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'bad_signature',
};

const CLAIM_ERRORS = new Set(['ERR_JWT_CLAIM_VALIDATION_FAILED', 'ERR_JWT_EXPIRED']);

/**
 * Sorts an error thrown by jose's verification: a signature-stage failure of the token (400), a
 * claim failure (`'claims'`, for the caller to map), or anything else — the JWKS could not be
 * fetched, timed out or was invalid — `'keys_unavailable'` (503).
 */
export function classifyVerificationError(error: unknown): SignatureFailure | 'claims' | 'keys_unavailable' {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  if (typeof code === 'string') {
    const failure = SIGNATURE_FAILURES[code];
    if (failure) return failure;
    if (CLAIM_ERRORS.has(code)) return 'claims';
  }
  return 'keys_unavailable';
}
