/** A labelled image set kept as raw bytes: 784 uint8 pixels per MNIST image, one uint8 label each. */
export interface Dataset {
  readonly count: number;
  readonly rows: number;
  readonly cols: number;
  /** count × rows × cols pixels, row-major, 0–255. */
  readonly images: Uint8Array;
  /** count labels, 0–9. */
  readonly labels: Uint8Array;
}

export const NUM_CLASSES = 10;
