/**
 * Runs the current writers of every stored format against a real redis-server and captures what
 * they stored and sent: how the fixtures under test/fixtures/formats/ were made, and what the
 * structure tests compare with them. Every writer runs as {@link FIXTURE_INSTANCE_ID} in the
 * fixture app-env, with test keys only.
 */
import { createLocalJWKSet, type JWK } from 'jose';
import { KccRedis, KeyRing, RedisReplayGuard, Revocations, createKeycloakPushVerifier } from '../../../client/src/index.js';
import { Heartbeat } from '../../../client/src/heartbeat.js';
import { CLIENT_VERSION } from '../../../client/src/version.js';
import { RingLog } from '../../../client/src/keyring/ring-log.js';
import { KeyEncryptionKeys } from '../../../client/src/keyring/key-encryption-keys.js';
import { ConnectorSeal } from '../../../client/src/keycloak-connector/connector-seal.js';
import { CONNECTOR_MESSAGE_TYPE } from '../../../client/src/keycloak-connector/cluster-provider.js';
import { encodeEnvelope } from '../../../client/src/envelope.js';
import { MAX_SESSION_LIFETIME_MS } from '../../../client/src/revocation/session-lifetimes.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { until } from '../../support/events.js';
import { realmKey, verifiedNotBeforePush } from '../../support/logout-tokens.js';
import { connectAs, kccOptions } from '../../support/redis.js';
import { FIXTURE_INSTANCE_ID, FIXTURE_KEK, FIXTURE_PREFIX, FIXTURE_USER, type FixtureHeader, type StoredKeys, dumpKeys } from './format-fixtures.js';

const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const WRITTEN_BY = `@kcc-redis/client ${CLIENT_VERSION}`;
/** Far enough ahead that what the fixtures say stays true for as long as they are read: a next key activates, a revoked session is forgotten, 50 years on. */
const FIFTY_YEARS_MS = 50 * 365 * 24 * 3_600_000;

function connect(server: LocalRedis, roles: ('subscriber')[] = []): Promise<KccRedis> {
  return KccRedis.connect(kccOptions(server, FIXTURE_USER, { heartbeat: false, instanceId: FIXTURE_INSTANCE_ID, logger: silent }), roles);
}

/** Fixture `keyring-v1.json`: the stored ring and its event log. */
export interface KeyRingFixture extends FixtureHeader {
  readonly kek: string;
  readonly namespace: string;
  readonly meaning: {
    readonly generation: number;
    readonly algorithm: string;
    readonly activeKid: string;
    readonly nextKid: string;
    readonly nextActivatesAt: number;
    readonly compromisedKids: readonly string[];
  };
  readonly redis: StoredKeys;
}

/**
 * A ring of generation 3 (PS256): a first key, an emergency rotation (the first key compromised),
 * then a scheduled rotation whose key activates 50 years on; and a re-read request on its log.
 */
export async function writeKeyRing(server: LocalRedis): Promise<KeyRingFixture> {
  const redis = await connect(server);
  try {
    const ring = await KeyRing.start(redis, { keyEncryptionKey: FIXTURE_KEK, env: {}, algorithm: 'PS256', activationDelayMs: FIFTY_YEARS_MS, rotateEveryMs: 2 * FIFTY_YEARS_MS, refreshIntervalMs: 3_600_000 });
    const compromised = ring.signingKey().kid;
    const active = await ring.rotate({ immediate: true });
    const next = await ring.rotate();
    await ring.close();
    await new RingLog(redis, 3_600_000).requestCheck();
    const admin = await server.admin();
    return {
      format: 'keyring',
      version: 1,
      writtenBy: WRITTEN_BY,
      note: 'KeyRing.start, rotate({ immediate: true }), rotate() with activationDelayMs of 50 years, then RingLog.requestCheck(), under the test key-encryption key `kek`',
      kek: FIXTURE_KEK,
      namespace: FIXTURE_PREFIX,
      meaning: { generation: 3, algorithm: 'PS256', activeKid: active.kid, nextKid: next.kid, nextActivatesAt: next.activatesAt!, compromisedKids: [compromised] },
      redis: await dumpKeys(admin, FIXTURE_PREFIX, (name) => name.includes(':keyring')),
    };
  } finally {
    await redis.close();
  }
}

