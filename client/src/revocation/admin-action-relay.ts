import { decodeJwt } from 'jose';
import type { KccRedis } from '../connection.js';
import { encodeEnvelope } from '../envelope.js';
import { LUA_PUBLISH_ROUTES, publishRouteArgs } from '../pubsub-mode.js';
import { KccConfigError } from '../errors.js';
import { isPlainObject } from '../plain-object.js';
import {
  type KeycloakPushVerdict,
  type KeycloakPushVerifier,
  type VerifiedKeycloakPush,
  type AdminActionRejection,
  MAX_ACTION_EXPIRATION_AHEAD_SECONDS,
  isVerifiedKeycloakPush,
  latestActionExpiration,
  verifyKeycloakPushAt,
} from './keycloak-admin-action.js';
import { GapReloads } from './gap-reloads.js';
import { NOT_BEFORE_READ_SLACK_SECONDS, REVOCATION_BATCH_VERSION, REVOCATION_EVENT, type RevocationBatch, latestNotBefore } from './revocation-event.js';
import { REVOCATION_KEYS } from './revocation-keys.js';
import { LUA_LONGEST_LIFETIME } from './session-lifetimes.js';
import { RECENT_WRITES_WINDOW_MS } from './recent-writes.js';
import { SingleFlight } from '../single-flight.js';
import { errorLine } from '../redis-error-redaction.js';
import { waitAtMost } from '../time-limit.js';
import { type PushOrder, UnverifiedPushes, isNewer } from './unverified-pushes.js';
import { LUA_KEY_REPAIR, MAX_LOG_ID_AHEAD_MS, warnRepaired } from '../lua-key-repair.js';
import { readBoundedString } from '../read-script.js';

/**
 * How a Keycloak not-before push travels between instances: the realm-signed action itself, inside a
 * revocation batch (an addition to batch format 1: a release that does not know this kind skips and
 * counts it). Nothing in it but the signed action is trusted: the order of pushes comes from it too.
 */
export interface RelayedKeycloakPush {
  readonly kind: typeof KEYCLOAK_PUSH_KIND;
  /** Format version of this element. */
  readonly v: typeof RELAYED_PUSH_VERSION;
  /** The compact JWS as the realm signed it. */
  readonly action: string;
}

export const KEYCLOAK_PUSH_KIND = 'keycloak-push';

/** Format version of {@link RelayedKeycloakPush}. */
export const RELAYED_PUSH_VERSION = 1;

/**
 * How long a relayed or stored push's verification is waited for before the push is enforced
 * unverified (ms): a fetch of the realm's keys normally takes milliseconds, and may hang for its
 * timeout (5 s by default) while Keycloak is out of reach.
 */
export const PUSH_VERIFY_WAIT_MS = 1_000;

/** Longest signed action relayed or stored (characters): a push is a few hundred. */
export const MAX_SIGNED_ACTION_LENGTH = 8_192;

/**
 * The longest stored push (bytes) a read hands to the client; a longer one is never read (it counts
 * as unparseable: lost, and written over by the next relay). A writer stores
 * `{"v":1,"action":…,"expiration":…,"notBefore":…}` and readers accept an action of at most
 * {@link MAX_SIGNED_ACTION_LENGTH} characters (a realm-signed JWS of an admin action: a few hundred
 * ASCII characters); `JSON.stringify` makes each character at most 6 bytes (`\uXXXX`), so 6 × 8,192
 * bytes and the fields' hundred-odd stay below 64 KiB. Why bounded: `GET` hands a value over whole,
 * and a holder of the app's credentials can store up to 512 MB there; one longer than V8's longest
 * string failed every start in ioredis ("Cannot create a string longer than 0x1fffffe8
 * characters"), a smaller one was sent whole to every starting instance (an attack review).
 */
export const MAX_STORED_PUSH_BYTES = 65_536;

/**
 * The newest push, stored for instances that start later (key `keycloak-push:v1`). `expiration` and
 * `notBefore` repeat the signed action's, unverified, only so that the store script can keep the
 * newest; readers verify and order by the action itself.
 */
