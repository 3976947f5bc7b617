import {
  type DescribeSecretCommandOutput,
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { type RedisUserSecret, USER_SECRET_PASSWORD_FIELD, parseRedisUserSecret } from '@kcc-redis/client/contract';
import { KccRotationError } from '../errors.js';
import { callAws, errorName } from './aws-call.js';
import { ROTATED_PASSWORD_LENGTH, STAGE } from './rotation-contract.js';

/** One version of a user secret: the validated fields, plus the whole JSON object (fields added later survive rotation). */
export interface UserSecretVersion {
  readonly versionId: string;
  readonly secret: RedisUserSecret;
  readonly json: Readonly<Record<string, unknown>>;
}

const ALPHANUMERIC = new RegExp(`^[A-Za-z0-9]{${ROTATED_PASSWORD_LENGTH}}$`);

/**
 * The Secrets Manager side of one rotation: the secret's versions, read and written in the
 * {@link RedisUserSecret} shape. Values never reach a message; errors name the ARN and the version.
 */
export class SecretVersions {
  constructor(
    private readonly client: SecretsManagerClient,
    readonly secretArn: string,
    /** Names the secret and step in errors, e.g. `secret arn:… (createSecret)`. */
    private readonly where: string,
    /** Collects every password read or generated, so that the handler can blank them out of any error. */
    private readonly seen: Set<string>,
  ) {}

  /** DescribeSecret: tags, rotation flag, and which stages each version carries. */
  describe(): Promise<DescribeSecretCommandOutput> {
    return callAws('DescribeSecret', () => this.client.send(new DescribeSecretCommand({ SecretId: this.secretArn })), { where: this.where });
  }

  /** The version carrying AWSCURRENT. */
  current(): Promise<UserSecretVersion> {
    return this.read(STAGE.current).then((version) => version ?? this.missing(STAGE.current));
  }

  /** Version `versionId` if it carries `stage`; `undefined` when there is no such version. */
  find(versionId: string, stage: string): Promise<UserSecretVersion | undefined> {
    return this.read(stage, versionId);
  }

  /** Version `versionId`, which must exist (with `stage` when given). */
  async get(versionId: string, stage?: string): Promise<UserSecretVersion> {
    return (await this.read(stage, versionId)) ?? this.missing(stage ?? 'any stage', versionId);
  }

  /** A new password from Secrets Manager: 64 letters and digits, at least one of each kind. */
  async randomPassword(): Promise<string> {
    const response = await callAws(
      'GetRandomPassword',
      () =>
        this.client.send(
          new GetRandomPasswordCommand({
            PasswordLength: ROTATED_PASSWORD_LENGTH,
            ExcludePunctuation: true,
            IncludeSpace: false,
            RequireEachIncludedType: true,
          }),
        ),
      { where: this.where },
    );
    const password = response.RandomPassword ?? '';
    this.seen.add(password);
    if (!ALPHANUMERIC.test(password)) {
      throw new KccRotationError(
        'KCC_ROTATION_AWS_FAILED',
        `GetRandomPassword for ${this.where} returned ${password.length} characters that are not ${ROTATED_PASSWORD_LENGTH} letters and digits; rotate again`,
      );
    }
    return password;
  }

  /** Stores `json` as version `versionId` with AWSPENDING (idempotent for the same token and value). */
  async putPending(versionId: string, json: Readonly<Record<string, unknown>>, password: string): Promise<void> {
    await callAws(
      'PutSecretValue',
      () =>
        this.client.send(
          new PutSecretValueCommand({
            SecretId: this.secretArn,
            ClientRequestToken: versionId,
            SecretString: JSON.stringify(json),
            VersionStages: [STAGE.pending],
          }),
        ),
      { where: this.where, redact: [password] },
    );
  }

  /** Moves AWSCURRENT from `fromVersionId` to `toVersionId` (Secrets Manager then labels the old one AWSPREVIOUS). */
  async moveCurrent(toVersionId: string, fromVersionId: string): Promise<void> {
    await callAws(
      'UpdateSecretVersionStage',
      () =>
        this.client.send(
          new UpdateSecretVersionStageCommand({
            SecretId: this.secretArn,
            VersionStage: STAGE.current,
            MoveToVersionId: toVersionId,
            RemoveFromVersionId: fromVersionId,
          }),
        ),
      { where: this.where },
    );
  }

  private async read(stage: string | undefined, versionId?: string): Promise<UserSecretVersion | undefined> {
    const response = await callAws(
      'GetSecretValue',
      async () => {
        try {
          return await this.client.send(new GetSecretValueCommand({ SecretId: this.secretArn, VersionStage: stage, VersionId: versionId }));
        } catch (error) {
          if (errorName(error) === 'ResourceNotFoundException') return undefined;
          throw error;
        }
      },
      { where: this.where },
    );
    if (!response) return undefined;
    const label = `version ${response.VersionId ?? versionId ?? '?'}${stage ? ` (${stage})` : ''}`;
    let secret: RedisUserSecret;
    try {
      secret = parseRedisUserSecret(response.SecretString);
    } catch (error) {
      // parseRedisUserSecret names missing fields, never values.
      throw new KccRotationError(
        'KCC_ROTATION_SECRET_INVALID',
        `${this.where}: ${label}: ${(error as Error).message}; the kcc-redis stack writes { username, ${USER_SECRET_PASSWORD_FIELD}, keyPrefix, userArn, replicationGroupId }`,
      );
    }
    this.seen.add(secret.password);
    const json = JSON.parse(response.SecretString as string) as Record<string, unknown>;
    return { versionId: response.VersionId ?? versionId ?? '', secret, json };
  }

  private missing(stage: string, versionId?: string): never {
    throw new KccRotationError(
      'KCC_ROTATION_WRONG_STAGE',
      `${this.where}: no version${versionId ? ` ${versionId}` : ''} with stage ${stage}; ` +
        (stage === STAGE.pending ? 'createSecret must run first (Secrets Manager restarts the rotation)' : 'the secret has no current value'),
    );
  }
}
