import { rmSync } from 'node:fs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { ExperimentBucket } from '../infra/lib/constructs/experiment-bucket.js';
import { PipelineFunction } from '../infra/lib/constructs/pipeline-function.js';
import { createTestApp } from '../infra/lib/synth.js';
import { validationFindings } from '../infra/lib/validation-report.js';

/**
 * cdk-nag without bundling: the default stack, and the other variant (container-image trainer, LocalStack defaults:
 * a destroyable bucket with CDK's auto-delete handler) with one deliberate mistake, which must be the only finding.
 * test/infra-bundle.test.ts repeats the default check on the full synth.
 */
// aws-cdk-lib's own template validation (~9 s of a ~12 s synth here) runs in the full synth; cdk-nag is separate.
process.env.CDK_VALIDATION = 'false';

const outdirs: string[] = [];
afterAll(() => {
  for (const outdir of outdirs) rmSync(outdir, { recursive: true, force: true });
});

describe('cdk-nag AwsSolutions', () => {
  it('finds nothing unacknowledged in the default stack', () => {
    const { app, outdir } = createTestApp({ checks: true });
    outdirs.push(outdir);
    app.synth();
    expect(validationFindings(outdir)).toEqual([]);
  });

  it('finds nothing unacknowledged with an adopted bucket (-c bucketName) and a bootstrap KMS key', () => {
    const context = { bucketName: 'my-old-flambda-bucket', bootstrapKmsKeyId: '1234abcd-12ab-34cd-56ef-1234567890ab' };
    const { app, outdir } = createTestApp({ checks: true, context });
    outdirs.push(outdir);
    app.synth();
    expect(validationFindings(outdir)).toEqual([]);
  });

  it('flags a bucket-wide grant, and nothing else, on the image trainer + LocalStack variant', () => {
    const { app, stack, outdir } = createTestApp({ checks: true, context: { trainer: 'image', target: 'localstack' } });
    outdirs.push(outdir);
    // The one deliberate mistake: read/write/delete on every object, as `grantReadWrite(fn)` without a prefix gives.
    const bucket: IBucket = (stack.node.findChild('Experiments') as ExperimentBucket).bucket;
    bucket.grantReadWrite((stack.node.findChild('Timer') as PipelineFunction).function);
    expect(() => app.synth()).toThrow(/AwsSolutions-IAM5\[Resource::<ExperimentsBucket[0-9A-F]+\.Arn>\/\*\]/);

    const findings = validationFindings(outdir);
    expect(findings.length).toBeGreaterThan(0);
    for (const finding of findings) expect(finding.constructPath).toBe(`${stack.stackName}/Timer/Role/DefaultPolicy/Resource`);
    const rules = findings.map((finding) => finding.rule);
    expect(rules).toContain('AwsSolutions-IAM5[Action::s3:DeleteObject*]');
    expect(rules.some((rule) => /^AwsSolutions-IAM5\[Resource::<ExperimentsBucket[0-9A-F]+\.Arn>\/\*\]$/.test(rule))).toBe(true);
  });
});