interface StoredKeycloakPush {
  readonly v: typeof STORED_PUSH_VERSION;
  readonly action: string;
  readonly expiration: number;
  readonly notBefore: number;
}

/** Format version of the stored push (also in its key's name). */
export const STORED_PUSH_VERSION = 1;

/** Where a push reached this instance. */
export type PushSource = 'api' | 'bus' | 'log' | 'snapshot';

/** Whether `value` has the shape of a relayed push (its signature is checked separately). */
export function isRelayedKeycloakPush(value: unknown): value is RelayedKeycloakPush {
  return isPlainObject(value) && value.kind === KEYCLOAK_PUSH_KIND && value.v === RELAYED_PUSH_VERSION && isSignedActionText(value.action);
}

const isSignedActionText = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= MAX_SIGNED_ACTION_LENGTH;

// Stores the push unless the stored one is newer (by expiration, then the higher notBefore), appends
// the batch to the revocation log and publishes it, in one step. A stored entry that does not decode
// (or whose order fields are not JSON numbers), one over ARGV[9] bytes (MAX_STORED_PUSH_BYTES: not
// even copied into the script), or whose expiration lies further ahead than any action
// Keycloak sends (a writer without the realm key trying to block later pushes), does not count as
// newer. Keys of the wrong type and a log whose ids run ahead of the server's time are replaced first
// (lua-key-repair.ts). Returns { 1 when it stored the push, 0 when the stored one counts as newer;
// how many keys it replaced }. Readers verify the stored action itself.
// KEYS: stored push, log, session lifetimes. ARGV: stored JSON, expiration, notBefore, this
// instance's session lifetime (ms), the server's time (ms, as estimated here), envelope id, envelope,
// latest expiration (s: that time plus the bound ahead and the read slack, as the stored entry was
// judged by another instance's clock; a script must not call TIME, see server-clock.ts), the longest
// stored entry read (MAX_STORED_PUSH_BYTES), then the publish routes (publishRouteArgs, as the revocation writer publishes). The push is kept, and the
// log trimmed, by the longest session lifetime a running instance declared (session-lifetimes.ts).
const RELAY = `${LUA_PUBLISH_ROUTES}${LUA_KEY_REPAIR}${LUA_LONGEST_LIFETIME}
local now = tonumber(ARGV[5])
local lifetime = longest_lifetime(KEYS[3], now, tonumber(ARGV[4]))
own_type(KEYS[1], 'string')
local newer = true
local stored = false
if redis.call('STRLEN', KEYS[1]) <= tonumber(ARGV[9]) then stored = redis.call('GET', KEYS[1]) end
if stored then
  local ok, entry = pcall(cjson.decode, stored)
  local bound = tonumber(ARGV[8])
  if ok and type(entry) == 'table' and type(entry.expiration) == 'number' and type(entry.notBefore) == 'number' then
    local e, n = entry.expiration, entry.notBefore
    if e <= bound then
      local ne, nn = tonumber(ARGV[2]), tonumber(ARGV[3])
      newer = ne > e or (ne == e and nn >= n)
    end
  end
end
-- Stored without an expiry: a key with one is what volatile-* eviction (ElastiCache's default) removes
-- when another tenant fills the server. A push older than the longest session covers no live token
-- (applied, it refuses only tokens that have expired anyway); the next push replaces it.
if newer then redis.call('SET', KEYS[1], ARGV[1]) end
xadd_now(KEYS[2], (tonumber(ARGV[8]) - ${MAX_ACTION_EXPIRATION_AHEAD_SECONDS + NOT_BEFORE_READ_SLACK_SECONDS}) * 1000 + ${MAX_LOG_ID_AHEAD_MS}, 'MINID', '~', string.format('%.0f-0', now - lifetime), '*', 'i', ARGV[6], 'e', ARGV[7])
publish_routes(10, ARGV[7])
return { newer and 1 or 0, repaired }
`;

