import { CreateTableCommand, type DynamoDBClient, ResourceInUseException } from '@aws-sdk/client-dynamodb'
import { tableSchema } from '../lambdas/adapters/dynamo/table-schema.js'

/** Creates the chat table from the shared key schema, unless it exists already. */
export async function ensureTable(db: DynamoDBClient, tableName: string): Promise<void> {
  const { partitionKey, sortKey, userIndex } = tableSchema
  try {
    await db.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [partitionKey, sortKey, userIndex.partitionKey, userIndex.sortKey].map(
          (name) => ({
            AttributeName: name,
            AttributeType: 'S',
          }),
        ),
        KeySchema: [
          { AttributeName: partitionKey, KeyType: 'HASH' },
          { AttributeName: sortKey, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: userIndex.indexName,
            KeySchema: [
              { AttributeName: userIndex.partitionKey, KeyType: 'HASH' },
              { AttributeName: userIndex.sortKey, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      }),
    )
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error
  }
}
