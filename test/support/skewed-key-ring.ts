/**
 * A key-ring instance whose wall clock runs KCC_TEST_CLOCK_OFFSET_MS ahead of the test's (a host with
 * a drifting clock, an operator's laptop running `kcc-redis rotate-keys --immediate`), in a process
 * of its own. It starts a KeyRing on the namespace, then, as the CLI's rotate-keys does, rotates once
 * (KCC_TEST_ACTION=rotate-immediate, or rotate-scheduled: a next key after the default 120 s) or does nothing more (start-only: on an empty namespace it
 * creates the first key), prints one JSON line (the result, the generation, the JWKS), closes, exits.
 */
const offset = Number(process.env.KCC_TEST_CLOCK_OFFSET_MS ?? 0);
const realNow = Date.now.bind(Date);
Date.now = () => realNow() + offset;

const { KccRedis, KeyRing } = await import('@kcc-redis/client');
const connection = JSON.parse(process.env.KCC_TEST_CONNECTION!) as Record<string, unknown>;
const redis = await KccRedis.connect({ ...connection, env: {} });
const ring = await KeyRing.start(redis, { keyEncryptionKey: process.env.KCC_TEST_KEK!, algorithm: 'ES256', env: {} });
const action = process.env.KCC_TEST_ACTION;
const result = action === 'start-only' ? { rotated: false, kid: ring.signingKey().kid } : await ring.rotate({ immediate: action !== 'rotate-scheduled' });
process.stdout.write(`${JSON.stringify({ ...result, generation: ring.health().generation, jwks: ring.jwks() })}\n`);
await ring.close();
await redis.close();
process.exit(0);
