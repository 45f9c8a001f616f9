import { inject } from 'vitest'
import { DynamoBlocks } from '../../../lambdas/adapters/dynamo/blocks.js'
import { DynamoConnections } from '../../../lambdas/adapters/dynamo/connections.js'
import { DynamoDeviceLists } from '../../../lambdas/adapters/dynamo/device-lists.js'
import { DynamoFanOutSlices } from '../../../lambdas/adapters/dynamo/fan-out-slices.js'
import { DynamoGroupPurges } from '../../../lambdas/adapters/dynamo/group-purge.js'
import { DynamoGroupStore } from '../../../lambdas/adapters/dynamo/group-store.js'
import { DynamoKeyPackages } from '../../../lambdas/adapters/dynamo/key-packages.js'
import { DynamoMembershipIndex } from '../../../lambdas/adapters/dynamo/membership-index.js'
import { DynamoQuotas } from '../../../lambdas/adapters/dynamo/quotas.js'
import { DynamoRateBuckets } from '../../../lambdas/adapters/dynamo/rate-buckets.js'
import { DynamoTable } from '../../../lambdas/adapters/dynamo/table.js'
import { emulatorDynamoClient } from '../../../local/emulators.js'
import { localNames } from '../../../local/stack.js'
import { groupPurgesContract } from './group-purges.js'
import { groupStoreContract } from './group-store.js'
import {
  blockStoreContract,
  connectionStoreContract,
  deviceListStoreContract,
  fanOutSlicesContract,
  keyPackageStoreContract,
  membershipIndexContract,
  quotasContract,
  rateBucketsContract,
} from './small-ports.js'

// Each port's contract, run against its DynamoDB adapter on DynamoDB Local (the table the local stack made).
const table = new DynamoTable(emulatorDynamoClient(inject('dynamoEndpoint')), localNames.table)
const index = new DynamoMembershipIndex(table)
const connections = new DynamoConnections(table, index)
const groups = new DynamoGroupStore(table, connections)
const purges = new DynamoGroupPurges(table, connections)

groupStoreContract(() =>
  Object.assign(Object.create(groups) as DynamoGroupStore, {
    membershipsOf: index.membershipsOf.bind(index),
  }),
)
membershipIndexContract(() => ({ index, groups, purges }))
groupPurgesContract(() => ({ groups, purges }))
keyPackageStoreContract(() => new DynamoKeyPackages(table))
deviceListStoreContract(() => new DynamoDeviceLists(table))
blockStoreContract(() => new DynamoBlocks(table))
quotasContract(() => new DynamoQuotas(table))
rateBucketsContract(() => new DynamoRateBuckets(table))
connectionStoreContract(() => connections)
fanOutSlicesContract(() => new DynamoFanOutSlices(table))
