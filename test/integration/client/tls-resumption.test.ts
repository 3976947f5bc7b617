/**
 * TLS session resumption across one instance's connections (client/src/tls-sessions.ts): those
 * opened at start-up make full handshakes, the instance's later ones and its reconnects resume its session.
 * A session is only an offer: a server that does not know the ticket answers with a full handshake,
 * whose certificate is checked as always.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Server as TlsServer, type TLSSocket, createServer as createTlsServer } from 'node:tls';
import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { KccRedis } from '@kcc-redis/client';
import { MAX_ENDPOINTS, TlsSessions } from '../../../client/src/tls-sessions.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { createTlsMaterial } from '../../../local/tls-material.js';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { kccOptions, startTestRedis, useTestRedis } from '../../support/redis.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

const USER = 'resume-prod';
const APP_ENVS = [{ app: 'resume', env: 'prod' }];
const server = useTestRedis({ appEnvs: APP_ENVS, persistence: 'none' });
const closeLater = closeAfterEach();

const socketOf = (client: unknown) => (client as Redis).stream as TLSSocket;
const resumed = (client: unknown) => socketOf(client).isSessionReused();

/** Resolves once `client` has reconnected after its socket was destroyed (a reset, a killed connection). */
async function reconnected(client: Redis): Promise<void> {
  const before = client.stream;
  const ready = new Promise<void>((resolve) => client.once('ready', resolve));
  before.destroy();
  await ready;
  expect(client.stream).not.toBe(before);
}

describe('TLS session resumption', () => {
  it("the connections opened together at start-up make full handshakes; one opened later and every reconnect resume the instance's session", async () => {
    const redis = closeLater(await KccRedis.connect(kccOptions(server, USER), ['reader']));
    const reader = await redis.dedicated('reader');
    expect(resumed(redis.client)).toBe(false);
    expect(resumed(reader)).toBe(false);
    expect(redis.stats.tlsResumptions).toBe(0);

    const subscriber = await redis.dedicated('subscriber');
    expect(resumed(subscriber)).toBe(true);
    expect(redis.stats.tlsResumptions).toBe(1);

    await reconnected(redis.client as Redis);
    expect(resumed(redis.client)).toBe(true);
    expect(redis.stats.tlsResumptions).toBe(2);
    expect(await redis.run((r) => r.ping())).toBe('PONG');
  });

  it("a ticket the server no longer knows (a restarted node) costs a full handshake and nothing else; the next reconnect resumes the new session", { timeout: 60_000 }, async () => {
    const own = await startTestRedis({ appEnvs: APP_ENVS, persistence: 'none' });
    closeLater({ close: () => own.stop() });
    // One connection only: another one's reconnect after the restart would bring a ticket of the new
    // process that this one's next attempt could resume.
    const redis = closeLater(await KccRedis.connect(kccOptions(own, USER)));
    const commands = redis.client as Redis;
    await reconnected(commands);
    expect(resumed(commands)).toBe(true);
    expect(redis.stats.tlsResumptions).toBe(1);

    // A new process: new ticket keys, so the ticket the instance holds is refused.
    const back = new Promise<void>((resolve) => commands.once('ready', resolve));
    await own.restart();
    await back;
    expect(await redis.run((r) => r.ping())).toBe('PONG');
    expect(resumed(commands)).toBe(false);
    const afterRestart = redis.stats.tlsResumptions;

    // That full handshake brought a ticket of the new process.
    await reconnected(commands);
    expect(resumed(commands)).toBe(true);
    expect(redis.stats.tlsResumptions).toBe(afterRestart + 1);
  });

  it('a server that speaks TLS 1.2 only: its session (given right after the handshake, not as a later ticket) is resumed too', async () => {
    const own = await startTestRedis({ appEnvs: APP_ENVS, persistence: 'none' });
    closeLater({ close: () => own.stop() });
    const admin = await own.admin();
    await admin.call('CONFIG', 'SET', 'tls-protocols', 'TLSv1.2');
    await admin.quit();
    const redis = closeLater(await KccRedis.connect(kccOptions(own, USER)));
    expect(socketOf(redis.client).getProtocol()).toBe('TLSv1.2');
    const later = await redis.dedicated('reader');
    expect(socketOf(later).getProtocol()).toBe('TLSv1.2');
    expect(resumed(later)).toBe(true);
    expect(redis.stats.tlsResumptions).toBe(1);
  });

  it('a ticket gets nobody past the certificate check: an endpoint that moves to a server with an untrusted certificate is refused, and the instance resumes once it points back', { timeout: 60_000 }, async () => {
    // Another server with its own CA and the same user name: an impostor the instance's CA does not vouch for.
    const impostor = await startTestRedis({ appEnvs: APP_ENVS, persistence: 'none' });
    closeLater({ close: () => impostor.stop() });
    const proxy = await TcpProxy.start(server.port);
    closeLater({ close: () => proxy.stop() });
    const redis = closeLater(await KccRedis.connect(kccOptions(server, USER, { url: proxy.url })));
    await redis.dedicated('reader');
    expect(redis.stats.tlsResumptions).toBe(1); // a ticket of the real server is held

    const commands = redis.client as Redis;
    const errors: Error[] = [];
    commands.on('error', (error: Error) => void errors.push(error));
    const impostorsBefore = await connectionsOf(impostor);
    proxy.retarget(impostor.port);
    proxy.cut();
    proxy.heal();
    // The ticket is offered to the impostor, which cannot use it, and its certificate is refused.
    await until(() => errors.some((error) => /certificate/i.test(error.message)), 'the impostor\'s certificate refused', 30_000);
    expect(commands.status).not.toBe('ready');
    expect(await connectionsOf(impostor)).toBe(impostorsBefore); // no session of ours was ever set up there
    const resumptionsDuringImpostor = redis.stats.tlsResumptions;

    // The endpoint points back at the real server: the instance reconnects and resumes the session it held.
    proxy.retarget(server.port);
    await until(() => commands.status === 'ready', 'the commands connection back on the real server', 30_000);
    expect(await redis.run((r) => r.ping())).toBe('PONG');
    expect(resumed(commands)).toBe(true);
    expect(resumptionsDuringImpostor).toBe(1);
  });
});

