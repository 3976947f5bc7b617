import { MAX_REVOCATION_ID_LENGTH, REVOCATION_DEFAULTS, Revocations } from '@kcc-redis/client';
import { integerOption, parseCommandArgs, stringOption } from '../args.js';
import type { Command } from '../command.js';
import { confirmChange } from '../confirm.js';
import { withConnection } from '../connect.js';
import { CliUsageError, EXIT } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { isoTime } from '../table.js';
import { TARGET_HELP, TARGET_OPTIONS, resolveOneTarget } from '../targets.js';
import { parseNotBefore } from '../time-arg.js';

const USAGE = `Usage: kcc-redis revoke --app <app> --env <env> [<source>]
                        (--sid <sid> | --sub <sub> [--before <time>] | --all-before <time>) [--yes] [--json]

Revokes through the client's own Revocations (state, event log and pub/sub in one step), so every
running instance refuses the tokens within the usual propagation time:
  --sid <sid>              one session (Keycloak's "sid"), remembered for the session lifetime
  --sub <sub>              every token of one user issued before --before (default: now)
  --all-before <time>      every token of the app-env issued before <time>
A time is "now", epoch seconds or ISO 8601 with a zone; not more than 60 s in the future (a future
not-before would refuse every token until then).

${TARGET_HELP}
  --session-max-lifetime-ms <n>  how long a revoked session is remembered (default ${REVOCATION_DEFAULTS.sessionMaxLifetimeMs},
                           Keycloak's SSO Session Max; use your instances' value)
  --yes                    do not ask for confirmation (required when stdin is not a terminal)
  --json                   print the result as JSON

Exit codes: 0 revoked; 2 usage error, declined, or Redis out of reach.`;

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
    const sessionMaxLifetimeMs = integerOption('revoke', values, 'session-max-lifetime-ms', REVOCATION_DEFAULTS.sessionMaxLifetimeMs, 1, 365 * 86_400_000);
    const notBefore = sub !== undefined ? parseNotBefore('revoke', '--before', before ?? 'now') : allBefore !== undefined ? parseNotBefore('revoke', '--all-before', allBefore) : undefined;
    const target = await resolveOneTarget('revoke', values, io);
    const what =
      sid !== undefined
        ? `revoke session ${JSON.stringify(sid)}`
        : sub !== undefined
          ? `revoke every token of user ${JSON.stringify(sub)} issued before ${isoTime(notBefore! * 1000)}`
          : `revoke EVERY token of ${target.name} issued before ${isoTime(notBefore! * 1000)}`;
    await confirmChange(io, 'revoke', `${what} in ${target.name}`, values.yes === true);
    await withConnection(target, async (redis) => {
      const revocations = await Revocations.start(redis, { sessionMaxLifetimeMs });
      try {
        if (sid !== undefined) await revocations.revokeSession(sid);
        else if (sub !== undefined) await revocations.revokeSubject(sub, notBefore!);
        else await revocations.revokeAllBefore(notBefore!);
      } finally {
        await revocations.close();
      }
    });
    const kind = sid !== undefined ? 'session' : sub !== undefined ? 'subject' : 'client';
    if (values.json === true) {
      io.stdout(JSON.stringify({ v: 1, command: 'revoke', appEnv: target.name, kind, sid, sub, notBefore, exitCode: EXIT.ok }, null, 2));
    } else {
      io.stdout(`${target.name}: done, ${what.replace(/^revoke /, '')}: written to Redis (state and event log) and published; every instance applies it.`);
    }
    return EXIT.ok;
  },
};
