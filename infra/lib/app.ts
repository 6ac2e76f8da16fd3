import { App, Validations, type AppProps } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { FlambdaStack } from './flambda-stack.js';
import { settingsFromContext, type FlambdaSettings } from './settings.js';

export interface FlambdaApp {
  readonly app: App;
  readonly stack: FlambdaStack;
  readonly settings: FlambdaSettings;
}

/**
 * The CDK app: settings from context, the stack, and cdk-nag's AwsSolutions pack as a synth-time validation, so
 * `cdk synth` (and every deploy) fails on a finding nobody has acknowledged with a reason.
 */
export function createFlambdaApp(props: AppProps = {}, options: { readonly checks?: boolean } = {}): FlambdaApp {
  const app = new App(props);
  const settings = settingsFromContext((key) => app.node.tryGetContext(key), app.node.getAllContext() as Record<string, unknown>);
  // No `env`: an environment-agnostic stack synthesizes offline, without credentials or context lookups.
  const stack = new FlambdaStack(app, settings.stackName, {
    settings,
    description: `flambda: federated learning on Lambda + S3 + SQS (trainer: ${settings.trainer})`,
  });
  if (options.checks ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack, settings };
}
