/**
 * Fuzzing a live instance, end to end: generated and mutated inputs thrown at running Fastify
 * instances of the plugin (real redis-server with TLS and the stack's ACL users, real HTTP, a realm
 * whose JWKS is served over loopback), and the properties checked after each run.
 *
 * - {@link fuzzParameters}: runs and seed, fixed in the suite, `KCC_FUZZ_RUNS` / `KCC_FUZZ_SEED` to explore;
 * - {@link mutatedText} and {@link mutatedJsonText}: structural mutations of a JSON seed (fields dropped,
 *   added, retyped, duplicated, `__proto__` keys, huge numbers, long strings, lone surrogates, deep
 *   nesting), then of its bytes (truncation, bytes that are not UTF-8);
 * - {@link LiveFleet}: the app-env, its realm and its instances, with a recording logger each;
 * - the properties: {@link ProcessWatch} (no uncaught exception, no unhandled rejection),
 *   {@link Canaries} (never targeted, always `active`), {@link prototypesSnapshot},
 *   {@link retainedEntries} (memory counted in entries), {@link warnLines}.
 */
import { randomUUID, webcrypto } from 'node:crypto';
import type { Server } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { expect } from 'vitest';
import { KccRedis, type KccLogger } from '../../client/src/index.js';
import { fastifyKcc } from '../../client/src/fastify/index.js';
import type { LocalRedis } from '../../local/local-redis.js';
import { until } from './events.js';
import { close, listen } from './http.js';
import { FORM_TYPE, type RealmKey, form, logoutClaims, realmKey, signToken } from './logout-tokens.js';
import { connectAs, kccOptions, startTestRedis } from './redis.js';

// ---------------------------------------------------------------------------------------------
// Runs and seeds
// ---------------------------------------------------------------------------------------------

/**
 * fast-check's parameters for one property: `runs` (scaled by `KCC_FUZZ_RUNS`, a multiplier, e.g.
 * 10 to explore) and a fixed seed (`KCC_FUZZ_SEED` replaces it; a failure prints the seed and path
 * to replay).
 */
export function fuzzParameters(runs: number, seed: number): { numRuns: number; seed: number; endOnFailure: true; verbose: 1 } {
  const factor = Number(process.env.KCC_FUZZ_RUNS ?? '1');
  const givenSeed = process.env.KCC_FUZZ_SEED;
  return {
    numRuns: Math.max(1, Math.round(runs * (Number.isFinite(factor) && factor > 0 ? factor : 1))),
    seed: givenSeed !== undefined && givenSeed !== '' ? Number(givenSeed) : seed,
    // No shrinking against a live instance: each run changes its state, so a replayed smaller input
    // would not meet the same state. The seed and path replay the whole sequence instead.
    endOnFailure: true,
    verbose: 1,
  };
}

/** How long a fuzzing test may take at most (hook and test timeouts), scaled like the runs. */
export function fuzzTimeoutMs(base: number): number {
  const factor = Number(process.env.KCC_FUZZ_RUNS ?? '1');
  return Math.round(base * Math.max(1, Number.isFinite(factor) ? factor : 1));
}

// ---------------------------------------------------------------------------------------------
// Structural mutations of JSON
// ---------------------------------------------------------------------------------------------

/** JSON as a tree this file renders itself: keys may repeat or be `__proto__`, numbers keep their text. */
export type JsonNode =
  | { readonly t: 'obj'; readonly e: (readonly [string, JsonNode])[] }
  | { readonly t: 'arr'; readonly a: JsonNode[] }
  | { readonly t: 'str'; readonly v: string }
  | { readonly t: 'num'; readonly raw: string }
  | { readonly t: 'lit'; readonly raw: 'true' | 'false' | 'null' }
  /** Text rendered as is (deep nesting, made without recursion). */
  | { readonly t: 'raw'; readonly raw: string };

