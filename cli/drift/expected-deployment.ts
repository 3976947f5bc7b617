import {
  DEFAULT_USER_NAME,
  appEnvAccessString,
  appEnvUserId,
  appEnvUserName,
  defaultAdminUserId,
  defaultUserAccessString,
  defaultUserGroupId,
  storedAccessString,
} from '@kcc-redis/client/contract';
import type { KccConfig } from '../../infra/config.js';

/** An ElastiCache user as the stack creates it. */
export interface ExpectedUser {
  readonly userId: string;
  readonly userName: string;
  /** As ElastiCache stores it (no directives). */
  readonly accessString: string;
  readonly role: 'default user' | 'app user';
}

/** What the config would deploy, in the terms the ElastiCache API describes. */
export interface ExpectedDeployment {
  readonly replicationGroupId: string;
  readonly userGroupId: string;
  readonly users: readonly ExpectedUser[];
  readonly engine: string;
  /** `major.minor`, as the config takes it. */
  readonly engineVersion: string;
  readonly clusterMode: boolean;
}

/** The deployment the stack builds from `config`: the same contract functions the construct calls. */
export function expectedDeployment(config: KccConfig): ExpectedDeployment {
  const rg = config.replicationGroupId;
  const clusterMode = config.shards > 1;
  const users: ExpectedUser[] = [
    { userId: config.defaultUserId ?? defaultAdminUserId(rg), userName: DEFAULT_USER_NAME, accessString: defaultUserAccessString(config.defaultUserEnabled), role: 'default user' },
    ...config.appEnvs.map((appEnv) => ({
      userId: appEnvUserId(rg, appEnv),
      userName: appEnvUserName(appEnv),
      accessString: storedAccessString(appEnvAccessString(appEnv, { profile: config.aclProfile, clusterMode })),
      role: 'app user' as const,
    })),
  ];
  return {
    replicationGroupId: rg,
    userGroupId: config.userGroupId ?? defaultUserGroupId(rg),
    users,
    engine: config.engine,
    engineVersion: config.engineVersion,
    clusterMode,
  };
}
