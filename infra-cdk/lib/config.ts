/**
 * The deploy-time settings, read from CDK context (`-c key=value` or cdk.json), checked once.
 */
import { Node } from 'constructs';

export interface CatalogConfig {
  /** The tag of the `catalog` image in the ECR repository. */
  readonly imageTag: string;
  /** The ECR repository of the image. */
  readonly ecrRepository: string;
  /** Starts every resource name; S3 bucket names are global, so it must be unique to you. */
  readonly resourcePrefix: string;
  /** An ACM certificate for the load balancer; without it, HTTP only. */
  readonly certificateArn?: string;
  /** Origins whose browsers may PUT originals (CORS). */
  readonly uploadOrigins: readonly string[];
  /** An address the alarm topic mails. */
  readonly alarmEmail?: string;
}

function optional(node: Node, key: string): string | undefined {
  const value: unknown = node.tryGetContext(key);
  if (value === undefined || value === null || value === '') {
    return undefined;
  }
  if (typeof value !== 'string') {
    throw new Error(`context ${key}: expected a string`);
  }
  return value;
}

function required(node: Node, key: string, example: string): string {
  const value = optional(node, key);
  if (value === undefined) {
    throw new Error(`context ${key} is required: cdk synth -c ${key}=${example}`);
  }
  return value;
}

export function configFromContext(node: Node): CatalogConfig {
  return {
    imageTag: required(node, 'imageTag', '<git sha>'),
    ecrRepository: optional(node, 'ecrRepository') ?? 'photo-catalog',
    resourcePrefix: required(node, 'resourcePrefix', 'acme-prod-'),
    certificateArn: optional(node, 'certificateArn'),
    uploadOrigins: (optional(node, 'uploadOrigins') ?? '*').split(',').map((origin) => origin.trim()),
    alarmEmail: optional(node, 'alarmEmail'),
  };
}