export function toNode(value: unknown): JsonNode {
  if (value === null) return { t: 'lit', raw: 'null' };
  if (value === true || value === false) return { t: 'lit', raw: String(value) as 'true' | 'false' };
  if (typeof value === 'number') return { t: 'num', raw: JSON.stringify(value) };
  if (typeof value === 'string') return { t: 'str', v: value };
  if (Array.isArray(value)) return { t: 'arr', a: value.map(toNode) };
  return { t: 'obj', e: Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, toNode(v)] as const) };
}

export function render(node: JsonNode): string {
  switch (node.t) {
    case 'obj': return `{${node.e.map(([k, v]) => `${JSON.stringify(k)}:${render(v)}`).join(',')}}`;
    case 'arr': return `[${node.a.map(render).join(',')}]`;
    case 'str': return JSON.stringify(node.v);
    case 'num': case 'lit': case 'raw': return node.raw;
  }
}

/** Every node of the tree, depth first, with a function that replaces it in its parent (none for the root). */
function nodesOf(root: JsonNode): { node: JsonNode; replace?: (next: JsonNode | undefined) => void }[] {
  const out: { node: JsonNode; replace?: (next: JsonNode | undefined) => void }[] = [{ node: root }];
  for (let at = 0; at < out.length; at++) {
    const { node } = out[at]!;
    if (node.t === 'obj') {
      node.e.forEach(([key, child]) => out.push({ node: child, replace: (next) => {
        const index = node.e.findIndex((entry) => entry[1] === child);
        if (index < 0) return;
        if (next === undefined) node.e.splice(index, 1);
        else node.e[index] = [key, next];
      } }));
    } else if (node.t === 'arr') {
      node.a.forEach((child) => out.push({ node: child, replace: (next) => {
        const index = node.a.indexOf(child);
        if (index < 0) return;
        if (next === undefined) node.a.splice(index, 1);
        else node.a[index] = next;
      } }));
    }
  }
  return out;
}

/** Keys an attacker would try: prototype names, the formats' own field names, oddities. */
const KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '', ' ', 'v', 'id', 'type', 'sender', 'at', 'data', 'revocations', 'kind', 'sid', 'sub', 'exp', 'nbf', 'upTo', 'action', 'notBefore', 'expiration', 'resource', 'iss', 'aud', 'iat', 'jti', 'events', 'nonce', 'typ', 'alg', 'kid', 'crit', 'b64', 'generation', 'kek', 'tag', 'keys'];
/** Numbers as text: beyond double range (Infinity once parsed), negative zero, beyond 2^53, fractions, far future. */
const NUMBERS = ['0', '-0', '-1', '1', '1.5', '1e21', '1e308', '1e999', '-1e999', '9007199254740993', '-9007199254740993', '99999999999999999999999', '4102444800', '4102444800000', '2147483648', '0.1e-400', '1E2', '3.0'];
/** Strings an attacker would try: empty, near-ids, Redis-ish, JSON-ish, control and prototype names. */
const STRINGS = ['', ' ', 'null', 'undefined', '__proto__', 'constructor', '0', '-1', 'NaN', 'Infinity', '1e999', 'shop', 'shop-prod', 'revocation', 'session', 'subject', 'client', 'keycloak-push', 'keyring-check', 'keyring-changed', 'PUSH_NOT_BEFORE', 'LOGOUT', 'logout+jwt', 'JWT', 'none', 'HS256', '\u0000', 'a\r\nb', '*', '{}', '[]', '"', '\\', '%00', '\u202e', '\ud800', '\udfff', 'x\ud83d', '\ud83d\ude00'];

