/**
 * Every instrument the client reports, in one table: the docs (docs/metrics.md) list the same, and a
 * test keeps both in step. Names follow OpenTelemetry's naming rules
 * (https://opentelemetry.io/docs/specs/semconv/general/naming/ and
 * https://opentelemetry.io/docs/specs/otel/metrics/api/#instrument-name-syntax): lowercase,
 * dot-separated namespaces under this package's own `kcc_redis`, snake_case inside a component,
 * singular namespaces, a count of discrete things pluralized (`…rotations`, `{rotation}`) or named
 * after what happened to it (`…revocation.applied`, as `system.network.packet.dropped`),
 * `….count` for an up-down counter, never `total`, no unit in the name. Units are UCUM
 * (https://opentelemetry.io/docs/specs/semconv/general/metrics/#instrument-units): `s`, `1`, or a
 * singular annotation such as `{revocation}`.
 *
 * Every instrument is asynchronous (observed at collection from the objects' counters), so the
 * client's request and message paths carry no metrics code.
 */

/** The instrumentation scope: the meter's name. */
export const METER_NAME = '@kcc-redis/client';

/** Attribute keys. Every measurement carries {@link ATTRIBUTES.appEnv}; values are drawn from small fixed sets. */
export const ATTRIBUTES = {
  /** The app-env (`<app>-<env>`, the key prefix without its colon). */
  appEnv: 'kcc_redis.app_env',
  /** Where a revocation or message came from: `api`, `bus`, `log`, `snapshot`. */
  revocationSource: 'kcc_redis.revocation.source',
  /** Why a message was dropped: `oversized`, `malformed`, `invalid`. */
  dropReason: 'kcc_redis.message.drop_reason',
  /** Why a ring read from Redis was refused (`KeyRingRefusalReason`). */
  refusalReason: 'kcc_redis.key_ring.refusal_reason',
  /** `initial`, `scheduled`, `immediate`. */
  rotationMode: 'kcc_redis.key_ring.rotation.mode',
  /** `written`, `failed`. */
  heartbeatOutcome: 'kcc_redis.heartbeat.outcome',
  /** `confirmed` (the log's head showed nothing missing), `read`. */
  logPollOutcome: 'kcc_redis.revocation.log_poll.outcome',
} as const;

type AttributeKey = (typeof ATTRIBUTES)[keyof typeof ATTRIBUTES];

/** An asynchronous instrument: `counter` (monotonic sum), `updowncounter` (non-monotonic sum), `gauge`. */
export interface InstrumentSpec {
  readonly name: string;
  readonly kind: 'counter' | 'updowncounter' | 'gauge';
  readonly unit: string;
  readonly valueType: 'int' | 'double';
  /** Attribute keys besides the app-env. */
  readonly attributes: readonly AttributeKey[];
  readonly description: string;
}

const spec =
  (kind: InstrumentSpec['kind'], valueType: InstrumentSpec['valueType']) =>
  (name: string, unit: string, description: string, attributes: readonly AttributeKey[] = []): InstrumentSpec => ({ name, kind, unit, valueType, attributes, description });
const counter = spec('counter', 'int');
const upDownCounter = spec('updowncounter', 'int');
const gauge = spec('gauge', 'int');
const doubleGauge = spec('gauge', 'double');

