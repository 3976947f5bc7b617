import { randomInt, randomUUID } from 'node:crypto';
import {
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  type GetRandomPasswordCommandInput,
  GetSecretValueCommand,
  type GetSecretValueCommandInput,
  InvalidParameterException,
  InvalidRequestException,
  PutSecretValueCommand,
  type PutSecretValueCommandInput,
  ResourceExistsException,
  ResourceNotFoundException,
  RotateSecretCommand,
  type RotateSecretCommandInput,
  type RotationRulesType,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
  type UpdateSecretVersionStageCommandInput,
} from '@aws-sdk/client-secrets-manager';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { ROTATION_STEPS, ROTATION_TAG_KEY, ROTATION_TIMING, type RotationStep } from '../../infra/rotation/rotation-contract.js';
import type { RotationEvent, RotationHandler, RotationInvocationContext } from '../../infra/rotation/rotation-frame.js';

/** One version of a fake secret: its value (undefined while RotateSecret's new version has none yet) and stages. */
export interface FakeVersion {
  value: string | undefined;
  readonly stages: Set<string>;
}

/** One stored secret of the fake. */
export interface FakeSecret {
  readonly arn: string;
  /** The friendly name (DescribeSecret's Name): the ARN's resource part without Secrets Manager's `-` and six random characters. */
  readonly name: string;
  tags: Record<string, string>;
  /** `undefined` while the secret has never been configured for rotation (DescribeSecret then omits RotationEnabled). */
  rotationEnabled: boolean | undefined;
  rotationLambdaArn: string | undefined;
  rotationRules: RotationRulesType | undefined;
  lastRotatedDate: Date | undefined;
  /** Version id → version, in creation order. Versions without a stage stay readable by id (deprecated). */
  readonly versions: Map<string, FakeVersion>;
}

/** What Secrets Manager did for one RotateSecret: the configuration test or a rotation, its attempts, its outcome. */
export interface RotationRecord {
  readonly kind: 'configuration test' | 'rotation';
  readonly token: string;
  /** One entry per attempt: the steps invoked, in order, and the error that ended it. */
  readonly attempts: { readonly steps: RotationStep[]; error?: unknown }[];
  succeeded: boolean;
}

const UPPERCASE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWERCASE = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';
const PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
const CURRENT = 'AWSCURRENT';
const PENDING = 'AWSPENDING';
const PREVIOUS = 'AWSPREVIOUS';

const notFound = (message: string) => new ResourceNotFoundException({ message, $metadata: {} });
const invalidParameter = (message: string) => new InvalidParameterException({ message, $metadata: {} });
const invalidRequest = (message: string) => new InvalidRequestException({ message, $metadata: {} });

/**
 * An in-memory Secrets Manager behind aws-sdk-client-mock (every SecretsManagerClient in the process
 * talks to it), modelled on the operations' pages of the API reference (the text the SDK's models
 * carry too). Where AWS leaves a detail out, the comment says so and what the fake does instead.
 *
 * - PutSecretValue (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html):
 *   a version's value never changes: the same ClientRequestToken with the same value does nothing,
 *   with another value fails (ResourceExistsException); a version RotateSecret created without a
 *   value takes one. Without VersionStages the version becomes AWSCURRENT.
 * - UpdateSecretVersionStage (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecretVersionStage.html):
 *   a stage sits on one version; "Whenever you move AWSCURRENT, Secrets Manager automatically moves
 *   the label AWSPREVIOUS to the version that AWSCURRENT was removed from" (PutSecretValue too); a
 *   version left without a stage is "deprecated". Its errors: {@link updateStage}.
 * - GetSecretValue (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html):
 *   VersionId and VersionStage together must name one version; a version without a value is not
 *   found (ResourceNotFoundException).
 * - DescribeSecret (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html):
 *   Name is the secret's name, not its ARN; RotationEnabled is absent while "the secret has never been
 *   configured for rotation" ("Secrets Manager returns null"); VersionIdsToStages lists only versions
 *   that carry a stage, the deprecated ones stay readable by id. Every operation takes the ARN or the
 *   name as SecretId.
 * - RotateSecret (asynchronous: it answers before the rotation runs; {@link settled} waits for it):
 *   {@link rotateSecret}.
 * - GetRandomPassword: {@link randomPassword}.
 *
 * Call {@link restore} when done.
 */