/** What the relay needs from its `Revocations`. */
export interface PushRelayHost {
  /** Sets the pushed not-before in the index (also lower). */
  setPushedNotBefore(notBefore: number, source: PushSource): void;
  /** Raises the pushed not-before (never lowers it) for a push not verified yet (held as {@link UnverifiedPushes} says). */
  raisePushedNotBefore(notBefore: number, source: PushSource): void;
  /** A relayed or stored push that was not applied: counted and logged like any refused revocation. */
  refuse(source: PushSource, reason: string): void;
  /** An envelope id this instance wrote: its copy in the log is skipped. */
  remember(envelopeId: string): void;
  /** Closed: a failed relay is not kept for another try. */
  closed(): boolean;
}

/**
 * The time a push's bounds (`notBefore`, `expiration`) are judged at, and whose clock it is (for the
 * refusal's text): the Redis server's, measured with `TIME`, for the stored push; for a relayed one,
 * the later of this host's clock and the server's as last measured.
 */
interface PushClock {
  readonly nowMs: number;
  readonly judge: string;
}

/** Refusals that depend on the clock that judged: the push may be accepted later, or by the server's clock. */
const TIME_REFUSALS: ReadonlySet<string> = new Set<AdminActionRejection>(['bad_expiration', 'expired', 'future_not_before']);

/** What {@link KeycloakPushRelay.relayAgainIfLost} found. */
export type PushCheck = 'none' | 'held' | 'relayed-again' | 'unrelayed';

/**
 * Keycloak's not-before pushes across the instances of an app-env. A push sets the client-wide
 * not-before to what the realm pushed, also lower (Keycloak's "Clear" pushes 0), as Keycloak's
 * adapters do; so it travels only as the realm-signed action, which every instance verifies with the
 * realm's keys before it applies it, never as a bare value. Pushes apply in the order Keycloak sent
 * them: an older one (a replay) changes nothing, and the same one twice changes nothing.
 */
export class KeycloakPushRelay {
  private newest: PushOrder | undefined;
  private appliedCount = 0;
  private outdatedCount = 0;
  /** A relayed push could not be verified for want of the realm's keys: read the stored one again. */
  private reloadWanted = false;
  /**
   * A push was refused for its time (too far ahead of the clock that judged it, {@link TIME_REFUSALS}):
   * the stored push is read and verified again at a later poll, by the server's clock. Before, such a
   * refusal stuck until the next start or gap: an instance whose clock ran behind (a bus push judged
   * by it before the server's clock was measured again, or a load while the server refused TIME) kept answering 'active' for the tokens
   * an honest "Set to now" cut off after its clock was right (a review of 9227a7e). Spaced as reloads
   * for gaps are ({@link GapReloads}: two at once, then waits doubling from 5 s to 5 minutes, one
   * taken off the count each quiet ten minutes): a push that stays refused (one a Redis writer with
   * the app's credentials stores, claiming a far-future time) costs each instance one read of the
   * stored push (at most {@link MAX_STORED_PUSH_BYTES}) every 5 minutes, not one every poll.
   */
  private readonly timeRetries = new GapReloads();
  /** Pushes enforced before they are verified (see {@link raiseUnverified}). */
  private readonly unverified = new UnverifiedPushes();
  private readonly reverifying = new SingleFlight(() => this.verifyUnverifiedAgain());
  /**
   * The newest push relayed from here, and when it was first: checked (like the revocations this
   * instance writes) until a check at least {@link RECENT_WRITES_WINDOW_MS} later finds it stored, so
   * that a failover that lost it does not lose it for instances started afterwards.
   */
  private relayed: { readonly push: VerifiedKeycloakPush; readonly at: number } | undefined;
  /**
   * The newest push applied here whose relay failed. Keycloak only reports the failed push to the
   * admin: this instance relays it again after a reconnect and on every poll until Redis takes it.
   */
  private unrelayed: VerifiedKeycloakPush | undefined;
  private relayedLateCount = 0;
  private readonly retries = new SingleFlight(() => this.relayUnrelayed());