/** One structural mutation, applied to the node at `at` (modulo the node count). */
export type Mutation =
  | { readonly op: 'drop'; readonly at: number }
  | { readonly op: 'add'; readonly at: number; readonly key: string; readonly value: JsonNode }
  | { readonly op: 'dup'; readonly at: number; readonly value: JsonNode }
  | { readonly op: 'retype'; readonly at: number; readonly value: JsonNode }
  | { readonly op: 'number'; readonly at: number; readonly raw: string }
  | { readonly op: 'long'; readonly at: number; readonly length: number; readonly unit: string }
  | { readonly op: 'surrogate'; readonly at: number; readonly unit: number }
  | { readonly op: 'nest'; readonly at: number; readonly depth: number; readonly open: '[' | '{"a":' }
  /** An own `__proto__` (or `constructor.prototype`) member holding values, as a prototype-pollution payload carries it. */
  | { readonly op: 'proto'; readonly at: number; readonly key: '__proto__' | 'constructor'; readonly name: string };

const leafArb: fc.Arbitrary<JsonNode> = fc.oneof(
  fc.constantFrom(...NUMBERS).map((raw): JsonNode => ({ t: 'num', raw })),
  fc.constantFrom(...STRINGS).map((v): JsonNode => ({ t: 'str', v })),
  fc.string({ maxLength: 12, unit: 'binary' }).map((v): JsonNode => ({ t: 'str', v })),
  fc.constantFrom('true', 'false', 'null').map((raw): JsonNode => ({ t: 'lit', raw: raw as 'true' | 'false' | 'null' })),
  fc.integer().map((n): JsonNode => ({ t: 'num', raw: String(n) })),
  fc.constant<JsonNode>({ t: 'obj', e: [] }),
  fc.constant<JsonNode>({ t: 'arr', a: [] }),
  fc.jsonValue({ maxDepth: 2 }).map(toNode),
);

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('add' as const), at: fc.nat(), key: fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 8 })), value: leafArb }),
  fc.record({ op: fc.constant('dup' as const), at: fc.nat(), value: leafArb }),
  fc.record({ op: fc.constant('retype' as const), at: fc.nat(), value: leafArb }),
  fc.record({ op: fc.constant('number' as const), at: fc.nat(), raw: fc.constantFrom(...NUMBERS) }),
  fc.record({ op: fc.constant('long' as const), at: fc.nat(), length: fc.constantFrom(257, 769, 5_000, 70_000), unit: fc.constantFrom('x', 'é', '\u{1F600}', '\ud800') }),
  fc.record({ op: fc.constant('surrogate' as const), at: fc.nat(), unit: fc.integer({ min: 0xd800, max: 0xdfff }) }),
  fc.record({ op: fc.constant('nest' as const), at: fc.nat(), depth: fc.constantFrom(2, 64, 1_000, 20_000), open: fc.constantFrom('[' as const, '{"a":' as const) }),
  fc.record({ op: fc.constant('proto' as const), at: fc.nat(), key: fc.constantFrom('__proto__' as const, 'constructor' as const), name: fc.constantFrom('polluted', 'admin', 'kind', 'sid', 'v', 'toString') }),
);

