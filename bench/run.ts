/**
 * `npm run bench` runs every suite; `npm run bench -- <suite>` runs one. Suites start what they
 * need (redis-server on loopback with TLS and the stack's ACL users), warm up, then measure.
 */
const SUITES: Record<string, () => Promise<{ run: () => Promise<void> }>> = {
  keyring: () => import('./keyring.js'),
  revocation: () => import('./revocation.js'),
  plugin: () => import('./plugin.js'),
  cluster: () => import('./cluster.js'),
};

const requested = process.argv.slice(2);
const unknown = requested.filter((s) => !(s in SUITES));
if (unknown.length > 0) {
  console.error(`unknown suite(s): ${unknown.join(', ')}; known: ${Object.keys(SUITES).join(', ')}`);
  process.exit(1);
}
for (const name of requested.length > 0 ? requested : Object.keys(SUITES)) {
  await (await SUITES[name]!()).run();
}
process.exit(0);
