import { type AwsBehaviours, awsLikeBehaviours } from '../../local/aws-behaviours.js'

/**
 * The AWS behaviours of the stack the test files share: S3's 403 for a missing key, and no transaction
 * conflicts yet. With them, a flood from one identity into one group can still run out of the conflict retries
 * (issue 22 is open), so conflicts are met in the files built for them, each on a gateway of its own:
 * test/protocol/aws-failures.test.ts and test/local/aws-behaviours.test.ts.
 */
export const sharedStackBehaviours: AwsBehaviours = {
  ...awsLikeBehaviours,
  conflicts: false,
  transactionHoldMs: 0,
  conflictRate: 0,
}
