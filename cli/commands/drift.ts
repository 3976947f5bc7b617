import { readLocalState } from '../../local/local-state.js';
import { parseCommandArgs, stringOption } from '../args.js';
import type { Command } from '../command.js';
import { compareDeployment } from '../drift/deployed-drift.js';
import type { DriftItem } from '../drift/drift-item.js';
import { readDeployedState } from '../drift/elasticache-state.js';
import { expectedDeployment } from '../drift/expected-deployment.js';
import { localDrift } from '../drift/local-drift.js';
import { readKccConfig } from '../config-file.js';
import { CliUsageError, EXIT } from '../exit-codes.js';
import { type CliIo, useColor } from '../io.js';
import { type Cell, paint, plural, renderTable } from '../table.js';

const USAGE = `Usage: kcc-redis drift [--config <cdk.json>] [--region <region>] [--json]
       kcc-redis drift --local-dir <dir> [--json]

What is deployed against what the config would create, by meaning: each user's access string
(by the commands its rules allow, not its text: ElastiCache may return it reworded), authentication
type (password, or iam for an app-env with "auth": "iam" or "password+iam") and name, the user
group's members (a user someone added, e.g. the built-in default user, is drift), the default
user's state, and the cache of the configured "deployment": a replication group's transit
encryption (required), engine, version and cluster mode, or a serverless cache's engine, major
version and user group. Read through the ElastiCache API (DescribeReplicationGroups and
DescribeCacheClusters, or DescribeServerlessCaches; DescribeUserGroups, DescribeUsers; the other
kind's Describe call when no cache of the configured kind has the name): the caller needs those
elasticache:Describe* permissions. Nothing is changed.

With --local-dir, the local server's ACL users against the config \`kcc-redis local\` started with
(the local server is Redis 7, not the configured engine, and has its own admin user: neither is
drift). This compares through a temporary, password-less user on the local server, deleted after.

Options:
  --config <file>    the cdk.json whose "kcc" config to compare with (default: ./cdk.json)
  --region <region>  AWS region (default: the SDK's: AWS_REGION, profile)
  --local-dir <dir>  compare a \`kcc-redis local --dir <dir>\` server instead
  --json             print the findings as JSON (format version 1)
  -h, --help         show this help

Exit codes: 0 no drift; 1 drift found; 2 usage error, unreadable config, or AWS/Redis out of reach.`;

function render(source: string, items: readonly DriftItem[], color: boolean): string {
  const status: Record<DriftItem['status'], Cell> = { ok: { text: 'ok', color: 'green' }, drift: { text: 'DRIFT', color: 'red' }, note: { text: 'note', color: 'dim' } };
  const table = renderTable(['RESOURCE', 'ASPECT', 'STATE', 'DETAIL'], items.map((i) => [i.resource, i.aspect, status[i.status], i.detail]), { color });
  const drifted = items.filter((i) => i.status === 'drift').length;
  const verdict = drifted > 0 ? paint(color, 'red', `${plural(drifted, 'difference')} from the config.`) : paint(color, 'green', 'No drift: deployed as the config would create it.');
  return `Compared ${source}\n\n${table}\n\n${verdict}`;
}

export const driftCommand: Command = {
  name: 'drift',
  summary: 'what is deployed against what the config would create (access strings, group, TLS, engine)',
  usage: USAGE,
  async run(argv, io: CliIo) {
    const { values, help } = parseCommandArgs('drift', argv, { config: { type: 'string' }, region: { type: 'string' }, 'local-dir': { type: 'string' }, json: { type: 'boolean' } });
    if (help) {
      io.stdout(USAGE);
      return EXIT.ok;
    }
    const localDir = stringOption(values, 'local-dir');
    let items: DriftItem[];
    let source: string;
    if (localDir !== undefined) {
      if (values.config !== undefined || values.region !== undefined) throw new CliUsageError('--local-dir compares with the config the local server started with; --config and --region do not apply', 'drift');
      const state = await readLocalState(localDir);
      items = await localDrift(state);
      source = `the local server ${state.url} (--local-dir ${localDir}) with the config it started from`;
    } else {
      const file = stringOption(values, 'config') ?? 'cdk.json';
      const expected = expectedDeployment(await readKccConfig(file));
      const region = stringOption(values, 'region') ?? io.env.AWS_REGION ?? io.env.AWS_DEFAULT_REGION;
      const state = await readDeployedState({ kind: expected.kind, cacheName: expected.cacheName, userGroupId: expected.userGroupId, userIds: expected.users.map((u) => u.userId) }, region);
      items = compareDeployment(expected, state);
      const kind = expected.kind === 'serverless' ? 'serverless cache' : 'replication group';
      source = `${kind} ${expected.cacheName}${region ? ` in ${region}` : ''} (ElastiCache API) with ${file}`;
    }
    const exitCode = items.some((i) => i.status === 'drift') ? EXIT.problems : EXIT.ok;
    if (values.json === true) io.stdout(JSON.stringify({ v: 1, command: 'drift', source, exitCode, items }, null, 2));
    else io.stdout(render(source, items, useColor(io)));
    return exitCode;
  },
};
