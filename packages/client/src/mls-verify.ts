// What a delivery service can verify of MLS commits and GroupInfos without any group secret (RFC 9420), over
// ts-mls's own primitives: pure functions over bytes that return a verdict and never throw.
// Not verifiable here, for want of the epoch's secrets: a commit's membership tag and confirmation tag (only
// that it equals the next GroupInfo's), whether its UpdatePath ciphertexts hold the right path secrets,
// whether a GroupInfo's external_pub belongs to its epoch, and anything in a Welcome.
//
// The checks live by what they check: mls-verify-tree (a ratchet tree), mls-verify-group-info (a GroupInfo),
// mls-verify-proposals (a commit's proposal list) and mls-verify-commit (a commit between two GroupInfos).

export { type CommitVerdict, treeAfterCommit, verifyCommit } from './mls-verify-commit.js'
export type { Checked } from './mls-verify-common.js'
export {
  checkGroupInfo,
  readVerifiedGroupInfo,
  type VerifiedGroupInfo,
  type VerifiedLeaf,
} from './mls-verify-group-info.js'
export { ratchetTreeFault } from './mls-verify-tree.js'