/** Fixture `revocations-v1.json`: the compacted state, the log, the messages, the stored push, the declarations, a replay record. */
export interface RevocationsFixture extends FixtureHeader {
  readonly meaning: {
    /** When it was written (epoch s): the times below are relative to it. */
    readonly at: number;
    readonly sessionMaxLifetimeMs: number;
    readonly clientNotBefore: number;
    readonly subject: { readonly sub: string; readonly notBefore: number };
    readonly wholeSession: string;
    readonly sessionUpTo: { readonly sid: string; readonly issuedUpTo: number };
    readonly pushedNotBefore: number;
    readonly realmPublicJwk: JWK;
    readonly replayId: string;
  };
  /** Each pub/sub message on `<prefix>revocations`, as sent, and what it carries. */
  readonly messages: readonly { readonly carries: string; readonly message: string }[];
  readonly redis: StoredKeys;
}

export async function writeRevocations(server: LocalRedis): Promise<RevocationsFixture> {
  const redis = await connect(server, ['subscriber']);
  const listener = await connectAs(server, FIXTURE_USER);
  const heard: string[] = [];
  try {
    await listener.subscribe(`${FIXTURE_PREFIX}${REVOCATION_KEYS.channel}`);
    listener.on('message', (_channel: string, message: string) => heard.push(message));
    const key = await realmKey('fixture-realm-key');
    const verifier = createKeycloakPushVerifier({ issuer: 'https://sso.example.test/realms/fixture', clientId: 'shop', jwks: createLocalJWKSet({ keys: [key.publicJwk] }) });
    const revocations = await Revocations.start(redis, { sessionMaxLifetimeMs: MAX_SESSION_LIFETIME_MS, keycloakPushes: verifier });
    const at = Math.floor(Date.now() / 1000);
    const meaning = {
      at,
      sessionMaxLifetimeMs: MAX_SESSION_LIFETIME_MS,
      clientNotBefore: at - 1_000,
      subject: { sub: 'fixture-user', notBefore: at - 500 },
      wholeSession: 'fixture-session-whole',
      sessionUpTo: { sid: 'fixture-session-up-to', issuedUpTo: at - 200 },
      pushedNotBefore: at - 800,
      realmPublicJwk: key.publicJwk,
      replayId: 'fixture-logout-token-jti',
    };
    const carries = ['client-wide not-before', 'user-wide not-before', 'whole session', 'session up to a time', 'relayed Keycloak push'];
    await revocations.revokeAllBefore(meaning.clientNotBefore);
    await revocations.revokeSubject(meaning.subject.sub, meaning.subject.notBefore);
    await revocations.revokeSession(meaning.wholeSession);
    await revocations.revokeSession(meaning.sessionUpTo.sid, { issuedUpTo: meaning.sessionUpTo.issuedUpTo });
    await revocations.applyKeycloakPush(await verifiedNotBeforePush(key, verifier, meaning.pushedNotBefore));
    await new RedisReplayGuard(redis).firstUse(meaning.replayId, 3_600_000);
    await until(() => heard.length === carries.length, 'every message heard');
    await revocations.close();
    const admin = await server.admin();
    return {
      format: 'revocations',
      version: 1,
      writtenBy: WRITTEN_BY,
      note: 'Revocations.start (sessionMaxLifetimeMs: ten years), revokeAllBefore, revokeSubject, revokeSession, revokeSession with issuedUpTo, applyKeycloakPush (signed with the test realm key), RedisReplayGuard.firstUse; times in `meaning` are epoch seconds',
      meaning,
      messages: heard.map((message, i) => ({ carries: carries[i]!, message })),
      redis: await dumpKeys(admin, FIXTURE_PREFIX),
    };
  } finally {
    listener.disconnect();
    await redis.close();
  }
}

