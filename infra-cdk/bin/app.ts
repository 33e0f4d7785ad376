#!/usr/bin/env node
/** `cdk synth` / `cdk deploy` entry: the catalog stacks, checked by cdk-nag's AwsSolutions pack. */
import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildCatalog } from '../lib/catalog-app';

const app = new App();
buildCatalog(app);
Aspects.of(app).add(new AwsSolutionsChecks({ reports: false }));
app.synth();
