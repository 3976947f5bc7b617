import { connect as tlsConnect } from 'node:tls';
import { inspect } from 'node:util';
import { Redis } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import { KccAuthError, KccMetrics, KccRedis, type AwsCredentials, createIamAuthToken } from '../../../client/src/index.js';
import { Bus } from '../../../client/src/bus.js';
import { EventLog } from '../../../client/src/event-log.js';
import { Store } from '../../../client/src/store.js';
import { until } from '../../support/events.js';
import { startWriteWorkers } from '../../support/write-workers.js';
import { HOUR, MINUTE } from '../../support/fake-clock.js';
import { IAM_CACHE, IAM_KEY_1, IAM_REGION, IAM_USER, useIamHarness } from '../../support/iam-harness.js';
import { IamProxy, type IamProxyCredential } from '../../support/iam-proxy.js';
import { InMemoryMetrics } from '../../support/metric-reader.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

const USER = IAM_USER;
const OTHER = 'other-app-prod';
const CACHE = IAM_CACHE;
const REGION = IAM_REGION;
const KEY_1 = IAM_KEY_1;
const KEY_2: IamProxyCredential = { accessKeyId: 'ASIAKCCTESTKEY000002', secretAccessKey: 'kcc/test/secret/two/bbbbbbbbbbbbbbbbbbbbbbbb', sessionToken: 'FwoGZXIvYXdzEXAMPLE+session/token==' };