/** Clients authenticated on `server` as the app-env user (the admin's own connection excluded). */
async function connectionsOf(server: LocalRedis): Promise<number> {
  const admin = await server.admin();
  try {
    const list = String(await admin.call('CLIENT', 'LIST'));
    return list.split('\n').filter((line) => line.includes(` user=${USER} `)).length;
  } finally {
    await admin.quit();
  }
}

describe('the sessions held (TlsSessions)', () => {
  /** `count` Node TLS servers, each with ticket keys of its own as separate nodes have; the CA they chain to. */
  async function tlsServers(count: number): Promise<{ ports: number[]; ca: string }> {
    const dir = await mkdtemp(join(tmpdir(), 'kcc-tls-sessions-'));
    const servers: TlsServer[] = [];
    closeLater({ close: async () => {
      await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
      await rm(dir, { recursive: true, force: true });
    } });
    const material = await createTlsMaterial(dir);
    const [key, cert] = await Promise.all([readFile(material.keyFile), readFile(material.certFile)]);
    for (let i = 0; i < count; i++) {
      const s = createTlsServer({ key, cert }, (socket) => socket.on('error', () => {}).resume());
      servers.push(s);
      await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    }
    return { ports: servers.map((s) => (s.address() as AddressInfo).port), ca: material.ca };
  }

  /**
   * Connects to `port`, after a full handshake until the server's session ticket came; whether the
   * handshake resumed. The session buffer Node emitted is wiped once the sessions kept their copy.
   */
  async function visit(sessions: TlsSessions, port: number, ca: string): Promise<boolean> {
    const socket = sessions.open({ host: '127.0.0.1', port, ca, servername: 'localhost' });
    socket.resume();
    try {
      return await new Promise<boolean>((resolve, reject) => {
        socket.once('secureConnect', () => {
          if (socket.isSessionReused()) resolve(true);
          else {
            socket.once('session', (session: Buffer) => {
              if (session.every((byte) => byte === 0)) resolve(false);
              else reject(new Error('the session buffer Node emitted was left as it came'));
            });
          }
        });
        socket.once('error', reject);
        socket.once('close', () => reject(new Error(`the server on port ${port} closed the connection first`)));
      });
    } finally {
      socket.destroy();
    }
  }

  it(`one per endpoint, at most ${MAX_ENDPOINTS}: past that the endpoint whose session came least recently is dropped and makes a full handshake`, async () => {
    const { ports, ca } = await tlsServers(MAX_ENDPOINTS + 1);
    const sessions = new TlsSessions();
    for (const port of ports) expect(await visit(sessions, port, ca)).toBe(false);
    expect(sessions.resumed).toBe(0);
    expect(sessions.held).toBe(MAX_ENDPOINTS);
    // Server 0's session was dropped when the last server's came in; each other server's is held.
    expect(await visit(sessions, ports[MAX_ENDPOINTS]!, ca)).toBe(true);
    expect(await visit(sessions, ports[1]!, ca)).toBe(true);
    expect(await visit(sessions, ports[0]!, ca)).toBe(false);
    expect(sessions.resumed).toBe(2);
    sessions.close();
    expect(sessions.held).toBe(0);
    expect(await visit(sessions, ports[1]!, ca)).toBe(false);
  });

  it('a handshake still running at close() (ioredis ends such a socket, it does not destroy it) brings a session that is wiped, not kept', async () => {
    const { ports: [port], ca } = await tlsServers(1);
    const sessions = new TlsSessions();
    const socket = sessions.open({ host: '127.0.0.1', port, ca, servername: 'localhost' });
    socket.resume();
    sessions.close();
    // The instance's listener, attached first, has had the same buffer when this one runs.
    const session = await new Promise<Buffer>((resolve, reject) => {
      socket.once('session', resolve);
      socket.once('error', reject);
    });
    socket.destroy();
    expect(session.length).toBeGreaterThan(0);
    expect(session.every((byte) => byte === 0)).toBe(true);
    expect(sessions.held).toBe(0);
    expect(await visit(sessions, port!, ca)).toBe(false);
  });
});
