import { KEY_RING_DEFAULTS, KeyRing, SIGNING_ALGORITHMS, type SigningAlgorithm } from '@kcc-redis/client';
import { integerOption, parseCommandArgs, requiredIntegerOption, stringOption } from '../args.js';
import type { Command } from '../command.js';
import { confirmChange } from '../confirm.js';
import { cliLogger, withConnection } from '../connect.js';
import { CliFailure, CliUsageError, EXIT } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { readKeyRing } from '../status/key-ring-reader.js';
import { humanDuration, isoTime } from '../table.js';
import { TARGET_HELP, TARGET_OPTIONS, describeTarget, resolveOneTarget, targetArgs, targetEndpoint } from '../targets.js';
import { printable } from '../terminal-text.js';

const USAGE = `Usage: kcc-redis rotate-keys --app <app> --env <env> [<source>]
                            (--activation-delay-ms <n> [--retire-grace-ms <n>] | --immediate) [--yes] [--json]

Rotates the app-env's signing keys through the client's own KeyRing.rotate(), so every running
instance follows within the usual propagation time (the key-ring event log, milliseconds; the
periodic re-read as a fallback). Needs the app-env's key-encryption key: from --local-dir, the
AppEnv output's kekSecretArn (--outputs), --kek-secret-id, or KCC_KEYRING_KEK / KCC_KEYRING_KEK_SECRET_ID.

A scheduled rotation publishes the new key now and signs with it after --activation-delay-ms (the
identity provider fetches it first). --immediate signs with it at once and drops the old keys from
the JWKS at once: for a compromised key; tokens the identity provider holds for the old key fail.
The new key has the ring's algorithm unless --alg says otherwise.

${TARGET_HELP}
  --activation-delay-ms <n>  without --immediate, required: the activationDelayMs your instances are configured
                           with (${KEY_RING_DEFAULTS.activationDelayMs} if you kept the default): time before the new key signs. No default: a
                           shorter value than the instances' signs with a key the identity provider may not have
                           fetched yet (its JWKS cache), and logins fail. At least 1000 (under a second is taken
                           for seconds given as milliseconds)
  --immediate              activate the new key now and drop the old ones (takes no --activation-delay-ms)
  --retire-grace-ms <n>    scheduled rotation: how long old keys stay in the JWKS after the new one activates (default ${KEY_RING_DEFAULTS.retireGraceMs})
  --alg <alg>              algorithm of the new key (${SIGNING_ALGORITHMS.join(', ')}; default: the active key's)
  --yes                    do not ask for confirmation (required when stdin is not a terminal)
  --json                   print the result as JSON

Exit codes: 0 rotated (or, without --immediate, a pending key already stood); 2 usage error, no ring
yet, no key-encryption key, declined, Redis out of reach, or --immediate lost to another rotation
(this command changed nothing).`;

/** The least --activation-delay-ms taken: below it, seconds were given for milliseconds. */
const MIN_ACTIVATION_DELAY_MS = 1_000;