  constructor(
    private readonly redis: KccRedis,
    private readonly verifier: KeycloakPushVerifier | undefined,
    private readonly maxLifetimeMs: number,
    private readonly host: PushRelayHost,
  ) {}

  /** Verified pushes applied here (from this instance's admin route, the bus, the log or the stored one). */
  get applied(): number {
    return this.appliedCount;
  }

  /** Verified pushes not applied because a newer one was (a late delivery, or a replay). */
  get outdated(): number {
    return this.outdatedCount;
  }

  /** Pushes applied here whose relay failed and that wait to be relayed again (0 or 1: only the newest matters). */
  get waiting(): number {
    return this.unrelayed === undefined ? 0 : 1;
  }

  /** Pushes relayed after their first relay failed. */
  get relayedLate(): number {
    return this.relayedLateCount;
  }

  /** Whether a push relayed from here is still to be checked for loss ({@link relayAgainIfLost}). */
  get checking(): boolean {
    return this.relayed !== undefined;
  }

  /**
   * Whether the stored push is to be read again (the caller then calls {@link load}): a relayed push
   * is waiting for the realm's keys, or a push refused for its time is due to be verified again.
   */
  get wantsReload(): boolean {
    return this.reloadWanted || (this.timeRetries.owed && this.timeRetries.waitMs(performance.now()) === 0);
  }

  /**
   * Applies a push this instance verified (an admin handler's), then stores and relays the signed
   * action. Resolves once it is stored and published; applying again (a retry) changes nothing. A
   * push whose relay fails stays applied here and is relayed again ({@link retry}).
   */
  async push(push: VerifiedKeycloakPush): Promise<void> {
    if (!isVerifiedKeycloakPush(push)) {
      throw new TypeError('push: must be a VerifiedKeycloakPush made by a verification (a Keycloak admin handler or KeycloakPushVerifier.verify), not built by hand');
    }
    // Encoded (and so size-checked) before it is applied: a push that cannot be relayed changes nothing here either.
    const encoded = this.encode(push);
    this.apply(push, 'api');
    try {
      await this.relay(push, encoded);
    } catch (error) {
      this.keepUnrelayed(push, error);
      throw error;
    }
  }

  /** Relays again the push whose relay failed, if any (single-flight); it keeps waiting if this fails too. */
  retry(): Promise<void> {
    return this.retries.run();
  }

  /**
   * Checks that Redis still stores the push relayed from here (or a newer one), and relays it again
   * if not: a failover that lost acknowledged writes, or a restart without persistence. Throws only
   * when the check itself fails (the caller tries again); a failed relay leaves it to {@link retry}.
   */
  async relayAgainIfLost(): Promise<PushCheck> {
    const recent = this.relayed;
    if (recent === undefined) return 'none';
    // An oversized stored value (not handed over) counts as unparseable: lost, and written over.
    const { value: raw } = await this.readStored();
    const now = Date.now();
    const stored = raw === null ? undefined : storedOrder(raw, await this.redis.serverClock.now());
    if (stored !== undefined && !isNewer(recent.push, stored)) {
      // Held (or superseded: a newer push is its relaying instance's to check). Forgotten once a
      // check a whole window after the relay still finds it.
      if (isNewer(stored, recent.push) || now - recent.at >= RECENT_WRITES_WINDOW_MS) {
        if (this.relayed === recent) this.relayed = undefined;
      }
      return 'held';
    }
    let storedNow: boolean;
    try {
      storedNow = await this.relay(recent.push, this.encode(recent.push));
    } catch (error) {
      this.keepUnrelayed(recent.push, error);
      return 'unrelayed';
    }
    if (storedNow) return 'relayed-again';
    // The script found a stored push that counts as newer (written since the read): its writer's to check.
    if (this.relayed === recent) this.relayed = undefined;
    return 'held';
  }

