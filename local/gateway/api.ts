/** The API id and stage the local API answers as, in ARNs and request contexts. */
export const apiId = 'local'
export const stage = 'local'