export class FakeSecretsManager {
  readonly mock: AwsClientStub<SecretsManagerClient>;
  /**
   * Attempts of one rotation before Secrets Manager gives up. AWS gives no number: "If rotation fails,
   * Secrets Manager retries the entire rotation process multiple times"
   * (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html, NextRotationDate;
   * the rotation guide says the same: https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_how.html).
   * 3 is the fake's choice; tests read this field rather than assume it.
   */
  rotationAttempts = 3;
  /**
   * What the AWSPENDING version of a configuration test (RotateSecret with `RotateImmediately: false`)
   * holds. AWS says only "The test creates an AWSPENDING version of the secret and then removes it"
   * (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html,
   * RotateImmediately), and its samples point both ways: the RDS functions' test_secret logs in with
   * AWSPENDING (aws-samples/aws-secrets-manager-rotation-lambdas,
   * SecretsManagerRDSPostgreSQLRotationSingleUser/lambda_function.py), the ElastiCache user function's
   * reads AWSCURRENT only (SecretsManagerElasticacheUserRotation/lambda_function.py). So tests run it
   * both ways:
   * - `'copy'` (the default): the current value, as moto does (getmoto/moto#8547).
   * - `'empty'`: a version without a value, which GetSecretValue answers with ResourceNotFoundException,
   *   as the fake (and AWS, which the samples' create_secret rely on) does for RotateSecret's new version
   *   before createSecret. Not an empty SecretString: SecretString has a minimum length of 1
   *   (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_SecretValueEntry.html); a test
   *   that wants one writes it into {@link FakeSecret.versions} itself.
   */
  configurationTestPending: 'copy' | 'empty' = 'copy';
  /** Called after each step a RotateSecret runs (a test may look at the state in between). */
  afterStep: ((step: RotationStep, token: string) => Promise<void>) | undefined;
  /** Awaited before each GetSecretValue answers (a test may hold reads to see which are in flight together). */
  beforeGetSecretValue: ((secretId: string) => Promise<void>) | undefined;
  private readonly secrets = new Map<string, FakeSecret>();
  private readonly functions = new Map<string, { readonly handler: RotationHandler; readonly timeoutMs: number }>();
  private readonly records = new Map<string, RotationRecord[]>();
  /** Each secret's rotations, one after another (RotateSecret refuses a second while one is unfinished); secrets' in parallel. */
  private readonly queues = new Map<string, Promise<void>>();

  constructor() {
    this.mock = mockClient(SecretsManagerClient);
    this.mock.on(DescribeSecretCommand).callsFake(async (input: { SecretId: string }) => {
      const secret = this.secret(input.SecretId);
      return {
        ARN: secret.arn,
        Name: secret.name,
        ...(secret.rotationEnabled === undefined ? {} : { RotationEnabled: secret.rotationEnabled }),
        RotationLambdaARN: secret.rotationLambdaArn,
        RotationRules: secret.rotationRules,
        LastRotatedDate: secret.lastRotatedDate,
        Tags: Object.entries(secret.tags).map(([Key, Value]) => ({ Key, Value })),
        VersionIdsToStages: Object.fromEntries([...secret.versions].filter(([, v]) => v.stages.size > 0).map(([id, v]) => [id, [...v.stages]])),
      };
    });
    this.mock.on(GetSecretValueCommand).callsFake(async (input: GetSecretValueCommandInput) => {
      await this.beforeGetSecretValue?.(input.SecretId!);
      const secret = this.secret(input.SecretId!);
      const stage = input.VersionStage ?? (input.VersionId ? undefined : CURRENT);
      const entry = [...secret.versions].find(([id, v]) => (!input.VersionId || id === input.VersionId) && (!stage || v.stages.has(stage)));
      if (!entry || entry[1].value === undefined) {
        throw notFound(`Secrets Manager can't find the specified secret value for VersionId: ${input.VersionId ?? '-'}, VersionStage: ${stage ?? '-'}`);
      }
      return { ARN: secret.arn, Name: secret.name, VersionId: entry[0], SecretString: entry[1].value, VersionStages: [...entry[1].stages] };
    });
    this.mock.on(PutSecretValueCommand).callsFake(async (input: PutSecretValueCommandInput) => {
      const secret = this.secret(input.SecretId!);
      // The SDK fills an idempotency token in when the caller gives none.
      const id = input.ClientRequestToken ?? randomUUID();
      const existing = secret.versions.get(id);
      if (existing?.value !== undefined) {
        if (existing.value !== input.SecretString) {
          throw new ResourceExistsException({ message: `You can't modify an existing version (${id}); you can only create new ones.`, $metadata: {} });
        }
        return { ARN: secret.arn, Name: secret.name, VersionId: id, VersionStages: [...existing.stages] };
      }
      const first = [...secret.versions.values()].every((v) => v.value === undefined);
      const version = existing ?? { value: undefined, stages: new Set<string>() };
      version.value = input.SecretString;
      secret.versions.set(id, version);
      const stages = input.VersionStages ?? [CURRENT];
      for (const stage of first && !stages.includes(CURRENT) ? [...stages, CURRENT] : stages) this.attachStage(secret, stage, id);
      return { ARN: secret.arn, Name: secret.name, VersionId: id, VersionStages: [...version.stages] };
    });
    this.mock.on(UpdateSecretVersionStageCommand).callsFake(async (input: UpdateSecretVersionStageCommandInput) => this.updateStage(input));
    this.mock.on(GetRandomPasswordCommand).callsFake(async (input: GetRandomPasswordCommandInput) => ({ RandomPassword: randomPassword(input) }));
    this.mock.on(RotateSecretCommand).callsFake(async (input: RotateSecretCommandInput) => this.rotateSecret(input));
  }