/** Applies `mutations` to a copy of the tree of `seed`; returns the new root. */
export function applyMutations(seed: unknown, mutations: readonly Mutation[]): JsonNode {
  let root = toNode(seed);
  for (const given of mutations) {
    // The generators share their constant nodes between runs: each is inserted as a copy.
    const mutation = structuredClone(given);
    const nodes = nodesOf(root);
    const target = nodes[mutation.at % nodes.length]!;
    const replace = (next: JsonNode | undefined) => {
      if (target.replace) target.replace(next);
      else if (next) root = next;
    };
    const node = target.node;
    switch (mutation.op) {
      case 'drop':
        if (node.t === 'obj' && node.e.length > 0) node.e.splice(mutation.at % node.e.length, 1);
        else if (node.t === 'arr' && node.a.length > 0) node.a.splice(mutation.at % node.a.length, 1);
        else replace(undefined);
        break;
      case 'add':
        if (node.t === 'obj') node.e.push([mutation.key, mutation.value]);
        else if (node.t === 'arr') node.a.push(mutation.value);
        else replace({ t: 'obj', e: [[mutation.key, mutation.value]] });
        break;
      case 'dup':
        // A key twice: JSON.parse keeps the last.
        if (node.t === 'obj' && node.e.length > 0) node.e.push([node.e[mutation.at % node.e.length]![0], mutation.value]);
        else replace(mutation.value);
        break;
      case 'retype':
        replace(mutation.value);
        break;
      case 'number':
        replace({ t: 'num', raw: mutation.raw });
        break;
      case 'long':
        replace({ t: 'str', v: (node.t === 'str' ? node.v : '') + mutation.unit.repeat(mutation.length) });
        break;
      case 'surrogate': {
        const unit = String.fromCharCode(mutation.unit);
        if (node.t === 'str') replace({ t: 'str', v: node.v.slice(0, mutation.at % (node.v.length + 1)) + unit + node.v.slice(mutation.at % (node.v.length + 1)) });
        else if (node.t === 'obj' && node.e.length > 0) {
          const i = mutation.at % node.e.length;
          node.e[i] = [node.e[i]![0] + unit, node.e[i]![1]];
        } else replace({ t: 'str', v: unit });
        break;
      }
      case 'proto': {
        const payload: JsonNode = { t: 'obj', e: [[mutation.name, { t: 'lit', raw: 'true' }]] };
        const entry: readonly [string, JsonNode] = mutation.key === '__proto__' ? ['__proto__', payload] : ['constructor', { t: 'obj', e: [['prototype', payload]] }];
        if (node.t === 'obj') node.e.push(entry);
        else replace({ t: 'obj', e: [entry] });
        break;
      }
      case 'nest': {
        const close = mutation.open === '[' ? ']' : '}';
        replace({ t: 'raw', raw: mutation.open.repeat(mutation.depth) + render(node) + close.repeat(mutation.depth) });
        break;
      }
    }
  }
  return root;
}

/** A mutation of the text's bytes, after the structural ones. */
export type ByteMutation =
  | { readonly op: 'none' }
  | { readonly op: 'truncate'; readonly at: number }
  | { readonly op: 'insert'; readonly at: number; readonly bytes: readonly number[] }
  | { readonly op: 'replace'; readonly text: string };

/** Bytes that are not UTF-8: a lone continuation byte, 0xFF, an overlong NUL, a truncated sequence, an encoded surrogate (CESU-8). */
const BAD_BYTES: readonly (readonly number[])[] = [[0x80], [0xff], [0xc0, 0x80], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x00]];

export const byteMutationArb: fc.Arbitrary<ByteMutation> = fc.oneof(
  { weight: 5, arbitrary: fc.constant<ByteMutation>({ op: 'none' }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.constantFrom(...BAD_BYTES) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('replace' as const), text: fc.constantFrom('', 'null', '[]', '{}', '"x"', '1e999', 'true', '{"v":1}', '\u0000', ' '.repeat(10)) }) },
);

export function applyBytes(text: string, mutation: ByteMutation): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  switch (mutation.op) {
    case 'none': return bytes;
    case 'truncate': return bytes.subarray(0, mutation.at % Math.max(1, bytes.length));
    case 'insert': {
      const at = mutation.at % (bytes.length + 1);
      return Buffer.concat([bytes.subarray(0, at), Buffer.from(mutation.bytes), bytes.subarray(at)]);
    }
    case 'replace': return Buffer.from(mutation.text, 'utf8');
  }
}

/** A structural and byte mutation plan, rendered against a seed. */
export interface MutationPlan {
  readonly mutations: readonly Mutation[];
  readonly bytes: ByteMutation;
}

export const mutationPlanArb: fc.Arbitrary<MutationPlan> = fc.record({
  mutations: fc.array(mutationArb, { minLength: 0, maxLength: 4 }),
  bytes: byteMutationArb,
});

