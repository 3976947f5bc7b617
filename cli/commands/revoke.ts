import { type KccLogger, type KccRedis, MAX_REVOCATION_ID_LENGTH, Revocations } from '@kcc-redis/client';
import { MAX_SESSION_LIFETIME_MS } from '../../client/src/revocation/revocations.js';
import { parseCommandArgs, requiredIntegerOption, stringOption } from '../args.js';
import type { Command } from '../command.js';
import { confirmChange, requireConfirmable } from '../confirm.js';
import { cliLogger, withConnection } from '../connect.js';
import { CliFailure, CliUsageError, EXIT, errorReason } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { isoTime } from '../table.js';
import { TARGET_HELP, TARGET_OPTIONS, describeTarget, resolveOneTarget, targetEndpoint } from '../targets.js';
import { parseNotBefore } from '../time-arg.js';
import { type NotBeforeScope, notBeforeInForce } from '../revoke/not-before-in-force.js';
import { readSessionLifetimes } from '../status/revocation-reader.js';
import { isUnreadable } from '../status/unreadable.js';
import { printable } from '../terminal-text.js';

const USAGE = `Usage: kcc-redis revoke --app <app> --env <env> [<source>]
                        (--sid <sid> --session-max-lifetime-ms <n> | --sub <sub> [--before <time>] |
                         --all-before <time>) [--yes] [--json]

Revokes through the client's own Revocations (state, event log and pub/sub in one step), so every
running instance refuses the tokens within the usual propagation time:
  --sid <sid>              one session (Keycloak's "sid"), remembered for --session-max-lifetime-ms
                           (ends nothing in Keycloak: end an offline session of it there too)
  --sub <sub>              every token of one user issued before --before (default: now)
  --all-before <time>      every token of the app-env issued before <time>
A time is "now" (Redis' clock, rounded up to the next second), epoch seconds or ISO 8601 with a
zone; not more than 60 s after Redis' time (a future not-before would refuse every token until
then). With a time, this machine's clock must be within 30 s of Redis' (else nothing is written).
Every check that needs Redis (its clock, the lifetimes instances declare) runs before the question,
and "now" is taken after it. A stricter (later) not-before that already stands stays in force: the
command reports the one in force and says so (JSON: notBefore in force, requestedNotBefore given,
stricterStood).

${TARGET_HELP}
  --session-max-lifetime-ms <n>  with --sid, required: your instances' sessionMaxLifetimeMs (Keycloak's SSO
                           Session Max; the longest, if they differ): how long the revoked session is
                           remembered. No default: a shorter value than the instances' would forget the
                           session while its tokens are still valid. At least 60000, and not shorter
                           than the longest a running instance declares (else nothing is written). --sub and --all-before need none:
                           their not-befores are kept as long as any instance may need them (nothing of
                           another revocation is pruned, the client-wide not-before does not expire early)
  --yes                    do not ask for confirmation (required when stdin is not a terminal)
  --json                   print the result as JSON (a failure too: {"v": 1, "command", "exitCode": 2, "error"})

Exit codes: 0 revoked (stored in Redis); 2 usage error, declined, or Redis out of reach or refusing
the write: the revocation was NOT stored (the message says so).`;