  /**
   * Adds a secret whose AWSCURRENT version holds `value`. `rotationTag` tags it under `tagKey`
   * (the password rotation's key by default); `rotationFunction` is the Lambda function RotateSecret
   * invokes. `rotationEnabled`: true by default; false as after CancelRotateSecret; null for a secret
   * never configured for rotation (DescribeSecret omits RotationEnabled until RotateSecret).
   */
  add(
    arn: string,
    value: string,
    options: { rotationTag?: string; tagKey?: string; rotationEnabled?: boolean | null; rotationFunction?: RotationHandler } = {},
  ): FakeSecret {
    const secret: FakeSecret = {
      arn,
      name: secretName(arn),
      tags: options.rotationTag === undefined ? {} : { [options.tagKey ?? ROTATION_TAG_KEY]: options.rotationTag },
      rotationEnabled: options.rotationEnabled === null ? undefined : (options.rotationEnabled ?? true),
      rotationLambdaArn: undefined,
      rotationRules: undefined,
      lastRotatedDate: undefined,
      versions: new Map([[randomUUID(), { value, stages: new Set([CURRENT]) }]]),
    };
    if (options.rotationFunction) secret.rotationLambdaArn = this.registerFunction(options.rotationFunction);
    this.secrets.set(arn, secret);
    return secret;
  }

  /**
   * Makes `handler` invokable as a Lambda function with a timeout of `timeoutMs` (the password rotation
   * function's by default); returns its ARN (for RotateSecret's RotationLambdaARN).
   */
  registerFunction(handler: RotationHandler, timeoutMs = ROTATION_TIMING.functionTimeoutSeconds * 1_000): string {
    const lambdaArn = `arn:aws:lambda:eu-west-1:123456789012:function:rotation-${this.functions.size + 1}`;
    this.functions.set(lambdaArn, { handler, timeoutMs });
    return lambdaArn;
  }

  /** The value of the version with `stage` (AWSCURRENT by default). */
  value(arn: string, stage = CURRENT): string | undefined {
    return [...this.secret(arn).versions.values()].find((v) => v.stages.has(stage))?.value;
  }

  /** The value of version `versionId`, whatever its stages. */
  versionValue(arn: string, versionId: string): string | undefined {
    return this.secret(arn).versions.get(versionId)?.value;
  }

  /** The id of the version carrying `stage`. */
  versionId(arn: string, stage: string): string | undefined {
    return this.holder(this.secret(arn), stage);
  }

  /** The stages of version `versionId`. */
  stages(arn: string, versionId: string): string[] {
    return [...(this.secret(arn).versions.get(versionId)?.stages ?? [])].sort();
  }