/** The seed mutated by `plan`, as text (structural mutations only). */
export function mutatedJsonText(seed: unknown, mutations: readonly Mutation[]): string {
  return render(applyMutations(seed, mutations));
}

/** The seed mutated by `plan`, as bytes. */
export function mutatedText(seed: unknown, plan: MutationPlan): Buffer {
  return applyBytes(mutatedJsonText(seed, plan.mutations), plan.bytes);
}

/** `JSON.parse` of bytes as UTF-8, or undefined when they do not parse. */
export function parsedOrUndefined(bytes: Buffer | string): unknown {
  try {
    return JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// JWS: signed over exact bytes (a header or payload of any text), by a realm key or none
// ---------------------------------------------------------------------------------------------

const b64 = (bytes: Buffer | string): string => Buffer.from(bytes).toString('base64url');

/** A compact JWS over exactly `header` and `payload` (texts or bytes), signed with `key` (ES256) or with `signature` bytes as given. */
export async function compactJws(header: Buffer | string, payload: Buffer | string, signer: RealmKey | { readonly signature: Buffer }): Promise<string> {
  const input = `${b64(header)}.${b64(payload)}`;
  if ('signature' in signer) return `${input}.${b64(signer.signature)}`;
  if (signer.alg !== 'ES256') throw new Error('compactJws signs with ES256 keys only');
  const signature = await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, signer.privateKey, Buffer.from(input));
  return `${input}.${b64(Buffer.from(signature))}`;
}

// ---------------------------------------------------------------------------------------------
// The fleet: Redis, the realm, the instances
// ---------------------------------------------------------------------------------------------

export const FUZZ_APP = { app: 'shop', env: 'prod' } as const;
export const FUZZ_USER = 'shop-prod';
export const FUZZ_CLIENT_ID = 'shop';
/** The key ring's key-encryption key of these tests: a secret the scans look for. */
export const FUZZ_KEK = 'fuzz-live-key-encryption-key-0123456789abcdefghij';

/** A logger keeping every line, by level. */
export function linesLogger(): KccLogger & { readonly lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (message) => void lines.push(`info ${message}`),
    warn: (message) => void lines.push(`warn ${message}`),
  };
}

/** A running instance of the app: the Fastify app with the plugin, listening on loopback. */
export interface LiveInstance {
  readonly app: FastifyInstance;
  readonly url: string;
  /** Every line the plugin logged (`info …`, `warn …`). */
  readonly lines: string[];
}

/** The realm: one ES256 key, its JWKS served over loopback at Keycloak's path. */
export class FuzzRealm {
  fetches = 0;
  private constructor(readonly key: RealmKey, readonly stranger: RealmKey, private readonly server: Server, readonly issuer: string) {}

  static async start(): Promise<FuzzRealm> {
    const [key, stranger] = await Promise.all([realmKey('realm-1', 'ES256'), realmKey('stranger', 'ES256')]);
    let realm: FuzzRealm | undefined;
    const { server, url } = await listen((_req, res) => {
      realm!.fetches += 1;
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ keys: [key.publicJwk] }));
    });
    realm = new FuzzRealm(key, stranger, server, `${url}/realms/shop`);
    return realm;
  }

  stop(): Promise<void> {
    return close(this.server);
  }
}

/**
 * One app-env on its own redis-server (TLS, the default user off, `shop-prod` limited to its
 * namespace), a realm, and instances of the app (the Fastify plugin with the Keycloak admin routes
 * at `/kc`) listening on loopback. The attacker holds `shop-prod`'s password.
 */
export class LiveFleet {
  readonly instances: LiveInstance[] = [];
  private readonly raws: Redis[] = [];
  private readonly probes: KccRedis[] = [];

  private constructor(readonly server: LocalRedis, readonly realm: FuzzRealm) {}

