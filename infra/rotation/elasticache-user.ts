import { DescribeUsersCommand, type ElastiCacheClient, ModifyUserCommand, type User } from '@aws-sdk/client-elasticache';
import { KccRotationError } from '../errors.js';
import { type RetryPolicy, callAws, errorName } from './aws-call.js';

/** What the user operations need besides the client: a clock, a sleep, a deadline, retries. */
export interface UserOperationOptions {
  /** Names the secret and step in errors, e.g. `secret arn:… (setSecret)`. */
  readonly where: string;
  /** Epoch ms after which waiting for `active` gives up (shared by every wait of one step). */
  readonly deadline: number;
  readonly pollIntervalMs: number;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly retry: RetryPolicy;
}

const USER_ARN = /^arn:aws[a-z-]*:elasticache:[a-z0-9-]+:\d{12}:user:([a-z][a-z0-9-]*)$/;

/** The ElastiCache user id inside a user ARN (`arn:aws:elasticache:<region>:<account>:user:<id>`). */
export function userIdFromArn(userArn: string, where: string): string {
  const id = USER_ARN.exec(userArn)?.[1];
  if (!id) {
    throw new KccRotationError(
      'KCC_ROTATION_SECRET_INVALID',
      `${where}: field "userArn" is "${userArn}", not an ElastiCache user ARN (arn:aws:elasticache:<region>:<account>:user:<id>); ` +
        'the secret must be the one the kcc-redis stack wrote for that user',
    );
  }
  return id;
}

/**
 * One ElastiCache RBAC user as the rotation sees it: described, waited for, given passwords.
 * Passwords pass through {@link setPasswords} only, and are blanked out of any error.
 */
export class ElastiCacheUser {
  constructor(
    private readonly client: ElastiCacheClient,
    readonly userId: string,
    private readonly options: UserOperationOptions,
  ) {}

  private get where(): string {
    return `${this.options.where}, user "${this.userId}"`;
  }

  /** The user as DescribeUsers reports it; a missing user is a {@link KccRotationError}. */
  async describe(): Promise<User> {
    const response = await callAws(
      'DescribeUsers',
      async () => {
        try {
          return await this.client.send(new DescribeUsersCommand({ UserId: this.userId }));
        } catch (error) {
          if (errorName(error) === 'UserNotFoundFault') return { Users: [] };
          throw error;
        }
      },
      { where: this.where, retry: this.options.retry },
    );
    const user = response.Users?.find((u) => u.UserId === this.userId);
    if (!user) {
      throw new KccRotationError(
        'KCC_ROTATION_USER_INVALID',
        `${this.where}: ElastiCache has no user "${this.userId}" (the secret's userArn names it); ` +
          'was the user deleted or renamed outside the stack? Redeploy the stack, then rotate again',
      );
    }
    return user;
  }

  /**
   * Polls DescribeUsers until the user is `active`, within the step's deadline.
   * @throws KccRotationError `KCC_ROTATION_USER_NOT_ACTIVE` naming the user and its last status.
   */
  async waitUntilActive(): Promise<User> {
    const { deadline, now, sleep, pollIntervalMs } = this.options;
    const started = now();
    for (;;) {
      const user = await this.describe();
      if (user.Status === 'active') return user;
      if (now() + pollIntervalMs > deadline) {
        const waitedSeconds = Math.round((now() - started) / 1000);
        throw new KccRotationError(
          'KCC_ROTATION_USER_NOT_ACTIVE',
          `${this.where}: the ElastiCache user is still "${user.Status ?? 'unknown'}" after ${waitedSeconds} s (expected "active"). ` +
            'Another change may be in progress on the user or its replication group; Secrets Manager retries the rotation, ' +
            `or rotate again once \`aws elasticache describe-users --user-id ${this.userId}\` shows "active"`,
        );
      }
      await sleep(pollIntervalMs);
    }
  }

  /**
   * Asks ElastiCache to replace the user's passwords (ModifyUser accepts one or two): waits until the
   * user is `active` (ModifyUser refuses a user that is `modifying`), then calls ModifyUser, retrying
   * throttling and a user caught `modifying`. Returns once ModifyUser is accepted; the user is
   * `modifying` until the change reached every node (see {@link waitUntilActive}).
   */
  async requestPasswords(passwords: readonly string[]): Promise<void> {
    await this.waitUntilActive();
    await callAws('ModifyUser', () => this.client.send(new ModifyUserCommand({ UserId: this.userId, Passwords: [...passwords] })), {
      where: this.where,
      redact: passwords,
      retry: this.options.retry,
      retryOn: ['InvalidUserStateFault'],
    });
  }

  /** {@link requestPasswords}, then waits until the user is `active` again: the passwords are in place. */
  async setPasswords(passwords: readonly string[]): Promise<User> {
    await this.requestPasswords(passwords);
    return this.waitUntilActive();
  }
}
