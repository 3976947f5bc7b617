import { Aspects, Duration, type IResource, Names, Resource, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { CfnUserGroup } from 'aws-cdk-lib/aws-elasticache';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import {
  type AclProfile,
  DEFAULT_ENVS,
  DEFAULT_USER_NAME,
  appEnvAccessString,
  appEnvIamUserName,
  appEnvUserId,
  appEnvUserName,
  defaultAdminUserId,
  defaultUserAccessString,
  defaultUserGroupId,
  keyPrefix,
  storedAccessString,
} from '@kcc-redis/client/contract';
import { AppEnvAuth, hasIamUser, hasPasswordUser } from './app-env-auth.js';
import { type KccApp, appEnvAuthsOf } from './kcc-app.js';
import { CacheEngine } from './engine.js';
import { SigningKeyEncryptionSecret } from './key-encryption-key-secret.js';
import { RbacIamUser } from './rbac-iam-user.js';
import { RbacPasswordUser } from './rbac-password-user.js';
import { KeyEncryptionKeyRotation } from './rotation/key-encryption-key-rotation.js';
import { RedisPasswordRotation } from './rotation/redis-password-rotation.js';
import { InboundRuleQuotaCheck } from './security-group-quota.js';
import { DEFAULT_KEK_ROTATION_DAYS } from './rotation/rotation-contract.js';

/**
 * A kcc-redis cache: an ElastiCache deployment whose every app-env has its own Redis user (ACL
 * namespace `<app>-<env>:`), password secret and key-encryption-key secret.
 */
export interface IKccRedisCache extends IResource, ec2.IConnectable {
  /**
   * Id of the RBAC user group attached to the cache.
   * @attribute
   */
  readonly userGroupId: string;
  /** TCP port clients connect to (a serverless cache's reader endpoint listens on the next one). */
  readonly port: number;
  /** The app-envs (`<app>-<env>`) that have a user, in config order. */
  readonly appEnvNames: readonly string[];
  /**
   * ARN of the cache (replication group or serverless cache), the resource of `elasticache:Connect`.
   * @attribute
   */
  readonly cacheArn: string;
  /**
   * Lets `grantee` read what one app-env's instances need (its user secret, when it has a password
   * user, and its key-encryption key), and nothing of the other app-envs.
   */
  grantRead(grantee: iam.IGrantable, app: string, env: string): iam.Grant;
  /**
   * Lets `grantee` log in as one app-env's IAM-authenticated user: `elasticache:Connect` on this
   * cache and on that user, nothing else. Throws a `TypeError` when the app-env has no IAM user.
   */
  grantConnect(grantee: iam.IGrantable, app: string, env: string): iam.Grant;
}

/** What every kind of kcc-redis cache shares: users, user group, secrets, security group. */
export interface KccRedisCacheBaseProps {
  readonly vpc: ec2.IVpc;
  readonly apps: readonly KccApp[];
  /** @default ['prod', 'dev'] */
  readonly envs?: readonly string[];
  /** @default - `<namespace>-admin` */
  readonly defaultUserId?: string;
  /** @default false */
  readonly defaultUserEnabled?: boolean;
  /** @default - `<namespace>-users` */
  readonly userGroupId?: string;
  /** @default CacheEngine.VALKEY */
  readonly engine?: CacheEngine;
  /** @default 'guide' */
  readonly aclProfile?: AclProfile;
  /**
   * How app-envs authenticate unless their app says otherwise: a password user, an IAM-authenticated
   * user, or both (while moving from one to the other).
   * @default AppEnvAuth.PASSWORD
   */
  readonly auth?: AppEnvAuth;
  /** @default - none besides the cache's own security group */
  readonly allowFrom?: readonly ec2.IPeer[];
  /** @default - AWS-owned keys */
  readonly encryptionKey?: kms.IKey;
  /** @default Duration.days(30) */
  readonly passwordRotation?: Duration;
  /** Time between rotations of each app-env's key-encryption key (earlier keys stay readable). @default Duration.days(90) */
  readonly kekRotation?: Duration;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
}

/** Defaults of the shared props, in one object. */
export const CACHE_BASE_DEFAULTS = {
  envs: DEFAULT_ENVS,
  defaultUserEnabled: false,
  engine: CacheEngine.VALKEY,
  aclProfile: 'guide' as AclProfile,
  auth: AppEnvAuth.PASSWORD,
  passwordRotation: Duration.days(30),
  kekRotation: Duration.days(DEFAULT_KEK_ROTATION_DAYS),
  logRetention: logs.RetentionDays.ONE_MONTH,
} as const;

/** Settings the subclass decides (after validating its props). */
export interface CacheTopology {
  /** Prefix of the stack's ElastiCache ids (the replication group id or serverless cache name); unique per account and region. */
  readonly namespace: string;
  /** Port of the (primary or only) endpoint. */
  readonly port: number;
  /** Every port clients connect to: the security group admits these and nothing else. */
  readonly ports: ec2.Port;
  readonly clusterMode: boolean;
}

/**
 * The parts every kcc-redis cache shares: a security group that admits the cache ports only (from its
 * members and `allowFrom`), the default user (disabled unless enabled), per app-env a password user
 * with its secret and/or an IAM-authenticated user, and a key-encryption-key secret, the user group,
 * and the password and key rotations. Subclasses add the cache itself (replication group, serverless cache).
 */
export abstract class KccRedisCacheBase extends Resource implements IKccRedisCache {
  readonly connections: ec2.Connections;
  readonly securityGroup: ec2.ISecurityGroup;
  readonly userGroupId: string;
  readonly port: number;
  readonly clusterMode: boolean;
  readonly appEnvNames: readonly string[];
  readonly defaultUser: RbacPasswordUser;
  /** App-env password users by user name (`<app>-<env>`); app-envs that authenticate by IAM only have none. */
  readonly appEnvUsers: ReadonlyMap<string, RbacPasswordUser>;
  /** App-env IAM-authenticated users by app-env (`<app>-<env>`); their names are `<namespace>-<app>-<env>-iam`. */
  readonly iamUsers: ReadonlyMap<string, RbacIamUser>;
  /** How each app-env (`<app>-<env>`) authenticates. */
  readonly appEnvAuth: ReadonlyMap<string, AppEnvAuth>;
  /** ARN of the cache. @attribute */
  abstract readonly cacheArn: string;
  /** The replication group id or serverless cache name: what IAM tokens are signed for. @attribute */
  abstract readonly cacheName: string;
  /** Key-encryption-key secrets of the app-envs' signing keys, by user name. */
  readonly keyEncryptionKeys: ReadonlyMap<string, SigningKeyEncryptionSecret>;
  /** Rotates the password of every user (default and app-envs). */
  readonly passwordRotation: RedisPasswordRotation;
  /** Rotates every key-encryption key, keeping the earlier ones readable. */
  readonly kekRotation: KeyEncryptionKeyRotation;
  /** Customer-managed key of the cache and the secrets, when one is given. */
  readonly encryptionKey: kms.IKey | undefined;
  protected readonly userGroup: CfnUserGroup;
  /** Prefix of this cache's ElastiCache ids (user ids, user group id): unique per account and region. */
  protected readonly namespace: string;

  protected constructor(scope: Construct, id: string, props: KccRedisCacheBaseProps, topology: (self: KccRedisCacheBase) => CacheTopology) {
    super(scope, id);
    const { namespace, port, ports: cachePort, clusterMode } = topology(this);
    const engine = props.engine ?? CACHE_BASE_DEFAULTS.engine;
    this.namespace = namespace;
    this.port = port;
    this.clusterMode = clusterMode;
    this.encryptionKey = props.encryptionKey;

    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: `kcc-redis ${namespace}: ${engine} on tcp/${cachePort.toString()} for members and allowed peers only`,
      allowAllOutbound: false,
    });
    securityGroup.connections.allowInternally(cachePort, 'Members of this group (app instances) reach the cache');
    for (const peer of props.allowFrom ?? []) securityGroup.addIngressRule(peer, cachePort, `kcc-redis clients from ${peer.uniqueId}`);
    // Each peer is one inbound rule: past Amazon VPC's default quota per IP family, a note (counted at synth, with the rules others add).
    Aspects.of(securityGroup).add(new InboundRuleQuotaCheck(securityGroup));
    this.securityGroup = securityGroup;
    this.connections = new ec2.Connections({ securityGroups: [securityGroup], defaultPort: cachePort });

    const userProps = { engine, replicationGroupId: namespace, encryptionKey: props.encryptionKey };
    this.defaultUser = new RbacPasswordUser(this, 'DefaultUser', {
      ...userProps,
      userId: props.defaultUserId ?? defaultAdminUserId(namespace),
      userName: DEFAULT_USER_NAME,
      accessString: defaultUserAccessString(props.defaultUserEnabled ?? CACHE_BASE_DEFAULTS.defaultUserEnabled),
      keyPrefix: '',
    });
    const appEnvUsers = new Map<string, RbacPasswordUser>();
    const iamUsers = new Map<string, RbacIamUser>();
    const auths = new Map<string, AppEnvAuth>();
    const keks = new Map<string, SigningKeyEncryptionSecret>();
    const appEnvs = appEnvAuthsOf(props.apps, props.envs, props.auth);
    for (const { auth, ...appEnv } of appEnvs) {
      const name = appEnvUserName(appEnv);
      auths.set(name, auth);
      // Without clearselectors and resetkeys, with resetchannels (ElastiCache's acl-pubsub-default is allchannels: storedAccessString says why); kcc-redis drift compares by meaning.
      // Both users of an app-env get the same string: the same namespace, whichever way an instance logs in.
      const accessString = storedAccessString(appEnvAccessString(appEnv, { profile: props.aclProfile ?? CACHE_BASE_DEFAULTS.aclProfile, clusterMode }));
      if (hasPasswordUser(auth)) {
        appEnvUsers.set(name, new RbacPasswordUser(this, `User-${name}`, {
          ...userProps,
          userId: appEnvUserId(namespace, appEnv),
          userName: name,
          accessString,
          keyPrefix: keyPrefix(appEnv),
        }));
      }
      if (hasIamUser(auth)) {
        iamUsers.set(name, new RbacIamUser(this, `IamUser-${name}`, {
          engine,
          userName: appEnvIamUserName(namespace, appEnv),
          accessString,
          keyPrefix: keyPrefix(appEnv),
        }));
      }
    }
    for (const name of auths.keys()) {
      keks.set(name, new SigningKeyEncryptionSecret(this, `Kek-${name}`, { appEnvName: name, encryptionKey: props.encryptionKey }));
    }
    this.appEnvUsers = appEnvUsers;
    this.iamUsers = iamUsers;
    this.appEnvAuth = auths;
    this.keyEncryptionKeys = keks;
    this.appEnvNames = [...auths.keys()];

    // IAM users have no password secret, so no rotation schedule; the function may touch password users only.
    this.passwordRotation = new RedisPasswordRotation(this, 'PasswordRotation', {
      users: [this.defaultUser, ...appEnvUsers.values()],
      automaticallyAfter: props.passwordRotation ?? CACHE_BASE_DEFAULTS.passwordRotation,
      rotationTag: namespace,
      encryptionKey: props.encryptionKey,
      logRetention: props.logRetention ?? CACHE_BASE_DEFAULTS.logRetention,
    });
    this.kekRotation = new KeyEncryptionKeyRotation(this, 'KekRotation', {
      secrets: new Map([...keks].map(([name, kek]) => [name, kek.secret])),
      automaticallyAfter: props.kekRotation ?? CACHE_BASE_DEFAULTS.kekRotation,
      rotationTag: namespace,
      encryptionKey: props.encryptionKey,
      logRetention: props.logRetention ?? CACHE_BASE_DEFAULTS.logRetention,
    });

    const users = [this.defaultUser, ...appEnvUsers.values(), ...iamUsers.values()];
    this.userGroup = new CfnUserGroup(this, 'UserGroup', {
      engine,
      userGroupId: props.userGroupId ?? defaultUserGroupId(namespace),
      // The user ids themselves, not Ref: Ref of AWS::ElastiCache::User returns its UserName (the
      // service spec's cfnRefIdentifier), which for the default user is "default", the id of
      // ElastiCache's built-in, password-less default user. The dependencies keep the creation order.
      userIds: users.map((user) => user.userId),
    });
    for (const user of users) this.userGroup.node.addDependency(user.resource);
    this.userGroupId = this.userGroup.ref;
  }

  /** The password user of one app-env; throws naming the known app-envs, or the fix when it authenticates by IAM only. */
  appEnvUser(app: string, env: string): RbacPasswordUser {
    const name = this.knownAppEnv(app, env);
    const user = this.appEnvUsers.get(name);
    if (!user) {
      throw new TypeError(`App-env "${name}" authenticates by IAM only (auth "${this.appEnvAuth.get(name)}"): it has no password user or secret; use iamUser() and grantConnect(), or give it auth "password+iam"`);
    }
    return user;
  }

  /** The IAM-authenticated user of one app-env; throws naming the known app-envs, or the fix when it has none. */
  iamUser(app: string, env: string): RbacIamUser {
    const name = this.knownAppEnv(app, env);
    const user = this.iamUsers.get(name);
    if (!user) {
      throw new TypeError(`App-env "${name}" has no IAM-authenticated user (auth "${this.appEnvAuth.get(name)}"); give its app auth "iam" (or "password+iam" while moving to it)`);
    }
    return user;
  }

  /**
   * Lets `grantee` (the app-env's instances) read what the client needs: its user secret (username,
   * password, key prefix) when it has a password user, and its key-encryption key. Nothing of other app-envs.
   */
  grantRead(grantee: iam.IGrantable, app: string, env: string): iam.Grant {
    const name = this.knownAppEnv(app, env);
    const kek = this.keyEncryptionKeys.get(name)!.secret.grantRead(grantee);
    const user = this.appEnvUsers.get(name);
    const grant = user ? user.secret.grantRead(grantee).combine(kek) : kek;
    if (!this.encryptionKey) return grant;
    // Secrets encrypted with a customer key need kms:Decrypt too. CDK's own grant cannot edit the
    // policy of a key imported by ARN and adds nothing; grant it on the principal, through Secrets Manager only.
    return grant.combine(
      iam.Grant.addToPrincipal({
        grantee,
        actions: ['kms:Decrypt'],
        resourceArns: [this.encryptionKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com` } },
      }),
    );
  }

  /**
   * Lets `grantee` (the app-env's instances) log in as the app-env's IAM-authenticated user: exactly
   * `elasticache:Connect` on this cache and on that user. ElastiCache checks both ARNs when it verifies
   * a token ("Connect" needs the cache, `replicationgroup:<id>` or `serverlesscache:<name>`, and the
   * user, `user:<id>`: https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth-iam.html).
   * Throws a `TypeError` when the app-env has no IAM user. Read the key-encryption key with {@link grantRead}.
   */
  grantConnect(grantee: iam.IGrantable, app: string, env: string): iam.Grant {
    const user = this.iamUser(app, env);
    return iam.Grant.addToPrincipal({ grantee, actions: ['elasticache:Connect'], resourceArns: [this.cacheArn, user.userArn] });
  }

  private knownAppEnv(app: string, env: string): string {
    const name = `${app}-${env}`;
    if (!this.appEnvAuth.has(name)) throw new TypeError(`No Redis user for app "${app}" env "${env}"; known: ${this.appEnvNames.join(', ')}`);
    return name;
  }
}

/**
 * What is said at synth (an info annotation, as the stack's other notes: a warning fails strict
 * synth) when the cache's name was generated from the construct's path: moving or renaming the
 * construct, or a parent, generates another name, and CloudFormation then creates a new, empty cache
 * under it (new users, new passwords) and deletes the old one; nothing collides, so nothing stops it.
 */
export function generatedNameNote(option: 'replicationGroupId' | 'serverlessCacheName', name: string): string {
  return `${option} is generated from this construct's path ("${name}"): moving or renaming the construct or a parent generates another, and a deploy then replaces the cache with an empty one (new users and passwords; the old one is deleted, with a final snapshot). Set ${option}: '${name}' to keep it`;
}

/** A default namespace unique to the construct's path: lowercase letters and digits, at most 20. */
export function generatedNamespace(scope: Construct): string {
  const name = Names.uniqueResourceName(scope, { maxLength: 20 }).toLowerCase().replace(/[^a-z0-9]/g, '');
  return /^[a-z]/.test(name) ? name : `k${name.slice(1)}`;
}
