import { rmSync } from 'node:fs';
import { Template } from 'aws-cdk-lib/assertions';
import { expect } from 'vitest';
import { createTestApp } from '../../infra/lib/synth.js';

/** Helpers for reading synthesized templates in test/infra-*.test.ts. */

export type Json = Record<string, unknown>;
export type Resources = Record<string, { Type: string; Properties?: Json; DeletionPolicy?: string; DependsOn?: unknown }>;

export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Principal?: unknown;
  Condition?: Json;
}

/** Synthesizes without bundling or validation into temporary folders that `cleanup()` removes. */
export function templateSynth() {
  const outdirs: string[] = [];
  return {
    synth(context: Record<string, string> = {}) {
      const { stack, outdir } = createTestApp({ context });
      outdirs.push(outdir);
      const template = Template.fromStack(stack);
      return { template, resources: template.toJSON().Resources as Resources, outputs: template.toJSON().Outputs as Record<string, { Value: unknown; Description?: string }> };
    },
    track(outdir: string) {
      outdirs.push(outdir);
    },
    cleanup() {
      for (const outdir of outdirs.splice(0)) rmSync(outdir, { recursive: true, force: true });
    },
  };
}

/** Logical ids of the resources of `type` whose construct path (in the id) starts with `prefix`. */
export function logicalIds(resources: Resources, type: string, prefix: string): string[] {
  return Object.keys(resources).filter((id) => resources[id]!.Type === type && id.startsWith(prefix));
}

export function only(resources: Resources, type: string, prefix: string): string {
  const ids = logicalIds(resources, type, prefix);
  expect(ids, `${type} under ${prefix}`).toHaveLength(1);
  return ids[0]!;
}

/** Flattens `Fn::Join`s over `Fn::GetAtt [id, Arn]` into `<id>/suffix` strings. */
export function resourceText(resource: unknown): string {
  if (typeof resource === 'string') return resource;
  const value = resource as Json;
  if ('Fn::GetAtt' in value) return `<${(value['Fn::GetAtt'] as string[]).join('.')}>`;
  if ('Ref' in value) return `<${String(value.Ref)}>`;
  if ('Fn::Join' in value) return ((value['Fn::Join'] as [string, unknown[]])[1]).map(resourceText).join('');
  return JSON.stringify(value);
}

export function statementsOf(resources: Resources, policyId: string): Statement[] {
  const document = resources[policyId]!.Properties!.PolicyDocument as { Statement: Statement[] };
  return document.Statement;
}

export const asList = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);
