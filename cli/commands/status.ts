import { type InstanceList, type ListedInstance, listInstances } from '@kcc-redis/client';
import { integerOption, parseCommandArgs } from '../args.js';
import type { Command } from '../command.js';
import { withConnection } from '../connect.js';
import { CONCURRENT_TARGETS, mapConcurrently } from '../concurrently.js';
import { CliUsageError, EXIT, type ExitCode } from '../exit-codes.js';
import { type CliIo, useColor } from '../io.js';
import { stopRace } from '../../client/src/stop-race.js';
import { type KeyRingStatus, readKeyRing } from '../status/key-ring-reader.js';
import { type RevocationStatus, type SessionLifetimesStatus, readRevocations } from '../status/revocation-reader.js';
import { MAX_DECLARATIONS_READ, MAX_SESSION_LIFETIME_MS } from '../../client/src/revocation/session-lifetimes.js';
import { type Part, type Unreadable, isUnreadable, read, unreadable } from '../status/unreadable.js';
import { type Cell, humanDuration, isoTime, paint, plural, renderTable } from '../table.js';
import { type AppEnvTarget, TARGET_HELP, TARGET_OPTIONS, type UnreadableTarget, isUnreadableTarget, resolveTargets, targetArgs } from '../targets.js';

const USAGE = `Usage: kcc-redis status [--app <app> --env <env> | --all] [<source>] [--json] [--watch [--interval <s>]]

Per app-env, read-only: the signing-key ring (active kid and alg, the next key and when it
activates, generation, last rotation, degraded or not; with the app-env's key-encryption key also
whether instances can decrypt it), revocations (live counts by kind, the event log's length and
age), and the live instances (each client instance keeps a heartbeat entry with a TTL: instance id,
package version, host, pid, started, last heard of, and as of then its revocation state and key
ring). Nothing is written, not even a first key.
What cannot be read (an app-env out of reach, a key of the wrong type) is shown as unreadable with
the reason; the rest, and the other app-envs, are shown as usual.

${TARGET_HELP}
  --json                   print JSON (format version 1); with --watch one document per line
  --watch                  refresh until Ctrl-C (or SIGTERM), which ends it at once, with the exit code of the
                           last refresh shown
  --interval <s>           seconds between refreshes (default 2); only with --watch

Exit codes: 0 nothing wrong found: every ring verified usable, or (without the app-env's
key-encryption key) present but not verified, or not created yet (no instance has started), which
the verdict counts; 1 a ring instances refuse
(degraded), a malformed client-wide not-before (instances treat it as none), or a live instance
that said at its last beat that its revocation state is stale or its key ring degraded; 2 usage error, or an app-env or part of one unreadable (Redis out of reach, data of the
wrong type). With --watch: the code of the last refresh shown (through npx or npm run, a Ctrl-C
makes npm's shell exit 130 whatever this code is: see docs/operations.md).`;

type AppEnvStatus = { readonly appEnv: string; readonly source: string } & (
  | {
      readonly keyRing: Part<KeyRingStatus>;
      readonly revocations: Part<RevocationStatus>;
      readonly instances: Part<InstanceList>;
    }
  /** Nothing of the app-env could be read: its credentials, its key-encryption key or Redis out of reach. */
  | Unreadable
);

/** How long `--watch` reuses an app-env's key-encryption key before reading its secret again. */
const KEK_REUSE_MS = 5 * 60_000;
/**
 * How often `--watch` reads a secret again at most because of a failure it may cure (a ring that does
 * not verify under the KEK kept, a password refused, a secret not read): a failure that stays (a
 * forged ring, a secret this operator may not read) must not cost Secrets Manager calls every refresh.
 */
const REREAD_AFTER_FAILURE_MS = 60_000;

type Kek = Awaited<ReturnType<AppEnvTarget['kek']>>;

/**
 * An app-env's key-encryption key, read once per {@link KEK_REUSE_MS} under `--watch` (not on every
 * refresh: each read is a Secrets Manager call), and again when the ring does not verify under the
 * one kept (the KEK may have been rotated since), unless it was read less than
 * {@link REREAD_AFTER_FAILURE_MS} ago. A read that failed is tried again after
 * {@link REREAD_AFTER_FAILURE_MS} too (its failure given meanwhile): a secret this operator may not
 * read stays refused.
 */
class KekCache {
  // By app-env and source, not by target object: the credentials' re-read makes new targets.
  private readonly kept = new Map<string, { readonly at: number } & ({ readonly value: Kek } | { readonly failure: unknown })>();

