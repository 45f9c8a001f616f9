import type { Stores } from '../../core/ports.js'
import { DynamoBlocks } from './blocks.js'
import { DynamoConnections } from './connections.js'
import { DynamoDeviceLists } from './device-lists.js'
import { DynamoFanOutSlices } from './fan-out-slices.js'
import { DynamoGroupPurges } from './group-purge.js'
import { DynamoGroupStore } from './group-store.js'
import { DynamoKeyPackages } from './key-packages.js'
import { DynamoMembershipIndex } from './membership-index.js'
import { DynamoQuotas } from './quotas.js'
import { DynamoRateBuckets } from './rate-buckets.js'
import type { DynamoTable } from './table.js'

/** Every store port over one table, as one object: what wires the whole chat at once (tests, benchmarks). */
export function dynamoStores(table: DynamoTable): Stores {
  const memberships = new DynamoMembershipIndex(table)
  const connections = new DynamoConnections(table, memberships)
  const groups = new DynamoGroupStore(table, connections)
  const purges = new DynamoGroupPurges(table, connections)
  const keyPackages = new DynamoKeyPackages(table)
  const deviceLists = new DynamoDeviceLists(table)
  const blocks = new DynamoBlocks(table)
  const quotas = new DynamoQuotas(table)
  const buckets = new DynamoRateBuckets(table)
  const slices = new DynamoFanOutSlices(table)
  return {
    readGroup: groups.readGroup.bind(groups),
    readRecipients: groups.readRecipients.bind(groups),
    getGroups: groups.getGroups.bind(groups),
    readMembers: groups.readMembers.bind(groups),
    createGroup: groups.createGroup.bind(groups),
    addMembers: groups.addMembers.bind(groups),
    appendMessage: groups.appendMessage.bind(groups),
    appendMembership: groups.appendMembership.bind(groups),
    readRoster: groups.readRoster.bind(groups),
    appendCommit: groups.appendCommit.bind(groups),
    appendRevert: groups.appendRevert.bind(groups),
    recordClaims: groups.recordClaims.bind(groups),
    appendRevision: groups.appendRevision.bind(groups),
    readReactions: groups.readReactions.bind(groups),
    appendReaction: groups.appendReaction.bind(groups),
    appendChange: groups.appendChange.bind(groups),
    markDeleted: groups.markDeleted.bind(groups),
    deletionMark: purges.deletionMark.bind(purges),
    leaveNotices: purges.leaveNotices.bind(purges),
    claimPurge: purges.claimPurge.bind(purges),
    readPurgePage: purges.readPurgePage.bind(purges),
    releaseMembers: purges.releaseMembers.bind(purges),
    removePurgePage: purges.removePurgePage.bind(purges),
    endPurge: purges.endPurge.bind(purges),
    findMessage: groups.findMessage.bind(groups),
    readEvents: groups.readEvents.bind(groups),
    getEvents: groups.getEvents.bind(groups),
    messageSenders: groups.messageSenders.bind(groups),
    saveReceipt: groups.saveReceipt.bind(groups),
    membershipsOf: memberships.membershipsOf.bind(memberships),
    pendingInvites: memberships.pendingInvites.bind(memberships),
    deletedGroupsOf: memberships.deletedGroupsOf.bind(memberships),
    keyPackageRefs: keyPackages.keyPackageRefs.bind(keyPackages),
    addKeyPackages: keyPackages.addKeyPackages.bind(keyPackages),
    takeKeyPackage: keyPackages.takeKeyPackage.bind(keyPackages),
    deviceLists: deviceLists.deviceLists.bind(deviceLists),
    addDeviceList: deviceLists.addDeviceList.bind(deviceLists),
    setBlock: blocks.setBlock.bind(blocks),
    findBlocks: blocks.findBlocks.bind(blocks),
    blocksOf: blocks.blocksOf.bind(blocks),
    spend: quotas.spend.bind(quotas),
    takeToken: buckets.takeToken.bind(buckets),
    saveConnection: connections.saveConnection.bind(connections),
    deleteConnection: connections.deleteConnection.bind(connections),
    connectionsOf: connections.connectionsOf.bind(connections),
    claimSlice: slices.claimSlice.bind(slices),
    recordSlice: slices.recordSlice.bind(slices),
  }
}