  static async start(count: number): Promise<LiveFleet> {
    const [server, realm] = await Promise.allSettled([startTestRedis({ appEnvs: [FUZZ_APP], persistence: 'none' }), FuzzRealm.start()]);
    if (server.status === 'rejected' || realm.status === 'rejected') {
      await Promise.allSettled([server.status === 'fulfilled' && server.value.stop(), realm.status === 'fulfilled' && realm.value.stop()]);
      throw server.status === 'rejected' ? server.reason : (realm as PromiseRejectedResult).reason;
    }
    const fleet = new LiveFleet(server.value, realm.value);
    try {
      for (let i = 0; i < count; i++) await fleet.startInstance();
    } catch (error) {
      await fleet.stop();
      throw error;
    }
    return fleet;
  }

  /** The Redis password of the app-env: a secret. */
  get password(): string {
    return this.server.users.get(FUZZ_USER)!.password;
  }

  /** A key of the app-env (`shop-prod:{shop-prod}:<name>`). */
  key(name: string): string {
    return `${FUZZ_USER}:{${FUZZ_USER}}:${name}`;
  }

  /** A channel of the app-env (`shop-prod:<name>`). */
  channel(name: string): string {
    return `${FUZZ_USER}:${name}`;
  }

  async startInstance(): Promise<LiveInstance> {
    const logger = linesLogger();
    const app = Fastify();
    await app.register(fastifyKcc, {
      issuer: this.realm.issuer,
      clientId: FUZZ_CLIENT_ID,
      connection: kccOptions(this.server, FUZZ_USER, { logger }),
      keyRing: { keyEncryptionKey: FUZZ_KEK, env: {}, algorithm: 'ES256' },
      logger,
      keycloakAdmin: { enabled: true, adminUrlPath: '/kc' },
      // A made-up kid refetches the realm's JWKS at most once per cooldown, and a token whose kid is
      // unknown during one waits for its end: short, so that generated kids cost milliseconds.
      realmKeys: { jwksCooldownMs: 20 },
      // Polls of the revocation log every second.
      revocations: { maxStalenessMs: 3_000 },
    });
    await app.ready();
    const instance = { app, url: await app.listen({ port: 0, host: '127.0.0.1' }), lines: logger.lines };
    this.instances.push(instance);
    return instance;
  }

  /** A raw connection as the app-env's user: what the attacker holds. */
  async attacker(): Promise<Redis> {
    const raw = await connectAs(this.server, FUZZ_USER);
    this.raws.push(raw);
    return raw;
  }

  /** A connection of the client's own (for Revocations started per run), closed with the fleet. */
  async probe(logger: KccLogger): Promise<KccRedis> {
    const redis = await KccRedis.connect(kccOptions(this.server, FUZZ_USER, { logger }), ['subscriber']);
    this.probes.push(redis);
    return redis;
  }

  /**
   * Waits until every instance applied a marker revocation made by the first after what was sent
   * before: messages on one channel arrive in order, so whatever was published before has been handled.
   */
  async settleBus(): Promise<void> {
    const marker = `marker-${randomUUID()}`;
    await this.instances[0]!.app.kcc.revocations.revokeSession(marker);
    for (const { app } of this.instances) await until(() => app.kcc.check({ sid: marker }) === 'revoked', 'the marker revocation on every instance', 20_000);
  }

  /** Waits until every instance has polled the revocation log `polls` more times (read or confirmed). */
  async settleLog(polls = 2): Promise<void> {
    const count = (app: FastifyInstance) => app.kcc.revocations.stats.logPolls.read + app.kcc.revocations.stats.logPolls.confirmed;
    const targets = this.instances.map(({ app }) => count(app) + polls);
    await until(() => this.instances.every(({ app }, i) => count(app) >= targets[i]!), `${polls} log polls on every instance`, 20_000);
  }