export const revokeCommand: Command = {
  name: 'revoke',
  summary: 'revoke a session, a user\'s tokens, or every token before a time, on every instance',
  usage: USAGE,
  async run(argv, io: CliIo) {
    const { values, help } = parseCommandArgs('revoke', argv, {
      ...TARGET_OPTIONS,
      sid: { type: 'string' },
      sub: { type: 'string' },
      before: { type: 'string' },
      'all-before': { type: 'string' },
      'session-max-lifetime-ms': { type: 'string' },
      yes: { type: 'boolean' },
      json: { type: 'boolean' },
    });
    if (help) {
      io.stdout(USAGE);
      return EXIT.ok;
    }
    const sid = stringOption(values, 'sid');
    const sub = stringOption(values, 'sub');
    const before = stringOption(values, 'before');
    const allBefore = stringOption(values, 'all-before');
    const kinds = [sid !== undefined, sub !== undefined, allBefore !== undefined].filter(Boolean).length;
    if (kinds !== 1) throw new CliUsageError('give exactly one of --sid <sid>, --sub <sub>, --all-before <time>', 'revoke');
    if (before !== undefined && sub === undefined) throw new CliUsageError('--before goes with --sub', 'revoke');
    for (const [name, id] of [['--sid', sid], ['--sub', sub]] as const) {
      if (id !== undefined && (id.length === 0 || id.length > MAX_REVOCATION_ID_LENGTH)) throw new CliUsageError(`${name} must be 1 to ${MAX_REVOCATION_ID_LENGTH} characters`, 'revoke');
    }
    // The lifetime decides the session's record, the prune of expired entries (user-wide
    // not-befores older than now − lifetime go on a writer's first batch), the client-wide
    // not-before's expiry and the event log's trim. --sub and --all-before take the longest the
    // client allows, so none of that happens earlier than on any instance; --sid takes the
    // instances' own value, which the operator must give.
    if (sid === undefined && values['session-max-lifetime-ms'] !== undefined) {
      throw new CliUsageError('--session-max-lifetime-ms goes with --sid only (--sub and --all-before keep their not-before as long as any instance may need it)', 'revoke');
    }
    const sessionMaxLifetimeMs =
      sid === undefined
        ? MAX_SESSION_LIFETIME_MS
        : requiredIntegerOption('revoke', values, 'session-max-lifetime-ms', 1, MAX_SESSION_LIFETIME_MS, '--sid needs --session-max-lifetime-ms <n>: give your instances\' sessionMaxLifetimeMs (Keycloak\'s SSO Session Max; the longest, if they differ), e.g. --session-max-lifetime-ms 36000000 for 10 hours');
    // Under a minute is a unit slip (seconds for milliseconds): the session would be forgotten at
    // once, and the write would prune other users' not-befores older than that (unless a running
    // instance declares a longer lifetime).
    if (sessionMaxLifetimeMs < MIN_SESSION_LIFETIME_MS) {
      throw new CliUsageError(
        `--session-max-lifetime-ms ${sessionMaxLifetimeMs} is ${sessionMaxLifetimeMs / 1000} s: a session lifetime is given in milliseconds (e.g. 36000000 for 10 hours) and is at least ${MIN_SESSION_LIFETIME_MS} (a minute); nothing was changed`,
        'revoke',
      );
    }
    const timeOption = sub !== undefined ? '--before' : '--all-before';
    const timeArg = sub !== undefined ? (before ?? 'now') : allBefore;
    // Checked now for its form; "now" and the future limit are taken from Redis' clock once connected (this machine's may be off).
    const written = timeArg === undefined ? undefined : parseNotBefore('revoke', timeOption, timeArg);
    const target = await resolveOneTarget('revoke', values, io);
    /** What the command does, with the time as given (before connecting) or as written (after). */
    const describe = (when: string) =>
      sid !== undefined
        ? `revoke session ${JSON.stringify(sid)}`
        : sub !== undefined
          ? `revoke every token of user ${JSON.stringify(sub)} issued before ${when}`
          : `revoke EVERY token of ${target.name} issued before ${when}`;
    const what = describe(timeArg === 'now' ? 'now (by Redis\' clock)' : written !== undefined ? isoTime(written * 1000) : '');
    // The endpoint comes from a secret or AWS (discovery): made printable in every sentence, to stay on its line.
    const label = printable(describeTarget(target));
    // The stack and the endpoint too: an operator pointed at the wrong outputs file or --local-dir sees it here.
    const question = `${what} in ${label}`;
    const yes = values.yes === true;
    // A script without --yes is refused before anything is read.
    requireConfirmable(io, 'revoke', question, yes);
    // The client's warnings about a failed write ("written again after a reconnect and on every
    // poll", "closed with 1 revocations Redis did not take") speak for a running instance; this
    // process is exiting, so they are held back here and the outcome is said plainly below.
    const held: [string, Record<string, unknown> | undefined][] = [];
    const holding: KccLogger = { warn: (message, context) => held.push([message, context]), info: () => undefined };
    const scope: NotBeforeScope | undefined = sid !== undefined ? undefined : sub !== undefined ? { kind: 'subject', sub } : { kind: 'client' };
    let notBefore: number | undefined;
    /** Set once Redis has the revocation: from then on nothing turns the outcome into "NOT stored". */
    let stored = false;
    let outcome: { failure: unknown; late: boolean; inForce: number | undefined; readBack: boolean };
    try {
      outcome = await withConnection(
        target,
        async (redis) => {
          // Every check that can refuse the revocation runs before the question (a review found two
          // after it): a "yes" is never followed by a refusal that a check could have made first.
          const checkedAtMs = await redis.serverClock.now();
          if (timeArg !== undefined) notBefore = notBeforeByServerClock(timeOption, timeArg, checkedAtMs, target.name);
          if (sid !== undefined) await refuseShorterThanDeclared(redis, sessionMaxLifetimeMs, checkedAtMs);
          await confirmChange(io, 'revoke', question, yes);
          // "now" is the time of the write, not of the question: a minute spent answering would
          // otherwise leave the tokens issued in that minute valid.
          if (timeArg === 'now') notBefore = Math.ceil((await redis.serverClock.now()) / 1000);
          const revocations = await Revocations.startForOperator(redis, { sessionMaxLifetimeMs });
          let failure: unknown;
          try {
            if (sid !== undefined) await revocations.revokeSession(sid);
            else if (sub !== undefined) await revocations.revokeSubject(sub, notBefore!);
            else await revocations.revokeAllBefore(notBefore!);
          } catch (error) {
            failure = error;
          }
          // On a failed write, close() writes it once more (at most 2 s); its stats say what Redis took.
          await revocations.close().catch(() => undefined);
          const stats = revocations.stats;
          const late = failure !== undefined && stats.unwritten === 0 && stats.writtenLate > 0;
          stored = failure === undefined || late;
          if (!stored || scope === undefined) return { failure, late, inForce: undefined, readBack: false };
          // What instances apply: Redis keeps a stricter (later) not-before that stood over the one
          // written, and the command said "done" with the one given (a review). Stored whatever this
          // read does: a failure here is said, not an exit 2.
          try {
            return { failure, late, inForce: await notBeforeInForce(redis, scope), readBack: true };
          } catch {
            return { failure, late, inForce: undefined, readBack: false };
          }
        },
        holding,
      );
    } catch (error) {
      // Redis out of reach, or a read before the write failed: an operator must never be left unsure
      // whether the revocation took (a review: an unreachable Redis said only that the connection failed).
      if (stored || error instanceof CliUsageError || error instanceof CliFailure) throw error;
      // Redis answered with an error (it is in reach), or did not answer at all.
      const answered = error instanceof Error && error.name === 'ReplyError';
      throw new CliFailure(`${target.name}: the revocation was NOT stored: ${errorReason(error)}; no instance has it. Run the command again ${answered ? 'once what Redis answered is dealt with' : 'once Redis is in reach'}.`, { cause: error });
    }
    if (!stored) {
      throw new CliFailure(`${target.name}: the revocation was NOT stored: writing it to Redis failed (${errorReason(outcome.failure)}); no instance has it. Run the command again once Redis takes it.`);
    }
    const log = cliLogger(io);
    for (const [message, context] of held) if (outcome.failure === undefined) log.warn(message, context);
    const kind = sid !== undefined ? 'session' : sub !== undefined ? 'subject' : 'client';
    const stricterStood = outcome.inForce !== undefined && notBefore !== undefined && outcome.inForce > notBefore;
    const shown = stricterStood ? outcome.inForce : notBefore;
    const done = (shown === undefined ? what : describe(isoTime(shown * 1000))).replace(/^revoke /, '');
    if (values.json === true) {
      const times = scope === undefined ? {} : { notBefore: outcome.readBack ? (outcome.inForce ?? null) : null, requestedNotBefore: notBefore, stricterStood: outcome.readBack ? stricterStood : null };
      io.stdout(JSON.stringify({ v: 1, command: 'revoke', appEnv: target.name, stack: target.stack, endpoint: targetEndpoint(target), kind, sid, sub, ...times, exitCode: EXIT.ok }, null, 2));
    } else {
      const written = `written to Redis (state and event log)${outcome.late ? ' on a second attempt' : ''} and published; every instance applies it`;
      const inForce =
        scope === undefined || (outcome.readBack && outcome.inForce === notBefore)
          ? ''
          : !outcome.readBack
            ? ' The not-before in force was not read back (a stricter one may stand): see kcc-redis status.'
            : stricterStood
              ? ` A stricter not-before already stood and stays in force (the one given, ${isoTime(notBefore! * 1000)}, refuses nothing more).`
              : ` Redis holds ${outcome.inForce === undefined ? 'no not-before' : isoTime(outcome.inForce * 1000)} for it now, not the one written (changed since?): see kcc-redis status.`;
      io.stdout(`${label}: done, ${done}: ${written}.${inForce}`);
    }
    return EXIT.ok;
  },
};