  /** `now`: the watch's clock (the io's). */
  async get(target: AppEnvTarget, fresh: boolean, now: number): Promise<{ value: Kek; reused: boolean }> {
    const key = `${target.name}\n${target.source}`;
    const kept = this.kept.get(key);
    if (kept && now - kept.at < ('failure' in kept || fresh ? REREAD_AFTER_FAILURE_MS : KEK_REUSE_MS)) {
      if ('failure' in kept) throw kept.failure;
      return { value: kept.value, reused: true };
    }
    try {
      const value = await target.kek();
      this.kept.set(key, { at: now, value });
      return { value, reused: false };
    } catch (failure) {
      this.kept.set(key, { at: now, failure });
      throw failure;
    }
  }
}

/** One app-env's status; never throws: what fails is shown as unreadable, so one app-env's forged data cannot hide the others. */
async function statusOf(target: AppEnvTarget | UnreadableTarget, keks: KekCache, now: number): Promise<AppEnvStatus> {
  const named = { appEnv: target.name, source: target.source };
  if (isUnreadableTarget(target)) return { ...named, ...unreadable(target.unreadable) };
  try {
    const kek = await keks.get(target, false, now);
    return await withConnection(target, async (redis) => {
      let keyRing = await read(() => readKeyRing(redis, { keys: kek.value }));
      // Only a key-encryption key this one does not know can be a rotated one worth reading again.
      if (kek.reused && !isUnreadable(keyRing) && keyRing.reason === 'unknown-kek') {
        const again = await keks.get(target, true, now);
        if (!again.reused) keyRing = await read(() => readKeyRing(redis, { keys: again.value }));
      }
      return { ...named, keyRing, revocations: await read(() => readRevocations(redis)), instances: await read(() => listInstances(redis)) };
    });
  } catch (error) {
    return { ...named, ...unreadable(error) };
  }
}

/**
 * Whether reading the credentials again may cure a refresh: an app-env's could not be read (its
 * secret refused, its endpoint not discovered), or Redis refused its password (rotated since).
 */
const credentialsFailed = (targets: readonly (AppEnvTarget | UnreadableTarget)[], statuses: readonly AppEnvStatus[]) =>
  targets.some(isUnreadableTarget) || statuses.some((s) => isUnreadable(s) && s.code === 'KCC_AUTH_FAILED');

const keyRingOf = (s: AppEnvStatus) => (isUnreadable(s) || isUnreadable(s.keyRing) ? undefined : s.keyRing);
const hasUnreadable = (s: AppEnvStatus) => isUnreadable(s) || [s.keyRing, s.revocations, s.instances].some(isUnreadable) || (!isUnreadable(s.revocations) && isUnreadable(s.revocations.sessionLifetimes));

/** A client-wide not-before stored malformed: instances treat it as none, so a revocation of every token is not in force. */
const malformedClientNotBefore = (s: AppEnvStatus) => !isUnreadable(s) && !isUnreadable(s.revocations) && s.revocations.clientNotBeforeMalformed !== undefined;

function exitCodeOf(statuses: readonly AppEnvStatus[]): ExitCode {
  if (statuses.some(hasUnreadable)) return EXIT.failed;
  const troubled = troubledInstances(statuses);
  if (troubled.stale > 0 || troubled.ringDegraded > 0) return EXIT.problems;
  return statuses.some((s) => keyRingOf(s)?.state === 'degraded' || malformedClientNotBefore(s)) ? EXIT.problems : EXIT.ok;
}

const unreadableCell = (part: Unreadable): Cell => ({ text: `unreadable: ${part.error}`, color: 'red' });

function keyRingRows(ring: Part<KeyRingStatus>, now: number): Cell[][] {
  if (isUnreadable(ring)) return [['key ring', unreadableCell(ring)]];
  const ringState: Cell =
    ring.state === 'ok'
      ? ring.verified
        ? { text: ring.underCurrentKek === false ? 'ok (verified; under an earlier KEK, instances rewrite it)' : 'ok (verified with the KEK)', color: 'green' }
        : { text: 'present (not verified: no KEK given)', color: 'yellow' }
      : ring.state === 'absent'
        ? { text: 'none yet (the first instance creates it)', color: 'yellow' }
        : { text: `DEGRADED: ${ring.problem}`, color: 'red' };
  const key = (k: KeyRingStatus['active']) => (k ? `${k.kid} (${k.alg})` : '—');
  return [
    ['key ring', ringState],
    ['  active key', key(ring.active)],
    ['  next key', ring.next ? `${key(ring.next)}, signs from ${isoTime(ring.next.activatesAt)} (in ${humanDuration(ring.next.activatesAt - now)})` : '—'],
    ['  generation', String(ring.generation)],
    ['  last rotation', ring.lastRotationAt ? `${isoTime(ring.lastRotationAt)} (${humanDuration(now - ring.lastRotationAt)} ago)` : '—'],
    ['  keys published', String(ring.published)],
    ['  compromised keys', ring.compromisedKids.length === 0 ? 'none' : ring.compromisedKids.join(', ')],
  ];
}

