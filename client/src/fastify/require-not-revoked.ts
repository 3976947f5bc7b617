import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { OptionProblems, requireOptionsObject } from '../option-checks.js';
import type { RevocationClaims } from '../revocation/revocation-index.js';
import type { Revocations } from '../revocation/revocations.js';
import type { KccFastify } from './decoration.js';
import { PLUGIN_NAME } from './plugin-options.js';
import { PauseWatch } from '../pause-watch.js';

/** Reads the verified token claims of a request (`sid`, `sub`, `iat`, `scope`: without it an offline session's tokens are refused after a logout of its browser session); `undefined` or `null` when there are none. */
export type ClaimsGetter = (request: FastifyRequest) => RevocationClaims | null | undefined | Promise<RevocationClaims | null | undefined>;

/** Options of {@link requireNotRevoked}. */
export interface RequireNotRevokedOptions {
  /**
   * How long a request whose check answers `stale` (failing closed) waits for the revocation state to
   * be current again (the revocations' `fresh` event) before it is answered 503: 0 to 30000, 0 answers
   * at once. After a pause of the whole process longer than `maxStalenessMs` (an AWS Lambda
   * environment frozen between invocations, a long GC pause) the first checks answer `stale` although
   * the overdue poll makes the state current within milliseconds. Requests that find the state stale
   * while a wait is under way share it, each within its own bound; once a request's wait has run out
   * (Redis really is out of reach), stale requests are answered at once until the state is current
   * again, unless the process was paused meanwhile (frozen, suspended, its event loop stalled for more
   * than 2 s): the request that thaws an environment frozen right after a wait ran out waits again.
   * @default 2000
   */
  readonly staleWaitMs?: number;
}

const DEFAULTS = { staleWaitMs: 2_000 } as const;
const MAX_STALE_WAIT_MS = 30_000;
const OPTION_NAMES = { staleWaitMs: true } as const satisfies Record<keyof RequireNotRevokedOptions, true>;

/**
 * The wait for `fresh` of one Revocations: one listener, shared by every stale request (of every
 * route) that arrives while it is pending, each request bounded by its own `staleWaitMs` (a request
 * of a route with a short bound is not held for another route's longer one). After a request's
 * bound ran out, none waits until `fresh` comes, whether requests keep coming or not (a long outage
 * must not hold each request, nor a share of them: a review of 9b0ec78), unless the process was
 * paused meanwhile ({@link PauseWatch}): on AWS Lambda the environment may be frozen right after the
 * answer and Redis back by the thaw, and the request that thaws it must wait for the overdue poll,
 * not be answered at once (a review: 503 in 2 ms, `fresh` 332 ms later). Requests alone cannot tell
 * a quiet period from a freeze (a first fix that re-armed the wait after a quiet period made every
 * request of a quiet outage wait its bound). A request answered at its bound leaves nothing behind
 * (before, each stayed reachable until `fresh`).
 * @internal exported for its tests
 */
export class FreshWait {
  /** The requests waiting: each leaves at `fresh` or at its own bound, nothing of it kept after. */
  private readonly waiters = new Set<() => void>();
  private listening = false;
  /** Since a wait ran out (until `fresh`): watches for a pause of the process, which ends the giving up. */
  private gaveUp: PauseWatch | undefined;
  /**
   * Watches for a pause while requests wait: the one whose bound runs out becomes {@link gaveUp}, so
   * a pause during the wait (its timer firing at the thaw) counts, not only one after it.
   */
  private waitWatch: PauseWatch | undefined;

  constructor(private readonly revocations: { once(event: 'fresh', listener: () => void): unknown }) {}

  /** Resolves on `fresh` or after `ms`, whichever comes first; undefined while given up. */
  wait(ms: number): Promise<void> | undefined {
    if (this.gaveUp && !this.gaveUp.paused) return undefined;
    this.endGivingUp();
    if (!this.listening) {
      this.listening = true;
      // The listener stays when a bound runs out: its `fresh` ends the giving up.
      this.revocations.once('fresh', () => {
        this.listening = false;
        this.endGivingUp();
        for (const leave of [...this.waiters]) leave();
      });
    }
    // One watch for waits that overlap; a new one once none waits or it saw a pause.
    if (this.waiters.size === 0 || !this.waitWatch || this.waitWatch.paused) {
      this.waitWatch?.stop(); // not the one given up with: endGivingUp() just ended that
      const watch: PauseWatch = new PauseWatch((): boolean => (this.waitWatch === watch && this.waiters.size > 0) || this.gaveUp === watch);
      this.waitWatch = watch;
    }
    const watch = this.waitWatch;
    return new Promise<void>((resolve) => {
      const leave = (): void => {
        clearTimeout(timer);
        this.waiters.delete(leave);
        resolve();
      };
      const timer = setTimeout(() => {
        // A watch that saw a pause during the wait (Redis may be back) lets the next request wait again.
        this.gaveUp ??= watch;
        leave();
      }, ms);
      timer.unref();
      this.waiters.add(leave);
    });
  }

