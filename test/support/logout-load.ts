import { randomBytes } from 'node:crypto';
import { type JSONWebKeySet, createLocalJWKSet, jwtVerify } from 'jose';
import { type KccRedis, KeyRing, Revocations } from '../../client/src/index.js';
import { REVOCATION_KEYS } from '../../client/src/revocation/revocation-keys.js';
import type { closeAfterEach } from './closing.js';
import { untilAsync } from './events.js';

/**
 * App instances under the steady load that failover tests put on them: logouts (`revokeSession`),
 * logins (client assertions signed with the key ring) and checks.
 */

const AUDIENCE = 'https://sso.example.test/realms/main';

/** Where the logouts of the app-env whose Redis user is `user` go: its revoked-sessions key and its revocation channel. */
export function revocationKeys(user: string): { sessionsKey: string; channel: string } {
  const prefix = `${user}:`;
  return { sessionsKey: `${prefix}{${user}}:${REVOCATION_KEYS.sessions}`, channel: `${prefix}revocations` };
}

export interface App {
  readonly index: number;
  readonly redis: KccRedis;
  readonly revocations: Revocations;
  readonly ring: KeyRing;
  /** Envelope ids of revocation messages heard on this instance's own subscriber (pub/sub only). */
  readonly heard: string[];
  /** When (performance.now()) each session id arrived over pub/sub, and when it was applied at all. */
  readonly heardSids: Map<string, number>;
  readonly appliedSids: Map<string, number>;
  /** Reconnects of this instance's connections, by role. */
  readonly reconnects: Record<string, number>;
}

/** One logout of the load: which instance took it and what its `revokeSession` promise did. */
export interface Logout {
  readonly sid: string;
  readonly by: number;
  state: 'pending' | 'acknowledged' | 'rejected';
  settledAt?: number;
  error?: string;
}

/** What an app instance runs on its connection: the revocation index, the key ring, and a listener on the revocation channel. */
export async function startInstance(
  index: number,
  redis: KccRedis,
  options: { channel: string; keyEncryptionKey: string; closeLater: ReturnType<typeof closeAfterEach> },
): Promise<App> {
  const { closeLater } = options;
  const reconnects: Record<string, number> = {};
  redis.on('reconnecting', (role) => {
    reconnects[role] = (reconnects[role] ?? 0) + 1;
  });
  const revocations = closeLater(await Revocations.start(redis, { maxStalenessMs: 10_000 }));
  const ring = closeLater(await KeyRing.start(redis, { keyEncryptionKey: options.keyEncryptionKey, algorithm: 'ES256', env: {} }));
  const heard: string[] = [];
  const heardSids = new Map<string, number>();
  const appliedSids = new Map<string, number>();
  revocations.on('applied', (event) => {
    if (event.kind === 'session' && !appliedSids.has(event.sid)) appliedSids.set(event.sid, performance.now());
  });
  await redis.subscribe(options.channel, (message) => {
    const envelope = JSON.parse(message) as { id: string; data?: { revocations?: { sid?: string }[] } };
    heard.push(envelope.id);
    for (const r of envelope.data?.revocations ?? []) if (r.sid !== undefined && !heardSids.has(r.sid)) heardSids.set(r.sid, performance.now());
  });
  return { index, redis, revocations, ring, heard, heardSids, appliedSids, reconnects };
}

export type Load = ReturnType<typeof startLoad>;

/**
 * The steady load on `apps`: a logout (`revokeSession`) on a random instance every 20 ms, not
 * awaited (each records what its promise did); a login every 25 ms (a client assertion signed with
 * an instance's ring, in turn, and verified with its JWKS); checks on every instance every
 * `checkEveryMs`.
 */
export function startLoad(apps: readonly App[], { checkEveryMs }: { checkEveryMs: number }) {
  const logouts: Logout[] = [];
  const logins = { ok: 0, failed: [] as string[] };
  /** `stale`: when a never-revoked session was answered 'stale', per instance. */
  const checks = { total: 0, stale: [] as string[], notRevokedOnWriter: 0 };
  let n = 0;
  const revoke = (app: App) => {
    const logout: Logout = { sid: `sid-${n++}-${randomBytes(4).toString('hex')}`, by: app.index, state: 'pending' };
    logouts.push(logout);
    app.revocations.revokeSession(logout.sid).then(
      () => Object.assign(logout, { state: 'acknowledged', settledAt: performance.now() }),
      (error: unknown) => Object.assign(logout, { state: 'rejected', settledAt: performance.now(), error: (error as Error).message }),
    );
  };
  let loginTurn = 0;
  const login = async () => {
    const app = apps[loginTurn++ % apps.length]!;
    try {
      const assertion = await app.ring.signClientAssertion({ clientId: 'shop', audience: AUDIENCE });
      await jwtVerify(assertion, createLocalJWKSet(app.ring.jwks() as JSONWebKeySet), { issuer: 'shop', audience: AUDIENCE });
      logins.ok++;
    } catch (error) {
      logins.failed.push(`instance ${app.index}: ${(error as Error).message}`);
    }
  };
  const check = () => {
    for (const app of apps) {
      checks.total++;
      if (app.revocations.check({ sid: 'never-revoked' }) === 'stale') checks.stale.push(`instance ${app.index} at ${Math.round(performance.now())}`);
      // An instance refuses at once what it revoked itself, Redis or not.
      const own = logouts.filter((l) => l.by === app.index).at(-1);
      if (own && app.revocations.check({ sid: own.sid }) !== 'revoked') checks.notRevokedOnWriter++;
    }
  };
  const timers = [
    setInterval(() => revoke(apps[Math.floor(Math.random() * apps.length)]!), 20),
    setInterval(() => void login(), 25),
    setInterval(check, checkEveryMs),
  ];
  return {
    logouts,
    logins,
    checks,
    acknowledged: () => logouts.filter((l) => l.state === 'acknowledged').length,
    /** Whether every logout of `list` has settled (while the load goes on, a step checks what was settled by then). */
    settled: (list: readonly Logout[] = logouts) => list.every((l) => l.state !== 'pending'),
    stop: () => timers.forEach((t) => clearInterval(t)),
  };
}

/**
 * Writes a logout with the instance `writer(attempt)` until one is heard over pub/sub by every
 * instance within 200 ms; resolves with how many it took.
 */
export async function untilHeardByAll(apps: readonly App[], writer: (attempt: number) => App): Promise<number> {
  let attempts = 0;
  await untilAsync(async () => {
    const counts = apps.map((a) => a.heard.length);
    await writer(attempts).revocations.revokeSession(`after-failover-${attempts++}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    return apps.every((a, i) => a.heard.length > counts[i]!);
  }, 'a logout after the failover heard over pub/sub by every instance', 20_000, 0);
  return attempts;
}
