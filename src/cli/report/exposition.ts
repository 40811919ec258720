/**
 * A parser for the Prometheus text exposition format (version 0.0.4), the one `/metrics`
 * serves. It keeps samples only: names, labels and values; HELP and TYPE lines are checked
 * for shape and skipped. Anything else is an error naming the line, so a file that is not an
 * exposition is refused instead of read as zero.
 *
 * The npm parsers for this format were last changed years ago and flatten labelled
 * histograms; this one is small enough to read in one sitting and is tested line by line.
 */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export class ExpositionError extends Error {
  readonly code = 'POOLSCOPE_BAD_EXPOSITION';
  readonly line: number;

  constructor(line: number, reason: string, text: string) {
    const shown = text.length > 80 ? `${text.slice(0, 77)}...` : text;
    super(`line ${line}: ${reason}: ${JSON.stringify(shown)}`);
    this.line = line;
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const WHOLE_METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SPECIAL_VALUES: Readonly<Record<string, number>> = { 'NaN': NaN, '+Inf': Infinity, 'Inf': Infinity, '-Inf': -Infinity };
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!.replace(/\r$/, '');
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      checkComment(line, index + 1);
      continue;
    }
    samples.push(parseSample(line, index + 1));
  }
  return samples;
}

function checkComment(line: string, number: number): void {
  const match = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/.exec(line);
  if (match === null) return; // a plain comment
  const [, keyword, name, rest] = match;
  if (!WHOLE_METRIC_NAME.test(name!)) throw new ExpositionError(number, `bad metric name in ${keyword}`, line);
  if (keyword === 'TYPE' && !TYPES.has((rest ?? '').trim())) throw new ExpositionError(number, 'unknown metric type', line);
}

function parseSample(line: string, number: number): Sample {
  const nameMatch = METRIC_NAME.exec(line);
  if (nameMatch === null) throw new ExpositionError(number, 'expected a metric name', line);
  const name = nameMatch[0];
  const labels: Record<string, string> = {};
  // As Prometheus reads it: blanks may stand around the label set, and must separate a bare name from its value.
  const afterName = skipBlanks(line, name.length);
  let position: number;
  if (line[afterName] === '{') {
    position = skipBlanks(line, parseLabels(line, afterName + 1, labels, number));
  } else if (afterName > name.length) {
    position = afterName;
  } else {
    throw new ExpositionError(number, 'expected a space before the value', line);
  }
  const fields = line.slice(position).trim().split(/[ \t]+/);
  if (fields.length < 1 || fields.length > 2 || fields[0] === '') throw new ExpositionError(number, 'expected a value and an optional timestamp', line);
  const value = parseValue(fields[0]!);
  if (value === undefined) throw new ExpositionError(number, 'the value is not a number', line);
  if (fields.length === 2 && !/^-?\d+$/.test(fields[1]!)) throw new ExpositionError(number, 'the timestamp is not an integer', line);
  return { name, labels, value };
}

/** Reads `name="value",...}` from `position`; returns the position after the closing brace. */
function parseLabels(line: string, start: number, labels: Record<string, string>, number: number): number {
  let position = start;
  for (;;) {
    position = skipBlanks(line, position);
    if (line[position] === '}') return position + 1;
    const labelMatch = LABEL_NAME.exec(line.slice(position));
    if (labelMatch === null) throw new ExpositionError(number, 'expected a label name', line);
    const label = labelMatch[0];
    position = skipBlanks(line, position + label.length);
    if (line[position] === '=') position = skipBlanks(line, position + 1);
    else throw new ExpositionError(number, `expected = after label ${label}`, line);
    if (line[position++] !== '"') throw new ExpositionError(number, `expected a quoted value for label ${label}`, line);
    let value = '';
    for (;;) {
      const char = line[position];
      if (char === undefined) throw new ExpositionError(number, `unterminated value of label ${label}`, line);
      position++;
      if (char === '"') break;
      if (char !== '\\') {
        value += char;
        continue;
      }
      const escaped = line[position++];
      if (escaped === 'n') value += '\n';
      else if (escaped === '\\' || escaped === '"') value += escaped;
      else throw new ExpositionError(number, `bad escape in label ${label}`, line);
    }
    if (Object.hasOwn(labels, label)) throw new ExpositionError(number, `label ${label} given twice`, line);
    labels[label] = value;
    position = skipBlanks(line, position);
    if (line[position] === ',') position++;
    else if (line[position] !== '}') throw new ExpositionError(number, 'expected , or } after a label', line);
  }
}

function skipBlanks(line: string, start: number): number {
  let position = start;
  while (line[position] === ' ' || line[position] === '\t') position++;
  return position;
}

function parseValue(text: string): number | undefined {
  if (Object.hasOwn(SPECIAL_VALUES, text)) return SPECIAL_VALUES[text];
  return NUMBER.test(text) ? Number(text) : undefined;
}
