import { randomUUID, timingSafeEqual } from 'node:crypto';
import { type Server, type TLSSocket, connect as tlsConnect, createServer } from 'node:tls';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import type { LocalRedis } from '../../local/local-redis.js';

/** AWS credentials the stand-in's "IAM" knows, and when (on its clock) they stop working. */
export interface IamProxyCredential {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  /** Epoch ms on the proxy's clock; tokens signed with these credentials are refused from then on. */
  readonly expiresAt?: number;
}

export interface IamProxyOptions {
  /** The real redis-server; the proxy logs in as the token's user with the password it knows. */
  readonly upstream: LocalRedis;
  /** The replication group id or serverless cache name tokens must be signed for. */
  readonly cacheName: string;
  readonly region: string;
  readonly serverless: boolean;
  readonly credentials: readonly IamProxyCredential[];
  /** Users with authentication mode "iam" (their id is their name); others are refused with a token. */
  readonly iamUsers: readonly string[];
  /**
   * Users with authentication mode "password" on the same cache: their AUTH goes to the server as
   * sent, which checks the password (ElastiCache sets the mode per user, `AuthenticationMode.Type`
   * `password | no-password-required | iam`, https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_AuthenticationMode.html,
   * and one user group holds users of both kinds). Their connections have no 12-hour limit (that
   * limit is IAM's, https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth-iam.html "Limitations").
   * @default none
   */
  readonly passwordUsers?: readonly string[];
  /** Server passwords of IAM users that are not among the upstream's app-env users (a user a test added). */
  readonly upstreamPasswords?: ReadonlyMap<string, string>;
  /** Connections are closed this long after they authenticated, on the proxy's clock. @default 12 hours */
  readonly maxConnectionAgeMs?: number;
  /** The proxy's clock (epoch ms). @default Date.now */
  readonly now?: () => number;
  /** How often (real time) connection ages are checked. @default 20 */
  readonly sweepIntervalMs?: number;
}

/** An authenticated connection as the proxy saw it. */
export interface IamProxyLogin {
  readonly user: string;
  readonly accessKeyId: string;
  /** Age of the token when it was presented, on the proxy's clock. */
  readonly tokenAgeMs: number;
}

const SERVICE = 'elasticache';
const MAX_EXPIRES_SECONDS = 900;
/** ElastiCache's reply to a refused IAM token, as seen on the wire (redisson/redisson#6106): the same as a wrong password. */
const WRONGPASS = '-WRONGPASS invalid username-password pair or user is disabled.\r\n';
const NOAUTH = '-NOAUTH Authentication required.\r\n';
const MAX_FIRST_COMMAND_BYTES = 64 * 1024;

/**
 * A stand-in for ElastiCache's IAM authentication in front of a real redis-server: a TLS proxy that
 * reads each client's AUTH (or HELLO … AUTH), verifies the IAM token as ElastiCache documents it
 * (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth-iam.html): a SigV4 query-presigned
 * `GET http://<cache>/?Action=connect&User=<id>[&ResourceType=ServerlessCache]` for the service
 * `elasticache` in the region, signed by known credentials (recomputed with the SDK's signer),
 * not expired (at most 15 minutes, and not past the credentials' expiry), `User` equal to the
 * AUTH user, an IAM-enabled user, and the right cache and resource type. It then logs in to the
 * real server as that user with its password and relays bytes. Refused tokens get WRONGPASS and
 * the connection stays unauthenticated, as on ElastiCache. Connections older than
 * `maxConnectionAgeMs` on the proxy's clock are closed, like ElastiCache's 12-hour limit; an AUTH
 * or HELLO … AUTH with a new token on a logged-in connection restarts that time, as ElastiCache's
 * does (one with a refused token gets WRONGPASS and changes nothing). Users
 * named in `passwordUsers` log in with their password beside the IAM users, as on one ElastiCache
 * user group: their AUTH goes to the server as sent.
 */