function revocationRows(r: Part<RevocationStatus>, now: number): Cell[][] {
  if (isUnreadable(r)) return [['revocations', unreadableCell(r)]];
  const clientNotBefore =
    r.clientNotBeforeMalformed !== undefined
      ? `MALFORMED (${JSON.stringify(r.clientNotBeforeMalformed)} is not epoch seconds; instances refuse it)`
      : r.clientNotBefore
        ? isoTime(r.clientNotBefore * 1000)
        : 'none';
  const upTo = r.sessionsUpTo > 0 ? ` (and ${r.sessionsUpTo} up to a logout)` : '';
  const counts = `${plural(r.sessions, 'session')}${upTo}, ${plural(r.subjects, 'user')} with a not-before, client not-before ${clientNotBefore}`;
  return [
    ['revocations', r.clientNotBeforeMalformed !== undefined ? { text: counts, color: 'yellow' } : counts],
    ['  event log', r.log.length === 0 ? 'empty' : `${plural(r.log.length, 'entry', 'entries')}, oldest ${humanDuration(now - (r.log.oldestAt ?? now))} ago, newest ${humanDuration(now - (r.log.newestAt ?? now))} ago`],
    ['  session lifetimes', lifetimesCell(r.sessionLifetimes)],
  ];
}

/** The lifetimes instances declare: one is the rule; more, a rolling deploy that changes it or an instance configured apart. */
function lifetimesCell(lifetimes: Part<SessionLifetimesStatus>): Cell {
  if (isUnreadable(lifetimes)) return unreadableCell(lifetimes);
  if (lifetimes.crowded) {
    return { text: `more than ${MAX_DECLARATIONS_READ} declared (no fleet declares that many: forged?): state kept for the longest possible, ${humanDuration(MAX_SESSION_LIFETIME_MS)}`, color: 'yellow' };
  }
  const declared = lifetimes.declaredMs;
  if (declared.length === 0) return 'none declared (no instance running)';
  const shown = declared.map((ms) => humanDuration(ms)).join(', ');
  if (declared.length === 1) return shown;
  return { text: `${shown}: instances differ (state kept for ${humanDuration(declared[0]!)}); give every instance the same sessionMaxLifetimeMs once a rolling deploy is over`, color: 'yellow' };
}

/** An instance's revocation state at its last beat: `—` where it runs none (or a release before the field). */
function revocationsCell(i: ListedInstance): Cell {
  const r = i.revocations;
  if (!r) return '—';
  const unwritten = r.unwritten > 0 ? `, ${plural(r.unwritten, 'logout')} not in Redis` : '';
  if (r.stale) return { text: `STALE for ${humanDuration(r.stalenessMs)}, failing ${r.failOpen ? 'open' : 'closed'}${unwritten}`, color: 'red' };
  return unwritten ? { text: `current${unwritten}`, color: 'yellow' } : 'current';
}

/** An instance's key ring at its last beat: its generation and signing kid; `—` where it runs none. */
function keyRingCell(i: ListedInstance): Cell {
  const k = i.keyRing;
  if (!k) return '—';
  const text = `generation ${k.generation}, ${k.activeKid === undefined ? 'no key' : `kid ${k.activeKid}`}`;
  return k.status === 'degraded' ? { text: `DEGRADED (${text})`, color: 'red' } : text;
}

/** The live instances that said, at their last beat, a revocation state stale or logouts not in Redis, or a degraded ring. */
function troubledInstances(statuses: readonly AppEnvStatus[]): { stale: number; staleOpen: number; unwritten: number; ringDegraded: number } {
  const all = statuses.flatMap((s) => (isUnreadable(s) || isUnreadable(s.instances) ? [] : s.instances.instances));
  return {
    stale: all.filter((i) => i.revocations?.stale).length,
    staleOpen: all.filter((i) => i.revocations?.stale && i.revocations.failOpen).length,
    unwritten: all.filter((i) => (i.revocations?.unwritten ?? 0) > 0).length,
    ringDegraded: all.filter((i) => i.keyRing?.status === 'degraded').length,
  };
}

