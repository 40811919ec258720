/**
 * `node --import poolscope/register app.js`: starts poolscope from the environment. Nothing
 * here may throw into the app or change how it exits.
 */
import { isMainThread } from 'node:worker_threads';
import { startFromPreload } from './agent.js';
import type { PoolscopeAgent } from './types.js';
import { EXIT_BOUND_MILLIS } from './config.js';
import { warnOnce } from './warn.js';

function shutdownWithin(agent: PoolscopeAgent, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    agent.shutdown().then(resolve, resolve).finally(() => clearTimeout(timer));
  });
}

function onSignal(agent: PoolscopeAgent, signal: 'SIGTERM' | 'SIGINT'): void {
  const handler = (): void => {
    process.removeListener(signal, handler);
    // With no handler of the app's, Node's default is to die by the signal: do so once
    // the last export is out, so the exit status is what it would have been.
    const appHandles = process.listenerCount(signal) > 0;
    void shutdownWithin(agent, EXIT_BOUND_MILLIS).then(() => {
      if (!appHandles) process.kill(process.pid, signal);
    });
  };
  process.on(signal, handler);
}

try {
  const agent = await startFromPreload();
  process.once('beforeExit', () => void shutdownWithin(agent, EXIT_BOUND_MILLIS));
  if (isMainThread) {
    onSignal(agent, 'SIGTERM');
    onSignal(agent, 'SIGINT');
  } else {
    // A worker thread gets no signals, and may end without `beforeExit` (process.exit()): its
    // last figures go to the main thread synchronously, from `exit`.
    process.once('exit', () => void agent.shutdown());
  }
} catch (error) {
  warnOnce('POOLSCOPE_NOT_STARTED', `poolscope did not start (${String(error)}); the app runs without it.`);
}
