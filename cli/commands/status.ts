import { type InstanceList, listInstances } from '@kcc-redis/client';
import { integerOption, parseCommandArgs } from '../args.js';
import type { Command } from '../command.js';
import { withConnection } from '../connect.js';
import { EXIT } from '../exit-codes.js';
import { type CliIo, useColor } from '../io.js';
import { type KeyRingStatus, readKeyRing } from '../status/key-ring-reader.js';
import { type RevocationStatus, readRevocations } from '../status/revocation-reader.js';
import { type Cell, humanDuration, isoTime, paint, plural, renderTable } from '../table.js';
import { type AppEnvTarget, TARGET_HELP, TARGET_OPTIONS, resolveTargets } from '../targets.js';

const USAGE = `Usage: kcc-redis status [--app <app> --env <env> | --all] [<source>] [--json] [--watch [--interval <s>]]

Per app-env, read-only: the signing-key ring (active kid and alg, the next key and when it
activates, generation, last rotation, degraded or not; with the app-env's key-encryption key also
whether instances can decrypt it), revocations (live counts by kind, the event log's length and
age), and the live instances (each client instance keeps a heartbeat entry with a TTL: instance id,
package version, host, pid, started, last heard of). Nothing is written, not even a first key.

${TARGET_HELP}
  --json                   print JSON (format version 1); with --watch one document per line
  --watch                  refresh until Ctrl-C
  --interval <s>           seconds between refreshes with --watch (default 2)

Exit codes: 0 every ring usable; 1 a ring instances refuse (degraded); 2 usage error or Redis out of
reach. With --watch: the code of the last refresh.`;

interface AppEnvStatus {
  readonly appEnv: string;
  readonly source: string;
  readonly keyRing: KeyRingStatus;
  readonly revocations: RevocationStatus;
  readonly instances: InstanceList;
}

async function statusOf(target: AppEnvTarget): Promise<AppEnvStatus> {
  const kek = await target.kek();
  return withConnection(target, async (redis) => ({
    appEnv: target.name,
    source: target.source,
    keyRing: await readKeyRing(redis, { keys: kek }),
    revocations: await readRevocations(redis),
    instances: await listInstances(redis),
  }));
}

function render(statuses: readonly AppEnvStatus[], color: boolean, now: number): string {
  const sections: string[] = [];
  for (const s of statuses) {
    const ring = s.keyRing;
    const ringState: Cell =
      ring.state === 'ok'
        ? ring.verified
          ? { text: ring.underCurrentKek === false ? 'ok (verified; under an earlier KEK, instances rewrite it)' : 'ok (verified with the KEK)', color: 'green' }
          : { text: 'present (not verified: no KEK given)', color: 'yellow' }
        : ring.state === 'absent'
          ? { text: 'none yet (the first instance creates it)', color: 'yellow' }
          : { text: `DEGRADED: ${ring.problem}`, color: 'red' };
    const key = (k: KeyRingStatus['active']) => (k ? `${k.kid} (${k.alg})` : '—');
    const rows: Cell[][] = [
      ['key ring', ringState],
      ['  active key', key(ring.active)],
      ['  next key', ring.next ? `${key(ring.next)}, signs from ${isoTime(ring.next.activatesAt)} (in ${humanDuration(ring.next.activatesAt - now)})` : '—'],
      ['  generation', String(ring.generation)],
      ['  last rotation', ring.lastRotationAt ? `${isoTime(ring.lastRotationAt)} (${humanDuration(now - ring.lastRotationAt)} ago)` : '—'],
      ['  keys published', String(ring.published)],
      ['  compromised keys', ring.compromisedKids.length === 0 ? 'none' : ring.compromisedKids.join(', ')],
    ];
    const r = s.revocations;
    rows.push(
      ['revocations', `${plural(r.sessions, 'session')}, ${plural(r.subjects, 'user')} with a not-before, client not-before ${r.clientNotBefore ? isoTime(r.clientNotBefore * 1000) : 'none'}`],
      ['  event log', r.log.length === 0 ? 'empty' : `${plural(r.log.length, 'entry', 'entries')}, oldest ${humanDuration(now - (r.log.oldestAt ?? now))} ago, newest ${humanDuration(now - (r.log.newestAt ?? now))} ago`],
      ['instances', `${s.instances.instances.length} live${s.instances.truncated ? ' (list truncated)' : ''}${s.instances.unreadable ? `, ${s.instances.unreadable} unreadable entries` : ''}`],
    );
    const instances = s.instances.instances.map((i) => [i.instanceId, i.version, `${i.host} (pid ${i.pid})`, isoTime(i.startedAt), `${humanDuration(i.silentForMs)} ago`]);
    sections.push(
      [
        paint(color, 'bold', `${s.appEnv}  (${s.source})`),
        renderTable(['WHAT', 'STATE'], rows, { color }),
        ...(instances.length > 0 ? ['', renderTable(['INSTANCE', 'VERSION', 'HOST', 'STARTED', 'LAST HEARD'], instances, { color })] : []),
      ].join('\n'),
    );
  }
  const degraded = statuses.filter((s) => s.keyRing.state === 'degraded').length;
  const verdict = degraded > 0 ? paint(color, 'red', `${plural(degraded, 'key ring')} degraded.`) : paint(color, 'green', `${plural(statuses.length, 'app-env')}: every key ring usable.`);
  return `${sections.join('\n\n')}\n\n${verdict}`;
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'key ring, revocations and live instances per app-env (read-only); --watch to refresh',
  usage: USAGE,
  async run(argv, io: CliIo) {
    const { values, help } = parseCommandArgs('status', argv, { ...TARGET_OPTIONS, json: { type: 'boolean' }, watch: { type: 'boolean' }, interval: { type: 'string' } });
    if (help) {
      io.stdout(USAGE);
      return EXIT.ok;
    }
    const intervalS = integerOption('status', values, 'interval', 2, 1, 3600);
    const targets = await resolveTargets('status', values, io);
    const watch = values.watch === true;
    const json = values.json === true;
    for (;;) {
      const statuses: AppEnvStatus[] = [];
      for (const target of targets) statuses.push(await statusOf(target));
      const exitCode = statuses.some((s) => s.keyRing.state === 'degraded') ? EXIT.problems : EXIT.ok;
      const now = Date.now();
      if (json) io.stdout(JSON.stringify({ v: 1, command: 'status', at: now, exitCode, appEnvs: statuses }, null, watch ? undefined : 2));
      else io.stdout(`${watch && io.isTTY ? '\u001b[2J\u001b[H' : ''}${watch ? `kcc-redis status at ${isoTime(now)} (every ${intervalS} s; Ctrl-C to stop)\n\n` : ''}${render(statuses, useColor(io), now)}`);
      if (!watch || (await io.sleep(intervalS * 1000))) return exitCode;
    }
  },
};