  private async relayUnrelayed(): Promise<void> {
    const push = this.unrelayed;
    if (push === undefined) return;
    try {
      await this.relay(push, this.encode(push));
    } catch {
      return; // still waiting: reported when it first failed
    }
    this.relayedLateCount++;
    this.redis.config.logger.info('Keycloak not-before push relayed to Redis after its first relay failed: every instance has it');
  }

  private encode(push: VerifiedKeycloakPush): ReturnType<typeof encodeEnvelope> {
    const relayed: RelayedKeycloakPush = { kind: KEYCLOAK_PUSH_KIND, v: RELAYED_PUSH_VERSION, action: push.signedAction };
    const batch: RevocationBatch = { v: REVOCATION_BATCH_VERSION, revocations: [relayed] };
    return encodeEnvelope(this.redis.instanceId, REVOCATION_EVENT, batch, this.redis.config.maxMessageBytes);
  }

  /**
   * Stores the push unless a newer one is stored, appends it to the log and publishes it, in one
   * script call. Resolves whether it was stored.
   */
  private async relay(push: VerifiedKeycloakPush, { envelope, json }: ReturnType<typeof encodeEnvelope>): Promise<boolean> {
    this.host.remember(envelope.id);
    const stored: StoredKeycloakPush = { v: STORED_PUSH_VERSION, action: push.signedAction, expiration: push.expiration, notBefore: push.notBefore };
    const keys = [REVOCATION_KEYS.keycloakPush, REVOCATION_KEYS.log, REVOCATION_KEYS.lifetimes].map((name) => this.redis.key(name));
    const routes = await this.redis.publishRoutes(this.redis.channel(REVOCATION_KEYS.channel));
    const now = await this.redis.serverClock.now();
    const [storedNow, repaired] = await this.redis.script<[number, number]>(RELAY, keys, [
      JSON.stringify(stored), push.expiration, push.notBefore, Math.ceil(this.maxLifetimeMs), Math.round(now),
      envelope.id, json, latestActionExpiration(now, NOT_BEFORE_READ_SLACK_SECONDS), MAX_STORED_PUSH_BYTES, ...publishRouteArgs(routes),
    ]);
    if (repaired > 0) warnRepaired(this.redis);
    // Only the newest push matters: one relayed now settles an older one still waiting, and is the one to check.
    if (this.unrelayed !== undefined && !isNewer(this.unrelayed, push)) this.unrelayed = undefined;
    if (this.relayed === undefined || isNewer(push, this.relayed.push)) this.relayed = { push, at: Date.now() };
    return storedNow === 1;
  }

  private keepUnrelayed(push: VerifiedKeycloakPush, error: unknown): void {
    if (this.unrelayed !== undefined && !isNewer(push, this.unrelayed)) return;
    if (this.relayed !== undefined && !isNewer(push, this.relayed.push)) return;
    // Failed while closing: kept for close()'s last try and its count of what Redis did not take (no retry comes after).
    if (this.unrelayed === undefined && !this.host.closed()) {
      this.redis.config.logger.warn(
        'Keycloak not-before push applied on this instance only: relaying it to Redis failed; it is relayed again after a reconnect and on every poll until Redis takes it (stats.unwritten)',
        { error: errorLine(error) },
      );
    }
    this.unrelayed = push;
  }

  /** A push another instance relayed (bus, log): verified, then applied if it is the newest. */
  receive(relayed: RelayedKeycloakPush, source: 'bus' | 'log'): void {
    void this.verifyEnforcingMeanwhile(relayed.action, source, this.messageClock());
  }

  /**
   * What a push from pub/sub or the log is judged by: the later of this host's clock and the server's
   * as last measured ({@link ServerClock.estimate}), as `Revocations` judges a message's not-befores;
   * never stricter than this host's clock alone. No round trip: a message is applied as it comes.
   */
  private messageClock(): PushClock {
    const host = Date.now();
    const server = this.redis.serverClock.estimate();
    return server !== undefined && server > host
      ? { nowMs: server, judge: 'the Redis server\'s clock, as last measured with TIME' }
      : { nowMs: host, judge: 'this host\'s clock' };
  }

