import { z } from 'zod';

/**
 * The `compression` section: how a client encodes its update Δ = w_local − w_global before uploading it
 * (shared/compression, format in docs/compression.md). The aggregator decodes every kind; "none" uploads the trained
 * weights in float32 exactly as without this section.
 */

export const COMPRESSION_KINDS = ['none', 'float16', 'int8', 'topk'] as const;

const errorFeedback = (fallback: boolean) =>
  z
    .boolean()
    .default(fallback)
    .describe('Error feedback: the client keeps what compression dropped (its residual, client-private state) and adds it to its next update.');

export const compressionSchema = z
  .discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('none').describe('float32 weights, 4 bytes a value.') }).describe('No compression.'),
    z
      .strictObject({ kind: z.literal('float16').describe('IEEE half precision, 2 bytes a value, round to nearest even.'), errorFeedback: errorFeedback(false) })
      .describe('float16: half the bytes; relative error ≤ 2⁻¹¹.'),
    z
      .strictObject({
        kind: z.literal('int8').describe('One byte a value and one float32 scale per tensor (max |Δ| / 127).'),
        rounding: z
          .enum(['stochastic', 'nearest'])
          .default('stochastic')
          .describe('stochastic: unbiased (rounds up with probability equal to the fraction), seeded per client and round; nearest: error ≤ scale/2.'),
        errorFeedback: errorFeedback(false),
      })
      .describe('int8 quantization: about a quarter of the bytes.'),
    z
      .strictObject({
        kind: z.literal('topk').describe('Only the ⌈ratio × size⌉ values of largest magnitude, with their indices.'),
        ratio: z.number().positive().max(1).default(0.01).describe('Share of the values sent, e.g. 0.01 for 1 %.'),
        scope: z
          .enum(['model', 'tensor'])
          .default('model')
          .describe(
            'model: one threshold over the whole update, so the budget goes where Δ is largest; tensor: ⌈ratio × size⌉ of every tensor (Deep Gradient Compression\'s per-layer choice), which gives the small layers that matter most (convolutions, logits) as few values as the large dense layer.',
          ),
        errorFeedback: errorFeedback(true),
      })
      .describe('Top-k sparsification (Deep Gradient Compression, Lin et al., 2018; STC, Sattler et al., 2019).'),
  ])
  .describe('How clients compress the updates they upload. Omit it (or "none") for float32.');

export type CompressionConfig = z.output<typeof compressionSchema>;
export type CompressionConfigInput = z.input<typeof compressionSchema>;
export type CompressionKind = (typeof COMPRESSION_KINDS)[number];

export function parseCompressionConfig(input: CompressionConfigInput): CompressionConfig {
  return compressionSchema.parse(input);
}
