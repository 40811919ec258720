// A real OTLP/HTTP receiver on loopback (JSON encoding), keeping every export it was sent.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';

interface KeyValue { key: string; value: { stringValue?: string; intValue?: number | string; doubleValue?: number; boolValue?: boolean } }
interface NumberPoint { attributes?: KeyValue[]; asDouble?: number; asInt?: number | string; timeUnixNano?: number | string }
type Int64 = number | string;
interface HistogramPoint { attributes?: KeyValue[]; count?: Int64; sum?: number }
interface ExponentialPoint extends HistogramPoint { scale?: number; zeroCount?: Int64; positive?: { offset?: number; bucketCounts?: Int64[] } }
interface OtlpMetric {
  name: string;
  sum?: { dataPoints: NumberPoint[] };
  gauge?: { dataPoints: NumberPoint[] };
  histogram?: { dataPoints: HistogramPoint[] };
  exponentialHistogram?: { dataPoints: ExponentialPoint[] };
}
interface OtlpExport {
  resourceMetrics: Array<{
    resource?: { attributes?: KeyValue[] };
    scopeMetrics: Array<{ scope?: { name?: string }; metrics: OtlpMetric[] }>;
  }>;
}

export interface OtlpReceiver {
  readonly endpoint: string;
  /** Every export request body, decoded, in arrival order. */
  readonly exports: OtlpExport[];
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const exports: OtlpExport[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.method !== 'POST' || request.url !== '/v1/metrics') {
        response.statusCode = 404;
        response.end();
        return;
      }
      exports.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpExport);
      response.setHeader('content-type', 'application/json');
      response.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, exports };
}

function attributeValue(value: KeyValue['value']): string {
  return String(value.stringValue ?? value.intValue ?? value.doubleValue ?? value.boolValue);
}

/**
 * The sum over the data points of one metric in one export whose attributes include `labels`
 * (values compared as strings), or undefined when no point matches.
 */
export function otlpValue(body: OtlpExport, name: string, labels: Record<string, string>): number | undefined {
  let total: number | undefined;
  for (const resource of body.resourceMetrics) {
    for (const scope of resource.scopeMetrics) {
      for (const metric of scope.metrics) {
        if (metric.name !== name) continue;
        for (const point of (metric.sum ?? metric.gauge)?.dataPoints ?? []) {
          const attributes = new Map((point.attributes ?? []).map((kv) => [kv.key, attributeValue(kv.value)]));
          if (!Object.entries(labels).every(([key, expected]) => attributes.get(key) === expected)) continue;
          total = (total ?? 0) + Number(point.asDouble ?? point.asInt ?? 0);
        }
      }
    }
  }
  return total;
}

/** When the export was collected (its data points' time), in milliseconds since the epoch. */
export function otlpCollectedAtMs(body: OtlpExport): number | undefined {
  for (const resource of body.resourceMetrics) {
    for (const scope of resource.scopeMetrics) {
      for (const metric of scope.metrics) {
        const time = (metric.sum ?? metric.gauge)?.dataPoints[0]?.timeUnixNano;
        if (time !== undefined) return Number(BigInt(time) / 1_000_000n);
      }
    }
  }
  return undefined;
}

/** One histogram data point as received; the bucket fields are the exponential ones (0 and [] for explicit points). */
export interface OtlpHistogramPoint {
  readonly name: string;
  readonly exponential: boolean;
  readonly attributes: Record<string, string>;
  readonly count: number;
  readonly sum: number;
  readonly scale: number;
  readonly zeroCount: number;
  readonly offset: number;
  readonly bucketCounts: number[];
}

/** Every histogram data point of one export, explicit or exponential (JSON leaves out fields that are 0). */
export function otlpHistograms(body: OtlpExport): OtlpHistogramPoint[] {
  const points: OtlpHistogramPoint[] = [];
  for (const resource of body.resourceMetrics) {
    for (const scope of resource.scopeMetrics) {
      for (const metric of scope.metrics) {
        const exponential = metric.exponentialHistogram !== undefined;
        const dataPoints: ExponentialPoint[] = metric.exponentialHistogram?.dataPoints ?? metric.histogram?.dataPoints ?? [];
        for (const point of dataPoints) {
          points.push({
            name: metric.name,
            exponential,
            attributes: Object.fromEntries((point.attributes ?? []).map((kv) => [kv.key, attributeValue(kv.value)])),
            count: Number(point.count ?? 0),
            sum: point.sum ?? 0,
            scale: point.scale ?? 0,
            zeroCount: Number(point.zeroCount ?? 0),
            offset: point.positive?.offset ?? 0,
            bucketCounts: (point.positive?.bucketCounts ?? []).map(Number),
          });
        }
      }
    }
  }
  return points;
}