export class IamProxy {
  /** Every accepted login, in order. */
  readonly logins: IamProxyLogin[] = [];
  /** Every accepted AUTH or HELLO … AUTH on a connection already logged in, in order (each restarts its 12 hours). */
  readonly reauthentications: IamProxyLogin[] = [];
  /** Why each refused token was refused (for assertions; the client only sees WRONGPASS). */
  readonly refusals: string[] = [];
  closedForAge = 0;
  /** AUTHs of password users passed to the server as sent (accepted or not: the server answers). */
  passwordAuths = 0;
  /** Completed age checks; a test waits for one after moving the clock. */
  sweeps = 0;
  private credentials: readonly IamProxyCredential[];
  private readonly open = new Map<TLSSocket, { upstream: TLSSocket; since: number; id: number }>();
  private nextId = 1;
  private readonly pending = new Set<TLSSocket>();
  private readonly passwordConnections = new Map<TLSSocket, TLSSocket>();
  private readonly now: () => number;
  private readonly maxAgeMs: number;
  private readonly sweeper: NodeJS.Timeout;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly options: IamProxyOptions,
  ) {
    this.credentials = options.credentials;
    this.now = options.now ?? Date.now;
    this.maxAgeMs = options.maxConnectionAgeMs ?? 12 * 60 * 60 * 1000;
    this.sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 20);
  }

  static async start(options: IamProxyOptions): Promise<IamProxy> {
    const { certFile, keyFile } = options.upstream.tls;
    const { readFile } = await import('node:fs/promises');
    const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]);
    const server = createServer({ cert, key });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const port = (server.address() as { port: number }).port;
    const proxy = new IamProxy(server, port, options);
    server.on('secureConnection', (socket) => proxy.accept(socket));
    return proxy;
  }

  get url(): string {
    return `rediss://127.0.0.1:${this.port}`;
  }

  /** Connections currently relayed. */
  get openConnections(): number {
    return this.open.size;
  }

  /** Ids of the connections currently relayed (numbered in the order they authenticated). */
  openIds(): number[] {
    return [...this.open.values()].map((c) => c.id);
  }

  /** Replaces the credentials the "IAM" knows (a rotation, a revoked key). */
  setCredentials(credentials: readonly IamProxyCredential[]): void {
    this.credentials = credentials;
  }

  /** Drops every connection at once (a network blip, a failover). */
  dropAll(): void {
    for (const [client, { upstream }] of this.open) {
      client.destroy();
      upstream.destroy();
    }
    this.open.clear();
    for (const [client, upstream] of this.passwordConnections) {
      client.destroy();
      upstream.destroy();
    }
    this.passwordConnections.clear();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    this.dropAll();
    for (const socket of this.pending) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /**
   * Why `token` presented by `user` is refused, or undefined when ElastiCache would accept it;
   * `accepted` receives the login on success.
   */
  async check(user: string, token: string): Promise<{ refused: string } | { login: IamProxyLogin }> {
    const { cacheName, region, serverless } = this.options;
    let url: URL;
    try {
      url = new URL(`http://${token}`);
    } catch {
      return { refused: 'not a presigned URL' };
    }
    const q = url.searchParams;
    const credentialParts = (q.get('X-Amz-Credential') ?? '').split('/');
    const [accessKeyId, day, scopeRegion, scopeService, terminator] = credentialParts;
    const date = q.get('X-Amz-Date') ?? '';
    const signedAt = Date.parse(date.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
    const expires = Number(q.get('X-Amz-Expires'));
    const now = this.now();
    const credential = this.credentials.find((c) => c.accessKeyId === accessKeyId);
    const checks: [boolean, string][] = [
      [url.hostname === cacheName && url.port === '' && url.pathname === '/', `signed for "${url.host}${url.pathname}", not cache "${cacheName}"`],
      [q.get('Action') === 'connect', 'Action is not connect'],
      [q.get('User') === user, `User "${q.get('User')}" is not the AUTH user "${user}"`],
      [q.get('ResourceType') === (serverless ? 'ServerlessCache' : null), `ResourceType "${q.get('ResourceType')}" does not match the cache type`],
      [q.get('X-Amz-Algorithm') === 'AWS4-HMAC-SHA256', 'not AWS4-HMAC-SHA256'],
      [q.get('X-Amz-SignedHeaders') === 'host', 'signed headers are not "host"'],
      [credentialParts.length === 5 && scopeRegion === region && scopeService === SERVICE && terminator === 'aws4_request', 'credential scope is not this region and elasticache'],
      [!Number.isNaN(signedAt) && day === date.slice(0, 8), 'malformed X-Amz-Date'],
      [Number.isInteger(expires) && expires > 0 && expires <= MAX_EXPIRES_SECONDS, `X-Amz-Expires ${q.get('X-Amz-Expires')} is not 1..900`],
      [credential !== undefined, `unknown access key "${accessKeyId}"`],
    ];
    const failed = checks.find(([ok]) => !ok);
    if (failed) return { refused: failed[1] };
    if (now > signedAt + expires * 1000) return { refused: 'token expired' };
    if (signedAt > now + 5 * 60 * 1000) return { refused: 'token signed in the future' };
    if (credential!.expiresAt !== undefined && now >= credential!.expiresAt) return { refused: 'credentials expired' };
    if ((q.get('X-Amz-Security-Token') ?? undefined) !== credential!.sessionToken) return { refused: 'session token does not match the credentials' };
    if (!this.options.iamUsers.includes(user)) return { refused: `user "${user}" is not an IAM-enabled user` };

    // Recompute the signature over everything the client signed, with the SDK's signer.
    const query: Record<string, string> = {};
    for (const [name, value] of q) if (!name.startsWith('X-Amz-')) query[name] = value;
    const signer = new SignatureV4({ service: SERVICE, region, sha256: Sha256, credentials: { accessKeyId: credential!.accessKeyId, secretAccessKey: credential!.secretAccessKey, sessionToken: credential!.sessionToken } });
    const expected = await signer.presign(
      { method: 'GET', protocol: 'http:', hostname: url.hostname, path: '/', query, headers: { host: url.hostname } },
      { expiresIn: expires, signingDate: new Date(signedAt) },
    );
    const want = Buffer.from(String(expected.query?.['X-Amz-Signature'] ?? ''));
    const got = Buffer.from(q.get('X-Amz-Signature') ?? '');
    if (want.length !== got.length || !timingSafeEqual(want, got)) return { refused: 'signature does not match' };
    return { login: { user, accessKeyId: accessKeyId!, tokenAgeMs: now - signedAt } };
  }

  private accept(client: TLSSocket): void {
    this.pending.add(client);
    let buffered = Buffer.alloc(0);
    let busy = false;
    client.on('error', () => undefined);
    client.on('close', () => this.pending.delete(client));
    const onData = (data: Buffer) => {
      buffered = Buffer.concat([buffered, data]);
      if (!busy) void next();
    };
    const next = async (): Promise<void> => {
      busy = true;
      while (this.pending.has(client)) {
        const parsed = parseCommand(buffered);
        if (parsed === 'incomplete') {
          if (buffered.length > MAX_FIRST_COMMAND_BYTES) client.destroy();
          break;
        }
        if (parsed === 'invalid') {
          client.end('-ERR Protocol error\r\n');
          break;
        }
        buffered = buffered.subarray(parsed.length);
        const credentials = credentialsOf(parsed.args);
        if (!credentials) {
          client.write(NOAUTH);
          continue;
        }
        if (this.options.passwordUsers?.includes(credentials.user)) {
          client.off('data', onData);
          this.pending.delete(client);
          this.passwordAuths++;
          this.relay(client, parsed.args, undefined, undefined, buffered);
          return;
        }
        const verdict = await this.check(credentials.user, credentials.password);
        if ('refused' in verdict) {
          this.refusals.push(verdict.refused);
          client.write(WRONGPASS);
          continue;
        }
        client.off('data', onData);
        this.pending.delete(client);
        this.relay(client, parsed.args, credentials.passwordIndex, verdict.login, buffered);
        return;
      }
      busy = false;
    };
    client.on('data', onData);
  }

  /** Relays `client` to the server: an IAM login with the user's password in place of the token, a password user's AUTH as sent. */
  private relay(client: TLSSocket, args: string[], passwordIndex: number | undefined, login: IamProxyLogin | undefined, rest: Buffer): void {
    const { upstream: server } = this.options;
    const password = login && (server.users.get(login.user)?.password ?? this.options.upstreamPasswords?.get(login.user));
    if (login && password === undefined) {
      client.destroy();
      return;
    }
    const upstream = tlsConnect({ host: server.host, port: server.port, ca: server.ca, servername: 'localhost' });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('close', () => {
      upstream.destroy();
      this.open.delete(client);
      this.passwordConnections.delete(client);
    });
    upstream.on('close', () => client.destroy());
    const rewritten = [...args];
    if (login && passwordIndex !== undefined) rewritten[passwordIndex] = password!;
    upstream.write(encodeCommand(rewritten));
    upstream.pipe(client);
    if (!login) {
      if (rest.length > 0) upstream.write(rest);
      client.pipe(upstream);
      this.passwordConnections.set(client, upstream);
      return;
    }
    this.logins.push(login);
    const entry = { upstream, since: this.now(), id: this.nextId++ };
    this.open.set(client, entry);
    this.relayWithReauthentication(client, upstream, entry, rest);
  }

  /**
   * Relays an IAM connection's later commands as sent, but for an AUTH or HELLO … AUTH, which
   * re-authenticates: "The connection can be prolonged for 12 hours by sending an AUTH or HELLO
   * command with a new IAM authentication token" (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth-iam.html,
   * Limitations). A valid token goes to the server as the user's password and restarts the
   * connection's 12 hours; a refused one goes with a password the server refuses, so that WRONGPASS
   * comes back in order among the replies and the connection stays logged in as before (what a
   * failed AUTH does in Redis). Commands are not rewritten otherwise: their bytes pass as they came.
   */
  private relayWithReauthentication(client: TLSSocket, upstream: TLSSocket, entry: { since: number }, first: Buffer): void {
    let buffered = first;
    let busy = false;
    const next = async (): Promise<void> => {
      busy = true;
      while (buffered.length > 0 && !client.destroyed) {
        const parsed = parseCommand(buffered);
        if (parsed === 'incomplete') break;
        if (parsed === 'invalid') {
          upstream.write(buffered); // not RESP arrays (an inline command): the server answers it
          buffered = Buffer.alloc(0);
          break;
        }
        const raw = buffered.subarray(0, parsed.length);
        buffered = buffered.subarray(parsed.length);
        const credentials = credentialsOf(parsed.args);
        if (!credentials) {
          upstream.write(raw);
          continue;
        }
        const verdict = await this.check(credentials.user, credentials.password);
        const rewritten = [...parsed.args];
        if ('refused' in verdict) {
          this.refusals.push(verdict.refused);
          rewritten[credentials.passwordIndex] = `refused-token-${randomUUID()}`;
        } else {
          const password = this.options.upstream.users.get(verdict.login.user)?.password ?? this.options.upstreamPasswords?.get(verdict.login.user);
          if (password === undefined) {
            client.destroy();
            return;
          }
          rewritten[credentials.passwordIndex] = password;
          this.reauthentications.push(verdict.login);
          entry.since = this.now();
        }
        upstream.write(encodeCommand(rewritten));
      }
      busy = false;
    };
    client.on('data', (data: Buffer) => {
      buffered = buffered.length === 0 ? data : Buffer.concat([buffered, data]);
      if (!busy) void next();
    });
    void next();
  }

  private sweep(): void {
    const now = this.now();
    for (const [client, { upstream, since }] of this.open) {
      if (now - since < this.maxAgeMs) continue;
      this.closedForAge++;
      this.open.delete(client);
      client.destroy();
      upstream.destroy();
    }
    this.sweeps++;
  }
}

/** The user and password of an AUTH (two- or one-argument) or HELLO … AUTH command, and where the password is. */
function credentialsOf(args: string[]): { user: string; password: string; passwordIndex: number } | undefined {
  const name = args[0]?.toUpperCase();
  if (name === 'AUTH' && args.length === 3) return { user: args[1]!, password: args[2]!, passwordIndex: 2 };
  // The one-argument form logs in as the default user (https://redis.io/docs/latest/commands/auth/).
  if (name === 'AUTH' && args.length === 2) return { user: 'default', password: args[1]!, passwordIndex: 1 };
  if (name === 'HELLO') {
    const at = args.findIndex((arg, i) => i > 0 && arg.toUpperCase() === 'AUTH');
    if (at > 0 && at + 2 < args.length) return { user: args[at + 1]!, password: args[at + 2]!, passwordIndex: at + 2 };
  }
  return undefined;
}

/** One RESP array of bulk strings from the start of `buffer`. */
function parseCommand(buffer: Buffer): { args: string[]; length: number } | 'incomplete' | 'invalid' {
  const line = (from: number): { text: string; next: number } | undefined => {
    const end = buffer.indexOf('\r\n', from);
    return end < 0 ? undefined : { text: buffer.toString('latin1', from, end), next: end + 2 };
  };
  const header = line(0);
  if (!header) return 'incomplete';
  if (!/^\*\d+$/.test(header.text)) return 'invalid';
  const count = Number(header.text.slice(1));
  const args: string[] = [];
  let at = header.next;
  for (let i = 0; i < count; i++) {
    const size = line(at);
    if (!size) return 'incomplete';
    if (!/^\$\d+$/.test(size.text)) return 'invalid';
    const length = Number(size.text.slice(1));
    if (buffer.length < size.next + length + 2) return 'incomplete';
    args.push(buffer.toString('utf8', size.next, size.next + length));
    at = size.next + length + 2;
  }
  return { args, length: at };
}

function encodeCommand(args: readonly string[]): string {
  return `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`;
}