  /** As RotateSecret does before invoking createSecret: a new version id carrying AWSPENDING, without a value. */
  startRotation(arn: string): string {
    const token = randomUUID();
    this.attachStage(this.secret(arn), PENDING, token);
    return token;
  }

  /** As Secrets Manager may do after finishSecret succeeded: AWSPENDING is removed. */
  endRotation(arn: string, token: string): void {
    this.secret(arn).versions.get(token)?.stages.delete(PENDING);
  }

  /**
   * The four steps of one new rotation, driven directly (one attempt, no RotateSecret): `between`
   * runs after each step, and a step's error is thrown as it is. For tests of the steps themselves.
   */
  async rotate(arn: string, handler: RotationHandler, between: (step: RotationStep) => Promise<void> = async () => {}): Promise<string> {
    const token = this.startRotation(arn);
    for (const step of ROTATION_STEPS) {
      await handler({ Step: step, SecretId: arn, ClientRequestToken: token });
      await between(step);
    }
    this.endRotation(arn, token);
    return token;
  }

  /** Resolves once every rotation RotateSecret started has ended (successfully or not). */
  async settled(): Promise<void> {
    for (let queued = [...this.queues.values()]; ; queued = [...this.queues.values()]) {
      await Promise.all(queued);
      const now = [...this.queues.values()];
      if (now.length === queued.length && now.every((q, i) => q === queued[i])) return;
    }
  }

  /** What RotateSecret did for `arn`, oldest first. */
  rotations(arn: string): readonly RotationRecord[] {
    return this.records.get(arn) ?? [];
  }

  restore(): void {
    this.mock.restore();
  }

  /**
   * UpdateSecretVersionStage's checks. AWS says that the call fails, not with which exception: "If the
   * label is attached and you either do not specify this parameter, or the version ID does not match,
   * then the operation fails" (RemoveFromVersionId,
   * https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecretVersionStage.html).
   * - RemoveFromVersionId missing: InvalidParameterException with the text AWS answers, as quoted from
   *   AWS in hashicorp/terraform-provider-aws's CHANGELOG (5.33.0, issue #19943).
   * - RemoveFromVersionId naming another version, a stage removed from a version that lacks it, neither
   *   id given: the exception is not documented; the fake answers InvalidParameterException ("The
   *   parameter name or value is invalid", among the operation's documented errors).
   * - MoveToVersionId unknown: not documented either; the fake answers the operation's
   *   ResourceNotFoundException ("Secrets Manager can't find the resource that you asked for").
   */
  private updateStage(input: UpdateSecretVersionStageCommandInput) {
    const secret = this.secret(input.SecretId!);
    const stage = input.VersionStage!;
    const holder = this.holder(secret, stage);
    if (input.MoveToVersionId) {
      if (!secret.versions.has(input.MoveToVersionId)) throw notFound(`Secrets Manager can't find the specified secret version: ${input.MoveToVersionId}`);
      if (holder !== undefined && holder !== input.MoveToVersionId && input.RemoveFromVersionId === undefined) {
        throw invalidParameter(
          `The parameter RemoveFromVersionId can't be empty. Staging label ${stage} is currently attached to version ${holder}, ` +
            'so you must explicitly reference that version in RemoveFromVersionId.',
        );
      }
      if (holder !== undefined && holder !== input.MoveToVersionId && holder !== input.RemoveFromVersionId) {
        throw invalidParameter(`RemoveFromVersionId ${input.RemoveFromVersionId} is not the version ${holder} that staging label ${stage} is attached to.`);
      }
      this.attachStage(secret, stage, input.MoveToVersionId);
    } else if (input.RemoveFromVersionId) {
      if (holder !== input.RemoveFromVersionId) throw invalidParameter(`Staging label ${stage} is not attached to version ${input.RemoveFromVersionId}.`);
      secret.versions.get(holder)!.stages.delete(stage);
    } else {
      throw invalidParameter('Specify MoveToVersionId, RemoveFromVersionId, or both.');
    }
    return { ARN: secret.arn, Name: secret.name };
  }

