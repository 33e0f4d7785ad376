/**
 * `catalog rebuild` as a one-off Fargate task of CatalogData, declared while resources.json
 * lists a `previous_table`: it fills the new table from the event store, compares it with the
 * event store and with the previous table, and exits non-zero if they disagree.
 *
 * Why here and not only as the resync task of CatalogServices (whose role may run it too): the
 * rebuild must run with the new image *before* the services switch to the new table, while the
 * running services (the old image, serving from the previous table) stay as they are. Deploying
 * CatalogServices would replace them too, so the resync task definition only gets the new image
 * at the switch. CatalogData deploys first, so a task definition here is there in time; it
 * runs on the services' cluster (a task definition names no cluster). It is the same image,
 * entry point, size and event-store access as the resync, with the command `rebuild`, and it
 * goes away with `previous_table`.
 */
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { CatalogProcess, ProcessContext } from './process';
import { allowReadModelRepair, PreviousTable, RESYNC_TASK_SIZE } from './resync-schedule';

export interface RebuildTaskProps extends ProcessContext {
  /** The new table, which the rebuild fills. */
  readonly table: dynamodb.ITableV2;
  /** The previous table, which it compares the new one with (and never writes). */
  readonly previousTable: PreviousTable;
}

export class RebuildTask extends Construct {
  readonly process: CatalogProcess;

  constructor(scope: Construct, id: string, props: RebuildTaskProps) {
    super(scope, id);
    this.process = new CatalogProcess(this, 'rebuild', props, {
      command: 'rebuild',
      ...RESYNC_TASK_SIZE,
      usesEventStore: true,
    });
    allowReadModelRepair(this.process, props.table, props.previousTable);
  }
}
