/** Once per `npm test`: the Node-version notice the AWS SDK would otherwise print in every test process. */
export default function nodeNotice(): void {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 22) {
    process.stderr.write(
      `[flambda tests] Node ${process.version}: the AWS SDK's notice (releases from January 2027 need Node >= 22) is ` +
        'silenced in test processes; the Lambda bundle and pipeline tests also run on Node 22 (npm test runs them after the suite).\n',
    );
  }
}
