import {
  type DescribeSecretCommandOutput,
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { KccRotationError } from '../errors.js';
import { callAws, errorName } from './aws-call.js';
import { STAGE } from './rotation-contract.js';

/** How one kind of secret is read: its parser, and which of its values must never reach a message. */
export interface SecretFormat<T> {
  /** The shape the stack writes, for error messages, e.g. `{ "v": 1, "kek": "…", "previous": [] }`. */
  readonly expected: string;
  /** Parses a SecretString; throws an error that names fields, never values. */
  readonly parse: (secretString: string | undefined) => T;
  /** The secret values inside a parsed secret (passwords, keys): blanked out of any error. */
  readonly values: (secret: T) => readonly string[];
}

/** One version of a secret: the parsed value, and the whole JSON object (fields added later survive rotation). */
export interface SecretVersion<T> {
  readonly versionId: string;
  readonly value: T;
  readonly json: Readonly<Record<string, unknown>>;
}

/**
 * The Secrets Manager side of one rotation: the secret's versions, read in one {@link SecretFormat}
 * and written back. Values never reach a message; errors name the ARN and the version.
 *
 * Semantics relied on (Secrets Manager API reference, https://docs.aws.amazon.com/secretsmanager/latest/apireference/):
 * a version's value never changes (PutSecretValue with an existing ClientRequestToken and another
 * value fails; with the same value it does nothing); GetSecretValue with both VersionId and
 * VersionStage must name the same version; moving AWSCURRENT moves AWSPREVIOUS to the version it left.
 */
export class SecretVersions<T> {
  constructor(
    private readonly client: SecretsManagerClient,
    readonly secretArn: string,
    private readonly format: SecretFormat<T>,
    /** Names the secret and step in errors, e.g. `secret arn:… (createSecret)`. */
    private readonly where: string,
    /** Collects every secret value read or generated, so that the handler can blank them out of any error. */
    private readonly seen: Set<string>,
  ) {}

  /** DescribeSecret: tags, rotation flag, and which stages each version carries. */
  describe(): Promise<DescribeSecretCommandOutput> {
    return callAws('DescribeSecret', () => this.client.send(new DescribeSecretCommand({ SecretId: this.secretArn })), { where: this.where });
  }

  /** The version carrying AWSCURRENT. */
  current(): Promise<SecretVersion<T>> {
    return this.read(STAGE.current).then((version) => version ?? this.missing(STAGE.current));
  }

  /** Version `versionId` if it carries `stage` and has a value; `undefined` otherwise. */
  find(versionId: string, stage: string): Promise<SecretVersion<T> | undefined> {
    return this.read(stage, versionId);
  }

  /** Version `versionId`, which must exist (with `stage` when given). */
  async get(versionId: string, stage?: string): Promise<SecretVersion<T>> {
    return (await this.read(stage, versionId)) ?? this.missing(stage ?? 'any stage', versionId);
  }

  /**
   * A new random string from Secrets Manager: `length` letters and digits, at least one of each kind.
   * @throws KccRotationError when Secrets Manager returns anything else (never echoing it).
   */
  async randomAlphanumeric(length: number): Promise<string> {
    const response = await callAws(
      'GetRandomPassword',
      () =>
        this.client.send(
          new GetRandomPasswordCommand({ PasswordLength: length, ExcludePunctuation: true, IncludeSpace: false, RequireEachIncludedType: true }),
        ),
      { where: this.where },
    );
    const value = response.RandomPassword ?? '';
    this.seen.add(value);
    if (!new RegExp(`^[A-Za-z0-9]{${length}}$`).test(value)) {
      throw new KccRotationError(
        'KCC_ROTATION_AWS_FAILED',
        `GetRandomPassword for ${this.where} returned ${value.length} characters that are not ${length} letters and digits; rotate again`,
      );
    }
    return value;
  }

  /** Stores `json` as version `versionId` with AWSPENDING (idempotent for the same token and value). */
  async putPending(versionId: string, json: Readonly<Record<string, unknown>>, secretValues: readonly string[]): Promise<void> {
    await callAws(
      'PutSecretValue',
      () =>
        this.client.send(
          new PutSecretValueCommand({ SecretId: this.secretArn, ClientRequestToken: versionId, SecretString: JSON.stringify(json), VersionStages: [STAGE.pending] }),
        ),
      { where: this.where, redact: secretValues },
    );
  }

  /** Removes AWSPENDING from `versionId`: the version no longer blocks the next rotation (it stays readable by id). */
  async removePending(versionId: string): Promise<void> {
    await callAws(
      'UpdateSecretVersionStage',
      () => this.client.send(new UpdateSecretVersionStageCommand({ SecretId: this.secretArn, VersionStage: STAGE.pending, RemoveFromVersionId: versionId })),
      { where: this.where },
    );
  }

  /** Moves AWSCURRENT from `fromVersionId` to `toVersionId` (Secrets Manager then labels the old one AWSPREVIOUS). */
  async moveCurrent(toVersionId: string, fromVersionId: string): Promise<void> {
    await callAws(
      'UpdateSecretVersionStage',
      () =>
        this.client.send(
          new UpdateSecretVersionStageCommand({ SecretId: this.secretArn, VersionStage: STAGE.current, MoveToVersionId: toVersionId, RemoveFromVersionId: fromVersionId }),
        ),
      { where: this.where },
    );
  }

  private async read(stage: string | undefined, versionId?: string): Promise<SecretVersion<T> | undefined> {
    const response = await callAws(
      'GetSecretValue',
      async () => {
        try {
          return await this.client.send(new GetSecretValueCommand({ SecretId: this.secretArn, VersionStage: stage, VersionId: versionId }));
        } catch (error) {
          // Also what a version without a value answers (RotateSecret labels the new id AWSPENDING before createSecret).
          if (errorName(error) === 'ResourceNotFoundException') return undefined;
          throw error;
        }
      },
      { where: this.where },
    );
    if (!response) return undefined;
    const label = `version ${response.VersionId ?? versionId ?? '?'}${stage ? ` (${stage})` : ''}`;
    let value: T;
    try {
      value = this.format.parse(response.SecretString);
    } catch (error) {
      // The formats' parsers name missing or mistyped fields, never values.
      throw new KccRotationError('KCC_ROTATION_SECRET_INVALID', `${this.where}: ${label}: ${(error as Error).message}; the kcc-redis stack writes ${this.format.expected}`);
    }
    for (const secret of this.format.values(value)) this.seen.add(secret);
    const json = JSON.parse(response.SecretString as string) as Record<string, unknown>;
    return { versionId: response.VersionId ?? versionId ?? '', value, json };
  }

  private missing(stage: string, versionId?: string): never {
    throw new KccRotationError(
      'KCC_ROTATION_WRONG_STAGE',
      `${this.where}: no version${versionId ? ` ${versionId}` : ''} with stage ${stage}; ` +
        (stage === STAGE.pending ? 'createSecret must run first (Secrets Manager restarts the rotation)' : 'the secret has no current value'),
    );
  }
}
