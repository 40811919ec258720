// SDKs that ride node:http with Agents of their own: the AWS SDK v3 (S3, its handler's keep-alive
// Agent) and stripe (module-level keep-alive Agents), against local fake endpoints counting what
// they saw. Their figures equal the servers'.
import assert from 'node:assert/strict';
import https from 'node:https';
import { after, describe, it } from 'node:test';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import Stripe from 'stripe';
import { testAgent } from './helpers/agent.ts';
import { agentFiguresFor, assertAgentMatchesServer } from './helpers/node-http.ts';
import { eventually, sleep, startServer, testCertificate, type Handler } from './helpers/servers.ts';

const agent = await testAgent();
after(() => agent.shutdown());
const tls = await testCertificate();

/** A bucket of one: GetObject answers `hello`, PutObject takes the body and answers its ETag. */
const fakeS3: Handler = (request, response) => {
  request.resume();
  request.on('end', () => {
    if (request.method === 'PUT') response.setHeader('etag', '"5d41402abc4b2a76b9719d911017c592"');
    else response.setHeader('content-type', 'application/octet-stream');
    response.end(request.method === 'GET' ? 'hello' : '');
  });
};

/** The customers API, as far as the test calls it. */
const fakeStripe: Handler = (request, response) => {
  request.resume();
  request.on('end', () => {
    response.setHeader('content-type', 'application/json');
    response.setHeader('request-id', 'req_test');
    response.end(JSON.stringify({ id: 'cus_test', object: 'customer', email: 'a@example.com' }));
  });
};

for (const secure of [false, true]) {
  const scheme = secure ? 'HTTPS' : 'HTTP/1.1';

  describe(`${scheme} through the AWS SDK v3 S3 client`, () => {
    it('counts GetObject and PutObject, sequential and concurrent, exactly', async () => {
      const server = await startServer(secure ? { tls, handler: fakeS3 } : { handler: fakeS3 });
      const s3 = new S3Client({
        endpoint: server.origin, forcePathStyle: true, region: 'us-east-1', maxAttempts: 1,
        credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
        ...(secure ? { requestHandler: { httpsAgent: new https.Agent({ keepAlive: true, ca: tls.cert }) } } : {}),
      });
      after(() => s3.destroy());
      for (let i = 0; i < 5; i++) {
        const object = await s3.send(new GetObjectCommand({ Bucket: 'bucket', Key: `key-${i}` }));
        assert.equal(await object.Body?.transformToString(), 'hello');
        await s3.send(new PutObjectCommand({ Bucket: 'bucket', Key: `key-${i}`, Body: 'x'.repeat(1024) }));
        await sleep(2);
      }
      await Promise.all(Array.from({ length: 6 }, async (_, i) => {
        const object = await s3.send(new GetObjectCommand({ Bucket: 'bucket', Key: `wave-${i}` }));
        return object.Body?.transformToString();
      }));
      assert.equal(server.truth.requests, 16);
      await eventually(() => assertAgentMatchesServer(agent, server, secure));
      const figures = agentFiguresFor(agent, server);
      assert.ok(figures.requestsOnReusedConnections >= 10, `reused: ${figures.requestsOnReusedConnections}`);
      assert.equal(figures.poolsCreated, 1, 'one Agent per client');
    });
  });

  describe(`${scheme} through stripe`, () => {
    it('counts creates and retrieves on stripe\'s keep-alive Agent exactly', async () => {
      const server = await startServer(secure ? { tls, handler: fakeStripe } : { handler: fakeStripe });
      const own = secure ? new https.Agent({ keepAlive: true, ca: tls.cert }) : undefined;
      after(() => own?.destroy());
      const stripe = new Stripe('sk_test_poolscope', {
        host: '127.0.0.1', port: server.port, protocol: secure ? 'https' : 'http', maxNetworkRetries: 0, telemetry: false,
        ...(own === undefined ? {} : { httpAgent: own }),
      });
      for (let i = 0; i < 4; i++) {
        const created = await stripe.customers.create({ email: `user${i}@example.com` });
        assert.equal(created.id, 'cus_test');
        assert.equal((await stripe.customers.retrieve('cus_test')).id, 'cus_test');
        await sleep(2);
      }
      await Promise.all(Array.from({ length: 4 }, () => stripe.customers.retrieve('cus_test')));
      assert.equal(server.truth.requests, 12);
      await eventually(() => assertAgentMatchesServer(agent, server, secure));
      assert.ok(agentFiguresFor(agent, server).requestsOnReusedConnections >= 7);
    });
  });
}
