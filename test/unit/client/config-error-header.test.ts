import { describe, expect, it } from 'vitest';
import { KccConfigError, KccRedis, createKeycloakAdminHandlers } from '../../../client/src/index.js';

/** The first line of a KccConfigError's message: its header. */
function header(error: unknown): string {
  expect(error).toBeInstanceOf(KccConfigError);
  return (error as KccConfigError).message.split('\n')[0]!;
}

describe('KccConfigError: the header reads as English whatever its subject', () => {
  // Found by a new user's review of the packed tarball: "… options is invalid (2 problems):".
  it.each([
    ['kcc-redis revocation options', 1, 'kcc-redis revocation options are invalid (1 problem):'],
    ['@kcc-redis/client options', 2, '@kcc-redis/client options are invalid (2 problems):'],
    ['kcc-redis connection config', 1, 'kcc-redis connection config is invalid (1 problem):'],
    ['@kcc-redis/client registration', 3, '@kcc-redis/client registration is invalid (3 problems):'],
    ['kcc-redis AWS configuration', 1, 'kcc-redis AWS configuration is invalid (1 problem):'],
  ])('%s, %i problem(s)', (subject, count, expected) => {
    const problems = Array.from({ length: count }, (_, i) => `option${i}: wrong`);
    expect(header(new KccConfigError(subject, problems))).toBe(expected);
  });

  it('an entry point whose options are wrong says "are invalid"', () => {
    let error: unknown;
    try {
      createKeycloakAdminHandlers({ enabled: true, issuer: '', clientId: 'shop', sink: undefined as never, replayGuard: undefined as never });
    } catch (caught) {
      error = caught;
    }
    expect(header(error)).toMatch(/^kcc-redis Keycloak admin options are invalid \(\d+ problems?\):$/);
  });

  it('the connection config, merged from options, environment and secret, "is invalid"', async () => {
    const error = await KccRedis.connect({ env: {} }).catch((caught: unknown) => caught);
    expect(header(error)).toMatch(/^kcc-redis connection config is invalid \(\d+ problems\):$/);
  });
});
