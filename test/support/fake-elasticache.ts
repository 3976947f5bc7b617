import {
  DescribeUsersCommand,
  ElastiCacheClient,
  InvalidParameterValueException,
  InvalidUserStateFault,
  ModifyUserCommand,
  type ModifyUserCommandInput,
  UserNotFoundFault,
} from '@aws-sdk/client-elasticache';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';

/** One RBAC user of the fake control plane. */
export interface FakeUser {
  readonly userId: string;
  userName: string;
  readonly arn: string;
  status: string;
  authentication: 'password' | 'iam' | 'no-password';
  passwords: readonly string[];
}

/**
 * The ElastiCache control plane for RBAC users behind aws-sdk-client-mock: DescribeUsers and
 * ModifyUser, as the ElastiCache API reference describes them (Status "active", "modifying" or
 * "deleting"; ModifyUser refuses a user that is not active with InvalidUserStateFault, takes one or
 * two passwords, and answers while the user is `modifying`). ModifyUser hands the passwords to
 * {@link applyPasswords} (a real Redis in the rehearsal) and reports `active` again once that is done
 * and {@link modifyingPolls} more DescribeUsers calls have seen it modifying. Call {@link restore} when done.
 */
export class FakeElastiCache {
  readonly mock: AwsClientStub<ElastiCacheClient>;
  readonly users = new Map<string, FakeUser>();
  /** Where ModifyUser's passwords go. @default nowhere (the fake only records them) */
  applyPasswords: (userId: string, passwords: readonly string[]) => Promise<void> = async () => {};
  /** DescribeUsers calls that report `modifying` after a ModifyUser before `active`. */
  modifyingPolls = 1;
  /** A user that never leaves `modifying` (an operation stuck on AWS's side). */
  stuck = false;
  /** Errors the next ModifyUser calls throw, one each, before the fake behaves again (a function sees the input). */
  readonly modifyUserFailures: Array<Error | ((input: ModifyUserCommandInput) => Error)> = [];
  private readonly applying = new Map<string, { done: boolean; promise: Promise<void>; pollsLeft: number }>();

  constructor() {
    this.mock = mockClient(ElastiCacheClient);
    this.mock.on(DescribeUsersCommand).callsFake(async (input: { UserId?: string }) => {
      const user = this.user(input.UserId ?? '');
      const change = this.applying.get(user.userId);
      if (user.status === 'modifying' && change?.done && !this.stuck && change.pollsLeft-- <= 0) user.status = 'active';
      return {
        Users: [
          {
            UserId: user.userId,
            UserName: user.userName,
            Status: user.status,
            Engine: 'valkey',
            ARN: user.arn,
            Authentication: { Type: user.authentication, PasswordCount: user.passwords.length },
          },
        ],
      };
    });
    this.mock.on(ModifyUserCommand).callsFake(async (input: ModifyUserCommandInput) => {
      const failure = this.modifyUserFailures.shift();
      if (failure) throw typeof failure === 'function' ? failure(input) : failure;
      const user = this.user(input.UserId ?? '');
      if (user.status !== 'active') {
        throw new InvalidUserStateFault({ message: `User ${user.userId} is not in active state.`, $metadata: {} });
      }
      const passwords = [...(input.Passwords ?? [])];
      // ModifyUser: "The passwords belonging to the user. You are allowed up to two." (ElastiCache API reference)
      if (passwords.length < 1 || passwords.length > 2) {
        throw new InvalidParameterValueException({ message: `Passwords: ${passwords.length} given; a user has one or two.`, $metadata: {} });
      }
      user.status = 'modifying';
      const change = { done: false, pollsLeft: this.modifyingPolls, promise: Promise.resolve() };
      change.promise = this.applyPasswords(user.userId, passwords).then(() => {
        user.passwords = passwords;
        change.done = true;
      });
      this.applying.set(user.userId, change);
      return { UserId: user.userId, UserName: user.userName, Status: 'modifying', ARN: user.arn };
    });
  }

  /** Adds an active password user. */
  add(userId: string, arn: string, passwords: readonly string[], userName = userId): FakeUser {
    const user: FakeUser = { userId, userName, arn, status: 'active', authentication: 'password', passwords };
    this.users.set(userId, user);
    return user;
  }

  /** Resolves once every password change handed to {@link applyPasswords} has been applied (an event, not a sleep). */
  async settled(): Promise<void> {
    await Promise.all([...this.applying.values()].map((change) => change.promise));
  }

  restore(): void {
    this.mock.restore();
  }

  private user(userId: string): FakeUser {
    const user = this.users.get(userId);
    if (!user) throw new UserNotFoundFault({ message: `User ${userId} not found.`, $metadata: {} });
    return user;
  }
}