  async stop(): Promise<void> {
    for (const raw of this.raws.splice(0)) raw.disconnect();
    await Promise.allSettled(this.probes.splice(0).map((probe) => probe.close()));
    await Promise.allSettled(this.instances.splice(0).map(({ app }) => app.close()));
    await Promise.allSettled([this.server.stop(), this.realm.stop()]);
  }
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/** Records uncaught exceptions and unhandled rejections of this process while it runs. */
export class ProcessWatch {
  readonly problems: string[] = [];
  private readonly onError = (error: unknown) => void this.problems.push(`uncaught exception: ${String(error)}`);
  private readonly onRejection = (reason: unknown) => void this.problems.push(`unhandled rejection: ${String(reason)}`);

  constructor() {
    process.on('uncaughtException', this.onError);
    process.on('unhandledRejection', this.onRejection);
  }

  stop(): void {
    process.off('uncaughtException', this.onError);
    process.off('unhandledRejection', this.onRejection);
  }

  expectNone(): void {
    expect(this.problems, 'uncaught exceptions and unhandled rejections').toEqual([]);
  }
}

/**
 * Sessions and users no input ever names: each must stay `active` on every instance. Their tokens
 * are dated after any not-before an input may carry (now + 90 s at most, from Redis), so only a
 * revocation of their own id would refuse them.
 */
export class Canaries {
  readonly sids = Array.from({ length: 4 }, () => `canary-sid-${randomUUID()}`);
  readonly subs = Array.from({ length: 4 }, () => `canary-sub-${randomUUID()}`);

  /** The canaries' claims now: `iat` 100 s ahead, past the latest not-before any input may set. */
  claims(): { sid: string; sub: string; iat: number }[] {
    const iat = Math.floor(Date.now() / 1000) + 100;
    return this.sids.map((sid, i) => ({ sid, sub: this.subs[i]!, iat }));
  }

  /**
   * Near misses of the canaries' ids, for inputs that are valid revocations: one code unit more,
   * less or changed. Revoking them must leave the canaries active.
   */
  nearMisses(): string[] {
    return [...this.sids, ...this.subs].flatMap((id) => [id.slice(0, -1), `${id}x`, `${id.slice(0, -1)}${String.fromCharCode(id.charCodeAt(id.length - 1) ^ 1)}`, id.toUpperCase()]);
  }

  expectActive(instances: readonly { readonly app: FastifyInstance }[], when: string): void {
    for (const [n, { app }] of instances.entries()) {
      for (const claims of this.claims()) expect(app.kcc.check(claims), `canary ${claims.sid} on instance ${n} ${when}`).toBe('active');
    }
  }
}

/** The own keys of the built-in prototypes an input could pollute, with their descriptors' values. */
export function prototypesSnapshot(): string {
  const protos: [string, object][] = [['Object', Object.prototype], ['Array', Array.prototype], ['Function', Function.prototype], ['String', String.prototype]];
  const shown = (proto: object, key: string | symbol) => {
    const descriptor = Object.getOwnPropertyDescriptor(proto, key)!;
    return `${String(key)}=${'value' in descriptor ? typeof descriptor.value : 'accessor'}`;
  };
  return protos.map(([name, proto]) => `${name}: ${Reflect.ownKeys(proto).map((k) => shown(proto, k)).sort().join(',')}`).join('\n');
}

export function expectPrototypesUnchanged(before: string): void {
  expect(prototypesSnapshot(), 'the built-in prototypes').toBe(before);
  const probe = {} as Record<string, unknown>;
  for (const key of ['polluted', 'admin', 'kind', 'sid', 'sub', 'v', 'data', 'isAdmin', 'x', 'a']) expect(probe[key], `({}).${key}`).toBeUndefined();
}

/** Objects a memory count does not walk into: connections, sockets, loggers and timers are not state that inputs grow. */
const NOT_WALKED = new Set(['KccRedis', 'Redis', 'Cluster', 'Socket', 'TLSSocket', 'Server', 'Timeout', 'Subscriptions', 'ServerClock', 'MeterProvider']);

/**
 * Entries reachable from `roots` (Map and Set sizes, array lengths; typed arrays, which hold the
 * revoked sessions' digests, are counted by the session count instead): what an instance keeps in
 * memory for the messages it was sent, counted, not timed.
 */
export function retainedEntries(roots: readonly object[]): number {
  const seen = new Set<object>();
  const queue: unknown[] = [...roots];
  let entries = 0;
  for (let at = 0; at < queue.length && seen.size < 500_000; at++) {
    const value = queue[at];
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null || seen.has(value)) continue;
    seen.add(value);
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) continue;
    const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof name === 'string' && NOT_WALKED.has(name) && at >= roots.length) continue;
    if (value instanceof Map) {
      entries += value.size;
      for (const [k, v] of value) queue.push(k, v);
    } else if (value instanceof Set) {
      entries += value.size;
      for (const v of value) queue.push(v);
    } else if (Array.isArray(value)) entries += value.length;
    for (const key of Reflect.ownKeys(value)) {
      const descriptor = Object.getOwnPropertyDescriptor(value, key);
      if (descriptor && 'value' in descriptor) queue.push(descriptor.value);
    }
  }
  return entries;
}