/** `statuses[i]` is the status of `targets[i]`. */
function render(statuses: readonly AppEnvStatus[], targets: readonly (AppEnvTarget | UnreadableTarget)[], color: boolean, now: number): string {
  const sections: string[] = [];
  for (const s of statuses) {
    const title = paint(color, 'bold', `${s.appEnv}  (${s.source})`);
    if (isUnreadable(s)) {
      sections.push([title, renderTable(['WHAT', 'STATE'], [['app-env', unreadableCell(s)]], { color })].join('\n'));
      continue;
    }
    const list = s.instances;
    const rows: Cell[][] = [
      ...keyRingRows(s.keyRing, now),
      ...revocationRows(s.revocations, now),
      ['instances', isUnreadable(list) ? unreadableCell(list) : `${list.instances.length} live${list.truncated ? ' (list truncated)' : ''}${list.unreadable ? `, ${list.unreadable} unreadable entries` : ''}`],
    ];
    const instances = isUnreadable(list) ? [] : list.instances.map((i) => [i.instanceId, i.version, `${i.host} (pid ${i.pid})`, isoTime(i.startedAt), `${humanDuration(i.silentForMs)} ago`, revocationsCell(i), keyRingCell(i)]);
    sections.push(
      [
        title,
        renderTable(['WHAT', 'STATE'], rows, { color }),
        ...(instances.length > 0 ? ['', renderTable(['INSTANCE', 'VERSION', 'HOST', 'STARTED', 'LAST HEARD', 'REVOCATIONS', 'KEY RING'], instances, { color })] : []),
      ].join('\n'),
    );
  }
  return `${sections.join('\n\n')}\n\n${verdict(statuses, targets, color)}`;
}

/** The last lines: what could not be read, what is degraded, what was not verified; or that every ring is usable. */
function verdict(statuses: readonly AppEnvStatus[], targets: readonly (AppEnvTarget | UnreadableTarget)[], color: boolean): string {
  const unreadable = statuses.filter(hasUnreadable).length;
  const degraded = statuses.filter((s) => keyRingOf(s)?.state === 'degraded').length;
  const malformed = statuses.filter(malformedClientNotBefore).length;
  const unverified = statuses.filter((s) => keyRingOf(s)?.state === 'ok' && !keyRingOf(s)!.verified).length;
  const absent = statuses.filter((s) => keyRingOf(s)?.state === 'absent').length;
  const lines: string[] = [];
  if (unreadable > 0) lines.push(paint(color, 'red', `${plural(unreadable, 'app-env')} not read in full (unreadable above).`));
  if (degraded > 0) lines.push(paint(color, 'red', `${plural(degraded, 'key ring')} degraded.`));
  if (malformed > 0) {
    // revoke needs --app/--env: each command names its app-env and this run's source.
    const revokeAgain = statuses.flatMap((s, i) => {
      const target = targets[i];
      return malformedClientNotBefore(s) && target !== undefined && !isUnreadableTarget(target) ? [`kcc-redis revoke ${targetArgs(target)} --all-before <time>`] : [];
    });
    lines.push(paint(color, 'red', `${plural(malformed, 'client-wide not-before')} malformed: instances treat it as none, so no revocation of every token is in force there; revoke again with ${revokeAgain.join('; and ')}.`));
  }
  const troubled = troubledInstances(statuses);
  if (troubled.stale > 0) {
    // Failing closed, a stale instance refuses (503) tokens with no revocation on record; failing open it lets them through, revoked elsewhere or not.
    const closed = troubled.stale - troubled.staleOpen;
    const how = [
      ...(closed > 0 ? [`${closed} failing closed (503 to tokens it knows no revocation of)`] : []),
      ...(troubled.staleOpen > 0 ? [`${troubled.staleOpen} failing open (letting through tokens that may have been revoked elsewhere)`] : []),
    ].join(', ');
    lines.push(paint(color, 'red', `${plural(troubled.stale, 'instance')} said at ${troubled.stale === 1 ? 'its' : 'their'} last beat that ${troubled.stale === 1 ? 'its' : 'their'} revocation state is stale: ${how} (its log names the cause; docs/logout-sync.md, "Staleness").`));
  }
  if (troubled.unwritten > 0) {
    lines.push(paint(color, 'yellow', `${plural(troubled.unwritten, 'instance')} held logouts Redis did not have yet at ${troubled.unwritten === 1 ? 'its' : 'their'} last beat (written again until Redis takes them; other instances do not see them until then).`));
  }
  if (troubled.ringDegraded > 0) {
    lines.push(paint(color, 'red', `${plural(troubled.ringDegraded, 'instance')} said ${troubled.ringDegraded === 1 ? 'its' : 'their'} key ring is degraded at ${troubled.ringDegraded === 1 ? 'its' : 'their'} last beat (its log names the cause).`));
  }
  if (unverified > 0) {
    lines.push(paint(color, 'yellow', `${plural(unverified, 'key ring')} not verified (no key-encryption key given): present, but whether instances accept ${unverified === 1 ? 'it' : 'them'} is unknown.`));
  }
  if (absent > 0) {
    lines.push(paint(color, 'yellow', `${plural(absent, 'app-env')} without a key ring yet (no instance has started there): nothing to sign with until the first instance creates it.`));
  }
  if (unreadable === 0 && degraded === 0 && malformed === 0 && troubled.stale === 0 && troubled.ringDegraded === 0) {
    lines.push(paint(color, 'green', `${plural(statuses.length, 'app-env')}: ${unverified > 0 || absent > 0 ? 'no key ring degraded' : 'every key ring usable'}.`));
  }
  return lines.join('\n');
}

