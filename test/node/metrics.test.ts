import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NodeMetrics } from '../../services/node/metrics.ts';
import { metricValue } from './test-support.ts';

describe('NodeMetrics', () => {
  it('keeps each node in its own registry, so two nodes can share a process', async () => {
    const a = new NodeMetrics({ maxBatch: 4 });
    const b = new NodeMetrics({ maxBatch: 4 });
    a.addModel('m', { queueDepth: () => 3, inflight: () => 2 });
    b.addModel('m', { queueDepth: () => 0, inflight: () => 0 });
    a.countRequest('m', 200);
    a.countRequest('m', 200);
    a.countRequest('m', 429);
    const textA = await a.text();
    const textB = await b.text();
    assert.equal(
      metricValue(textA, 'edgeshift_inference_requests_total{model="m",status="200"}'),
      2,
    );
    assert.equal(
      metricValue(textA, 'edgeshift_inference_requests_total{model="m",status="429"}'),
      1,
    );
    assert.equal(
      metricValue(textB, 'edgeshift_inference_requests_total{model="m",status="200"}'),
      0,
    );
    assert.equal(metricValue(textA, 'edgeshift_queue_depth{model="m"}'), 3);
    assert.equal(metricValue(textA, 'edgeshift_inflight_requests{model="m"}'), 2);
  });

  it('records durations in seconds and batch sizes in buckets up to maxBatch', async () => {
    const metrics = new NodeMetrics({ maxBatch: 6 });
    metrics.addModel('m', { queueDepth: () => 0, inflight: () => 0 });
    metrics.observeDuration('m', 'compute', 2); // ms
    metrics.observeBatch('m', 5);
    const text = await metrics.text();
    assert.equal(
      metricValue(text, 'edgeshift_request_duration_seconds_sum{model="m",phase="compute"}'),
      0.002,
    );
    assert.equal(
      metricValue(
        text,
        'edgeshift_request_duration_seconds_bucket{le="0.001",model="m",phase="compute"}',
      ),
      0,
    );
    assert.equal(
      metricValue(
        text,
        'edgeshift_request_duration_seconds_bucket{le="0.0025",model="m",phase="compute"}',
      ),
      1,
    );
    assert.equal(
      metricValue(text, 'edgeshift_request_duration_seconds_count{model="m",phase="queue"}'),
      0,
    );
    assert.equal(metricValue(text, 'edgeshift_batch_size_bucket{le="4",model="m"}'), 0);
    assert.equal(metricValue(text, 'edgeshift_batch_size_bucket{le="6",model="m"}'), 1);
    assert.match(text, /^# TYPE edgeshift_batch_size histogram$/m);
    assert.match(metrics.contentType, /^text\/plain/);
  });
});
