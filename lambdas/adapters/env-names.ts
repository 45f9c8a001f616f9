/**
 * Where a function finds the resources it was deployed with; the CDK stack and the local stack set them.
 * Tunable limits and token checks are settings (lambdas/settings.ts), not wiring.
 */
export const envNames = {
  tableName: 'TABLE_NAME',
  bucketName: 'BUCKET_NAME',
  /** https://{api-id}.execute-api.{region}.amazonaws.com/{stage}, or the local gateway's URL. */
  callbackUrl: 'WS_CALLBACK_URL',
  /** The fan-out worker's function name, for functions that hand slices of a large fan-out to it. */
  fanOutFunction: 'FANOUT_FUNCTION',
  /** The purge worker's function name, for the function that deletes groups. */
  purgeFunction: 'PURGE_FUNCTION',
  /** The presence queue's URL, for functions that announce presence changes through it. */
  presenceQueueUrl: 'PRESENCE_QUEUE_URL',
  /** Optional endpoint overrides (emulators, the local gateway's Lambda API); unset in AWS. */
  dynamoEndpoint: 'DYNAMODB_ENDPOINT',
  s3Endpoint: 'S3_ENDPOINT',
  lambdaEndpoint: 'LAMBDA_ENDPOINT',
  sqsEndpoint: 'SQS_ENDPOINT',
  /** The partition's domain (amazonaws.com, amazonaws.com.cn in China) in the bucket's host on AWS. */
  urlSuffix: 'URL_SUFFIX',
} as const
