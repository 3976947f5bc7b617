import { createIamAuthToken } from '@kcc-redis/client';
import { parseCommandArgs } from '../args.js';
import { probeAnonymous, probeUser } from '../check/acl-probes.js';
import { probeEndpoint } from '../check/endpoint.js';
import type { ProbeResult } from '../check/probe-result.js';
import { redactSecrets } from '../check/redact.js';
import { UnreachableError, probePlaintextRefused, probeTls } from '../check/transport-probes.js';
import type { Command } from '../command.js';
import { CONCURRENT_TARGETS, mapConcurrently } from '../concurrently.js';
import { EXIT, describeError, errorText } from '../exit-codes.js';
import { type CliIo, useColor } from '../io.js';
import { type Cell, paint, plural, renderTable } from '../table.js';
import { type AppEnvTarget, TARGET_HELP, TARGET_OPTIONS, isUnreadableTarget, resolveTargets } from '../targets.js';
import { printable } from '../terminal-text.js';

const USAGE = `Usage: kcc-redis check [--app <app> --env <env> | --all] [<source>] [--json]

The setup guide's bastion check, automated and widened, per app-env: the TLS handshake and
certificate; plaintext refused; an unauthenticated command gets NOAUTH; a random password is refused
for the default user (whether it is off, drift tells); the app user logs in and works in its own
namespace (keys, a script, a channel) and is refused outside it (a read, a write, a script, a
subscription) and on dangerous commands (a command the server does not offer at all, such as CONFIG
on ElastiCache, counts as refused); round-trip latency. Runs from anywhere that reaches the endpoint
(a bastion, an app's container, a laptop on \`kcc-redis local\`).

The probes never harm data, even against a user widened to +@all: refusals are probed with harmless
commands (CONFIG GET, KEYS on a random pattern, CLIENT LIST, reads of random keys, a DEL of a random
key that does not exist, SUBSCRIBE), never FLUSH*, DEBUG or SHUTDOWN; writes go only to random keys
in the user's own namespace and are deleted.

${TARGET_HELP}
  --json                   print the results as JSON (format version 1)

Exit codes: 0 every probe passed; 1 a probe failed; 2 usage error, an endpoint out of reach, an
app-env's credentials unreadable, or its probes stopped by an unexpected error (the other app-envs
are still checked).`;

/** The results of one app-env. */
interface TargetReport {
  readonly appEnv: string;
  /** The stack whose outputs named it (`--outputs`). */
  readonly stack?: string;
  readonly source: string;
  readonly endpoint: string;
  /** Set when the endpoint could not be reached at all. */
  readonly unreachable?: string;
  /** Set when the app-env's credentials could not be read (a refused secret): nothing was probed. */
  readonly unreadable?: string;
  /**
   * Set when the probes of this app-env stopped on an unexpected error (the last row of `results`
   * says so): the probes before it are kept, the other app-envs are still checked.
   */
  readonly error?: string;
  readonly results: readonly ProbeResult[];
}

/** The probe row of an app-env whose probes an unexpected error stopped. */
const STOPPED = 'the rest (stopped by an error)';

/**
 * Probes one app-env, adding each probe's result to `results` as it comes (what came before an
 * unexpected error is kept by the caller); `secrets` gets what the report must not show (the app
 * user's password or IAM token, the local default user's password).
 */
async function checkTarget(target: AppEnvTarget, all: readonly AppEnvTarget[], results: ProbeResult[], secrets: string[]): Promise<Pick<TargetReport, 'unreachable'>> {
  const endpoint = probeEndpoint(target.resolved);
  try {
    results.push(await probeTls(endpoint));
  } catch (error) {
    if (error instanceof UnreachableError) return { unreachable: error.message };
    throw error;
  }
  if (results[0]!.status === 'fail') {
    results.push({ probe: 'the rest', status: 'skip', detail: 'no trusted TLS connection' });
    return {};
  }
  results.push(await probePlaintextRefused(endpoint));
  results.push(...(await probeAnonymous(endpoint, target.local?.defaultUser.password)));
  const others = [...new Set([...all.map((t) => t.resolved.keyPrefix), ...(target.local?.appEnvs.map((a) => a.keyPrefix) ?? [])])];
  const login = await loginOf(target);
  secrets.push(login.password);
  results.push(
    ...(await probeUser({
      endpoint,
      ...login,
      keyPrefix: target.resolved.keyPrefix,
      otherPrefixes: others,
    })),
  );
  return {};
}

/**
 * One app-env's report. An unexpected error (a bug, a connection lost where no probe expects it)
 * ends its probes with a failed row naming the error, never the run: the other app-envs are still
 * probed and reported. Every secret the probes sent is redacted from the report, should a server
 * have echoed it ({@link redactSecrets}).
 */
