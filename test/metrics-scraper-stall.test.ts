// A scraper that stops reading and keeps its connection must not hold poolscope's readings
// forever: once it took nothing for 15-30 s, its connection is dropped, and the app hears
// nothing. The exposition must be larger than what the kernel takes for a paused reader on
// loopback (about 4 MB here), hence a thousand origins; and the test waits the 30 s.
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { agentWithOrigins, rawScrape, scrape } from './helpers/agent.ts';
import { sleep } from './helpers/servers.ts';

const ORIGINS = 1000;
/** The longest poolscope lets a scraper take nothing: twice SCRAPER_STALL_MS (src/export/readers.ts). */
const STALL_MS = 30_000;

const warnings: Error[] = [];
process.on('warning', (warning) => warnings.push(warning));

const { agent, port } = await agentWithOrigins(ORIGINS, 1);
after(() => agent.shutdown());

it('drops a scraper that stops reading, within 30 s, and serves the next scrape whole', { timeout: STALL_MS + 40_000 }, async () => {
  const whole = await scrape(agent.metricsUrl!);
  assert.ok(whole.length > 16 * 1024 * 1024, `${whole.length} bytes: more than loopback buffers`);

  const socket = await rawScrape(port, 'stall-test');
  socket.pause();
  await sleep(STALL_MS + 2_000);
  // The reader comes back: had poolscope waited for it, the whole exposition would follow now.
  let received = 0;
  socket.on('data', (data: Buffer) => { received += data.length; });
  const ended = new Promise((resolve) => socket.once('close', resolve));
  socket.resume();
  await ended;
  assert.ok(received < whole.length, `cut off: ${received} of ${whole.length} bytes`);
  assert.ok(received > 0, 'the part the kernel held before the drop');

  const next = await scrape(agent.metricsUrl!);
  assert.ok(next.endsWith('\n') && next.length > whole.length * 0.9, 'the next scrape is whole');
  assert.deepEqual(warnings.filter((warning) => warning.name === 'PoolscopeWarning'), []);
});
