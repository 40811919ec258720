import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { DEFAULTS, ENVIRONMENT } from '../dist/config.js';

it('the README\'s options table names every option, its variable and its default, as the code does', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('### Options');
  const section = readme.slice(start, readme.indexOf('\n#', start + 1));
  const rows = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    const match = /^\| `(\w+)` \|(.*)\|$/.exec(line);
    if (match) rows.set(match[1]!, match[2]!.split(' | ').map((cell) => cell.trim()));
  }
  assert.deepEqual([...rows.keys()].sort(), [...Object.keys(ENVIRONMENT), 'meterProvider'].sort());
  for (const [option, variable] of Object.entries(ENVIRONMENT)) {
    const [documentedVariable, documentedDefault] = rows.get(option)!;
    assert.equal(documentedVariable, `\`${variable}\``, option);
    const fallback = (DEFAULTS as Record<string, unknown>)[option];
    if (fallback !== undefined) {
      const shown = Array.isArray(fallback) ? fallback.join(',') : String(fallback);
      assert.equal(documentedDefault, `\`${shown}\``, `${option}'s default`);
    }
  }
});
