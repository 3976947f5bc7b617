import { parseDocument } from 'yaml';
import type { CollectionTag, ScalarTag, YAMLMap, YAMLSeq } from 'yaml';
import { KccPlanError } from './plan-errors.js';

/** One resource of a template, as far as the planner reads it. */
export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Readonly<Record<string, unknown>>;
  readonly DeletionPolicy?: unknown;
  readonly UpdateReplacePolicy?: unknown;
  readonly UpdatePolicy?: unknown;
  readonly Condition?: unknown;
  readonly DependsOn?: unknown;
}

/** A CloudFormation template: resources by logical id, and outputs. */
export interface CfnTemplate {
  readonly Resources: Readonly<Record<string, CfnResource>>;
  readonly Outputs?: Readonly<Record<string, unknown>>;
  readonly Parameters?: Readonly<Record<string, unknown>>;
}

/**
 * Parses the previous template, in any of the shapes it reaches us in:
 * - a template (JSON, as `cdk.out` holds it and CDK deploys it, or YAML, as `cdk synth` prints it);
 * - the output of `aws cloudformation get-template --stack-name <name> [--query TemplateBody]`: the
 *   AWS CLI decodes a JSON `TemplateBody` into an object (botocore's `json_decode_template_body`
 *   hook on `GetTemplate`) and leaves a YAML body as a string, so the file is either the template,
 *   a JSON string holding YAML, or `{ "TemplateBody": … }` around either
 *   (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_GetTemplate.html).
 * `source` names the file in error messages.
 */
export function parseTemplate(input: string, source: string): CfnTemplate {
  const text = input.replace(/^\uFEFF/, ''); // a byte-order mark (PowerShell redirections write one)
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = parseCfnYaml(text, source);
  }
  if (isRecord(value) && 'TemplateBody' in value && !('Resources' in value)) value = value.TemplateBody;
  if (typeof value === 'string') value = parseTemplateBody(value, source);
  return checkTemplate(value, source);
}

function parseTemplateBody(body: string, source: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return parseCfnYaml(body, source);
  }
}

function checkTemplate(value: unknown, source: string): CfnTemplate {
  const hint = 'give the deployed template: `aws cloudformation get-template --stack-name <stack> --query TemplateBody --output json > previous.json`, or the JSON from cdk.out kept at deploy time';
  if (!isRecord(value)) throw new KccPlanError('KCC_PLAN_INPUT_INVALID', `${source} is not a CloudFormation template (a ${describe(value)}); ${hint}`);
  const resources = value.Resources;
  if (!isRecord(resources) || Object.keys(resources).length === 0) {
    throw new KccPlanError('KCC_PLAN_INPUT_INVALID', `${source} is not a CloudFormation template: it has no "Resources" object; ${hint}`);
  }
  for (const [id, resource] of Object.entries(resources)) {
    if (!isRecord(resource) || typeof resource.Type !== 'string') {
      throw new KccPlanError('KCC_PLAN_INPUT_INVALID', `${source}: resource "${id}" has no "Type"; ${hint}`);
    }
    if (resource.Properties !== undefined && !isRecord(resource.Properties)) {
      throw new KccPlanError('KCC_PLAN_INPUT_INVALID', `${source}: resource "${id}" has "Properties" that are not an object`);
    }
  }
  return value as unknown as CfnTemplate;
}

/** Intrinsic functions with a YAML short form (`!Ref`, `!GetAtt`, `!Sub`, …). */
const SHORT_FORMS = [
  'Base64', 'Cidr', 'FindInMap', 'GetAtt', 'GetAZs', 'ImportValue', 'Join', 'Select', 'Split', 'Sub', 'Transform',
  'And', 'Equals', 'If', 'Not', 'Or', 'ToJsonString', 'Length',
] as const;

/**
 * YAML tags of CloudFormation's short forms, each as the long form it stands for
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference.html).
 * `!GetAtt A.B` is the string form of `Fn::GetAtt: [A, B]`.
 */
function cfnTags(): (ScalarTag | CollectionTag)[] {
  const tags: (ScalarTag | CollectionTag)[] = [
    { tag: '!Ref', resolve: (value: string) => ({ Ref: value }) },
    { tag: '!Condition', resolve: (value: string) => ({ Condition: value }) },
  ];
  for (const name of SHORT_FORMS) {
    const key = `Fn::${name}`;
    const scalar = name === 'GetAtt' ? (value: string) => ({ [key]: splitGetAtt(value) }) : (value: string) => ({ [key]: value });
    tags.push({ tag: `!${name}`, resolve: scalar });
    tags.push({ tag: `!${name}`, collection: 'seq', resolve: (seq: YAMLSeq.Parsed | YAMLMap.Parsed) => ({ [key]: seq.toJSON() }) });
    tags.push({ tag: `!${name}`, collection: 'map', resolve: (map: YAMLSeq.Parsed | YAMLMap.Parsed) => ({ [key]: map.toJSON() }) });
  }
  return tags;
}

function splitGetAtt(value: string): string[] {
  const dot = value.indexOf('.');
  return dot < 0 ? [value] : [value.slice(0, dot), value.slice(dot + 1)];
}

function parseCfnYaml(text: string, source: string): unknown {
  // YAML 1.1 as CloudFormation reads it; an unknown tag is an error, not a silently dropped value.
  const doc = parseDocument(text, { customTags: cfnTags(), version: '1.1', uniqueKeys: true, prettyErrors: false });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) {
    throw new KccPlanError('KCC_PLAN_INPUT_INVALID', `${source} is neither JSON nor a CloudFormation YAML template: ${problem.message.split('\n')[0]}`);
  }
  return doc.toJS({ maxAliasCount: 100 });
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'list';
  if (value === null) return 'null';
  return typeof value;
}
