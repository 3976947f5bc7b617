import { Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { Construct } from 'constructs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KccRedisCache, KccRedisNetwork, acknowledgeNagFindings } from '../../infra/index.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPOSITORY_ROOT = join(HERE, '..', '..');

/**
 * A service of your own next to its cache: a new VPC with the Secrets Manager and ElastiCache
 * endpoints, a {@link KccRedisCache} for the `orders` app (prod only), and a Lambda function in the
 * VPC that is let through the cache's security group (`connections`) and may read its own secrets
 * (`grantRead`), nothing else.
 */
export class OrdersStack extends Stack {
  readonly cache: KccRedisCache;
  readonly fn: NodejsFunction;

  constructor(scope: Construct, id: string, props: StackProps = {}) {
    super(scope, id, props);
    const network = new KccRedisNetwork(this, 'Network', { interfaceEndpoints: true });
    this.cache = new KccRedisCache(this, 'Cache', {
      vpc: network.vpc,
      apps: [{ name: 'orders', envs: ['prod'] }],
      replicationGroupId: 'orders-cache',
    });
    acknowledgeNagFindings({ cache: this.cache });

    this.fn = new NodejsFunction(this, 'Orders', {
      entry: join(HERE, 'handler.ts'),
      projectRoot: REPOSITORY_ROOT,
      depsLockFilePath: join(REPOSITORY_ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      timeout: Duration.seconds(10),
      vpc: network.vpc,
      vpcSubnets: network.vpcSubnets,
      environment: {
        KCC_REDIS_SECRET_ID: this.cache.appEnvUser('orders', 'prod').secret.secretArn,
        KCC_KEYRING_KEK_SECRET_ID: this.cache.keyEncryptionKeys.get('orders-prod')!.secret.secretArn,
        KCC_REDIS_URL: `rediss://${this.cache.resource.attrPrimaryEndPointAddress}:${this.cache.port}`,
      },
      bundling: { format: OutputFormat.CJS, minify: true, esbuildArgs: { '--conditions': 'kcc-redis-source' } },
    });
    this.cache.connections.allowDefaultPortFrom(this.fn);
    this.cache.grantRead(this.fn, 'orders', 'prod');

    const reason =
      "The function's role carries Lambda's AWS-managed basic execution and VPC access policies: its logs, and the " +
      'network interfaces of a function in a VPC, whose EC2 actions take no resource-level permissions.';
    for (const policy of ['AWSLambdaBasicExecutionRole', 'AWSLambdaVPCAccessExecutionRole']) {
      Validations.of(this.fn.role!).acknowledge({ id: `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/${policy}]`, reason });
    }
  }
}
