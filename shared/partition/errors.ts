/** A partition that cannot be made from these labels with these options (e.g. more clients than samples). */
export class PartitionError extends Error {
  override name = 'PartitionError';
}
