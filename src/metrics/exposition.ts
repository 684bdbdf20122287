/**
 * Prometheus text exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/):
 * one `# HELP` and one `# TYPE` line per family, then its samples, `name{label="value"} value`.
 * Label values escape backslash, double quote and newline; HELP text escapes backslash and newline.
 * A family is written once even when empty (HELP/TYPE only), so a dashboard sees the metric exists.
 */

type MetricType = 'gauge' | 'counter' | 'histogram';

export interface Sample {
  /** Appended to the family name: '_bucket', '_sum', '_count' for histograms; '' otherwise. */
  suffix?: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

/** The content type Prometheus expects for this format. */
export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export function renderExposition(families: readonly MetricFamily[]): string {
  const out: string[] = [];
  for (const f of mergeFamilies(families)) {
    out.push(`# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
    out.push(`# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) out.push(`${f.name}${s.suffix ?? ''}${labelText(s.labels)} ${numberText(s.value)}`);
  }
  return out.join('\n') + '\n';
}

/** Families of the same name (from several brokers) become one: a name may appear once per scrape. */
function mergeFamilies(families: readonly MetricFamily[]): MetricFamily[] {
  const byName = new Map<string, MetricFamily>();
  for (const f of families) {
    const seen = byName.get(f.name);
    if (!seen) byName.set(f.name, { ...f, samples: [...f.samples] });
    else if (seen.type !== f.type) throw new Error(`metric ${f.name} declared as ${seen.type} and ${f.type}`);
    else seen.samples.push(...f.samples);
  }
  return [...byName.values()];
}

function labelText(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

function numberText(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** A gauge family from rows (a shorthand for the collectors). */
export function gauge(name: string, help: string, samples: Array<[Record<string, string>, number]>): MetricFamily {
  return { name, help, type: 'gauge', samples: samples.map(([labels, value]) => ({ labels, value })) };
}

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Parse exposition text back into samples (comments skipped). For tests and `exporter --json`;
 * it reads what renderExposition writes, not every dialect of the format.
 */
export function parseExposition(text: string): ParsedSample[] {
  const out: ParsedSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition sample line: ${line}`);
    const labels: Record<string, string> = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
    for (const l of (m[3] ?? '').matchAll(re)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const v = m[4]!;
    out.push({ name: m[1]!, labels, value: v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v) });
  }
  return out;
}
