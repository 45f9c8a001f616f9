/** The one table's key schema, shared by the CDK stack and the local setup. */
export const tableSchema = {
  partitionKey: 'PK',
  sortKey: 'SK',
  /** Inverted index: a user's memberships (GSI1PK = USER#<iss>, GSI1SK = GROUP#<gid>). */
  userIndex: { indexName: 'GSI1', partitionKey: 'GSI1PK', sortKey: 'GSI1SK' },
  /** Epoch seconds; DynamoDB deletes expired items lazily, so readers filter on it too. */
  ttlAttribute: 'ttl',
} as const