  /**
   * Reads the stored newest push (start, a gap in the log, after keys were unavailable, or after a
   * refusal for its time) and applies it if newer. Waits for its verification {@link PUSH_VERIFY_WAIT_MS} at most: a start (or a
   * poll's reload) is not held up for the key fetch's timeout while the realm's keys are slow or out
   * of reach. The push is enforced meanwhile (raised until verified), and the verification, once
   * done, applies or refuses it. Its `notBefore` and `expiration` are judged by the Redis server's
   * clock, measured with `TIME` as the load begins, as the rest of the stored state is
   * (revocation-snapshot.ts); without a measurement (the server refuses `TIME`, or it failed or took
   * over 2 s), by this host's.
   */
  async load(): Promise<void> {
    this.reloadWanted = false;
    if (this.timeRetries.owed) {
      // This read is the one owed: counted for the waits, whatever it finds.
      this.timeRetries.began(performance.now());
      this.timeRetries.reloaded();
    }
    if (this.verifier) void this.reverifying.run();
    const [clock, { value: raw, oversized }] = await Promise.all([this.serverClock(), this.readStored()]);
    if (oversized !== undefined) return this.host.refuse('snapshot', `stored keycloak-push of ${oversized} bytes, more than any client stores (${MAX_STORED_PUSH_BYTES}): not read`);
    if (raw === null) return;
    const action = storedAction(raw);
    if (action === undefined) return this.host.refuse('snapshot', 'malformed stored keycloak-push');
    await this.verifyEnforcingMeanwhile(action, 'snapshot', clock);
  }

  /** The Redis server's time, measured now ({@link ServerClock.measuredNow}); this host's when there is none. Never rejects. */
  private async serverClock(): Promise<PushClock> {
    const measured = await this.redis.serverClock.measuredNow();
    return measured === undefined ? { nowMs: Date.now(), judge: 'this host\'s clock' } : { nowMs: measured, judge: 'the Redis server\'s clock, measured with TIME' };
  }

  /**
   * The stored push ({@link readBoundedString}): its text, or null when none is stored or it is over
   * {@link MAX_STORED_PUSH_BYTES} (then `oversized` gives its length; it was not handed over).
   */
  private readStored(): ReturnType<typeof readBoundedString> {
    return readBoundedString(this.redis, this.redis.key(REVOCATION_KEYS.keycloakPush), MAX_STORED_PUSH_BYTES);
  }

  /**
   * Verifies and applies a push, waiting {@link PUSH_VERIFY_WAIT_MS} at most: a verification
   * still running then (the realm's keys slow, a key fetch hanging for its timeout) goes on by
   * itself, and the push is enforced meanwhile (found by review: a relayed push went unenforced for
   * as long as its key fetch hung). Never rejects.
   */
  private async verifyEnforcingMeanwhile(signedAction: string, source: PushSource, clock?: PushClock): Promise<void> {
    let settled = false;
    const verification = this.settleVerification(signedAction, source, clock).finally(() => void (settled = true));
    await waitAtMost(verification, PUSH_VERIFY_WAIT_MS);
    // Not refused here: the verification reports what is wrong with it.
    if (!settled) this.raiseUnverified(signedAction, source, clock, false);
  }

  /**
   * Verifies again the pushes enforced unverified (beside the stored one's reload): a bus push is
   * heard once, so one that claims to be newer than any verified push, forged or genuine, would
   * otherwise stay enforced, or stay unverified, until a newer push.
   */
  private async verifyUnverifiedAgain(): Promise<void> {
    if (this.host.closed()) return;
    // Judged as the stored push they are verified beside (the measurement is shared: one TIME).
    const clock = await this.serverClock();
    await Promise.all(this.unverified.actions().map((action) => this.settleVerification(action, 'snapshot', clock)));
  }

