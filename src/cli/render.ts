import { styleText } from 'node:util';
import Table from 'cli-table3';
import type { Finding } from './report/diagnose.js';

/** Writes styled text where the stream is a colour terminal, plain text elsewhere (NO_COLOR, pipes, files). */
export function style(format: Parameters<typeof styleText>[0], text: string, stream: NodeJS.WriteStream = process.stdout): string {
  return styleText(format, text, { stream });
}

function width(stream: NodeJS.WriteStream = process.stdout): number {
  return Math.max(60, Math.min(stream.isTTY ? stream.columns : 110, 140));
}

/** A table of figures with a header row; numbers right-aligned. */
export function figureTable(head: string[], rows: Array<Array<string | number>>, stream: NodeJS.WriteStream = process.stdout): string {
  const table = new Table({
    head: head.map((title) => style('bold', title, stream)),
    // No rule between rows: one line per row reads as a table at a glance.
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
    style: { head: [], border: [], 'padding-left': 1, 'padding-right': 1 },
    colAligns: head.map((_, i) => (i === 0 ? 'left' : 'right')),
  });
  for (const row of rows) table.push(row.map(String));
  return table.toString();
}

const BORDERLESS = {
  top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '',
  'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '',
};

/** Findings under a heading, wrapped to the terminal: what, the evidence, the change. */
export function findingsBlock(heading: string, findings: readonly Finding[], stream: NodeJS.WriteStream = process.stdout): string {
  const lines = [style('bold', heading, stream)];
  if (findings.length === 0) {
    lines.push(`  ${style('green', 'ok', stream)}  no problem found`);
    return lines.join('\n');
  }
  const columns = width(stream);
  for (const finding of findings) {
    const mark = finding.kind === 'too-little-traffic' ? style('dim', '--', stream) : style('red', '!!', stream);
    const table = new Table({
      chars: BORDERLESS,
      style: { head: [], border: [], 'padding-left': 0, 'padding-right': 1 },
      colWidths: [12, columns - 16],
      wordWrap: true,
    });
    table.push([mark, finding.summary], [style('dim', 'evidence', stream), finding.evidence], [style('dim', 'change', stream), finding.change]);
    lines.push(table.toString().split('\n').map((line) => `  ${line.trimEnd()}`).join('\n'));
  }
  return lines.join('\n');
}
