import { request } from 'node:http';
import type { Server } from 'node:http';
import { close, listen } from './http.js';

/**
 * A load balancer on loopback: each request goes to the next backend in turn. A backend that
 * refuses the connection is skipped (as a balancer's retry would), so a killed instance costs no
 * request. Counts requests per backend.
 */
export class RoundRobinProxy {
  readonly hits = new Map<string, number>();
  private readonly backends: string[] = [];
  private next = 0;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<RoundRobinProxy> {
    let proxy: RoundRobinProxy | undefined;
    const { server, url } = await listen((req, res) => proxy!.forward(req, res, 0));
    proxy = new RoundRobinProxy(server, url);
    return proxy;
  }

  add(backend: string): void {
    this.backends.push(backend);
  }

  remove(backend: string): void {
    const index = this.backends.indexOf(backend);
    if (index >= 0) this.backends.splice(index, 1);
  }

  stop(): Promise<void> {
    return close(this.server);
  }

  private forward(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, tried: number): void {
    if (this.backends.length === 0 || tried >= this.backends.length) {
      res.writeHead(502).end('no backend');
      return;
    }
    const backend = this.backends[this.next++ % this.backends.length]!;
    const target = new URL(req.url ?? '/', backend);
    const upstream = request(target, { method: req.method, headers: req.headers }, (reply) => {
      this.hits.set(backend, (this.hits.get(backend) ?? 0) + 1);
      res.writeHead(reply.statusCode ?? 502, reply.headers);
      // A backend killed in the middle of its reply: the client sees the connection cut, as behind a
      // real balancer. An 'error' without a listener would throw outside any test.
      reply.on('error', () => res.destroy());
      reply.pipe(res);
    });
    // Before the reply started: the next backend. After: too late to retry (headers went out).
    upstream.on('error', () => (res.headersSent ? res.destroy() : this.forward(req, res, tried + 1)));
    req.on('error', () => upstream.destroy());
    req.pipe(upstream);
  }
}
