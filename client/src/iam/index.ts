export { createIamAuthToken, type IamAuthTokenOptions } from './auth-token.js';
export type { AwsCredentials, AwsCredentialsProvider } from './aws-credentials.js';
