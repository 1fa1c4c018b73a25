// The MongoDB connection, as a Fastify plugin: `app.mongo.client` and `app.mongo.db`.
import fp from 'fastify-plugin';
import { MongoClient, type Db, type MongoClientOptions } from 'mongodb';

export interface Mongo {
  client: MongoClient;
  db: Db;
}

declare module 'fastify' {
  interface FastifyInstance {
    mongo: Mongo;
  }
}

export interface MongoPluginOptions {
  uri: string;
  db: string;
  /** Extra driver options (tests turn on command monitoring). */
  clientOptions?: MongoClientOptions;
}

export async function connectMongo(uri: string, dbName: string, options: MongoClientOptions = {}): Promise<Mongo> {
  const client = new MongoClient(uri, {
    serverSelectionTimeoutMS: 5000,
    connectTimeoutMS: 5000,
    appName: 'cms',
    ...options,
  });
  await client.connect();
  return { client, db: client.db(dbName) };
}

export default fp<MongoPluginOptions>(
  async (app, opts) => {
    const mongo = await connectMongo(opts.uri, opts.db, opts.clientOptions);
    app.decorate('mongo', mongo);
    app.addHook('onClose', async () => {
      await mongo.client.close();
    });
  },
  { name: 'mongo' },
);
