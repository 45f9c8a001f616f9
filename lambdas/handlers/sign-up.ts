import { identityPattern } from '@huddle/client/protocol'
import type { PreSignUpTriggerEvent } from 'aws-lambda'

/**
 * Why a user name cannot be a Huddle identity, or undefined when it can: the pool's user name is the identity
 * (`cognito:username`), and it is kept in lower case, as people type the names they invite (sign-in ignores
 * case, so `Bob` still signs in as `bob`).
 */
export function userNameProblem(userName: string): string | undefined {
  if (identityPattern.test(userName) && userName === userName.toLowerCase()) return undefined
  return (
    'A user name may use only lowercase letters (a-z), digits and the characters _ . : @ -, 1 to 128 of them ' +
    '(not "." or ".."), since others invite you by it: choose another one.'
  )
}

/**
 * The user pool's pre-sign-up trigger: refuses a user name that is no identity (Cognito shows the message on its
 * sign-up page), and confirms the others at once, since the pool asks for no e-mail address to confirm.
 */
export const handler = async (event: PreSignUpTriggerEvent): Promise<PreSignUpTriggerEvent> => {
  const problem = userNameProblem(event.userName)
  if (problem !== undefined) throw new Error(problem)
  // An administrator's new user is confirmed when its password is set; a self sign-up is confirmed here.
  if (event.triggerSource === 'PreSignUp_SignUp') event.response.autoConfirmUser = true
  return event
}