  private endGivingUp(): void {
    this.gaveUp?.stop();
    this.gaveUp = undefined;
  }
}

const freshWaits = new WeakMap<Revocations, FreshWait>();

function freshWait(revocations: Revocations): FreshWait {
  let wait = freshWaits.get(revocations);
  if (!wait) freshWaits.set(revocations, (wait = new FreshWait(revocations)));
  return wait;
}

function checkOptions(options: RequireNotRevokedOptions): Required<RequireNotRevokedOptions> {
  const subject = 'requireNotRevoked options';
  requireOptionsObject(options, subject, 'requireNotRevoked(getClaims, { staleWaitMs: 2000 })');
  const problems = new OptionProblems();
  problems.unknownKeys(options, OPTION_NAMES);
  const staleWaitMs = problems.number('staleWaitMs', options.staleWaitMs, DEFAULTS.staleWaitMs, { max: MAX_STALE_WAIT_MS, unit: 'ms' });
  problems.throwIfAny(subject);
  return { staleWaitMs };
}

function refuse(reply: FastifyReply, status: 401 | 503, error: string, description: string, challenge: string): FastifyReply {
  reply.code(status).header('Cache-Control', 'no-store');
  if (status === 401) reply.header('WWW-Authenticate', challenge);
  return reply.send({ error, error_description: description });
}

/**
 * A `preHandler` that refuses requests whose token claims are revoked cluster-wide, answered from
 * memory through `fastify.kcc` (register the plugin first; any scope under it works):
 * - no claims → 401, `WWW-Authenticate: Bearer`;
 * - revoked (session, user not-before, client not-before) → 401 `invalid_token`, `WWW-Authenticate: Bearer error="invalid_token"`;
 * - stale (this instance cut off from Redis longer than `maxStalenessMs`) under fail-closed (the
 *   default): waits up to `staleWaitMs` (2 s) for the state to be current again and checks again
 *   (after a frozen or paused process it is, within milliseconds); still stale → 503
 *   `temporarily_unavailable`: the token is not known to be bad, so it is not declared invalid (a 401
 *   would send the user to log in again, which a stale instance cannot fix); a retry may reach a
 *   healthy instance. With `revocations.failOpen`, stale checks pass at once.
 *
 * It does not verify tokens: `getClaims` returns the claims your authentication already verified.
 *
 * @example
 * app.get('/orders', { preHandler: requireNotRevoked((request) => request.user) }, handler);
 * app.get('/reports', { preHandler: requireNotRevoked((request) => request.user, { staleWaitMs: 0 }) }, reports);
 */
export function requireNotRevoked(getClaims: ClaimsGetter, options: RequireNotRevokedOptions = {}): preHandlerAsyncHookHandler {
  if (typeof getClaims !== 'function') throw new TypeError('getClaims: must be a function (request) => claims | undefined');
  const { staleWaitMs } = checkOptions(options);
  return async function rejectRevoked(request, reply) {
    const kcc = (request.server as { kcc?: KccFastify }).kcc;
    if (kcc === undefined) throw new Error(`${PLUGIN_NAME}: requireNotRevoked needs the plugin registered on this Fastify instance (fastify.kcc is missing)`);
    const claims = await getClaims(request);
    // null too: `request.user ?? null` is a common way to say "no token", and check(null) throws.
    if (claims === undefined || claims === null) return refuse(reply, 401, 'invalid_token', 'no token', 'Bearer');
    let check = kcc.check(claims);
    if (check === 'stale' && kcc.rejects(claims)) {
      // Closed, the state never becomes current again: nothing to wait for.
      const wait = staleWaitMs > 0 && kcc.health().status !== 'closed' ? freshWait(kcc.revocations).wait(staleWaitMs) : undefined;
      if (wait) {
        await wait;
        check = kcc.check(claims);
      }
    }
    if (check === 'revoked') return refuse(reply, 401, 'invalid_token', 'token revoked', 'Bearer error="invalid_token", error_description="token revoked"');
    if (check === 'stale' && kcc.rejects(claims)) return refuse(reply, 503, 'temporarily_unavailable', 'revocation state is stale', '');
    return undefined;
  };
}
