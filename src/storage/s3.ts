// The S3 connection, as a Fastify plugin: `app.s3.client` and `app.s3.bucket`.
import {
  CreateBucketCommand,
  HeadBucketCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';

export interface S3 {
  client: S3Client;
  bucket: string;
  /** Throws unless the bucket answers. */
  ping(): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    s3: S3;
  }
}

export function createS3(config: Config['s3']): S3 {
  const client = new S3Client({
    region: config.region,
    forcePathStyle: config.forcePathStyle,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...(config.accessKeyId && config.secretAccessKey
      ? { credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey } }
      : {}),
    maxAttempts: 2,
    // a store that stops answering becomes a 503, not a request that hangs: 5 s to connect, and
    // 60 s of silence on an open socket
    requestHandler: { connectionTimeout: 5000, requestTimeout: 60000 },
  });
  const bucket = config.bucket;
  return {
    client,
    bucket,
    async ping() {
      await client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: AbortSignal.timeout(5000) });
    },
  };
}

/** Creates the bucket when it does not exist yet. */
export async function ensureBucket(s3: S3): Promise<void> {
  try {
    await s3.ping();
  } catch (err) {
    const status = err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;
    if (status !== 404) throw err;
    await s3.client.send(new CreateBucketCommand({ Bucket: s3.bucket }));
  }
}

export default fp<{ config: Config['s3'] }>(
  async (app, opts) => {
    const s3 = createS3(opts.config);
    await ensureBucket(s3);
    app.decorate('s3', s3);
    app.addHook('onClose', async () => {
      s3.client.destroy();
    });
  },
  { name: 's3' },
);
