/**
 * DEMO ONLY — a stand-in for Keycloak so that the example runs with nothing but Node and
 * redis-server. It has one signing key, publishes it at Keycloak's JWKS path, "logs in" anyone who
 * asks (no password: a new session and an access token), and on logout sends an OpenID Connect
 * Back-Channel Logout token to ONE app instance, as Keycloak does. Never use it for anything real.
 */
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, type JWK, SignJWT, exportJWK, generateKeyPair, jwtVerify } from 'jose';

const ALG = 'ES256';
const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** Options of {@link DemoIdp.start}. */
export interface DemoIdpOptions {
  /** The app's client id: `aud` of the tokens it issues. */
  readonly clientId: string;
  /** Where logouts are sent: the client's "Backchannel logout URL" (one instance, or the load balancer). */
  readonly backchannelLogoutUrl: () => string;
}

/**
 * The demo identity provider. `issuer` is `http://127.0.0.1:<port>/realms/demo`, so the plugin's
 * default realm JWKS URL (`<issuer>/protocol/openid-connect/certs`) finds its key.
 *
 * @example
 * const idp = await DemoIdp.start({ clientId: 'demo-app', backchannelLogoutUrl: () => `${urlA}/backchannel-logout` });
 * const token = await idp.login(); // or: curl -X POST <idp.url>/demo/login
 */
export class DemoIdp {
  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly privateKey: CryptoKey,
    private readonly publicKey: CryptoKey,
    private readonly publicJwk: JWK,
    private readonly options: DemoIdpOptions,
  ) {}

  static async start(options: DemoIdpOptions): Promise<DemoIdp> {
    const { privateKey, publicKey } = await generateKeyPair(ALG);
    const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid: `demo-${randomUUID().slice(0, 8)}`, alg: ALG, use: 'sig' };
    let idp: DemoIdp | undefined;
    const server = createServer((req, res) => void idp!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    idp = new DemoIdp(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, privateKey, publicKey, publicJwk, options);
    return idp;
  }

  get issuer(): string {
    return `${this.url}/realms/demo`;
  }

  /** A new session for "demo-user": an access token (15 minutes) carrying `sub`, `sid` and `iat`. */
  async login(): Promise<string> {
    return (await this.tokens()).accessToken;
  }

  /**
   * A new session's tokens, as Keycloak's token endpoint returns them: the access token and the ID
   * token, signed by the same realm key, both for this client (`aud`), told apart by their `typ`
   * claim ("Bearer" and "ID", as Keycloak sets it).
   */
  async tokens(): Promise<{ accessToken: string; idToken: string }> {
    const now = Math.floor(Date.now() / 1000);
    const sid = randomUUID();
    const sign = (claims: Record<string, unknown>) =>
      new SignJWT({ sid, ...claims })
        .setProtectedHeader({ alg: ALG, kid: this.publicJwk.kid!, typ: 'JWT' })
        .setIssuer(this.issuer).setAudience(this.options.clientId).setSubject('demo-user')
        .setIssuedAt(now).setExpirationTime(now + 900).setJti(randomUUID())
        .sign(this.privateKey);
    const [accessToken, idToken] = await Promise.all([sign({ typ: 'Bearer', azp: this.options.clientId, scope: 'openid' }), sign({ typ: 'ID', azp: this.options.clientId })]);
    return { accessToken, idToken };
  }

  /** Ends the session of `accessToken`: POSTs a signed logout token to the back-channel logout URL; resolves with its status. */
  async logout(accessToken: string): Promise<{ status: number; target: string }> {
    const { payload } = await jwtVerify(accessToken, this.publicKey, { issuer: this.issuer, audience: this.options.clientId });
    const now = Math.floor(Date.now() / 1000);
    const logoutToken = await new SignJWT({ sid: payload.sid, events: { [LOGOUT_EVENT]: {} } })
      .setProtectedHeader({ alg: ALG, kid: this.publicJwk.kid!, typ: 'logout+jwt' })
      .setIssuer(this.issuer).setAudience(this.options.clientId).setSubject(payload.sub!)
      .setIssuedAt(now).setExpirationTime(now + 120).setJti(randomUUID())
      .sign(this.privateKey);
    const target = this.options.backchannelLogoutUrl();
    const response = await fetch(target, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: logoutToken }),
    });
    await response.arrayBuffer();
    return { status: response.status, target };
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, body: string, type = 'text/plain') => res.writeHead(status, { 'content-type': type }).end(`${body}\n`);
    try {
      if (req.method === 'GET' && req.url === '/realms/demo/protocol/openid-connect/certs') {
        return void send(200, JSON.stringify({ keys: [this.publicJwk] }), 'application/json');
      }
      if (req.method === 'POST' && req.url === '/demo/login') return void send(200, await this.login());
      if (req.method === 'POST' && req.url === '/demo/logout') {
        const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
        if (!token) return void send(401, 'send the access token: Authorization: Bearer <token>');
        const { status, target } = await this.logout(token);
        return void send(200, `back-channel logout sent to ${target}: HTTP ${status}`);
      }
      send(404, 'demo identity provider: GET /realms/demo/protocol/openid-connect/certs, POST /demo/login, POST /demo/logout');
    } catch (error) {
      send(400, `demo identity provider: ${(error as Error).message}`);
    }
  }
}