/** What a refresh's wait resolves with when the watch was stopped (Ctrl-C, SIGTERM) meanwhile. */
const STOPPED = Symbol('stopped');

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
    const watch = values.watch === true;
    // Without --watch there is one read and no interval: taken silently, it read as if it applied.
    if (values.interval !== undefined && !watch) throw new CliUsageError('--interval goes with --watch (the seconds between its refreshes): add --watch, or drop --interval', 'status');
    const intervalS = integerOption('status', values, 'interval', 2, 1, 3600);
    let targets = await resolveTargets('status', values, io);
    const json = values.json === true;
    const keks = new KekCache();
    let resolvedAt = io.now();
    /**
     * The watch's stop (Ctrl-C or SIGTERM), listened for from the first refresh on (once its reads are
     * done): it ends the watch at once, also during a later refresh (its reads dropped, not shown),
     * with the code of the last refresh shown. A Ctrl-C during the first refresh's reads ends the
     * command as the signal does: there is no code to give yet.
     */
    let untilStopped: (<T>(work: Promise<T>) => Promise<T | typeof STOPPED>) | undefined;
    const unlessStopped = <T>(work: Promise<T>): Promise<T | typeof STOPPED> => (untilStopped === undefined ? work : untilStopped(work));
    let shownExitCode: ExitCode = EXIT.ok;
    for (;;) {
      const statuses = await unlessStopped(mapConcurrently(targets, CONCURRENT_TARGETS, (target) => statusOf(target, keks, io.now())));
      if (statuses === STOPPED) return shownExitCode;
      const exitCode = exitCodeOf(statuses);
      // Listened for before the refresh is shown, not after: a Ctrl-C sent as soon as the first one
      // shows (a script that read it) came before the listener and ended the command by the signal.
      if (watch) untilStopped ??= stopRace(io.nextStop().then((): typeof STOPPED => STOPPED));
      const now = io.now();
      if (json) io.stdout(JSON.stringify({ v: 1, command: 'status', at: now, exitCode, appEnvs: statuses }, null, watch ? undefined : 2));
      else io.stdout(`${watch && io.isTTY ? '\u001b[2J\u001b[H' : ''}${watch ? `kcc-redis status at ${isoTime(now)} (every ${intervalS} s; Ctrl-C to stop)\n\n` : ''}${render(statuses, targets, useColor(io), now)}`);
      shownExitCode = exitCode;
      if (!watch) return exitCode;
      if (await io.sleep(intervalS * 1000)) return exitCode;
      // The credentials were read once; after a password rotation (WRONGPASS) or a failed read of
      // them, read them again for the next refresh (only then: each read is a Secrets Manager call).
      if (credentialsFailed(targets, statuses) && io.now() - resolvedAt >= REREAD_AFTER_FAILURE_MS) {
        resolvedAt = io.now();
        try {
          const again = await unlessStopped(resolveTargets('status', values, io));
          if (again === STOPPED) return shownExitCode;
          targets = again;
        } catch {
          // Shown again as it is on the next refresh.
        }
      }
    }
  },
};
