import type { FastifyInstance } from 'fastify';
import type { KccHealth } from './decoration.js';

/**
 * What the opt-in health route answers: states and small numbers only. No key id, no refusal
 * detail, no counter, no credential: the route is unauthenticated.
 */
export interface KccHealthSummary {
  /**
   * {@link KccHealth.status}: `ok`, `degraded` or `closed`; or `draining` once the app called
   * `fastify.kcc.drain()` (it is shutting down, docs/shutdown.md), until `closed`.
   */
  readonly status: KccHealth['status'] | 'draining';
  /**
   * Whether a load balancer should send this instance requests: false once draining or closed, and
   * while the revocation state is stale under fail-closed (`requireNotRevoked` then answers 503). The
   * HTTP status follows it: 200 when true, 503 when false.
   */
  readonly serving: boolean;
  readonly keyRing: {
    /** `ready`, or `degraded` while the ring in Redis is refused or not read for too long, and the ring held here signs. */
    readonly status: KccHealth['keyRing']['status'];
    /** Generation of the ring held (the same on every instance once they agree). */
    readonly generation: number;
  };
  readonly revocations: {
    readonly status: KccHealth['revocations']['status'];
    /** Seconds since the revocation state was last known current (millisecond precision). */
    readonly stalenessSeconds: number;
    /** Whether stale checks let requests through (`revocations.failOpen`). */
    readonly failOpen: boolean;
  };
}

/**
 * The route's summary of {@link KccHealth}. A degraded key ring keeps `serving` true: the ring held
 * here still signs, and since every instance reads the same ring, failing the check for it would take
 * the whole fleet out of a load balancer at once (the metric `kcc_redis.key_ring.degraded` is the alarm).
 * Draining answers 503 while everything still works: traffic should go elsewhere before the app closes.
 */
export function healthSummary(health: KccHealth, failOpen: boolean, draining = false): KccHealthSummary {
  const stale = health.revocations.status === 'stale';
  const status = draining && health.status !== 'closed' ? 'draining' : health.status;
  return {
    status,
    serving: status !== 'closed' && status !== 'draining' && !(stale && !failOpen),
    keyRing: { status: health.keyRing.status, generation: health.keyRing.generation },
    revocations: { status: health.revocations.status, stalenessSeconds: health.revocations.stalenessSeconds, failOpen },
  };
}

/**
 * Mounts `GET <path>` (Fastify adds `HEAD`): the {@link KccHealthSummary} as JSON, 200 while serving
 * and 503 when not, `Cache-Control: no-store` on both (a cached health answer is a wrong one).
 */
export function mountHealthRoute(fastify: FastifyInstance, path: string, health: () => KccHealth, failOpen: boolean, draining: () => boolean): void {
  fastify.get(path, async (_request, reply) => {
    const summary = healthSummary(health(), failOpen, draining());
    return reply
      .code(summary.serving ? 200 : 503)
      .header('Cache-Control', 'no-store')
      .type('application/json; charset=utf-8')
      .send(JSON.stringify(summary));
  });
}