/** The shortest --session-max-lifetime-ms taken: below it, a unit slip (seconds for milliseconds). */
const MIN_SESSION_LIFETIME_MS = 60_000;

/** How far this machine's clock may be from Redis' for a revocation by time. */
const MAX_CLOCK_SKEW_MS = 30_000;

/**
 * The not-before to write, judged by Redis' clock: "now" is Redis' time, rounded up to the next
 * second (a token issued within this second is refused too: instances refuse iat < not-before); a
 * time more than 60 s after Redis' time is refused. A clock here more than 30 s off Redis' is
 * refused before anything is written: ahead by more than 90 s, its "now" was dropped by the write
 * (Redis keeps no not-before that far past its own time) while the command said done; behind, it
 * left the tokens issued since valid (a review); and the client checks a not-before against this
 * clock too.
 */
function notBeforeByServerClock(option: string, raw: string, serverNowMs: number, appEnv: string): number {
  const skewMs = Date.now() - serverNowMs;
  if (Math.abs(skewMs) > MAX_CLOCK_SKEW_MS) {
    throw new CliFailure(
      `${appEnv}: the revocation was NOT stored: this machine's clock is ${Math.round(Math.abs(skewMs) / 1000)} s ${skewMs > 0 ? 'ahead of' : 'behind'} Redis' clock (more than ${MAX_CLOCK_SKEW_MS / 1000} s), ` +
        `so a not-before by time would be wrong: synchronize this machine's clock (NTP) and run the command again; nothing was changed`,
    );
  }
  if (raw === 'now') return Math.ceil(serverNowMs / 1000);
  return parseNotBefore('revoke', option, raw, serverNowMs);
}

/**
 * Refuses a --session-max-lifetime-ms shorter than the longest a running instance declares: the
 * session would be forgotten while its tokens are still valid there. (The write itself keeps the
 * state for the longest declared; the session's own record is the operator's lifetime.)
 */
async function refuseShorterThanDeclared(redis: KccRedis, sessionMaxLifetimeMs: number, serverNowMs: number): Promise<void> {
  const sessionLifetimes = await readSessionLifetimes(redis, serverNowMs);
  const longest = isUnreadable(sessionLifetimes) ? undefined : sessionLifetimes.declaredMs[0];
  if (longest !== undefined && longest > sessionMaxLifetimeMs) {
    throw new CliUsageError(
      `--session-max-lifetime-ms ${sessionMaxLifetimeMs} is shorter than the ${longest} ms a running instance declares: give at least ${longest} (the longest sessionMaxLifetimeMs of your instances); nothing was changed`,
      'revoke',
    );
  }
}
