// /metrics never keeps the app's process alive: neither its listening socket nor a connection a
// scraper holds open between scrapes, as Prometheus does with keep-alive.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, it } from 'node:test';
import { start } from 'poolscope';

const agent = await start({ exporters: ['prometheus'], host: '127.0.0.1', port: 0 });
after(() => agent.shutdown());

/** Handles of `type` that keep the event loop alive now. */
const keepingAlive = (type: string) => process.getActiveResourcesInfo().filter((resource) => resource === type).length;

it('a scraper\'s keep-alive connection keeps nothing of the app alive once its scrape is answered', { timeout: 10_000 }, async () => {
  const before = keepingAlive('TCPSocketWrap');
  const { port } = new URL(agent.metricsUrl!);
  const scraper = connect(Number(port), '127.0.0.1');
  let answer = '';
  await new Promise<void>((resolve, reject) => {
    scraper.on('error', reject);
    scraper.setEncoding('latin1').on('data', (chunk: string) => {
      answer += chunk;
      // The exposition ends with a newline after the last sample; the chunked body with `0\r\n\r\n`.
      if (answer.endsWith('0\r\n\r\n')) resolve();
    });
    scraper.write(`GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: keep-alive\r\n\r\n`);
  });
  assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(answer, /\r\nConnection: keep-alive\r\n/i, 'the server keeps the connection open');
  // The scraper's own end of the connection is the test's: it must not count.
  scraper.unref();
  assert.equal(keepingAlive('TCPSocketWrap'), before, 'poolscope\'s end of the connection keeps the loop alive');
  scraper.destroy();
});