describe('IAM authentication through an ElastiCache stand-in (token-checking TLS proxy)', () => {
  const iam = useIamHarness({ appEnvs: [{ app: 'my-app', env: 'prod' }, { app: 'other-app', env: 'prod' }], credentials: [KEY_1, KEY_2], iamUsers: [USER, OTHER] });
  const connect = iam.connect;

  /** The first reply line to AUTH `user` `token` on a fresh connection to the iam.proxy (or to `port`). */
  function authReply(user: string, token: string, port = iam.proxy.port): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, ca: iam.server.ca, servername: 'localhost' }, () => {
        socket.write(`*3\r\n$4\r\nAUTH\r\n$${Buffer.byteLength(user)}\r\n${user}\r\n$${Buffer.byteLength(token)}\r\n${token}\r\n`);
      });
      let received = '';
      const timer = setTimeout(() => reject(new Error('no reply to AUTH')), 10_000);
      socket.on('data', (data: Buffer) => {
        received += data.toString();
        if (received.includes('\r\n')) {
          clearTimeout(timer);
          socket.destroy();
          resolve(received.slice(0, received.indexOf('\r\n')));
        }
      });
      socket.on('error', reject);
    });
  }

  const token = (options: Partial<Parameters<typeof createIamAuthToken>[0]> = {}) =>
    createIamAuthToken({ cacheName: CACHE, userId: USER, region: REGION, serverless: false, credentials: KEY_1, now: new Date(iam.clock.now()), ...options });


  it('connects with a token signed for the connection and runs commands as the IAM user', async () => {
    const redis = await connect({}, KEY_2);
    await redis.run((r) => r.set(redis.key('greeting'), 'hi'));
    expect(await redis.run((r) => r.get(redis.key('greeting')))).toBe('hi');
    expect(iam.proxy.logins.length).toBeGreaterThanOrEqual(1);
    for (const login of iam.proxy.logins) expect(login).toMatchObject({ user: USER, accessKeyId: KEY_2.accessKeyId });
    expect(iam.proxy.refusals).toEqual([]);
  });

  it('refuses forged, expired, misdirected and password tokens with WRONGPASS, as ElastiCache does', async () => {
    const valid = await token();
    expect(await authReply(USER, valid)).toBe('+OK');
    const signature = valid.slice(-64);
    const cases: [string, string, string, RegExp][] = [
      ['a forged signature', USER, valid.slice(0, -64) + (signature[0] === 'a' ? 'b' : 'a') + signature.slice(1), /signature does not match/],
      ['a token signed with another secret for a known key', USER, await token({ credentials: { ...KEY_1, secretAccessKey: 'not-the-secret' } }), /signature does not match/],
      ['an unknown access key', USER, await token({ credentials: { accessKeyId: 'AKIAUNKNOWN000000000', secretAccessKey: 'x' } }), /unknown access key/],
      ['an expired token (signed 16 minutes ago)', USER, await token({ now: new Date(iam.clock.now() - 16 * MINUTE) }), /token expired/],
      ['a token for another user', OTHER, valid, /is not the AUTH user/],
      ['a token for another cache', USER, await token({ cacheName: 'other-cache' }), /not cache "kcc-redis"/],
      ['a serverless token for a replication group', USER, await token({ serverless: true }), /ResourceType/],
      ['a token for another region', USER, await token({ region: 'us-east-1' }), /credential scope/],
      ['the user\'s password instead of a token', USER, iam.server.users.get(USER)!.password, /not a presigned URL|signed for/],
    ];
    for (const [what, user, presented, reason] of cases) {
      expect(await authReply(user, presented), what).toMatch(/^-WRONGPASS invalid username-password pair or user is disabled\.$/);
      expect(iam.proxy.refusals.at(-1), what).toMatch(reason);
    }
    iam.proxy.setCredentials([{ ...KEY_2, expiresAt: iam.clock.now() - 1 }]);
    expect(await authReply(USER, await token({ credentials: KEY_2 }))).toMatch(/^-WRONGPASS/);
    expect(iam.proxy.refusals.at(-1)).toBe('credentials expired');
  });

  it('fails to connect with a KccAuthError that names the user and cache and carries no token anywhere', async () => {
    const failure = await connect({ iam: { cacheName: 'other-cache' } }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(KccAuthError);
    expect((failure as Error).message).toMatch(/IAM token of user "my-app-prod" for replication group "other-cache" in eu-central-1 \(WRONGPASS\).*elasticache:Connect/);
    // ioredis attaches the failed AUTH's arguments to the reply error, which travels as the cause.
    const dump = `${inspect(failure, { depth: 10 })}${JSON.stringify(failure)}${String((failure as Error).cause)}`;
    expect(dump).toContain('WRONGPASS');
    expect(dump).not.toMatch(/X-Amz-Signature|Action=connect/);
  });

  it('keeps tokens and AWS secrets out of inspected and JSON-stringified objects', async () => {
    const redis = await connect({}, KEY_2);
    await redis.run((r) => r.ping());
    const dumps = [inspect(redis, { depth: 8 }), inspect(redis.client, { depth: 8 }), JSON.stringify(redis.config)];
    for (const dump of dumps) {
      expect(dump).not.toMatch(/X-Amz-Signature|Action=connect/);
      expect(dump).not.toContain(KEY_2.secretAccessKey);
      expect(dump).not.toContain(KEY_2.sessionToken);
    }
    expect(inspect((redis.client.options as { password?: unknown }).password)).toBe('[IAM auth token]');
  });

  it('survives the 12-hour rollover on a fake clock with zero failed commands, pub/sub and the event log delivering throughout', async () => {
    const redis = await connect();
    const sender = await connect();
    // The renewals as an operator's metrics show them.
    const sdk = new InMemoryMetrics();
    const kccMetrics = await KccMetrics.start({ redis }, { meterProvider: sdk.meterProvider });
    const heard = new Set<number>();
    await new Bus<number>(redis, { channel: 'rollover' }).subscribe((message) => heard.add(message.data));
    const log = new EventLog<number>(redis, { name: 'rollover', maxAgeMs: 100 * HOUR });
    const applied = new Set<number>();
    const tail = await log.tail((event) => {
      applied.add(event.data);
    });
    const bus = new Bus<number>(sender, { channel: 'rollover' });
    const failures: unknown[] = [];
    let published = 0;
    let appended = 0;
    let running = true;
    const writes = startWriteWorkers((_, i) => redis.run((r) => r.set(redis.key(`k${i % 20}`), String(i))), 2);
    const messages = async () => {
      while (running) {
        try {
          await bus.publish('n', published);
          await log.append('n', appended);
          published++;
          appended++;
        } catch (error) {
          failures.push(error);
        }
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    };
    const workers = [messages()];
    try {
      await until(() => writes.ok > 50 && published > 10, 'traffic before the rollover');
      let sinceRenewal = 0;
      for (let rollover = 1; rollover <= 2; rollover++) {
        const renewed = redis.stats.renewals;
        const senderRenewed = sender.stats.renewals;
        // To 11 hours of age: past every connection's renewal point (9 to 10.8 hours), before ElastiCache's 12.
        iam.clock.advance(11 * HOUR - sinceRenewal);
        // commands, subscriber and reader of `redis`; the sender's command connection renews too.
        await until(() => redis.stats.renewals >= renewed + 3 && sender.stats.renewals >= senderRenewed + 1, `renewals of rollover ${rollover}`, 30_000);
        // The replaced connections finish what they were doing (a blocked XREAD returns within 5 s) and quit.
        await until(() => iam.proxy.openConnections === 4, 'the replaced connections to close', 30_000);
        const sweeps = iam.proxy.sweeps;
        // Past the 12-hour mark of the replaced connections: the stand-in would close any still open.
        iam.clock.advance(2 * HOUR);
        sinceRenewal = 2 * HOUR;
        await until(() => iam.proxy.sweeps > sweeps + 1, 'an age check past 12 hours');
        await writes.okAfter(100, `commands after rollover ${rollover}`, 30_000);
      }
    } finally {
      running = false;
      await Promise.all([...workers, writes.stop()]);
    }
    await until(() => heard.size === published && applied.size === appended, 'every message and event', 30_000);
    await tail.stop();
    expect([...failures, ...writes.failures]).toEqual([]);
    expect(iam.proxy.closedForAge).toBe(0);
    expect(redis.stats.reconnects).toBe(0);
    expect(iam.proxy.refusals).toEqual([]);
    // Each renewal logged in with a token signed when it connected, not one left from 11 hours before.
    for (const login of iam.proxy.logins) expect(login.tokenAgeMs).toBeLessThan(1_000);
    const collected = await sdk.collect();
    const value = (name: string) => collected.get(name)?.points[0]?.value;
    expect(value('kcc_redis.connection.renewals')).toBe(redis.stats.renewals);
    expect(value('kcc_redis.connection.renewals')).toBeGreaterThanOrEqual(6);
    expect([value('kcc_redis.connection.renewal.failures'), value('kcc_redis.connection.reconnects'), value('kcc_redis.connection.auth.failures')]).toEqual([0, 0, 0]);
    kccMetrics.close();
    await sdk.shutdown();
  });

  it('moves every channel subscription to the renewed subscriber before the old one closes', async () => {
    const redis = await connect();
    const heard: string[] = [];
    const channel = redis.channel('kc');
    const stop = await redis.subscribe(channel, (message) => heard.push(message));
    const before = new Set(iam.proxy.openIds());
    iam.clock.advance(11 * HOUR);
    await until(() => iam.proxy.openIds().every((id) => !before.has(id)), 'both connections replaced and the old ones closed');
    iam.clock.advance(2 * HOUR);
    await redis.run((r) => r.publish(channel, 'after the rollover'));
    await until(() => heard.includes('after the rollover'), 'a message on the renewed subscriber');
    expect(heard).toEqual(['after the rollover']); // delivered once, on the new subscriber
    expect(iam.proxy.closedForAge).toBe(0);
    expect(redis.stats.reconnects).toBe(0);
    await stop();
  });

  // Found with the cluster handover's fix (bf09365): a channel subscribed while the renewal subscribes
  // its successor went to the old connection, which callers still got, and the successor never took it.
  it('a channel first subscribed while the renewal subscribes the successor is on the successor too', async () => {
    const original = Redis.prototype.subscribe as (this: Redis, ...args: unknown[]) => Promise<unknown>;
    const before = new Set<Redis>();
    let renewing = false;
    let hold!: () => void;
    const holding = new Promise<void>((resolve) => (hold = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const spy = vi.spyOn(Redis.prototype, 'subscribe').mockImplementation(function (this: Redis, ...args: unknown[]) {
      if (!renewing) before.add(this);
      if (!renewing || before.has(this)) return original.apply(this, args);
      hold(); // the successor's SUBSCRIBE waits until the test lets it go
      return released.then(() => original.apply(this, args));
    } as typeof Redis.prototype.subscribe);
    try {
      const redis = await connect();
      const heard: string[] = [];
      await redis.subscribe(redis.channel('first'), (message) => heard.push(message));
      const openBefore = new Set(iam.proxy.openIds());
      renewing = true;
      iam.clock.advance(11 * HOUR);
      await holding;
      await redis.subscribe(redis.channel('second'), (message) => heard.push(message));
      release();
      await until(() => iam.proxy.openIds().every((id) => !openBefore.has(id)), 'both connections replaced and the old ones closed');
      await redis.run((r) => r.publish(redis.channel('second'), 'on the second channel'));
      await redis.run((r) => r.publish(redis.channel('first'), 'on the first channel'));
      // One connection delivers in order: the second channel's message, if it is subscribed, came first.
      await until(() => heard.includes('on the first channel'), 'the first channel on the successor');
      expect(heard.sort()).toEqual(['on the first channel', 'on the second channel']);
    } finally {
      release();
      spy.mockRestore();
    }
  });

  it('closed while a renewal is still connecting the successor: no renewal failure counted or logged', async () => {
    // A TCP proxy in front of the stand-in parks the successor's handshake, so close() lands mid-renewal.
    const front = await TcpProxy.start(iam.proxy.port);
    const warnings: string[] = [];
    try {
      const redis = await connect({ url: front.url, logger: { info: () => {}, warn: (message: string) => void warnings.push(message) } });
      await redis.run((r) => r.ping());
      front.hold(1);
      iam.clock.advance(11 * HOUR); // past the command connection's renewal point (9 to 10.8 hours)
      await until(() => front.heldCount === 1, 'the renewal connecting its successor');
      await redis.close();
      await new Promise((resolve) => setImmediate(resolve));
      expect(redis.stats.renewalFailures).toBe(0);
      expect(warnings.filter((message) => message.includes('renewing a Redis connection'))).toEqual([]);
    } finally {
      await front.stop();
    }
  });

  /**
   * A prewarmed reader nobody claims before its renewal point, ready by then or (`handshake: 'parked'`)
   * still in its TLS handshake, parked by a TCP proxy in front of the stand-in.
   */
  async function unclaimedPastRenewal(handshake: 'done' | 'parked'): Promise<void> {
    const front = handshake === 'parked' ? await TcpProxy.start(iam.proxy.port) : undefined;
    front?.hold(1, 1); // the command connection passes, the reader's handshake is parked
    try {
      const redis = await connect(front ? { url: front.url } : {}, KEY_1, ['reader']);
      if (front) await until(() => front.heldCount === 1 && iam.proxy.openConnections === 1, 'the command connection, the reader parked');
      else await until(() => iam.proxy.openConnections === 2, 'the command connection and the prewarmed reader');
      const first = new Set(iam.proxy.openIds());
      iam.clock.advance(11 * HOUR); // past both renewal points (9 to 10.8 hours); nobody has claimed the reader
      await until(() => redis.stats.renewals === 1 && iam.proxy.openConnections === 1, 'the command connection renewed, the unclaimed reader closed');
      const renewedTo: unknown[] = [];
      const reader = await redis.dedicated('reader', async (next) => void renewedTo.push(next));
      expect(await reader.ping()).toBe('PONG');
      expect(iam.proxy.openIds().filter((id) => first.has(id))).toEqual([]); // a new connection, not the 11-hour-old one
      iam.clock.advance(11 * HOUR); // past the renewal points of the handed-over reader and of the command connection
      await until(() => renewedTo.length === 1 && redis.stats.renewals === 3 && iam.proxy.openConnections === 2, 'both renewed and the replaced ones closed');
      const sweeps = iam.proxy.sweeps;
      iam.clock.advance(2 * HOUR);
      await until(() => iam.proxy.sweeps > sweeps + 1, 'an age check past 12 hours');
      expect(iam.proxy.closedForAge).toBe(0);
      expect(redis.stats.reconnects).toBe(0);
    } finally {
      await front?.stop();
    }
  }

  it('a prewarmed connection still unclaimed at its renewal point is closed; the one handed over later is renewed like any other', () => unclaimedPastRenewal('done'));

  it('the same for a prewarmed connection still in its handshake at its renewal point', () => unclaimedPastRenewal('parked'));

  it('a connection claimed while still in its handshake at its renewal point is renewed once handed over', async () => {
    const front = await TcpProxy.start(iam.proxy.port);
    front.hold(1, 1); // the command connection passes, the reader's handshake is parked
    try {
      const redis = await connect({ url: front.url }, KEY_1, ['reader']);
      await until(() => front.heldCount === 1 && iam.proxy.openConnections === 1, 'the command connection, the reader parked');
      const renewedTo: unknown[] = [];
      const claimed = redis.dedicated('reader', async (next) => void renewedTo.push(next));
      iam.clock.advance(11 * HOUR); // past both renewal points; the reader is claimed, not yet handed over
      // One age check handles both: the command connection renewed means the reader was looked at too.
      await until(() => redis.stats.renewals === 1, 'the command connection renewed');
      front.release();
      const reader = await claimed;
      expect(await reader.ping()).toBe('PONG');
      await until(() => renewedTo.length === 1 && redis.stats.renewals === 2 && iam.proxy.openConnections === 2, 'the handed-over reader renewed and the old one closed');
      expect(renewedTo[0]).not.toBe(reader);
      expect(redis.stats.renewalFailures).toBe(0);
      const sweeps = iam.proxy.sweeps;
      iam.clock.advance(2 * HOUR); // 13 hours after the reader connected
      await until(() => iam.proxy.sweeps > sweeps + 1, 'an age check past 12 hours');
      expect(iam.proxy.closedForAge).toBe(0);
      expect(redis.stats.reconnects).toBe(0);
    } finally {
      await front.stop();
    }
  });

  it("a renewal's successor whose own renewal point comes while it is being handed over is renewed once it is", async () => {
    const redis = await connect();
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const renewedTo: unknown[] = [];
    const reader = await redis.dedicated('reader', async (next) => {
      renewedTo.push(next);
      if (renewedTo.length === 1) await gate; // the owner still moving its work to the first successor
    });
    expect(await reader.ping()).toBe('PONG');
    iam.clock.advance(11 * HOUR); // both renewal points: the reader's owner is handed its successor and holds on
    await until(() => redis.stats.renewals === 1 && renewedTo.length === 1, 'the command connection renewed, the reader handing over');
    iam.clock.advance(11 * HOUR); // the successors' own renewal points (tracked at 11 hours)
    // One age check looks at both successors: the new command connection renewed means the reader's was looked at too.
    await until(() => redis.stats.renewals === 2, 'the renewed command connection renewed again');
    openGate();
    await until(() => renewedTo.length === 2 && redis.stats.renewals === 4, "the reader handed over, then its successor renewed in turn");
    expect(redis.stats.renewalFailures).toBe(0);
  });

  it("a command connection's successor still connecting at its own renewal point: one renewal at a time, no failure", async () => {
    // A TCP proxy in front of the stand-in parks the successor's handshake across its own renewal point.
    const front = await TcpProxy.start(iam.proxy.port);
    try {
      const redis = await connect({ url: front.url });
      await redis.run((r) => r.ping());
      front.hold(1);
      iam.clock.advance(11 * HOUR); // the command connection's renewal point
      await until(() => front.heldCount === 1, 'the renewal connecting its successor');
      iam.clock.advance(11 * HOUR); // the parked successor's own renewal point (it was opened at 11 hours)
      await new Promise((resolve) => setTimeout(resolve, 300)); // age checks run every 20 ms
      front.release();
      // Handed over, then renewed in turn: a second renewal started meanwhile would have replaced it
      // under the first, which then fails.
      await until(() => redis.stats.renewals === 2, 'the successor in use, then renewed');
      expect(redis.stats.renewalFailures).toBe(0);
      expect(await redis.run((r) => r.ping())).toBe('PONG');
    } finally {
      await front.stop();
    }
  });

  it('without renewal the stand-in closes connections at 12 hours (the limit the rollover test beats)', async () => {
    // No renewal: its check runs every 5 minutes of real time (the most iam.checkIntervalMs may be) (an age past ElastiCache's 12 hours is refused).
    const redis = await connect({ iam: { checkIntervalMs: 300_000 } });
    await redis.run((r) => r.ping());
    iam.clock.advance(12 * HOUR);
    await until(() => iam.proxy.closedForAge >= 1, 'the stand-in closing an old connection');
    // ioredis reconnects with a fresh token; the command waits for it.
    expect(await redis.run((r) => r.ping())).toBe('PONG');
    expect(redis.stats.reconnects).toBeGreaterThanOrEqual(1);
  });

  // The stand-in as ElastiCache documents it (auth-iam.html, Limitations): "The connection can be prolonged
  // for 12 hours by sending an AUTH or HELLO command with a new IAM authentication token". The client
  // replaces connections instead; docs/iam-auth.md tells other clients to re-authenticate.
  it('the stand-in prolongs a connection re-authenticated with a new token by 12 hours; a refused token changes nothing', async () => {
    const raw = new Redis({ host: '127.0.0.1', port: iam.proxy.port, tls: { ca: iam.server.ca, servername: 'localhost' }, username: USER, password: await token(), lazyConnect: true, retryStrategy: () => null, disableClientInfo: true });
    try {
      await raw.connect();
      expect(await raw.ping()).toBe('PONG');
      const sweptAfter = async (hours: number) => {
        const sweeps = iam.proxy.sweeps;
        iam.clock.advance(hours * HOUR);
        await until(() => iam.proxy.sweeps > sweeps, 'an age check after the clock moved');
      };
      await sweptAfter(11);
      expect(await raw.auth(USER, await token())).toBe('OK');
      expect(iam.proxy.reauthentications.at(-1)).toMatchObject({ user: USER, accessKeyId: KEY_1.accessKeyId });
      const closed = iam.proxy.closedForAge;
      await expect(raw.auth(USER, await token({ region: 'us-east-1' }))).rejects.toThrow(/^WRONGPASS/);
      expect(iam.proxy.refusals.at(-1)).toMatch(/credential scope/);
      expect(await raw.ping()).toBe('PONG'); // still logged in as before
      await sweptAfter(2); // 13 hours after the login, 2 after the new token
      expect(iam.proxy.closedForAge).toBe(closed);
      expect(await raw.ping()).toBe('PONG');
      await sweptAfter(11); // 13 hours after the new token
      expect(iam.proxy.closedForAge).toBe(closed + 1);
    } finally {
      raw.disconnect();
    }
  });

  it('signs a new token for a reconnect instead of reusing one older than 15 minutes', async () => {
    // Stand-by token checks every 5 minutes (real time, the most iam.checkIntervalMs may be): only the per-connection signature can help.
    const redis = await connect({ iam: { checkIntervalMs: 300_000 } });
    await redis.run((r) => r.ping());
    const logins = iam.proxy.logins.length;
    iam.clock.advance(16 * MINUTE);
    iam.proxy.dropAll();
    expect(await redis.run((r) => r.ping())).toBe('PONG');
    expect(iam.proxy.logins.length).toBeGreaterThan(logins);
    expect(iam.proxy.logins.at(-1)!.tokenAgeMs).toBeLessThan(1_000);
    expect(iam.proxy.refusals).toEqual([]);
    expect(redis.stats.authFailures).toBe(0);
    // The token-signing connector opens the sockets through the instance's TLS sessions: the reconnect resumed.
    expect(redis.stats.tlsResumptions).toBeGreaterThanOrEqual(1);
  });

  it('survives credential expiry: credentials are resolved again, forcibly after a refused token', async () => {
    const expiresAt = iam.clock.now() + HOUR;
    iam.proxy.setCredentials([{ ...KEY_1, expiresAt }, KEY_2]);
    // Like the SDK's memoized providers: the cached credentials until asked to refresh.
    let current: AwsCredentials = { ...KEY_1, expiration: new Date(expiresAt + 10 * HOUR) };
    const calls: boolean[] = [];
    const provider = async (options?: { forceRefresh?: boolean }) => {
      calls.push(options?.forceRefresh === true);
      if (options?.forceRefresh) current = KEY_2;
      return current;
    };
    const redis = await connect({ connectTimeoutMs: 20_000 }, provider);
    await redis.run((r) => r.set(redis.key('before'), '1'));
    iam.clock.advance(2 * HOUR);
    iam.proxy.dropAll();
    expect(await redis.run((r) => r.get(redis.key('before')))).toBe('1');
    expect(iam.proxy.refusals).toContain('credentials expired');
    expect(calls).toContain(true);
    expect(iam.proxy.logins.at(-1)!.accessKeyId).toBe(KEY_2.accessKeyId);
  });

  it('a password user and an IAM user of one namespace on the same cache, side by side (old password instances beside new IAM ones while migrating)', async () => {
    // ElastiCache sets the authentication mode per user (AuthenticationMode.Type password | iam) and one
    // user group holds both; the stack's "password+iam" app-env has its password user and an IAM user
    // "…-iam" with the same key prefix. Here the IAM user is a second ACL user with the password user's rules.
    const IAM_ONLY = `${USER}-iam`;
    const upstreamPassword = 'I'.repeat(24) + 'i'.repeat(24);
    const password = iam.server.users.get(USER)!.password;
    const admin = await iam.server.admin();
    const rules = iam.server.users.get(USER)!.accessString.split(' ');
    await admin.call('ACL', 'SETUSER', IAM_ONLY, 'reset', ...rules, `>${upstreamPassword}`);
    const proxy = await IamProxy.start({
      upstream: iam.server, cacheName: CACHE, region: REGION, serverless: false, credentials: [KEY_1], now: iam.clock.now,
      iamUsers: [IAM_ONLY], passwordUsers: [USER], upstreamPasswords: new Map([[IAM_ONLY, upstreamPassword]]),
    });
    const tls = { ca: iam.server.ca, servername: 'localhost' };
    const opened: KccRedis[] = [];
    try {
      const viaIam = await iam.connect({ url: proxy.url, username: IAM_ONLY });
      opened.push(viaIam);
      const viaPassword = await KccRedis.connect({ url: proxy.url, tls, username: USER, password, env: {} });
      opened.push(viaPassword);
      expect(viaPassword.keyPrefix).toBe(viaIam.keyPrefix);
      // One namespace: a write of one is read by the other; bus messages cross both ways (a bus skips its own).
      expect(await new Store(viaPassword).compareAndSet('migrating', 0, 'from-password')).toEqual({ ok: true, version: 1 });
      expect(await new Store(viaIam).getVersioned('migrating')).toMatchObject({ value: 'from-password', version: 1 });
      const heardByIam: string[] = [];
      const heardByPassword: string[] = [];
      await new Bus<string>(viaIam, { channel: 'migration' }).subscribe((m) => heardByIam.push(m.data));
      await new Bus<string>(viaPassword, { channel: 'migration' }).subscribe((m) => heardByPassword.push(m.data));
      await new Bus<string>(viaPassword, { channel: 'migration' }).publish('n', 'old instance');
      await new Bus<string>(viaIam, { channel: 'migration' }).publish('n', 'new instance');
      await until(() => heardByIam.length === 1 && heardByPassword.length === 1, "each instance hearing the other's message");
      expect([heardByIam, heardByPassword]).toEqual([['old instance'], ['new instance']]);
      expect(proxy.passwordAuths).toBeGreaterThan(0);
      expect(new Set(proxy.logins.map((login) => login.user))).toEqual(new Set([IAM_ONLY]));
      expect(proxy.refusals).toEqual([]);
      // Each kind keeps its own check: the server refuses a wrong password; the stand-in a password from the IAM user.
      const wrong = await KccRedis.connect({ url: proxy.url, tls, username: USER, password: 'not-the-password-0123456789', env: {}, connectTimeoutMs: 2_000 }).catch((error: unknown) => error);
      expect(wrong).toBeInstanceOf(KccAuthError);
      expect(await authReply(IAM_ONLY, upstreamPassword, proxy.port)).toMatch(/^-WRONGPASS/);
      expect(proxy.refusals.at(-1)).toMatch(/not a presigned URL|signed for/);
      // Password connections have no 12-hour limit: 13 hours on the stand-in's clock close none of them.
      const auths = proxy.passwordAuths;
      const sweeps = proxy.sweeps;
      iam.clock.advance(13 * HOUR);
      await until(() => proxy.sweeps > sweeps + 1, 'an age check past 12 hours');
      expect(await viaPassword.run((r) => r.get(viaPassword.key('probe')))).toBeNull();
      expect(proxy.passwordAuths).toBe(auths);
      expect(viaPassword.stats.reconnects).toBe(0);
    } finally {
      for (const redis of opened) await redis.close();
      await proxy.stop();
      await admin.call('ACL', 'DELUSER', IAM_ONLY);
      await admin.quit();
    }
  });
});
