/**
 * The whole app, built the same way by `bin/app.ts` and by the tests: the two stacks, named
 * from resources.json and the prefix.
 */
import { App } from 'aws-cdk-lib';
import { configFromContext } from './config';
import { DataStack } from './data-stack';
import { CatalogResources, loadResources, Naming } from './resources';
import { ServicesStack } from './services-stack';

export interface CatalogStacks {
  readonly data: DataStack;
  readonly services: ServicesStack;
}

/** `resources`: resources.json, unless a test gives another version of it. */
export function buildCatalog(app: App, resources: CatalogResources = loadResources()): CatalogStacks {
  const config = configFromContext(app.node);
  const naming = new Naming(config.resourcePrefix);
  const description = 'Photo catalog';
  const data = new DataStack(app, 'CatalogData', {
    config, resources, naming, description: `${description}: network, storage, event store, read model, pipeline`,
  });
  const services = new ServicesStack(app, 'CatalogServices', {
    config, resources, naming, data, description: `${description}: services, load balancer, schedule, alarms`,
  });
  return { data, services };
}
