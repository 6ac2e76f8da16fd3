import { DescribeStacksCommand, type CloudFormationClient } from '@aws-sdk/client-cloudformation';

export class StackOutputsError extends Error {
  override name = 'StackOutputsError';
}

export interface StackOutputs {
  readonly stackName: string;
  readonly status: string;
  /** OutputKey → OutputValue */
  readonly outputs: Readonly<Record<string, string>>;
}

// A stack in these states has outputs that match its resources (an UPDATE_ROLLBACK_COMPLETE stack runs its old template).
const USABLE_STATUSES = new Set(['CREATE_COMPLETE', 'UPDATE_COMPLETE', 'UPDATE_ROLLBACK_COMPLETE', 'IMPORT_COMPLETE']);

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** The outputs of a deployed stack; throws a message saying what to do when it is missing or not deployed. */
export async function readStackOutputs(client: CloudFormationClient, stackName: string): Promise<StackOutputs> {
  let stack;
  try {
    stack = (await client.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
  } catch (error) {
    if (error instanceof Error && /does not exist/.test(error.message)) {
      const region = await client.config.region().catch(() => 'the configured region');
      throw new StackOutputsError(`stack ${stackName} does not exist in ${region}: deploy it first (npx cdk deploy), or check --stack and AWS_REGION`, { cause: error });
    }
    throw new StackOutputsError(`CloudFormation DescribeStacks ${stackName} failed: ${describe(error)}`, { cause: error });
  }
  if (!stack) throw new StackOutputsError(`CloudFormation DescribeStacks ${stackName} returned no stack`);
  const status = stack.StackStatus ?? 'UNKNOWN';
  if (!USABLE_STATUSES.has(status)) {
    const reason = stack.StackStatusReason ? ` (${stack.StackStatusReason})` : '';
    throw new StackOutputsError(`stack ${stackName} is ${status}${reason}: its outputs cannot be trusted until it is deployed`);
  }
  const outputs: Record<string, string> = {};
  for (const output of stack.Outputs ?? []) {
    if (output.OutputKey !== undefined && output.OutputValue !== undefined) outputs[output.OutputKey] = output.OutputValue;
  }
  return { stackName: stack.StackName ?? stackName, status, outputs };
}

/** One output's value; the error lists the outputs the stack does have. */
export function requireStackOutput(stack: StackOutputs, key: string): string {
  const value = stack.outputs[key];
  if (value === undefined) {
    const present = Object.keys(stack.outputs).sort().join(', ') || 'none';
    throw new StackOutputsError(`stack ${stack.stackName} has no output ${key} (it has: ${present}); is it a flambda stack of this version?`);
  }
  return value;
}
