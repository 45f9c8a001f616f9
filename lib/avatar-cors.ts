import { Stack } from 'aws-cdk-lib'
import * as iam from 'aws-cdk-lib/aws-iam'
import { type CorsRule, HttpMethods, type IBucket } from 'aws-cdk-lib/aws-s3'
import { AwsCustomResource, AwsCustomResourcePolicy, PhysicalResourceId } from 'aws-cdk-lib/custom-resources'
import type { Construct } from 'constructs'
import { acknowledgeCdkHandler } from './cdk-handlers.js'

/** What a web page may do with the avatar bucket's presigned links: upload and show images. */
export function avatarCorsRule(origins: string[]): CorsRule {
  return {
    allowedMethods: [HttpMethods.PUT, HttpMethods.GET],
    allowedOrigins: origins,
    allowedHeaders: ['Content-Type', 'Content-Length'],
    maxAge: 3600,
  }
}

/**
 * Sets the avatar bucket's CORS rule once the web chat's distribution exists. The distribution's policy names
 * the bucket, so the bucket's own template cannot name the distribution (a circular dependency): this
 * resource puts the rule after both, and owns it (the bucket is then created without one).
 */
export function allowAvatarOrigins(scope: Construct, bucket: IBucket, origins: string[]): AwsCustomResource {
  const rule = avatarCorsRule(origins)
  const put = new AwsCustomResource(scope, 'AvatarCors', {
    onUpdate: {
      service: 'S3',
      action: 'putBucketCors',
      parameters: {
        Bucket: bucket.bucketName,
        CORSConfiguration: {
          CORSRules: [
            {
              AllowedMethods: rule.allowedMethods,
              AllowedOrigins: rule.allowedOrigins,
              AllowedHeaders: rule.allowedHeaders,
              MaxAgeSeconds: rule.maxAge,
            },
          ],
        },
      },
      physicalResourceId: PhysicalResourceId.of('avatar-bucket-cors'),
    },
    policy: AwsCustomResourcePolicy.fromStatements([
      new iam.PolicyStatement({ actions: ['s3:PutBucketCORS'], resources: [bucket.bucketArn] }),
    ]),
    installLatestAwsSdk: false,
  })
  put.node.addDependency(bucket)
  acknowledgeCdkHandler(
    Stack.of(scope),
    'AWS679f53fac002430cb0da5b7982bd2287',
    "for AwsCustomResource puts the avatar bucket's CORS rule (s3:PutBucketCORS on that bucket alone)",
    false,
  )
  return put
}
