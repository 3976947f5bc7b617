import type { ConnectorCallback, RouteRegistrationOptions } from '@dapperduckling/keycloak-connector-server/dist/adapter/abstract-adapter.js';
import { AbstractAdapter } from '@dapperduckling/keycloak-connector-server/dist/adapter/abstract-adapter.js';
import type { ConnectorRequest, ConnectorResponse, SupportedServers } from '@dapperduckling/keycloak-connector-server';

type Express = SupportedServers.express;

/**
 * An upstream connector adapter without a web framework: it records the routes the real
 * KeycloakConnector registers and lets a test call them with a ConnectorRequest, exactly as the
 * Express or Fastify adapter would after translating a request. (Upstream's Fastify plugin
 * declares fastify 4.x; this repository runs fastify 5.)
 */
export class RecordingAdapter extends AbstractAdapter<Express> {
  private readonly routes = new Map<string, ConnectorCallback<Express>>();

  override async buildConnectorRequest(): Promise<ConnectorRequest> {
    throw new Error('not used: tests build ConnectorRequests themselves');
  }

  override async handleResponse(): Promise<void> {
    throw new Error('not used: tests read ConnectorResponses themselves');
  }

  override registerRoute(options: RouteRegistrationOptions, connectorCallback: ConnectorCallback<Express>): void {
    this.routes.set(`${options.method} ${options.url}`, connectorCallback);
  }

  /** Calls the route registered for `method` and `url` with a request made of `request`. */
  call(method: 'GET' | 'POST', url: string, request: Partial<ConnectorRequest> = {}): Promise<ConnectorResponse<Express>> {
    const route = this.routes.get(`${method} ${url}`);
    if (!route) throw new Error(`no route ${method} ${url}; registered: ${[...this.routes.keys()].join(', ')}`);
    return route({ url, urlParams: {}, urlQuery: {}, cookies: {}, headers: {}, routeConfig: { public: true }, pluginDecorators: {}, ...request });
  }

  get registered(): string[] {
    return [...this.routes.keys()];
  }
}
