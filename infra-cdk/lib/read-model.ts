/**
 * The DynamoDB read model the read API serves from: on demand (reads follow catalog traffic,
 * nothing to provision), point-in-time recovery, deletion protection. The GSIs project every
 * attribute, since each is a query the read API answers with whole photos.
 */
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { RemovalPolicy } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { CatalogResources, Naming } from './resources';

export interface ReadModelProps {
  readonly resources: CatalogResources;
  readonly naming: Naming;
}

export class ReadModel extends Construct {
  readonly table: dynamodb.TableV2;

  constructor(scope: Construct, id: string, props: ReadModelProps) {
    super(scope, id);
    const { table } = props.resources;
    const stringKey = (name: string): dynamodb.Attribute => ({ name, type: dynamodb.AttributeType.STRING });

    this.table = new dynamodb.TableV2(this, 'Table', {
      tableName: props.naming.name(table.name),
      partitionKey: stringKey(table.partitionKey),
      globalSecondaryIndexes: table.indexes.map((index) => ({
        indexName: index.name,
        partitionKey: stringKey(index.partitionKey),
        sortKey: stringKey(index.sortKey),
        projectionType: dynamodb.ProjectionType.ALL,
      })),
      billing: dynamodb.Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
