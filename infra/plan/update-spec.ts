import { loadAwsServiceSpecSync } from '@aws-cdk/aws-service-spec';
import { SPEC_CORRECTIONS, type SpecCorrection } from './documented-rules.js';

/**
 * What CloudFormation does when a property changes, as `@aws-cdk/aws-service-spec` records it. That
 * database is built from CloudFormation's registry schemas (a property listed in
 * `createOnlyProperties` is `yes`) merged with the older resource specification (`UpdateType:
 * Immutable` is `yes`, `Conditional` is `maybe`); the template reference's "Update requires" notes
 * say the same in prose. See "Understand update behaviors of stack resources",
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-update-behaviors.html
 */
export type Replacement = 'yes' | 'no' | 'maybe';

/** The part of the database's types this module reads (kept structural: the package's types are not a dependency). */
interface SpecPropertyType {
  readonly type: string;
  readonly reference?: { readonly $ref: string };
  readonly element?: SpecPropertyType;
  readonly types?: readonly SpecPropertyType[];
}
interface SpecProperty {
  readonly type: SpecPropertyType;
  readonly causesReplacement?: Replacement;
  readonly documentation?: string;
}
interface SpecResource {
  readonly cloudFormationType: string;
  readonly properties: Readonly<Record<string, SpecProperty>>;
  readonly primaryIdentifier?: readonly string[];
  readonly isStateful?: boolean;
  readonly additionalReplacementProperties?: readonly (readonly string[])[];
}
interface SpecDatabase {
  lookup(collection: 'resource', index: 'cloudFormationType', op: 'equals', value: string): readonly SpecResource[];
  get(collection: 'typeDefinition', id: string): { readonly properties: Readonly<Record<string, SpecProperty>> };
}

/** One property path's behaviour and where it comes from. */
export interface PathBehaviour {
  readonly replacement: Replacement;
  /** The property (or nested property) whose entry decided it, e.g. `NodeGroupConfiguration` or `NodeGroupConfiguration.ReplicaCount`. */
  readonly decidedBy: string;
  /** Set when a correction of the spec's entry decided it ({@link SPEC_CORRECTIONS}): why the spec's mark does not apply. */
  readonly corrected?: string;
}

/**
 * The template reference says this sentence for properties that name a resource; CloudFormation cannot
 * replace a resource whose name is given ("CloudFormation resource custom naming",
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-name.html).
 */
const NAME_SENTENCE = /if you specify a name, you cannot perform updates that require replacement/i;

/** Lookups into the service spec database: replacement behaviour, custom-name properties, statefulness. */
export class UpdateSpec {
  private readonly resources = new Map<string, SpecResource | undefined>();

  /**
   * `corrections` replace the database's replacement mark of top-level properties that AWS's current
   * schemas contradict (by default {@link SPEC_CORRECTIONS}); every lookup below goes through them.
   */
  constructor(
    private readonly db: SpecDatabase,
    private readonly corrections: Readonly<Record<string, Readonly<Record<string, SpecCorrection>>>> = SPEC_CORRECTIONS,
  ) {}

  /** Whether the database knows the resource type. */
  knows(type: string): boolean {
    return this.resource(type) !== undefined;
  }

  /**
   * What a change at `path` (property names and array indexes, top-level property first) causes.
   * The strongest answer along the path wins: a create-only parent replaces whatever changes inside
   * it, and a create-only nested property replaces even when its parent updates in place.
   * Undefined when the type or the top-level property is unknown to the database.
   */
  behaviourAt(type: string, path: readonly (string | number)[]): PathBehaviour | undefined {
    const resource = this.resource(type);
    const top = path[0];
    if (!resource || typeof top !== 'string') return undefined;
    let property: SpecProperty | undefined = resource.properties[top];
    if (!property) return undefined;
    const correction = this.corrections[type]?.[top];
    let best: PathBehaviour = correction
      ? { replacement: correction.replacement, decidedBy: top, corrected: correction.because }
      : { replacement: property.causesReplacement ?? 'no', decidedBy: top };
    const names = [top];
    for (const step of path.slice(1)) {
      if (typeof step === 'number') continue; // array element: same element type
      const next: SpecProperty | undefined = this.nestedProperty(property.type, step);
      if (!next) break;
      names.push(step);
      property = next;
      const replacement = next.causesReplacement ?? 'no';
      if (rank(replacement) > rank(best.replacement)) best = { replacement, decidedBy: names.join('.') };
    }
    for (const extra of resource.additionalReplacementProperties ?? []) {
      const stringPath = path.filter((s): s is string => typeof s === 'string');
      if (extra.every((name, i) => stringPath[i] === name)) best = { replacement: 'yes', decidedBy: extra.join('.') };
    }
    return best;
  }

  /**
   * The properties that give the resource its physical name: the writable parts of its primary
   * identifier (e.g. `ReplicationGroupId`, `UserId`), and properties documented with the custom-name
   * sentence (e.g. `FunctionName`). A resource replaced while such a property keeps its value cannot
   * be created beside the old one.
   */
  nameProperties(type: string): readonly string[] {
    const resource = this.resource(type);
    if (!resource) return [];
    const createOnly = (name: string) => (this.corrections[type]?.[name]?.replacement ?? resource.properties[name]?.causesReplacement) === 'yes';
    // An identifier with a part the service generates (AWS::Lambda::Permission's [FunctionName, Id]:
    // a replaced permission is a new statement on the same function) never collides with the old one.
    const identifier = resource.primaryIdentifier ?? [];
    const named = identifier.every((name) => resource.properties[name] !== undefined);
    const names = new Set(named ? identifier.filter(createOnly) : []);
    for (const [name, property] of Object.entries(resource.properties)) {
      if (createOnly(name) && NAME_SENTENCE.test(property.documentation ?? '')) names.add(name);
    }
    return [...names];
  }

  /** Whether the database marks the type as holding data (CDK's list of stateful resources). */
  isStateful(type: string): boolean {
    return this.resource(type)?.isStateful === true;
  }

  private resource(type: string): SpecResource | undefined {
    if (!this.resources.has(type)) {
      const found = this.db.lookup('resource', 'cloudFormationType', 'equals', type);
      this.resources.set(type, found.length === 1 ? found[0] : undefined);
    }
    return this.resources.get(type);
  }

  private nestedProperty(type: SpecPropertyType, name: string): SpecProperty | undefined {
    switch (type.type) {
      case 'ref':
        return type.reference ? this.db.get('typeDefinition', type.reference.$ref).properties[name] : undefined;
      case 'array':
      case 'map':
        return type.element ? this.nestedProperty(type.element, name) : undefined;
      case 'union':
        for (const member of type.types ?? []) {
          const found = this.nestedProperty(member, name);
          if (found) return found;
        }
        return undefined;
      default:
        return undefined;
    }
  }
}

export function rank(replacement: Replacement): number {
  return replacement === 'yes' ? 2 : replacement === 'maybe' ? 1 : 0;
}

let loaded: UpdateSpec | undefined;

/** The spec database shipped with `@aws-cdk/aws-service-spec` (about half a second to load; loaded once). */
export function loadUpdateSpec(): UpdateSpec {
  loaded ??= new UpdateSpec(loadAwsServiceSpecSync() as unknown as SpecDatabase);
  return loaded;
}