/** Fixture `heartbeat-v1.json`: one instance's entry and the index of instances. */
export interface HeartbeatFixture extends FixtureHeader {
  readonly meaning: { readonly instanceId: string; readonly host: string; readonly version: string; readonly intervalMs: number };
  readonly redis: StoredKeys;
}

export async function writeHeartbeat(server: LocalRedis): Promise<HeartbeatFixture> {
  const redis = await connect(server);
  try {
    const intervalMs = 15_000;
    const heartbeat = Heartbeat.start(redis, { intervalMs, logger: silent, host: 'fixture-host' });
    await until(() => heartbeat.written === 1, 'the first beat');
    const admin = await server.admin();
    const stored = await dumpKeys(admin, FIXTURE_PREFIX, (name) => name.includes(':instance'));
    await heartbeat.stop();
    return {
      format: 'heartbeat',
      version: 1,
      writtenBy: WRITTEN_BY,
      note: 'Heartbeat.start with host "fixture-host" (the pid is the writing process\'s)',
      meaning: { instanceId: FIXTURE_INSTANCE_ID, host: 'fixture-host', version: CLIENT_VERSION, intervalMs },
      redis: stored,
    };
  } finally {
    await redis.close();
  }
}

/** Fixture `connector-seal-v1.json`: a sealed cache value, a sealed message, and the envelope around a message on the bus. */
export interface ConnectorSealFixture extends FixtureHeader {
  readonly kek: string;
  readonly value: { readonly name: string; readonly context: string; readonly text: string; readonly hiddenName: string; readonly sealed: string };
  readonly message: { readonly name: string; readonly context: string; readonly text: string; readonly id: string; readonly sentAt: number; readonly hiddenName: string; readonly sealed: string; readonly envelope: string };
}

/**
 * What the cluster provider stores and publishes (cluster-provider.ts): `valueCopies` and
 * `messageCopies` of the connector seal, the message in an envelope of type `keycloak-connector`.
 * No Redis: sealing is the whole format (the provider stores the sealed text as is).
 */
export async function writeConnectorSeal(): Promise<ConnectorSealFixture> {
  const keks = await KeyEncryptionKeys.load(async () => ({ kek: FIXTURE_KEK }), silent, false);
  const seal = new ConnectorSeal(keks);
  const valueName = 'fixture-cache-key';
  const valueContext = `${FIXTURE_PREFIX}{fixture-prod}:connector:${valueName}`;
  const valueText = JSON.stringify({ cached: 'fixture token set' });
  const [value] = seal.valueCopies(valueName, valueContext, valueText, null, 2);
  const messageName = 'fixture-channel';
  const messageContext = `${FIXTURE_PREFIX}connector:${messageName}`;
  const messageText = JSON.stringify({ refreshed: 'fixture message' });
  const id = '00000000-0000-4000-8000-000000000001';
  const sentAt = Date.now();
  const [message] = seal.messageCopies(messageName, messageContext, messageText, id, sentAt);
  const { json } = encodeEnvelope(FIXTURE_INSTANCE_ID, CONNECTOR_MESSAGE_TYPE, message!.sealed, 1_048_576, id);
  return {
    format: 'connector-seal',
    version: 1,
    writtenBy: WRITTEN_BY,
    note: 'ConnectorSeal.valueCopies (no expiry) and messageCopies under the test key-encryption key `kek`, the message in its bus envelope as KeycloakClusterProvider.publish sends it; sentAt is the server time (ms) it was sealed at',
    kek: FIXTURE_KEK,
    value: { name: valueName, context: valueContext, text: valueText, hiddenName: value!.name, sealed: value!.sealed },
    message: { name: messageName, context: messageContext, text: messageText, id, sentAt, hiddenName: message!.name, sealed: message!.sealed, envelope: json },
  };
}
