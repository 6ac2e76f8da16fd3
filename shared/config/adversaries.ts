import { z } from 'zod';

/**
 * The `adversaries` section: simulated attackers, so that an aggregator's robustness is measured rather than claimed.
 * A seeded set of clients (a `fraction` of them, or the `clients` named) is malicious for the whole experiment; the
 * trainer applies the attack (shared/attacks) and the metrics record who attacked. The server is never told.
 * Attack parameters sit beside `kind`, as a strategy's sit beside its `name`.
 */

export const ATTACK_KINDS = ['label-flip', 'sign-flip', 'scale', 'gaussian', 'alie'] as const;
const MAX_NAMED_ADVERSARIES = 1000;
const CLIENT_ID = /^client-\d{3,}$/;

const who = {
  fraction: z
    .number()
    .positive()
    .max(1)
    .optional()
    .describe('Share of all clients that are malicious, rounded to the nearest whole client and chosen with the seed. Give this or clients.'),
  clients: z
    .array(z.string())
    .optional()
    .describe('The malicious clients by id, e.g. ["client-000", "client-007"]. Give this or fraction.'),
};

export const adversariesSchema = z
  .discriminatedUnion('kind', [
    z
      .strictObject({ kind: z.literal('label-flip').describe('Train on flipped labels: y → C − 1 − y (C = 10 classes).'), ...who })
      .describe('Label flipping (data poisoning).'),
    z
      .strictObject({
        kind: z.literal('sign-flip').describe('Upload −factor × the honest update.'),
        factor: z.number().positive().max(1e6).default(1).describe('k in −k × Δ.'),
        ...who,
      })
      .describe('Sign flipping.'),
    z
      .strictObject({
        kind: z.literal('scale').describe('Upload factor × the honest update (a boosted update).'),
        factor: z.number().positive().max(1e6).default(10).describe('k in k × Δ.'),
        ...who,
      })
      .describe('Scaling (boosting, Bhagoji et al., 2019).'),
    z
      .strictObject({
        kind: z.literal('gaussian').describe('Upload Gaussian noise N(0, σ²) per value, instead of or on top of the honest update.'),
        sigma: z.number().positive().max(1e6).default(1).describe('σ: the noise\'s standard deviation.'),
        mode: z.enum(['replace', 'add']).default('replace').describe('replace: Δ becomes pure noise; add: noise is added to the honest Δ.'),
        ...who,
      })
      .describe('Gaussian noise, seeded per client and round.'),
    z
      .strictObject({
        kind: z.literal('alie').describe('All attackers upload μ − z·σ, the coordinate-wise mean and standard deviation of their own honest updates.'),
        z: z
          .number()
          .min(0)
          .max(100)
          .optional()
          .describe('z; omit it for the paper\'s z_max from the round\'s n updates and f attackers: Φ⁻¹((n − s)/n), s = ⌊n/2 + 1⌋ − f.'),
        ...who,
      })
      .describe('"A little is enough" (Baruch et al., 2019).'),
  ])
  .superRefine((adversaries, ctx) => {
    const { fraction, clients } = adversaries;
    if ((fraction === undefined) === (clients === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: `give exactly one of "fraction" (a share of the clients) or "clients" (their ids) (got ${fraction === undefined ? 'neither' : 'both'})`,
      });
    }
    if (clients === undefined) return;
    if (clients.length === 0) ctx.addIssue({ code: 'custom', path: ['clients'], message: 'must name at least one client, e.g. ["client-000"] (got an empty array)' });
    if (clients.length > MAX_NAMED_ADVERSARIES) {
      ctx.addIssue({ code: 'custom', path: ['clients'], message: `must name at most ${MAX_NAMED_ADVERSARIES} clients (got ${clients.length})` });
    }
    clients.forEach((id, index) => {
      if (!CLIENT_ID.test(id)) {
        ctx.addIssue({ code: 'custom', path: ['clients', index], message: `must be a client id such as "client-003" (got ${JSON.stringify(id.slice(0, 40))})` });
      } else if (clients.indexOf(id) !== index) {
        ctx.addIssue({ code: 'custom', path: ['clients', index], message: `${JSON.stringify(id)} is listed twice` });
      }
    });
  })
  .describe('Simulated attackers for robustness experiments. Omit it for none.');

export type AdversariesConfig = z.output<typeof adversariesSchema>;
export type AdversariesConfigInput = z.input<typeof adversariesSchema>;
export type AttackKind = (typeof ATTACK_KINDS)[number];

export function parseAdversariesConfig(input: AdversariesConfigInput): AdversariesConfig {
  return adversariesSchema.parse(input);
}