async function reportTarget(target: AppEnvTarget, all: readonly AppEnvTarget[]): Promise<TargetReport> {
  const endpoint = probeEndpoint(target.resolved);
  const base = { appEnv: target.name, stack: target.stack, source: target.source, endpoint: `${endpoint.host}:${endpoint.port}` };
  const results: ProbeResult[] = [];
  const secrets = [target.resolved.credentials.password, target.local?.defaultUser.password].filter((s): s is string => typeof s === 'string' && s.length > 0);
  let report: TargetReport;
  try {
    report = { ...base, ...(await checkTarget(target, all, results, secrets)), results };
  } catch (error) {
    // Redacted before errorText shortens it, which could leave a piece of a secret too short to be found.
    // Not escaped: JSON escapes it, and the table makes its cells printable.
    const reason = errorText(redactSecrets(describeError(error), secrets));
    report = { ...base, error: reason, results: [...results, { probe: STOPPED, status: 'fail', detail: `unexpected error: ${reason}` }] };
  }
  const redact = (text: string) => redactSecrets(text, secrets);
  return {
    ...report,
    ...(report.unreachable !== undefined ? { unreachable: redact(report.unreachable) } : {}),
    ...(report.error !== undefined ? { error: redact(report.error) } : {}),
    results: report.results.map((r) => ({ ...r, detail: redact(r.detail) })),
  };
}

/**
 * The app user's login: its password, or for an IAM-authenticated user a token signed now with the
 * AWS credentials this process has (valid 15 minutes, long enough for every probe's connection).
 */
async function loginOf(target: AppEnvTarget): Promise<{ username: string; password: string }> {
  const iam = target.resolved.iam;
  if (!iam) return { username: target.resolved.credentials.username, password: target.resolved.credentials.password };
  const { cacheName, userId, region, serverless, credentials } = iam;
  const token = await createIamAuthToken({ cacheName, userId, region, serverless, credentials, now: new Date(iam.now()) });
  return { username: userId, password: token };
}

function render(reports: readonly TargetReport[], color: boolean): string {
  const status: Record<ProbeResult['status'], Cell> = {
    pass: { text: 'ok', color: 'green' },
    fail: { text: 'FAIL', color: 'red' },
    warn: { text: 'warn', color: 'yellow' },
    skip: { text: 'skip', color: 'dim' },
  };
  const rows: Cell[][] = [];
  // Several stacks in one outputs file (staging, prod): each row says which one.
  const severalStacks = new Set(reports.map((r) => r.stack)).size > 1;
  for (const report of reports) {
    const appEnv = severalStacks && report.stack !== undefined ? `${report.appEnv} (${report.stack})` : report.appEnv;
    if (report.unreachable) rows.push([appEnv, 'reach the endpoint', { text: 'ERROR', color: 'red' }, report.unreachable]);
    if (report.unreadable) rows.push([appEnv, 'read its credentials', { text: 'ERROR', color: 'red' }, report.unreadable]);
    for (const r of report.results) rows.push([appEnv, r.probe, status[r.status], r.detail]);
  }
  // A probe that failed; the row of probes stopped by an error is counted as the app-env's error instead.
  const failed = reports.flatMap((r) => r.results).filter((r) => r.status === 'fail' && r.probe !== STOPPED).length;
  const unreachable = reports.filter((r) => r.unreachable || r.unreadable).length;
  const stopped = reports.filter((r) => r.error).length;
  // The endpoints come from secrets and AWS (discovery): made printable, as the table's cells are, to stay on this line.
  const sources = printable([...new Set(reports.filter((r) => !r.unreadable).map((r) => `${r.endpoint} (${r.source})`))].join(', ') || 'nothing');
  const notChecked = [
    unreachable > 0 ? `${plural(unreachable, 'app-env')} out of reach or without readable credentials` : '',
    stopped > 0 ? `${plural(stopped, 'app-env')} not fully checked (an unexpected error)` : '',
  ].filter(Boolean).join(', ');
  const verdict =
    notChecked !== ''
      ? paint(color, 'red', `${notChecked}${failed > 0 ? `, ${plural(failed, 'probe')} failed` : ''}.`)
      : failed > 0
        ? paint(color, 'red', `${plural(failed, 'problem')} found in ${plural(reports.filter((r) => r.results.some((x) => x.status === 'fail')).length, 'app-env')}.`)
        : paint(color, 'green', `All checks passed for ${plural(reports.length, 'app-env')}.`);
  return [`Checked ${sources}`, '', renderTable(['APP-ENV', 'PROBE', 'RESULT', 'DETAIL'], rows, { color }), '', verdict].join('\n');
}

export const checkCommand: Command = {
  name: 'check',
  summary: 'probe TLS, authentication and each app user\'s namespace and refusals (harmless probes)',
  usage: USAGE,
  async run(argv, io: CliIo) {
    const { values, help } = parseCommandArgs('check', argv, { ...TARGET_OPTIONS, json: { type: 'boolean' } });
    if (help) {
      io.stdout(USAGE);
      return EXIT.ok;
    }
    const all = await resolveTargets('check', values, io);
    const targets = all.filter((t): t is AppEnvTarget => !isUnreadableTarget(t));
    // Credentials that could not be read (a refused secret): that app-env's row, the others go on.
    const reports = await mapConcurrently(all, CONCURRENT_TARGETS, async (target): Promise<TargetReport> =>
      isUnreadableTarget(target)
        ? { appEnv: target.name, stack: target.stack, source: target.source, endpoint: '—', unreadable: errorText(target.unreadable), results: [] }
        : reportTarget(target, targets));
    const failed = reports.some((r) => r.results.some((x) => x.status === 'fail'));
    const exitCode = reports.some((r) => r.unreachable || r.unreadable || r.error) ? EXIT.failed : failed ? EXIT.problems : EXIT.ok;
    if (values.json === true) io.stdout(JSON.stringify({ v: 1, command: 'check', exitCode, appEnvs: reports }, null, 2));
    else io.stdout(render(reports, useColor(io)));
    return exitCode;
  },
};
