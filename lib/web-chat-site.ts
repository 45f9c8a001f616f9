import { fileURLToPath } from 'node:url'
import {
  AssetHashType,
  CfnOutput,
  DockerImage,
  Duration,
  RemovalPolicy,
  Stack,
  Validations,
} from 'aws-cdk-lib'
import {
  AllowedMethods,
  CachePolicy,
  Distribution,
  HeadersFrameOption,
  HeadersReferrerPolicy,
  HttpVersion,
  PriceClass,
  ResponseHeadersPolicy,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront'
import { S3BucketOrigin } from 'aws-cdk-lib/aws-cloudfront-origins'
import { BlockPublicAccess, Bucket, BucketEncryption } from 'aws-cdk-lib/aws-s3'
import { BucketDeployment, CacheControl, Source } from 'aws-cdk-lib/aws-s3-deployment'
import { Construct } from 'constructs'
import { contentSecurityPolicy, writeWebChat } from '../web/build.js'
import { acknowledgeCdkHandler } from './cdk-handlers.js'
import type { SignInSettings } from './user-pool.js'

const webDir = fileURLToPath(new URL('../web/', import.meta.url))

/** The web chat's configuration, as its config.json carries it: where to connect, and how to sign in. */
export interface WebChatConfig {
  websocketUrl: string
  signIn?: SignInSettings
}

/** The site's construct inputs: the origins its page may reach besides its own. */
export interface WebChatSiteProps {
  /** `wss://<api>.execute-api.<region>.amazonaws.com`: the WebSocket API. */
  websocketOrigin: string
  /** `https://<bucket>.s3.<region>.amazonaws.com`: where avatars and files are uploaded and shown from. */
  bucketOrigin: string
  /** The sign-in service's origins (its discovery document, token endpoint, hosted pages). */
  signInOrigins: string[]
}

/** The files a page load fetches first and that name the others: never served stale. */
const entryFiles = ['index.html', 'config.json']

/**
 * The web chat `npm start` serves, deployed: built once at synth (web/build.ts) into an asset, kept in a
 * private bucket that only this distribution reads (Origin Access Control), and served over HTTPS with the
 * same Content-Security-Policy as locally, naming the deployed origins.
 */
export class WebChatSite extends Construct {
  readonly bucket: Bucket
  readonly distribution: Distribution
  /** `https://<id>.cloudfront.net`, the page's origin. */
  readonly origin: string
  /** The page's address, `https://<id>.cloudfront.net/`, where sign-in sends users back. */
  readonly url: string
  readonly contentSecurityPolicy: string

  constructor(scope: Construct, id: string, props: WebChatSiteProps) {
    super(scope, id)
    // Build output only, deployed again with every stack update: nothing in it is worth keeping.
    this.bucket = new Bucket(this, 'Files', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: BucketEncryption.S3_MANAGED,
      removalPolicy: RemovalPolicy.DESTROY,
      autoDeleteObjects: true,
    })
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        "The bucket holds the web chat's build, written only by the stack's deployment and read only by " +
        'CloudFront: its access logs would record nothing but those.',
    })

    this.contentSecurityPolicy = contentSecurityPolicy({
      connect: [props.websocketOrigin, props.bucketOrigin, ...props.signInOrigins],
      images: [props.bucketOrigin],
    })
    const headers = new ResponseHeadersPolicy(this, 'Headers', {
      comment: 'Huddle web chat: the same Content-Security-Policy as the local web chat, and HSTS',
      securityHeadersBehavior: {
        contentSecurityPolicy: { contentSecurityPolicy: this.contentSecurityPolicy, override: true },
        strictTransportSecurity: {
          accessControlMaxAge: Duration.days(365),
          includeSubdomains: true,
          override: true,
        },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: HeadersReferrerPolicy.NO_REFERRER, override: true },
      },
    })

    this.distribution = new Distribution(this, 'Distribution', {
      comment: 'Huddle web chat',
      defaultRootObject: 'index.html',
      httpVersion: HttpVersion.HTTP2_AND_3,
      priceClass: PriceClass.PRICE_CLASS_100,
      defaultBehavior: {
        origin: S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: AllowedMethods.ALLOW_GET_HEAD,
        // Honours each file's Cache-Control; every deployment invalidates the edge copies.
        cachePolicy: CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: headers,
        compress: true,
      },
    })
    const acknowledge = (rule: string, reason: string) =>
      Validations.of(this.distribution).acknowledge({ id: `AwsSolutions-${rule}`, reason })
    acknowledge(
      'CFR4',
      "The distribution uses CloudFront's default certificate (*.cloudfront.net), whose TLS floor CloudFront sets; " +
        'a stage with its own domain and certificate would set TLSv1.2_2021.',
    )
    acknowledge(
      'CFR1',
      'The web chat is for anyone its users invite, wherever they are; the chat itself checks every token.',
    )
    acknowledge(
      'CFR2',
      'The distribution serves static files only; the chat API behind the page has its own throttles and ' +
        'rate limits, which a WAF in front of the files would not add to.',
    )
    acknowledge(
      'CFR3',
      "CloudFront's standard logs need a bucket with ACLs enabled; requests for the static files say nothing the " +
        "functions' logs and the dashboard do not.",
    )

    this.origin = `https://${this.distribution.distributionDomainName}`
    this.url = `${this.origin}/`
    new CfnOutput(Stack.of(this), 'WebChatUrl', {
      value: this.url,
      description: 'The web chat: open it, sign up, chat',
    })
  }

  /**
   * Deploys the built files and `config.json` (written at deploy time, CloudFormation resolving its values).
   * index.html and config.json are revalidated on every load; the scripts and styles keep their names from
   * one build to the next, so browsers keep them 5 minutes at most.
   */
  deploy(config: WebChatConfig): void {
    const files = Source.asset(webDir, {
      bundling: {
        // Built here with esbuild; the image is never pulled, as the local build either succeeds or throws.
        image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:20-alpine'),
        local: {
          tryBundle(outputDir: string) {
            writeWebChat(outputDir)
            return true
          },
        },
      },
      // The build's output, not web/ alone: the SDK it bundles changes it too.
      assetHashType: AssetHashType.OUTPUT,
    })
    const target = {
      destinationBucket: this.bucket,
      distribution: this.distribution,
      distributionPaths: ['/*'],
      memoryLimit: 256,
    }
    new BucketDeployment(this, 'Entry', {
      ...target,
      sources: [files, Source.jsonData('config.json', config)],
      exclude: ['*'],
      include: entryFiles,
      cacheControl: [CacheControl.noCache()],
    })
    new BucketDeployment(this, 'Scripts', {
      ...target,
      sources: [files],
      exclude: entryFiles,
      cacheControl: [CacheControl.setPublic(), CacheControl.maxAge(Duration.minutes(5))],
    })
    acknowledgeCdkHandler(
      Stack.of(this),
      'Custom::CDKBucketDeployment',
      "for BucketDeployment copies the build from the CDK's asset bucket into the site bucket and invalidates " +
        "the distribution's copies",
      true,
    )
  }
}