/** The instruments, by the object they read. */
export const INSTRUMENTS = {
  redis: {
    reconnects: counter('kcc_redis.connection.reconnects', '{reconnect}', "Reconnect attempts of the connection's sockets (commands, subscriber, reader)."),
    socketTimeouts: counter('kcc_redis.connection.socket_timeouts', '{timeout}', 'Sockets closed because a command got no byte back within socketTimeoutMs (a node that vanished, or this process stalled); each then reconnects.'),
    tlsResumptions: counter('kcc_redis.connection.tls_resumptions', '{connection}', 'Connections and reconnects whose TLS handshake resumed an earlier session to the same endpoint, in cluster mode the same node (no certificate exchange); 0 when the server issues no session tickets.'),
    authFailures: counter('kcc_redis.connection.auth.failures', '{failure}', 'Credentials rejected by Redis (WRONGPASS/NOAUTH); a failure seen at once by several sockets counts once.'),
    credentialRefreshes: counter('kcc_redis.connection.credential.refreshes', '{refresh}', 'Times the credentials changed after a re-read (a rotated password picked up).'),
    renewals: counter('kcc_redis.connection.renewals', '{renewal}', "Connections replaced before the server's age limit (ElastiCache IAM: 12 hours)."),
    renewalFailures: counter('kcc_redis.connection.renewal.failures', '{failure}', 'Replacements before the age limit that failed (retried; the old connection keeps serving).'),
    heartbeatWrites: counter('kcc_redis.heartbeat.writes', '{write}', "Writes of this instance's heartbeat entry, by outcome.", [ATTRIBUTES.heartbeatOutcome]),
  },
  keyRing: {
    generation: gauge('kcc_redis.key_ring.generation', '{generation}', 'Generation of the signing-key ring this instance holds (0 before the first).'),
    degraded: gauge('kcc_redis.key_ring.degraded', '1', '1 while the ring held here signs but the ring in Redis was refused, or has not been read for longer than the key ring allows (Redis unreachable), else 0: health().lastError tells which.'),
    rotations: counter('kcc_redis.key_ring.rotations', '{rotation}', 'New signing keys this instance wrote, by mode (initial: the first key of an empty namespace).', [ATTRIBUTES.rotationMode]),
    refused: counter('kcc_redis.key_ring.refused', '{ring}', 'Rings read from Redis and refused, by reason (each stored ring counted once).', [ATTRIBUTES.refusalReason]),
    restored: counter('kcc_redis.key_ring.restored', '{ring}', 'Times this instance wrote the ring it holds back over a missing or refused one.'),
    reencrypted: counter('kcc_redis.key_ring.reencrypted', '{ring}', 'Times this instance rewrote the ring under the current key-encryption key.'),
  },
  revocations: {
    applied: counter('kcc_redis.revocation.applied', '{revocation}', "Revocations applied to this instance's memory (from this instance, the bus, the log; not the snapshot loaded at start)."),
    batchesWritten: counter('kcc_redis.revocation.batch.written', '{batch}', 'Revocation batches this instance wrote to Redis (one script call each).'),
    refused: counter(
      'kcc_redis.revocation.refused',
      '{revocation}',
      'Revocations refused (malformed, of an unknown kind, a not-before too far ahead), by where they came from.',
      [ATTRIBUTES.revocationSource],
    ),
    messagesDropped: counter(
      'kcc_redis.revocation.message.dropped',
      '{message}',
      'Revocation messages and log entries dropped before their revocations were read, by source and reason.',
      [ATTRIBUTES.revocationSource, ATTRIBUTES.dropReason],
    ),
    logPolls: counter(
      'kcc_redis.revocation.log.polls',
      '{poll}',
      'Polls of the revocation event log, by outcome: confirmed from its head alone (every entry had come over pub/sub), or read.',
      [ATTRIBUTES.logPollOutcome],
    ),
    staleness: doubleGauge('kcc_redis.revocation.staleness', 's', 'Time since the revocation state was last known current (the start of the last complete read of Redis).'),
    stale: gauge('kcc_redis.revocation.stale', '1', '1 while cut off from Redis longer than maxStalenessMs (checks answer stale), else 0.'),
    unwritten: upDownCounter('kcc_redis.revocation.unwritten.count', '{revocation}', 'Revocations applied on this instance whose write to Redis failed, waiting to be written again: the other instances do not have them yet.'),
    unconfirmed: upDownCounter(
      'kcc_redis.revocation.unconfirmed.count',
      '{revocation}',
      'Revocations applied on this instance that Redis has not confirmed yet: those whose write failed (unwritten.count) and those whose write is still waiting for an answer.',
    ),
    rewrittenAfterLoss: counter(
      'kcc_redis.revocation.rewritten_after_loss',
      '{revocation}',
      'Revocations this instance had written in the last 10 minutes (checked after a reconnect and every minute), and user-wide and client-wide not-befores it holds (checked after a reconnect), that Redis no longer held (a failover that lost acknowledged writes, a restart without persistence), written again.',
    ),
    unwrittenDropped: counter(
      'kcc_redis.revocation.unwritten.dropped',
      '{revocation}',
      'Revocations this instance gave up writing to Redis (past the bound of those waiting): only this instance applied them, and no other instance will (Keycloak does not send a logout again).',
    ),
    gapReloads: counter('kcc_redis.revocation.gap_reloads', '{reload}', 'Reloads of the stored state after a gap in the event log (messages lost while a poll could not tell which).'),
    revokedSessions: upDownCounter('kcc_redis.revocation.session.count', '{session}', 'Revoked sessions held in memory.'),
    revokedSubjects: upDownCounter('kcc_redis.revocation.subject.count', '{subject}', 'Subjects with a not-before held in memory.'),
  },
} as const satisfies Record<'redis' | 'keyRing' | 'revocations', Record<string, InstrumentSpec>>;

/** Every instrument, in the order of the table. */
export const ALL_INSTRUMENTS: readonly InstrumentSpec[] = Object.values(INSTRUMENTS).flatMap((group) => Object.values(group));