/** The warn lines of `lines`. */
export function warnLines(lines: readonly string[]): string[] {
  return lines.filter((line) => line.startsWith('warn '));
}

/** How many of `lines` share each line's first `length` characters: the most repeated first. */
export function repeatedLines(lines: readonly string[], length = 70): [string, number][] {
  const counts = new Map<string, number>();
  for (const line of lines) counts.set(line.slice(0, length), (counts.get(line.slice(0, length)) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1]);
}

/**
 * After the fuzzing, the fleet still does its job: a revocation made on the last instance is refused
 * by every instance, a genuine logout token posted to the first is honoured everywhere, and each
 * instance's key ring signs an assertion that its own JWKS and every other instance's verify.
 */
export async function expectStillWorks(fleet: LiveFleet): Promise<void> {
  const instances = fleet.instances;
  const revoked = `genuine-${randomUUID()}`;
  await instances.at(-1)!.app.kcc.revocations.revokeSession(revoked);
  for (const { app } of instances) await until(() => app.kcc.check({ sid: revoked }) === 'revoked', 'a genuine revocation on every instance', 20_000);

  const loggedOut = `logged-out-${randomUUID()}`;
  const token = await signToken(fleet.realm.key, logoutClaims(fleet.realm.issuer, { sid: loggedOut, sub: `user-${randomUUID()}` }));
  const response = await fetch(`${instances[0]!.url}/backchannel-logout`, { method: 'POST', headers: { 'content-type': FORM_TYPE }, body: form(token) });
  expect(response.status, 'a genuine logout token').toBe(200);
  for (const { app } of instances) await until(() => app.kcc.check({ sid: loggedOut, iat: Math.floor(Date.now() / 1000) - 10 }) === 'revoked', 'the genuine logout on every instance', 20_000);

  for (const [n, { app }] of instances.entries()) {
    const assertion = await app.kcc.keyRing.signClientAssertion({ clientId: FUZZ_CLIENT_ID, audience: fleet.realm.issuer });
    for (const [m, other] of instances.entries()) {
      const jwks = await (await fetch(`${other.url}/.well-known/jwks.json`)).json();
      const verified = await jwtVerify(assertion, createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]), { audience: fleet.realm.issuer }).then(() => true, () => false);
      expect(verified, `instance ${n}'s assertion verified with instance ${m}'s JWKS`).toBe(true);
    }
  }
}

/**
 * How often one paced warning may appear in a run that began at `startedAt` (performance.now()):
 * once a minute for each of its causes (`causes` share a line's opening), so once per started
 * minute each. A bound that grows with the documented interval, not a measure of time.
 */
export function pacedAllowance(startedAt: number, causes = 1): number {
  return causes * (1 + Math.floor((performance.now() - startedAt) / 60_000));
}
