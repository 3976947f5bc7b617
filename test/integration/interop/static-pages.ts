import { createRequire, syncBuiltinESMExports } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** Where the published package's connector reads its two HTML pages from, and where 3.0.10 ships them. */
export const UPSTREAM_DIST = dirname(require.resolve('@dapperduckling/keycloak-connector-server/dist/keycloak-connector.js'));
export const EXPECTED_PAGE = join(UPSTREAM_DIST, 'static', 'login-start.html');
export const SHIPPED_PAGE = join(UPSTREAM_DIST, 'static', 'src', 'static', 'login-start.html');

/**
 * `@dapperduckling/keycloak-connector-server` 3.0.10 reads `dist/static/login-start.html` and
 * `logout-start.html` in the KeycloakConnector constructor, but its build copied them to
 * `dist/static/src/static/`: unmodified, no KeycloakConnector can be constructed (ENOENT).
 *
 * This redirects exactly those two reads, in this test process only, to the files the package
 * ships; nothing in node_modules is written. Returns the function that undoes it.
 */
export function redirectMisplacedStaticPages(): () => void {
  const fs = require('node:fs') as typeof import('node:fs');
  const original = fs.readFileSync;
  const expected = join(UPSTREAM_DIST, 'static');
  const shipped = join(UPSTREAM_DIST, 'static', 'src', 'static');
  const redirected = ((path: Parameters<typeof original>[0], options?: Parameters<typeof original>[1]) => {
    const name = typeof path === 'string' && dirname(path) === expected ? path.slice(expected.length + 1) : undefined;
    const target = name === 'login-start.html' || name === 'logout-start.html' ? join(shipped, name) : path;
    return original(target, options);
  }) as typeof original;
  fs.readFileSync = redirected;
  syncBuiltinESMExports(); // the connector imports `fs` as an ES module namespace
  return () => {
    fs.readFileSync = original;
    syncBuiltinESMExports();
  };
}
