import { createRequire } from 'node:module';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/** The instrumentation scope every poolscope metric is reported under. */
export const SCOPE = { name: 'poolscope', version } as const;
