/** The keys that shape a stage's sign-in: its own user pool, or its own provider's client for the web chat. */

/** What a stage says about the user pool the stack creates for it. */
export interface UserPoolConfig {
  /** The hosted sign-in domain's prefix; the stack makes one from the stage and the account without it. */
  domainPrefix?: string
  /** Where the pool may send a signed-in (or signed-out) user besides the deployed web chat. */
  callbackUrls: string[]
}

const domainPrefixPattern = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/

/** A stage's sign-in keys as read, with what they are checked against. */
export interface SignInKeys {
  userPool: boolean
  webChat: boolean
  /** The user pool's own keys the stage sets. */
  poolKeysSet: readonly string[]
  domainPrefix?: string
  callbackUrls: string[]
  signInClientId?: string
  jwtAudience: string
  stageName: string
  /** Where the stage's settings are, for the messages. */
  where: string
}

/** The user pool's and the web chat's sign-in keys, each checked against the others; problems are added. */
export function checkSignIn(
  keys: SignInKeys,
  problems: string[],
): { userPool?: UserPoolConfig; signInClientId?: string } {
  const { userPool, webChat, domainPrefix, callbackUrls, signInClientId, where } = keys
  if (!userPool) {
    for (const key of keys.poolKeysSet) {
      problems.push(`${key} only applies with userPool=true: set userPool or remove ${key} ${where}`)
    }
  }
  const refusedWord = /aws|amazon|cognito/.exec(keys.stageName.toLowerCase())?.[0]
  if (userPool && domainPrefix === undefined && refusedWord !== undefined) {
    problems.push(
      `the user pool's sign-in domain would be huddle-${keys.stageName.toLowerCase()}-<account id>, and Cognito refuses ` +
        `a prefix containing ${refusedWord}: set userPoolDomainPrefix ${where}`,
    )
  }
  if (
    domainPrefix !== undefined &&
    (!domainPrefixPattern.test(domainPrefix) || /aws|amazon|cognito/.test(domainPrefix))
  ) {
    problems.push(
      `userPoolDomainPrefix must be 1-63 lowercase letters, digits and hyphens, not starting or ending with a hyphen ` +
        `and without aws, amazon or cognito, got ${JSON.stringify(domainPrefix)}`,
    )
  }
  for (const url of callbackUrls) {
    const problem = callbackUrlProblem(url)
    if (problem) problems.push(`signInCallbackUrls: ${JSON.stringify(url)} ${problem}`)
  }
  if (signInClientId !== undefined) {
    if (userPool) {
      problems.push(
        `signInClientId names your own provider's client; with userPool the stack makes the client: remove it ${where}`,
      )
    } else if (!webChat) {
      problems.push(
        `signInClientId is the deployed web chat's client: set webChat=true or remove it ${where}`,
      )
    } else if (signInClientId !== keys.jwtAudience) {
      problems.push(
        `signInClientId (${signInClientId}) differs from jwtAudience (${keys.jwtAudience}): the web chat sends the ID ` +
          "token, whose aud is the client's id, so the authorizer would refuse it. Set jwtAudience to the client id " +
          where,
      )
    }
  }
  return {
    ...(userPool
      ? { userPool: { ...(domainPrefix === undefined ? {} : { domainPrefix }), callbackUrls } }
      : {}),
    ...(signInClientId === undefined || userPool ? {} : { signInClientId }),
  }
}

/** Why Cognito would refuse an address to send a user back to, or undefined when it takes it. */
function callbackUrlProblem(url: string): string | undefined {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return 'is not a URL (e.g. https://chat.example.com/ or http://localhost:3001/)'
  }
  if (parsed.hash !== '') return 'may not have a #fragment'
  if (parsed.protocol === 'http:' && parsed.hostname !== 'localhost') {
    return 'uses http:// on a host other than localhost: use https://'
  }
  return undefined
}
