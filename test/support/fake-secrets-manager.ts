import { randomInt, randomUUID } from 'node:crypto';
import {
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  type GetRandomPasswordCommandInput,
  GetSecretValueCommand,
  type GetSecretValueCommandInput,
  InvalidParameterException,
  PutSecretValueCommand,
  type PutSecretValueCommandInput,
  ResourceExistsException,
  ResourceNotFoundException,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
  type UpdateSecretVersionStageCommandInput,
} from '@aws-sdk/client-secrets-manager';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { ROTATION_STEPS, ROTATION_TAG_KEY } from '../../infra/rotation/rotation-contract.js';
import type { RotationEvent } from '../../infra/rotation/rotation-handler.js';

/** One stored secret of the fake. */
export interface FakeSecret {
  readonly arn: string;
  tags: Record<string, string>;
  rotationEnabled: boolean;
  /** Version id → value (undefined while RotateSecret's new version has no value yet) and stages. */
  readonly versions: Map<string, { value: string | undefined; stages: Set<string> }>;
}

const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';
const PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

const notFound = (message: string) => new ResourceNotFoundException({ message, $metadata: {} });

/**
 * An in-memory Secrets Manager behind aws-sdk-client-mock (every SecretsManagerClient in the
 * process talks to it): DescribeSecret, GetSecretValue, PutSecretValue, UpdateSecretVersionStage
 * and GetRandomPassword with the semantics a rotation relies on (AWSPREVIOUS follows AWSCURRENT,
 * PutSecretValue is idempotent per token, RotateSecret's pending version has no value yet).
 * Call {@link restore} when done.
 */
export class FakeSecretsManager {
  readonly mock: AwsClientStub<SecretsManagerClient>;
  private readonly secrets = new Map<string, FakeSecret>();

  constructor() {
    this.mock = mockClient(SecretsManagerClient);
    this.mock.on(DescribeSecretCommand).callsFake(async (input: { SecretId: string }) => {
      const secret = this.secret(input.SecretId);
      return {
        ARN: secret.arn,
        RotationEnabled: secret.rotationEnabled,
        Tags: Object.entries(secret.tags).map(([Key, Value]) => ({ Key, Value })),
        VersionIdsToStages: Object.fromEntries([...secret.versions].filter(([, v]) => v.stages.size > 0).map(([id, v]) => [id, [...v.stages]])),
      };
    });
    this.mock.on(GetSecretValueCommand).callsFake(async (input: GetSecretValueCommandInput) => {
      const secret = this.secret(input.SecretId!);
      const stage = input.VersionStage ?? (input.VersionId ? undefined : 'AWSCURRENT');
      const entry = [...secret.versions].find(([id, v]) => (!input.VersionId || id === input.VersionId) && (!stage || v.stages.has(stage)));
      if (!entry || entry[1].value === undefined) {
        throw notFound(`Secrets Manager can't find the specified secret value for VersionId: ${input.VersionId ?? '-'}, VersionStage: ${stage ?? '-'}`);
      }
      return { ARN: secret.arn, VersionId: entry[0], SecretString: entry[1].value, VersionStages: [...entry[1].stages] };
    });
    this.mock.on(PutSecretValueCommand).callsFake(async (input: PutSecretValueCommandInput) => {
      const secret = this.secret(input.SecretId!);
      const id = input.ClientRequestToken!;
      const existing = secret.versions.get(id);
      if (existing?.value !== undefined && existing.value !== input.SecretString) {
        throw new ResourceExistsException({ message: `version ${id} already exists with another value`, $metadata: {} });
      }
      const version = existing ?? { value: undefined, stages: new Set<string>() };
      version.value = input.SecretString;
      secret.versions.set(id, version);
      for (const stage of input.VersionStages ?? ['AWSCURRENT']) this.moveStage(secret, stage, id);
      return { ARN: secret.arn, VersionId: id, VersionStages: [...version.stages] };
    });
    this.mock.on(UpdateSecretVersionStageCommand).callsFake(async (input: UpdateSecretVersionStageCommandInput) => {
      const secret = this.secret(input.SecretId!);
      const holder = [...secret.versions].find(([, v]) => v.stages.has(input.VersionStage!))?.[0];
      if (holder !== undefined && holder !== input.RemoveFromVersionId && holder !== input.MoveToVersionId) {
        throw new InvalidParameterException({ message: `${input.VersionStage} is on version ${holder}, not on ${input.RemoveFromVersionId}`, $metadata: {} });
      }
      if (input.MoveToVersionId) {
        if (!secret.versions.has(input.MoveToVersionId)) throw notFound(`no version ${input.MoveToVersionId}`);
        if (input.VersionStage === 'AWSCURRENT' && holder !== undefined && holder !== input.MoveToVersionId) this.moveStage(secret, 'AWSPREVIOUS', holder);
        this.moveStage(secret, input.VersionStage!, input.MoveToVersionId);
      } else if (input.RemoveFromVersionId) {
        secret.versions.get(input.RemoveFromVersionId)?.stages.delete(input.VersionStage!);
      }
      return { ARN: secret.arn, Name: secret.arn };
    });
    this.mock.on(GetRandomPasswordCommand).callsFake(async (input: GetRandomPasswordCommandInput) => ({ RandomPassword: randomPassword(input) }));
  }

