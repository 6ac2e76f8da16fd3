import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  paginateListObjectsV2,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ObjectChangedError, type BoundedObject, type GetOptions, type ObjectInfo, type ObjectStore } from './ports.js';

/** An S3 call failed for a reason other than a missing key; names the operation and the object. */
export class ObjectStoreError extends Error {
  override name = 'ObjectStoreError';
}

export interface S3ObjectStoreOptions {
  /** Keys per ListObjectsV2 page (S3's maximum and default: 1000). */
  readonly listPageSize?: number;
  /**
   * Bodies larger than this go up in parts. 8 MiB, as the AWS CLI does: single PUTs above ~11 MiB are refused by
   * the local emulator, and parts retry cheaply on real S3.
   */
  readonly multipartThresholdBytes?: number;
  /** Part size of a multipart upload; S3 requires ≥ 5 MiB for all parts but the last. */
  readonly partSizeBytes?: number;
}

const MIB = 1024 * 1024;
const MIN_PART_BYTES = 5 * MIB;

function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

function httpStatus(error: unknown): number | undefined {
  const metadata = (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata;
  return metadata?.httpStatusCode;
}

// HEAD responses carry no error body, so a missing key shows only as a 404.
function isMissing(error: unknown): boolean {
  return errorName(error) === 'NotFound' || errorName(error) === 'NoSuchKey' || httpStatus(error) === 404;
}

const unquote = (eTag: string) => eTag.replace(/"/g, '');

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

export class S3ObjectStore implements ObjectStore {
  private readonly listPageSize: number;
  private readonly multipartThresholdBytes: number;
  private readonly partSizeBytes: number;

  constructor(
    private readonly client: S3Client,
    readonly bucket: string,
    options: S3ObjectStoreOptions = {},
  ) {
    this.listPageSize = options.listPageSize ?? 1000;
    this.partSizeBytes = Math.max(options.partSizeBytes ?? 8 * MIB, MIN_PART_BYTES);
    this.multipartThresholdBytes = options.multipartThresholdBytes ?? 8 * MIB;
    if (!Number.isInteger(this.listPageSize) || this.listPageSize < 1 || this.listPageSize > 1000) {
      throw new RangeError(`listPageSize must be an integer in 1–1000, got ${options.listPageSize}`);
    }
  }

  private failure(operation: string, key: string | undefined, error: unknown): ObjectStoreError {
    const where = key === undefined ? `s3://${this.bucket}` : `s3://${this.bucket}/${key}`;
    return new ObjectStoreError(`S3 ${operation} ${where} failed: ${describe(error)}`, { cause: error });
  }

  async put(key: string, body: Uint8Array | string, contentType?: string): Promise<void> {
    const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
    const ContentType = contentType ?? (typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream');
    if (bytes.byteLength > this.multipartThresholdBytes) {
      await this.putInParts(key, bytes, ContentType);
      return;
    }
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: bytes, ContentType }));
    } catch (error) {
      throw this.failure('PutObject', key, error);
    }
  }

  private async putInParts(key: string, bytes: Uint8Array, ContentType: string): Promise<void> {
    let uploadId: string | undefined;
    try {
      const created = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ContentType }));
      uploadId = created.UploadId;
      if (!uploadId) throw new Error('CreateMultipartUpload returned no UploadId');
      const parts: CompletedPart[] = [];
      for (let offset = 0, PartNumber = 1; offset < bytes.byteLength; offset += this.partSizeBytes, PartNumber++) {
        const Body = bytes.subarray(offset, Math.min(offset + this.partSizeBytes, bytes.byteLength));
        const part = await this.client.send(
          new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber, Body }),
        );
        parts.push({ PartNumber, ETag: part.ETag });
      }
      await this.client.send(
        new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
      );
    } catch (error) {
      if (uploadId) {
        // Incomplete uploads are billed until aborted; the original error is the one worth reporting.
        await this.client
          .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }))
          .catch(() => undefined);
      }
      throw this.failure('multipart upload', key, error);
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<Uint8Array | undefined> {
    const { ifMatch } = options;
    let response;
    try {
      response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(ifMatch ? { IfMatch: ifMatch } : {}) }));
    } catch (error) {
      // Only a missing key means "absent": a missing bucket (NoSuchBucket, also a 404) is a deployment error.
      if (errorName(error) === 'NoSuchKey') return undefined;
      if (ifMatch && (errorName(error) === 'PreconditionFailed' || httpStatus(error) === 412)) {
        throw new ObjectChangedError(`s3://${this.bucket}/${key} changed: it is no longer the version with ETag ${ifMatch}`, { cause: error });
      }
      throw this.failure('GetObject', key, error);
    }
    // Checked here as well, so a store that ignores IfMatch cannot hand over another version unnoticed.
    if (ifMatch && response.ETag !== undefined && unquote(response.ETag) !== unquote(ifMatch)) {
      throw new ObjectChangedError(`s3://${this.bucket}/${key} changed: read ETag ${response.ETag}, expected ${ifMatch}`);
    }
    try {
      if (!response.Body) return new Uint8Array(0);
      return await response.Body.transformToByteArray();
    } catch (error) {
      throw this.failure('GetObject', key, error);
    }
  }

  async getAtMost(key: string, maxBytes: number): Promise<BoundedObject | undefined> {
    let response;
    try {
      response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      if (errorName(error) === 'NoSuchKey') return undefined;
      throw this.failure('GetObject', key, error);
    }
    const body = response.Body as (AsyncIterable<Uint8Array> & { destroy?: () => void }) | undefined;
    const info = (size: number): ObjectInfo => ({
      size,
      eTag: response.ETag ?? '',
      ...(response.LastModified ? { lastModified: response.LastModified.toISOString() } : {}),
    });
    if (response.ContentLength !== undefined && response.ContentLength > maxBytes) {
      // Closing the connection is what stops S3 sending the rest; the SDK makes a new one for the next request.
      body?.destroy?.();
      return { info: info(response.ContentLength) };
    }
    if (!body) return { info: info(0), bytes: new Uint8Array(0) };
    // Counted as it arrives too, for a response that does not say its length.
    const chunks: Uint8Array[] = [];
    let received = 0;
    try {
      for await (const chunk of body) {
        received += chunk.byteLength;
        if (received > maxBytes) {
          body.destroy?.();
          return { info: info(response.ContentLength ?? received) };
        }
        chunks.push(chunk);
      }
    } catch (error) {
      throw this.failure('GetObject', key, error);
    }
    // One buffer of its own, as get() returns: decoders may view it as float32 from offset 0.
    const bytes = new Uint8Array(received);
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return { info: info(received), bytes };
  }

  async getText(key: string): Promise<string | undefined> {
    const bytes = await this.get(key);
    return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
  }

  async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== undefined;
  }

  /** Size and ETag of an object, or undefined when the key does not exist. */
  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const response = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return {
        size: response.ContentLength ?? 0,
        eTag: response.ETag ?? '',
        ...(response.LastModified ? { lastModified: response.LastModified.toISOString() } : {}),
      };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw this.failure('HeadObject', key, error);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const found: string[] = [];
    try {
      const pages = paginateListObjectsV2(
        { client: this.client, pageSize: this.listPageSize },
        { Bucket: this.bucket, Prefix: prefix },
      );
      for await (const page of pages) {
        for (const object of page.Contents ?? []) if (object.Key !== undefined) found.push(object.Key);
      }
    } catch (error) {
      throw this.failure('ListObjectsV2', `${prefix}*`, error);
    }
    return found;
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      throw this.failure('DeleteObject', key, error);
    }
  }
}

/** Creates `bucket` unless it exists already (owned by us); true when it was created. */
export async function createBucketIfMissing(client: S3Client, bucket: string): Promise<boolean> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
    return false;
  } catch (error) {
    if (errorName(error) !== 'NotFound' && httpStatus(error) !== 404) {
      throw new ObjectStoreError(`S3 HeadBucket s3://${bucket} failed: ${describe(error)}`, { cause: error });
    }
  }
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    return true;
  } catch (error) {
    if (errorName(error) === 'BucketAlreadyOwnedByYou') return false;
    throw new ObjectStoreError(`S3 CreateBucket s3://${bucket} failed: ${describe(error)}`, { cause: error });
  }
}