  /** {@link verifyAndApply}, never rejecting: a failure is counted and logged as a refusal. */
  private settleVerification(signedAction: string, source: PushSource, clock: PushClock | undefined): Promise<void> {
    return this.verifyAndApply(signedAction, source, clock).catch((error: unknown) => this.host.refuse(source, `keycloak-push not applied: ${String(error)}`));
  }

  /** `clock`: what the push's time bounds are judged by; undefined, this host's clock as it is checked. */
  private async verifyAndApply(signedAction: string, source: PushSource, clock: PushClock | undefined): Promise<void> {
    if (!this.verifier) return this.raiseUnverified(signedAction, source, clock);
    let verdict: KeycloakPushVerdict;
    try {
      verdict = await verifyKeycloakPushAt(this.verifier, signedAction, clock?.nowMs);
    } catch (error) {
      verdict = { ok: false, reason: 'unavailable', cause: error };
    }
    if (this.host.closed()) return; // closed while it waited for the realm's keys
    if (verdict.ok) return this.apply(verdict.push, source);
    if (verdict.reason === 'unavailable') {
      // Neither verified nor refused: the realm's keys could not be fetched. The stored push is the
      // newest: read again at every poll, and applied verified once the keys are back. Meanwhile
      // this instance must not fail open on a "Set to now" (found by review: it answered 'active',
      // and fresh, for every token the push cut off, for as long as the keys stayed out of reach).
      this.reloadWanted = true;
      return this.raiseUnverified(signedAction, source, clock);
    }
    if (TIME_REFUSALS.has(verdict.reason)) this.refuseForTime(source, verdict.reason, clock);
    else this.host.refuse(source, `keycloak-push ${verdict.reason}`);
    // An unknown key may be passing (the realm's new key not in the key set fetched yet) or the
    // realm's removed one: the push stays enforced, as Keycloak meant, until a verified push at
    // least as new (found by review: a genuine push's raise was taken back on unknown_kid).
    if (verdict.reason !== 'unknown_kid') this.takeBackRaise(signedAction, source);
  }

  /**
   * Without a verifier (or while it cannot fetch the realm's keys, or its verification is still
   * running) this instance cannot follow a push downward, but it must not fail open on a "Set to
   * now" another instance received: it raises its pushed not-before to the action's (raising is the
   * safe direction; a not-before past now + skew, or an `expiration` further ahead than Keycloak
   * sends, is refused as poison) until the push verifies, its verification refuses it, or a verified
   * push at least as new as it claims to be is applied ({@link UnverifiedPushes}).
   * Not the by-value not-before: that one is written back to Redis when Redis lacks it (lost-writes
   * check), as a client-wide cut-off no verified "Clear" lowers, on every instance (found by review).
   * Not for an action that claims to be no newer than the newest verified push: genuine, it is
   * outdated; forged, its claims count for nothing (found by review: a stored push whose
   * verification outlasted the start's wait was raised to above a "Clear" verified meanwhile).
   */
  private raiseUnverified(signedAction: string, source: PushSource, clock: PushClock | undefined, report = true): void {
    if (this.host.closed()) return;
    const claimed = unverifiedOrder(signedAction);
    if (claimed === undefined) return void (report && this.host.refuse(source, 'keycloak-push malformed'));
    // Judged as a verification of a push read from Redis will judge it: with the read slack, and by
    // the same clock (the server's, for the stored push).
    const nowMs = clock?.nowMs ?? Date.now();
    const late = claimed.notBefore > latestNotBefore(nowMs, NOT_BEFORE_READ_SLACK_SECONDS) ? 'future_not_before'
      : claimed.expiration > latestActionExpiration(nowMs, NOT_BEFORE_READ_SLACK_SECONDS) ? 'bad_expiration'
        : undefined;
    if (late !== undefined) return void (report && this.refuseForTime(source, late, clock));
    if (!isNewer(claimed, this.newest)) return;
    // A "Clear" (0) raises nothing, but is kept too: verified again at the next reload, it is
    // followed even if the stored push was replaced meanwhile (found by review).
    this.unverified.add(signedAction, claimed);
    if (claimed.notBefore > 0) this.host.raisePushedNotBefore(claimed.notBefore, source);
  }

