/**
 * The DynamoDB read model the read API serves from: on demand (reads follow catalog traffic,
 * nothing to provision), point-in-time recovery, deletion protection. The GSIs project every
 * attribute, since each is a query the read API answers with whole photos.
 *
 * A change of the read model's keys is a blue/green rebuild: the new layout is a new table
 * (`table` of resources.json) declared beside the old one (`previous_table`), which stays as it
 * is, retained, so the running services keep serving from it while `catalog rebuild` fills and
 * checks the new one (README.md, "Rebuilding the read model").
 */
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { CatalogResources, Naming, TableSpec } from './resources';

/** The name of the first read-model table, declared with the construct id 'Table'. */
const FIRST_TABLE_NAME = 'catalog-photos';

/**
 * A table's construct id follows from its resources.json name alone, never from whether it is
 * `table` or `previous_table`. So a table keeps its logical id when the next rebuild moves it
 * from one entry to the other: were the id to follow the role, CloudFormation would see a new
 * name under an old logical id and replace the table (creating one of the same name as a
 * table that exists, and dropping the retained one from the stack). The first table was
 * declared as 'Table' before there were two, and keeps that id.
 */
function tableId(name: string): string {
  return name === FIRST_TABLE_NAME ? 'Table' : `Table-${name}`;
}

/** The ARNs of a table's global secondary indexes (what Query and Scan on an index authorize against). */
export function indexArns(table: dynamodb.ITableV2, indexNames: readonly string[]): string[] {
  return indexNames.map((name) => `${table.tableArn}/index/${name}`);
}

export interface ReadModelProps {
  readonly resources: CatalogResources;
  readonly naming: Naming;
}

export class ReadModel extends Construct {
  /** The table of the current layout: the services read and write this one. */
  readonly table: dynamodb.TableV2;
  /** The table of the layout before, while resources.json still lists it; nothing writes it. */
  readonly previousTable?: dynamodb.TableV2;

  constructor(scope: Construct, id: string, props: ReadModelProps) {
    super(scope, id);
    const { table, previousTable } = props.resources;

    this.table = this.declare(table, props.naming);
    if (previousTable !== undefined) {
      // Declared with exactly the settings it was deployed with, so this change leaves it untouched.
      this.previousTable = this.declare(previousTable, props.naming);
      // The services stack deployed before the rebuild imports this table's ARN (CDK's
      // automatic export); the new one imports the new table's instead, and CloudFormation
      // refuses to remove an export that a deployed stack still imports, so the data stack
      // (deployed first) could not drop it. Keep exporting it, under the same name, while the
      // table is declared; once the services have switched nothing imports it, and dropping
      // `previous_table` later drops the export with it.
      Stack.of(this).exportValue(this.previousTable.tableArn);
    }
  }

  private declare(spec: TableSpec, naming: Naming): dynamodb.TableV2 {
    const stringKey = (name: string): dynamodb.Attribute => ({ name, type: dynamodb.AttributeType.STRING });
    return new dynamodb.TableV2(this, tableId(spec.name), {
      tableName: naming.name(spec.name),
      partitionKey: stringKey(spec.partitionKey),
      globalSecondaryIndexes: spec.indexes.map((index) => ({
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
