/** The part of @20minutes/s3rver (an untyped package) that the local stack uses. */
declare module '@20minutes/s3rver' {
  interface S3rverOptions {
    address?: string
    port?: number
    silent?: boolean
    directory?: string
    configureBuckets?: { name: string; configs: string[] }[]
  }
  /** The slice of Koa's context a middleware in front of S3rver's router reads and writes. */
  export interface S3rverContext {
    method: string
    query: Record<string, string | string[] | undefined>
    get(header: string): string
    status: number
    type: string
    body: unknown
  }
  export default class S3rver {
    constructor(options: S3rverOptions)
    /** Where S3rver keeps buckets and objects (what a lifecycle rule acts on, inside S3). */
    store: {
      listObjects(
        bucket: string,
        options: { prefix?: string },
      ): Promise<{ objects: { key: string; lastModifiedDate: Date }[] }>
      deleteObject(bucket: string, key: string): Promise<void>
    }
    /** Koa's middleware stack (S3rver extends Koa); composed when the server starts. */
    middleware: ((context: S3rverContext, next: () => Promise<void>) => Promise<void>)[]
    run(): Promise<{ address: string; port: number }>
    close(): Promise<void>
  }
}

/** S3rver's account registry: the access keys whose signatures it verifies. */
declare module '@20minutes/s3rver/lib/models/account.js' {
  interface AWSAccount {
    createKeyPair(accessKeyId: string, secretAccessKey: string): void
  }
  const AWSAccount: { DUMMY_ACCOUNT: AWSAccount }
  export default AWSAccount
}
