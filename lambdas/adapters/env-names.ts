/** Environment variables the handlers read at cold start; the CDK stack and the local stack set them. */
export const envNames = {
  tableName: 'TABLE_NAME',
  bucketName: 'BUCKET_NAME',
  /** https://{api-id}.execute-api.{region}.amazonaws.com/{stage}, or the local gateway's URL. */
  callbackUrl: 'WS_CALLBACK_URL',
  jwksUrl: 'JWKS_URL',
  jwtIssuer: 'JWT_ISSUER',
  jwtAudience: 'JWT_AUDIENCE',
  /** The JWT claim whose value is the user's Huddle identity (`sub` unless configured otherwise). */
  identityClaim: 'JWT_IDENTITY_CLAIM',
  /** Days a group's events are kept before DynamoDB's TTL removes them (default 365). */
  retentionDays: 'MESSAGE_RETENTION_DAYS',
  /** Members a group may have (default 10,000). */
  maxGroupSize: 'MAX_GROUP_SIZE',
  /** Groups one identity may create in an hour (default 20). */
  groupsPerHour: 'GROUPS_PER_HOUR',
  /** Invites one identity may have pending (default 100). */
  pendingInvitesPerIdentity: 'PENDING_INVITES_PER_IDENTITY',
  /** Bytes one attached file may have (default 25 MiB), and files one message may carry (default 10). */
  attachmentBytes: 'ATTACHMENT_BYTES',
  attachmentsPerMessage: 'ATTACHMENTS_PER_MESSAGE',
  /** Each identity's token buckets: messages (with edits and deletes) and other writes, per second and burst. */
  messagesPerSecond: 'MESSAGES_PER_SECOND',
  messageBurst: 'MESSAGE_BURST',
  writesPerSecond: 'WRITES_PER_SECOND',
  writeBurst: 'WRITE_BURST',
  /** The fan-out worker's function name, for functions that hand slices of a large fan-out to it. */
  fanOutFunction: 'FANOUT_FUNCTION',
  /** Connections per fan-out slice (default 1,000): a function posts one slice and hands the others over. */
  fanOutSliceSize: 'FANOUT_SLICE_SIZE',
  /** Optional endpoint overrides (emulators, the local gateway's Lambda API); unset in AWS. */
  dynamoEndpoint: 'DYNAMODB_ENDPOINT',
  s3Endpoint: 'S3_ENDPOINT',
  lambdaEndpoint: 'LAMBDA_ENDPOINT',
} as const
