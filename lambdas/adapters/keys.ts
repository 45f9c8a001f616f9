import { tableSchema } from './table-schema.js'

const { partitionKey: PK, sortKey: SK } = tableSchema
const { partitionKey: GSI1PK, sortKey: GSI1SK } = tableSchema.userIndex

/** Every key of the table is built here. */
export const keys = {
  group: (gid: string) => ({ [PK]: `GROUP#${gid}`, [SK]: 'META' }),
  member: (gid: string, iss: string) => ({ [PK]: `GROUP#${gid}`, [SK]: `MEMBER#${iss}` }),
  memberPrefix: 'MEMBER#',
  /** The inverted index entry that lists a user's groups. */
  memberOfUser: (gid: string, iss: string) => ({ [GSI1PK]: `USER#${iss}`, [GSI1SK]: `GROUP#${gid}` }),
  userMemberships: (iss: string) => `USER#${iss}`,
  /** Sorts by time, then id, so a group's messages read back in order. */
  message: (gid: string, iat: string, jti: string) => ({ [PK]: `GROUP#${gid}`, [SK]: `MSG#${iat}#${jti}` }),
  /** One per (sender, jti): written with the message, so a retry is detected. */
  messageMarker: (gid: string, iss: string, jti: string) => ({
    [PK]: `GROUP#${gid}`,
    [SK]: `JTI#${iss}#${jti}`,
  }),
  connection: (connectionId: string) => ({ [PK]: `CONN#${connectionId}`, [SK]: 'META' }),
  /** One item per user holding the set of its connection ids, so a fan-out reads 100 users per BatchGet. */
  userConnections: (iss: string) => ({ [PK]: `USER#${iss}`, [SK]: 'CONNS' }),
}
