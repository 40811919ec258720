import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { assertMatchesServer, figuresFor, testAgent } from './helpers/agent.ts';
import { clients } from './helpers/clients.ts';
import { eventually, sleep, startServer, testCertificate } from './helpers/servers.ts';

const agent = await testAgent();
after(() => agent.shutdown());
const tls = await testCertificate();

// Built-in fetch cannot be told to trust the test's CA without changing the whole process.
for (const client of clients({ connect: { ca: tls.cert } }).filter((c) => c.name !== 'built-in fetch')) {
  describe(`HTTPS through ${client.name}`, () => {
    after(() => client.close());

    it('counts one TLS handshake per connection and reuses it', async () => {
      const server = await startServer({ tls });
      for (let i = 0; i < 8; i++) {
        assert.equal((await client.request(`${server.origin}/secure/${i}`)).body, 'ok');
        await sleep(2);
      }
      await Promise.all(Array.from({ length: 4 }, (_, i) => client.request(`${server.origin}/burst/${i}`)));
      await eventually(() => assertMatchesServer(agent, server, true));
      const figures = figuresFor(agent, server);
      assert.equal(figures.connectionsOpened, server.truth.tlsHandshakes);
      assert.equal(server.truth.connections, server.truth.tlsHandshakes, 'every TCP connection completed TLS');
      assert.ok(figures.typicalSetupSeconds !== null && figures.typicalSetupSeconds > 0, 'a TLS setup time was measured');
      assert.ok(figures.savedSeconds > 0);
      await client.close();
      await eventually(() => {
        assert.equal(server.truth.open, 0);
        assertMatchesServer(agent, server, true);
      });
    });
  });
}