  /**
   * RotateSecret (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html):
   * - "If the AWSPENDING staging label is present but not attached to the same version as AWSCURRENT,
   *   then any later invocation of RotateSecret assumes that a previous rotation request is still in
   *   progress and returns an error": InvalidRequestException with the text AWS answers, as quoted in
   *   hashicorp/terraform-provider-aws's acceptance tests (internal/service/secretsmanager/secret_test.go).
   *   Nothing else happens: that Secrets Manager then runs the previous rotation again is not
   *   documented (only the message says "will be reattempted"), so the secret stays blocked until
   *   AWSPENDING is removed, the way out AWS names for an interrupted rotation ("You might need to
   *   remove the staging label AWSPENDING from the partially created version":
   *   https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CancelRotateSecret.html).
   * - `RotateImmediately: false` runs the configuration test: "The test creates an AWSPENDING version
   *   of the secret and then removes it", invoking testSecret alone. What that version holds is not
   *   documented: {@link configurationTestPending} chooses, a copy of the current value by default
   *   (as moto does, getmoto/moto#8547: "we should have the existing value when only invoking the
   *   testSecret-step") or no value. What a failed test leaves is not documented either ("When
   *   rotation is unsuccessful, the AWSPENDING staging label might be attached to an empty secret
   *   version"): the fake leaves the label, the case that blocks the next rotation.
   * - Otherwise: a new version id labelled AWSPENDING without a value, the four steps in order with
   *   that id, the whole rotation retried up to {@link rotationAttempts} times. After a successful
   *   rotation AWSPENDING "might be attached to the same version as the AWSCURRENT version, or it
   *   might not be attached to any version": the fake removes it.
   */
  private rotateSecret(input: RotateSecretCommandInput) {
    const secret = this.secret(input.SecretId!);
    const lambdaArn = input.RotationLambdaARN ?? secret.rotationLambdaArn;
    if (!lambdaArn) throw invalidRequest('No Lambda rotation function ARN is associated with this secret.');
    const fn = this.functions.get(lambdaArn);
    if (!fn) throw new Error(`FakeSecretsManager: no function registered as ${lambdaArn} (registerFunction)`);
    const pending = this.holder(secret, PENDING);
    if (pending !== undefined && pending !== this.holder(secret, CURRENT)) {
      throw invalidRequest("A previous rotation isn't complete. That rotation will be reattempted.");
    }
    secret.rotationLambdaArn = lambdaArn;
    secret.rotationRules = input.RotationRules ?? secret.rotationRules;
    secret.rotationEnabled = true;
    const token = input.ClientRequestToken ?? randomUUID();
    if (input.RotateImmediately === false) {
      secret.versions.set(token, { value: this.configurationTestPending === 'copy' ? this.value(secret.arn) : undefined, stages: new Set() });
      this.attachStage(secret, PENDING, token);
      this.run(secret, 'configuration test', token, fn);
    } else {
      this.attachStage(secret, PENDING, token);
      this.run(secret, 'rotation', token, fn);
    }
    return { ARN: secret.arn, Name: secret.name, VersionId: token };
  }

  private run(secret: FakeSecret, kind: RotationRecord['kind'], token: string, fn: { readonly handler: RotationHandler; readonly timeoutMs: number }): void {
    const record: RotationRecord = { kind, token, attempts: [], succeeded: false };
    this.records.set(secret.arn, [...this.rotations(secret.arn), record]);
    const steps: readonly RotationStep[] = kind === 'configuration test' ? ['testSecret'] : ROTATION_STEPS;
    const attempts = kind === 'configuration test' ? 1 : this.rotationAttempts;
    const job = async () => {
      for (let i = 0; i < attempts && !record.succeeded; i++) {
        const attempt: RotationRecord['attempts'][number] = { steps: [] };
        record.attempts.push(attempt);
        try {
          for (const step of steps) {
            attempt.steps.push(step);
            const event: RotationEvent = { Step: step, SecretId: secret.arn, ClientRequestToken: token };
            await fn.handler(event, invocationContext(fn.timeoutMs));
            await this.afterStep?.(step, token);
          }
          record.succeeded = true;
        } catch (error) {
          attempt.error = error;
        }
      }
      if (!record.succeeded) return;
      if (this.holder(secret, PENDING) === token) secret.versions.get(token)!.stages.delete(PENDING);
      if (kind === 'rotation') secret.lastRotatedDate = new Date();
    };
    // Asynchronous: RotateSecret has answered before its rotation starts ("starts the asynchronous process
    // of rotating the secret", API_RotateSecret). One secret's rotations one after another; AWS documents
    // nothing that orders different secrets' (each has its own schedule), so they run side by side.
    const queued = (this.queues.get(secret.arn) ?? Promise.resolve()).then(() => new Promise<void>((resolve) => setImmediate(resolve))).then(job);
    this.queues.set(secret.arn, queued);
  }

