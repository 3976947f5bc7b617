import type { Server } from 'node:http';
import Provider from 'oidc-provider';
import { close, listen } from './http.js';

export interface TestClient {
  readonly client_id: string;
  readonly jwks_uri: string;
  readonly token_endpoint_auth_signing_alg?: string;
  readonly backchannel_logout_uri?: string;
}

/**
 * A real OpenID Provider (oidc-provider) over real HTTP on loopback, with the client-credentials
 * grant and back-channel logout enabled, and `private_key_jwt` clients.
 */
export async function startProvider(clients: readonly TestClient[]): Promise<{ provider: Provider; issuer: string; stop: () => Promise<void> }> {
  let provider: Provider | undefined;
  const { server, url } = await listen((req, res) => provider!.callback()(req, res));
  provider = new Provider(url, {
    clients: clients.map((c) => ({
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'PS256',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      ...(c.backchannel_logout_uri ? { backchannel_logout_session_required: true } : {}),
      ...c,
    })),
    features: {
      clientCredentials: { enabled: true },
      backchannelLogout: { enabled: true },
      devInteractions: { enabled: false },
    },
    // The provider's SSRF protection refuses loopback; these tests run entirely on loopback.
    fetch: (input: string | URL | Request, options: RequestInit & { dispatcher?: unknown }) => {
      delete options.dispatcher;
      return globalThis.fetch(input, options);
    },
  } as ConstructorParameters<typeof Provider>[1]);
  return { provider, issuer: url, stop: () => close(server as Server) };
}
