import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import cdkJson from '../../../cdk.json' with { type: 'json' };
import { KccConfigError, parseConfig } from '../../../infra/index.js';
import {
  CONFIG_VARIATIONS,
  type FieldClassification,
  UNPLANNED_FIELDS,
  classifyConfigChanges,
  renderClassificationTable,
} from '../../../infra/plan/config-classification.js';
import { loadUpdateSpec, synthesizeWithContext } from '../../../infra/plan/index.js';

/**
 * docs/configuration-changes.md's table is the planner's output for one change of each `kcc` field.
 * This test regenerates it and fails when the page is stale; to rewrite the page:
 *   KCC_UPDATE_DOCS=1 npx vitest run test/unit/plan/configuration-changes-doc.test.ts
 */
const DOC = fileURLToPath(new URL('../../../docs/configuration-changes.md', import.meta.url));
const BEGIN = '<!-- BEGIN GENERATED: classification (test/unit/plan/configuration-changes-doc.test.ts) -->';
const END = '<!-- END GENERATED: classification -->';

/** The config fields parseConfig knows, from its own "unknown field" message (the parser is the source of truth). */
function knownConfigFields(): string[] {
  try {
    parseConfig({ apps: ['my-app'], notAField: true });
  } catch (error) {
    const problem = (error as KccConfigError).problems.find((p) => p.includes('(known: '));
    if (problem) return /\(known: ([^)]*)\)/.exec(problem)![1]!.split(', ');
  }
  throw new Error('parseConfig no longer lists the known fields in its unknown-field message: update knownConfigFields()');
}

let rows: FieldClassification[];
beforeAll(() => {
  rows = classifyConfigChanges((kcc) => synthesizeWithContext({ ...cdkJson.context, kcc }, { validate: false }), loadUpdateSpec());
}, 300_000);

describe('docs/configuration-changes.md: every config field classified by the planner', () => {
  it('covers every field the config parser knows', () => {
    const covered = new Set([...CONFIG_VARIATIONS.map((v) => v.field), ...Object.keys(UNPLANNED_FIELDS)]);
    const fields = knownConfigFields();
    expect(fields).toEqual(expect.arrayContaining(['apps', 'replicas', 'port', 'kmsKeyArn']));
    const missing = fields.filter((field) => !covered.has(field));
    expect(missing, 'add a variation for each new kcc field to CONFIG_VARIATIONS (infra/plan/config-classification.ts)').toEqual([]);
  });

  it('the page holds the table the planner produces today', () => {
    const generated = `${BEGIN}\n${renderClassificationTable(rows)}\n${END}`;
    const page = readFileSync(DOC, 'utf8');
    const start = page.indexOf(BEGIN);
    const end = page.indexOf(END);
    expect(start, `${DOC} lacks the generated-table markers`).toBeGreaterThanOrEqual(0);
    const current = page.slice(start, end + END.length);
    if (current !== generated && process.env.KCC_UPDATE_DOCS === '1') {
      writeFileSync(DOC, page.slice(0, start) + generated + page.slice(end + END.length));
      return;
    }
    expect(current, 'the table is stale: KCC_UPDATE_DOCS=1 npx vitest run test/unit/plan/configuration-changes-doc.test.ts').toBe(generated);
  });
});