  /**
   * A push refused for its time: counted and logged saying which clock judged, and the stored push is
   * read and verified again later ({@link timeRetries}). A genuine push refused here was sent by a
   * Keycloak whose clock runs ahead, or judged by a host clock that runs behind (a message before the
   * server's clock was measured again, or a load without `TIME`): by the server's clock, or once the
   * clocks agree, it verifies.
   */
  private refuseForTime(source: PushSource, reason: string, clock: PushClock | undefined): void {
    const judge = clock?.judge ?? 'this host\'s clock';
    this.host.refuse(source, `keycloak-push ${reason}: ${reason === 'expired' ? 'passed by' : 'too far ahead of'} ${judge}; the stored push is verified again at a later poll`);
    this.timeRetries.found(performance.now());
  }

  /**
   * A push refused on verification (bad signature, another client...; not an unknown key) is no
   * longer enforced (found by review: a refused stored push whose verification outlasted the start's wait
   * stayed enforced until the next verified push).
   */
  private takeBackRaise(signedAction: string, source: PushSource): void {
    if (this.host.closed()) return;
    const before = this.held();
    if (!this.unverified.end(signedAction)) return;
    const held = this.held();
    if (held < before) this.host.setPushedNotBefore(held, source);
  }

  /** The pushed not-before in force: the newest verified push's, or higher for pushes not verified yet. */
  private held(): number {
    return Math.max(this.newest?.notBefore ?? 0, this.unverified.highest());
  }

  private apply(push: VerifiedKeycloakPush, source: PushSource): void {
    if (this.host.closed()) return;
    const newer = isNewer(push, this.newest);
    if (newer) {
      this.newest = { expiration: push.expiration, notBefore: push.notBefore };
      this.appliedCount++;
    } else {
      this.outdatedCount++;
    }
    // A verified push ends its own raise, and those of pushes that claim to be no newer than the
    // newest verified one; not those that claim to be newer (found by review: a replayed older push,
    // verified, ended a newer "Set to now" that could not be verified yet).
    const ownEnded = this.unverified.end(push.signedAction);
    const olderEnded = this.unverified.settle(this.newest!);
    if (newer || ownEnded || olderEnded) this.host.setPushedNotBefore(this.held(), source);
  }
}

/**
 * The order a stored push claims (unverified), as the relay script reads it: undefined when it does
 * not decode or claims an expiration further ahead than any action Keycloak sends.
 */
function storedOrder(raw: string, now: number): PushOrder | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!isPlainObject(value) || typeof value.expiration !== 'number' || typeof value.notBefore !== 'number') return undefined;
  if (value.expiration > latestActionExpiration(now, NOT_BEFORE_READ_SLACK_SECONDS)) return undefined;
  return { expiration: value.expiration, notBefore: value.notBefore };
}

/** The signed action of a stored push, or undefined when the entry is not of this format. */
function storedAction(raw: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  return isPlainObject(value) && value.v === STORED_PUSH_VERSION && isSignedActionText(value.action) ? value.action : undefined;
}

/**
 * The order a compact JWS's JSON payload claims (`expiration` and `notBefore`, whole numbers, the
 * not-before ≥ 0), read without verifying it; undefined when it claims none.
 */
function unverifiedOrder(signedAction: string): PushOrder | undefined {
  let payload: ReturnType<typeof decodeJwt>;
  try {
    payload = decodeJwt(signedAction);
  } catch {
    return undefined;
  }
  const { notBefore, expiration } = payload;
  if (typeof notBefore !== 'number' || !Number.isSafeInteger(notBefore) || notBefore < 0) return undefined;
  if (typeof expiration !== 'number' || !Number.isSafeInteger(expiration)) return undefined;
  return { notBefore, expiration };
}
