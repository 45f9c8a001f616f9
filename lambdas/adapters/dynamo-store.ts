import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb'
import type { Stores } from '../core/ports.js'
import { dynamoStores } from './dynamo/stores.js'
import { DynamoTable } from './dynamo/table.js'

/** Transitional: every port over the table, until each function wires only the ports it uses. */
export const DynamoChatStore = function DynamoChatStore(
  db: DynamoDBDocumentClient,
  tableName: string,
): Stores {
  return dynamoStores(new DynamoTable(db, tableName))
} as unknown as new (
  db: DynamoDBDocumentClient,
  tableName: string,
) => Stores