export const rotateKeysCommand: Command = {
  name: 'rotate-keys',
  summary: 'rotate an app-env\'s signing keys now (--immediate for a compromised key); every instance follows',
  usage: USAGE,
  async run(argv, io: CliIo) {
    const { values, help } = parseCommandArgs('rotate-keys', argv, {
      ...TARGET_OPTIONS,
      immediate: { type: 'boolean' },
      'activation-delay-ms': { type: 'string' },
      'retire-grace-ms': { type: 'string' },
      alg: { type: 'string' },
      yes: { type: 'boolean' },
      json: { type: 'boolean' },
    });
    if (help) {
      io.stdout(USAGE);
      return EXIT.ok;
    }
    const alg = stringOption(values, 'alg');
    if (alg !== undefined && !(SIGNING_ALGORITHMS as readonly string[]).includes(alg)) throw new CliUsageError(`--alg "${alg}" must be one of ${SIGNING_ALGORITHMS.join(', ')}`, 'rotate-keys');
    const immediate = values.immediate === true;
    // The activation delay is the instances' own (their identity provider's JWKS cache decides it):
    // a default here would sign, on an app configured longer, with a key the IdP has not fetched yet.
    // --immediate activates at once, so a delay given with it would be ignored: refused instead.
    if (immediate && values['activation-delay-ms'] !== undefined) {
      throw new CliUsageError('--activation-delay-ms goes with a scheduled rotation only: --immediate signs with the new key at once; drop one of them. Nothing was changed', 'rotate-keys');
    }
    // Likewise the grace: an immediate rotation drops every old key from the JWKS at once (planRotation).
    if (immediate && values['retire-grace-ms'] !== undefined) {
      throw new CliUsageError('--retire-grace-ms goes with a scheduled rotation only: --immediate drops the old keys from the JWKS at once; drop one of them. Nothing was changed', 'rotate-keys');
    }
    const activationDelayMs = immediate
      ? KEY_RING_DEFAULTS.activationDelayMs
      : requiredIntegerOption(
          'rotate-keys',
          values,
          'activation-delay-ms',
          0,
          7 * 86_400_000,
          `a scheduled rotation needs --activation-delay-ms <n>: give the activationDelayMs your instances are configured with (${KEY_RING_DEFAULTS.activationDelayMs} if you kept the default), e.g. --activation-delay-ms ${KEY_RING_DEFAULTS.activationDelayMs}; or --immediate for a compromised key. Nothing was changed`,
        );
    // Under a second is seconds given for milliseconds (120 for 120000): the key would sign at once, before
    // any identity provider fetched it, without the old keys leaving as --immediate makes them.
    if (!immediate && activationDelayMs < MIN_ACTIVATION_DELAY_MS) {
      throw new CliUsageError(
        `--activation-delay-ms ${activationDelayMs} is under a second: it takes milliseconds (${activationDelayMs * 1000} for ${activationDelayMs} s; ${KEY_RING_DEFAULTS.activationDelayMs} if you kept the default); for a key that signs at once, --immediate. Nothing was changed`,
        'rotate-keys',
      );
    }
    const retireGraceMs = integerOption('rotate-keys', values, 'retire-grace-ms', KEY_RING_DEFAULTS.retireGraceMs, 0, 30 * 86_400_000);
    const target = await resolveOneTarget('rotate-keys', values, io);
    const kek = await target.kek();
    if (kek === undefined) {
      throw new CliUsageError(`no key-encryption key for ${target.name}: give --kek-secret-id, --outputs, --local-dir, or set KCC_KEYRING_KEK / KCC_KEYRING_KEK_SECRET_ID`, 'rotate-keys');
    }
    // Kids, the endpoint and a refused ring's reason come from Redis and AWS: made printable in every
    // sentence below (a kid holding a line break and a command line would print a fake hint of its
    // own), and cliLogger makes the client's warnings printable (the kids a rotation dropped). JSON escapes them itself.
    const label = printable(describeTarget(target));
    const clientLog = cliLogger(io);
    return withConnection(target, async (redis) => {
      // Read-only first: no ring means no instance has started; KeyRing.start would create one here.
      const before = await readKeyRing(redis, { keys: kek });
      if (before.state === 'absent') throw new CliFailure(`${target.name} has no key ring yet: nothing to rotate (the first instance creates it)`);
      if (before.state === 'degraded') throw new CliFailure(`${target.name}'s key ring is refused (${printable(before.problem ?? '')}); instances keep their last good ring — see kcc-redis status`);
      // The stack and the endpoint too: an operator pointed at the wrong outputs file or --local-dir sees it here.
      const what = `${immediate ? 'IMMEDIATE rotation (old keys leave the JWKS now)' : `scheduled rotation (the new key signs in ${humanDuration(activationDelayMs)})`} of the signing keys of ${label}; active key ${printable(before.active!.kid)}`;
      await confirmChange(io, 'rotate-keys', what, values.yes === true);
      const ring = await KeyRing.start(redis, {
        keyEncryptionKeyProvider: async () => kek,
        algorithm: (alg ?? before.active!.alg) as SigningAlgorithm,
        activationDelayMs,
        retireGraceMs,
        env: {},
      });
      try {
        const result = await ring.rotate({ immediate });
        // --immediate asked for a new key now: another rotation that won the race (the client's
        // compare-and-set lost) is not that, and nothing was changed by this command.
        const exitCode = immediate && !result.rotated ? EXIT.failed : EXIT.ok;
        // The rotation is done: a failed read of the ring after it must not turn it into exit 2.
        let generation: number | undefined;
        try {
          generation = (await readKeyRing(redis, { keys: kek })).generation;
        } catch {
          generation = undefined;
        }
        const now = Date.now();
        const kid = printable(result.kid);
        const ringGeneration = generation === undefined ? 'ring generation not read back (see kcc-redis status)' : `ring generation ${generation}`;
        if (values.json === true) {
          io.stdout(JSON.stringify({ v: 1, command: 'rotate-keys', appEnv: target.name, stack: target.stack, endpoint: targetEndpoint(target), immediate, ...result, generation, exitCode }, null, 2));
        } else if (result.rotated) {
          const when = result.activatesAt <= now ? 'signs now' : `signs from ${isoTime(result.activatesAt)} (in ${humanDuration(result.activatesAt - now)})`;
          io.stdout(`${label}: new key ${kid} published, ${when}; ${ringGeneration}. Every instance follows through the key-ring event log.`);
        } else if (immediate) {
          io.stderr(
            `${label}: NOT rotated: another rotation changed the ring while this one was written; key ${kid} is the ring's now (${result.activatesAt <= now ? 'signing' : `signs from ${isoTime(result.activatesAt)}`}). This command changed nothing: check kcc-redis status and, if a compromised key still signs, run kcc-redis rotate-keys ${targetArgs(target)} --immediate again.`,
          );
        } else if (result.activatesAt > now) {
          io.stdout(`${label}: not rotated: key ${kid} was already pending (activates ${isoTime(result.activatesAt)}); to replace it now, kcc-redis rotate-keys ${targetArgs(target)} --immediate.`);
        } else {
          // Another caller's rotation won, and its key already signs (an immediate one).
          io.stdout(`${label}: not rotated: another rotation made key ${kid} the active key (since ${isoTime(result.activatesAt)}); ${ringGeneration}.`);
        }
        return exitCode;
      } finally {
        await ring.close();
      }
    }, clientLog);
  },
};
