/**
 * A running app instance as a separate process, for the CLI's tests: connects with the variables an
 * app reads (KCC_REDIS_*, KCC_KEYRING_KEK: exactly what `kcc-redis local` writes into its env file),
 * announces itself (heartbeat), starts the key ring and the revocations, and talks over stdio:
 * - prints `ready <instanceId> <activeKid>`, then `kid <activeKid>` on every change of the active
 *   key and `applied <kind> <id>` for every revocation applied;
 * - answers `rotate` (rotates, prints `rotated <kid>`), `rotate-now <file>` (an emergency rotation:
 *   the new key signs at once and the others leave the JWKS; writes the kid to `file`, which a test
 *   process that holds its own event loop can wait for, and prints `rotated <kid>`), `check-sid <sid>` (prints
 *   `sid <sid> <revoked|active|stale>`) and `exit` (closes everything, exits 0).
 */
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { KccRedis, KeyRing, Revocations } from '../../client/src/index.js';

const redis = await KccRedis.connect({ heartbeatIntervalMs: Number(process.env.INSTANCE_HEARTBEAT_MS ?? 15_000) }, ['subscriber', 'reader']);
const ring = await KeyRing.start(redis, { activationDelayMs: 60_000 });
const revocations = await Revocations.start(redis);
const say = (line: string) => process.stdout.write(`${line}\n`);
let active = ring.health().activeKid;
ring.on('change', ({ activeKid }) => {
  if (activeKid !== active) say(`kid ${activeKid}`);
  active = activeKid;
});
revocations.on('applied', (event) => say(`applied ${event.kind} ${event.kind === 'session' ? event.sid : event.kind === 'subject' ? event.sub : event.nbf}`));
say(`ready ${redis.instanceId} ${active}`);

for await (const line of createInterface({ input: process.stdin })) {
  const [command, argument] = line.trim().split(/\s+/);
  if (command === 'rotate') say(`rotated ${(await ring.rotate()).kid}`);
  else if (command === 'rotate-now') {
    const { kid } = await ring.rotate({ immediate: true });
    if (argument) writeFileSync(argument, kid);
    say(`rotated ${kid}`);
  }
  else if (command === 'check-sid') say(`sid ${argument} ${revocations.check({ sid: argument, iat: Math.floor(Date.now() / 1000) })}`);
  else if (command === 'exit') break;
}
await Promise.all([ring.close(), revocations.close()]);
await redis.close();
process.exit(0);