  /** Adds a secret whose AWSCURRENT version holds `value`, tagged for the rotation with `rotationTag`. */
  add(arn: string, value: string, options: { rotationTag?: string; rotationEnabled?: boolean } = {}): FakeSecret {
    const secret: FakeSecret = {
      arn,
      tags: options.rotationTag === undefined ? {} : { [ROTATION_TAG_KEY]: options.rotationTag },
      rotationEnabled: options.rotationEnabled ?? true,
      versions: new Map([[randomUUID(), { value, stages: new Set(['AWSCURRENT']) }]]),
    };
    this.secrets.set(arn, secret);
    return secret;
  }

  /** The value of the version with `stage` (AWSCURRENT by default). */
  value(arn: string, stage = 'AWSCURRENT'): string | undefined {
    return [...this.secret(arn).versions.values()].find((v) => v.stages.has(stage))?.value;
  }

  /** The id of the version carrying `stage`. */
  versionId(arn: string, stage: string): string | undefined {
    return [...this.secret(arn).versions].find(([, v]) => v.stages.has(stage))?.[0];
  }

  /** The stages of version `versionId`. */
  stages(arn: string, versionId: string): string[] {
    return [...(this.secret(arn).versions.get(versionId)?.stages ?? [])].sort();
  }

  /** As RotateSecret does before invoking createSecret: a new version id carrying AWSPENDING, without a value. */
  startRotation(arn: string): string {
    const token = randomUUID();
    this.moveStage(this.secret(arn), 'AWSPENDING', token);
    return token;
  }

  /** As Secrets Manager does after finishSecret succeeded: AWSPENDING is removed. */
  endRotation(arn: string, token: string): void {
    this.secret(arn).versions.get(token)?.stages.delete('AWSPENDING');
  }

  /** A whole rotation as Secrets Manager drives it: the four steps in order, `between` after each. */
  async rotate(
    arn: string,
    handler: (event: RotationEvent) => Promise<void>,
    between: (step: (typeof ROTATION_STEPS)[number]) => Promise<void> = async () => {},
  ): Promise<string> {
    const token = this.startRotation(arn);
    for (const step of ROTATION_STEPS) {
      await handler({ Step: step, SecretId: arn, ClientRequestToken: token });
      await between(step);
    }
    this.endRotation(arn, token);
    return token;
  }

  restore(): void {
    this.mock.restore();
  }

  private secret(id: string): FakeSecret {
    const secret = this.secrets.get(id);
    if (!secret) throw notFound(`Secrets Manager can't find the specified secret: ${id}`);
    return secret;
  }

  private moveStage(secret: FakeSecret, stage: string, versionId: string): void {
    for (const version of secret.versions.values()) version.stages.delete(stage);
    const version = secret.versions.get(versionId) ?? { value: undefined, stages: new Set<string>() };
    version.stages.add(stage);
    secret.versions.set(versionId, version);
  }
}

function randomPassword(input: GetRandomPasswordCommandInput): string {
  const alphabet = LETTERS + DIGITS + (input.ExcludePunctuation ? '' : PUNCTUATION) + (input.IncludeSpace ? ' ' : '');
  const length = input.PasswordLength ?? 32;
  for (;;) {
    const password = Array.from({ length }, () => alphabet[randomInt(alphabet.length)]).join('');
    const kinds = [/[A-Z]/, /[a-z]/, /[0-9]/];
    if (!input.RequireEachIncludedType || kinds.every((kind) => kind.test(password))) return password;
  }
}