  private secret(id: string): FakeSecret {
    const secret = this.secrets.get(id) ?? [...this.secrets.values()].find((s) => s.name === id);
    if (!secret) throw notFound(`Secrets Manager can't find the specified secret: ${id}`);
    return secret;
  }

  private holder(secret: FakeSecret, stage: string): string | undefined {
    return [...secret.versions].find(([, v]) => v.stages.has(stage))?.[0];
  }

  /** Puts `stage` on `versionId` (creating an empty version if needed), off any other; AWSPREVIOUS follows a moved AWSCURRENT. */
  private attachStage(secret: FakeSecret, stage: string, versionId: string): void {
    const from = this.holder(secret, stage);
    if (from === versionId) return;
    if (from !== undefined) secret.versions.get(from)!.stages.delete(stage);
    const version = secret.versions.get(versionId) ?? { value: undefined, stages: new Set<string>() };
    version.stages.add(stage);
    secret.versions.set(versionId, version);
    if (stage === CURRENT && from !== undefined) this.attachStage(secret, PREVIOUS, from);
  }
}

/**
 * What Lambda hands a Node.js handler as its context, the part the rotation functions read:
 * "getRemainingTimeInMillis() – Returns the number of milliseconds left before the execution times
 * out" (https://docs.aws.amazon.com/lambda/latest/dg/nodejs-context.html), counted from this
 * invocation's start (Secrets Manager invokes the function once per step).
 */
function invocationContext(timeoutMs: number): RotationInvocationContext {
  const endsAt = Date.now() + timeoutMs;
  return { getRemainingTimeInMillis: () => Math.max(0, endsAt - Date.now()) };
}

/** The name in a secret's ARN: its last part without the `-` and six random characters Secrets Manager appends. */
function secretName(arn: string): string {
  const resource = arn.startsWith('arn:') ? arn.split(':').slice(6).join(':') : arn;
  return resource.replace(/-[A-Za-z0-9]{6}$/, '');
}

/**
 * GetRandomPassword (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetRandomPassword.html):
 * PasswordLength 1 to 4096, 32 when absent; uppercase and lowercase letters, numbers and the listed
 * punctuation unless excluded, a space only with IncludeSpace, no character of ExcludeCharacters;
 * RequireEachIncludedType "include at least one upper and lowercase letter, one number, and one
 * punctuation. If you don't include this switch, the password contains at least one of every
 * character type": required unless set to false. Not documented: the answer when no character is
 * left, or when the length cannot hold one of each required type; the fake answers
 * InvalidParameterException rather than loop.
 */
function randomPassword(input: GetRandomPasswordCommandInput): string {
  const length = input.PasswordLength ?? 32;
  if (length < 1 || length > 4096) throw invalidParameter(`PasswordLength ${length} is not within 1-4096.`);
  const excluded = new Set(input.ExcludeCharacters ?? '');
  const keep = (chars: string) => [...chars].filter((c) => !excluded.has(c)).join('');
  const types = [
    input.ExcludeUppercase ? '' : keep(UPPERCASE),
    input.ExcludeLowercase ? '' : keep(LOWERCASE),
    input.ExcludeNumbers ? '' : keep(DIGITS),
    input.ExcludePunctuation ? '' : keep(PUNCTUATION),
  ].filter((chars) => chars.length > 0);
  const alphabet = types.join('') + (input.IncludeSpace && !excluded.has(' ') ? ' ' : '');
  if (alphabet.length === 0) throw invalidParameter('GetRandomPassword: every character is excluded.');
  const requireEach = input.RequireEachIncludedType ?? true;
  if (requireEach && length < types.length) throw invalidParameter(`PasswordLength ${length} cannot hold one character of each of the ${types.length} included types.`);
  for (;;) {
    const password = Array.from({ length }, () => alphabet[randomInt(alphabet.length)]).join('');
    if (!requireEach || types.every((chars) => [...password].some((c) => chars.includes(c)))) return password;
  }
}
