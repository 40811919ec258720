import cliProgress from 'cli-progress';
import { percent } from '../format.js';

/** What the progress line shows while a scenario runs. */
export interface Live {
  readonly done: number;
  readonly reuseRate: number | null;
  readonly connectionsOpened: number;
}

export interface Progress {
  update(live: Live): void;
  stop(live: Live, wallMs: number): void;
}

/**
 * A bar that redraws in place on a terminal, and one plain line per scenario elsewhere (a pipe,
 * a CI log). It writes to stderr so stdout carries only the results.
 */
export function startProgress(name: string, description: string, total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) {
    stream.write(`${name}: ${description}...\n`);
    return {
      update() {},
      stop(live, wallMs) {
        stream.write(`${name}: ${live.done} requests in ${(wallMs / 1000).toFixed(1)} s, reuse ${percent(live.reuseRate)}, ` +
          `${live.connectionsOpened} connections opened\n`);
      },
    };
  }
  stream.write(`${description}\n`);
  const bar = new cliProgress.SingleBar({
    stream,
    format: `${name.padEnd(24)} {bar} {value}/{total} requests | reuse {reuse} | {connections} connections opened`,
    barsize: 24,
    hideCursor: true,
    clearOnComplete: false,
    fps: 10,
  }, cliProgress.Presets.shades_classic);
  const payload = (live: Live) => ({ reuse: percent(live.reuseRate).padStart(4), connections: live.connectionsOpened });
  bar.start(total, 0, payload({ done: 0, reuseRate: null, connectionsOpened: 0 }));
  return {
    update(live) {
      bar.update(live.done, payload(live));
    },
    stop(live) {
      bar.update(live.done, payload(live));
      bar.stop();
    },
  };
}
