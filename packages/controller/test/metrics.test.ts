// The Prometheus text exposition: HELP and TYPE lines, escaped labels, cumulative histogram buckets, and a parser
// that reads back what the renderer writes.
import { assert, describe, it } from "@effect/vitest"
import { Histogram, parsePrometheus, renderPrometheus } from "../src/metrics.ts"

describe("renderPrometheus", () => {
  it("renders counters and gauges with escaped labels", () => {
    const text = renderPrometheus([
      { name: "tcr_assistant_webhook_requests_total", help: "Admission reviews\nby result.", type: "counter", samples: [{ labels: { result: "allowed" }, value: 3 }] },
      { name: "tcr_assistant_leader", help: "1 when leading.", type: "gauge", samples: [{ value: 1 }] },
      { name: "odd", help: "h", type: "gauge", samples: [{ labels: { name: "a\"b\\c\nd" }, value: Infinity }] }
    ])
    assert.strictEqual(
      text,
      [
        "# HELP tcr_assistant_webhook_requests_total Admission reviews\\nby result.",
        "# TYPE tcr_assistant_webhook_requests_total counter",
        "tcr_assistant_webhook_requests_total{result=\"allowed\"} 3",
        "# HELP tcr_assistant_leader 1 when leading.",
        "# TYPE tcr_assistant_leader gauge",
        "tcr_assistant_leader 1",
        "# HELP odd h",
        "# TYPE odd gauge",
        "odd{name=\"a\\\"b\\\\c\\nd\"} +Inf",
        ""
      ].join("\n")
    )
  })

  it("renders histograms with cumulative buckets, sum and count", () => {
    const histogram = new Histogram([0.1, 1])
    for (const value of [0.05, 0.5, 0.7, 3]) histogram.observe(value)
    const text = renderPrometheus([{ name: "d_seconds", help: "h", type: "histogram", histograms: [histogram.snapshot({ kind: "x" })] }])
    const values = parsePrometheus(text)
    assert.strictEqual(values.get("d_seconds_bucket{kind=\"x\",le=\"0.1\"}"), 1)
    assert.strictEqual(values.get("d_seconds_bucket{kind=\"x\",le=\"1\"}"), 3)
    assert.strictEqual(values.get("d_seconds_bucket{kind=\"x\",le=\"+Inf\"}"), 4)
    assert.strictEqual(values.get("d_seconds_count{kind=\"x\"}"), 4)
    assert.closeTo(values.get("d_seconds_sum{kind=\"x\"}")!, 4.25, 1e-9)
  })

  it("refuses names Prometheus would reject", () => {
    assert.throws(() => renderPrometheus([{ name: "bad-name", help: "h", type: "gauge", samples: [] }]))
    assert.throws(() => renderPrometheus([{ name: "ok", help: "h", type: "gauge", samples: [{ labels: { "bad-label": "v" }, value: 1 }] }]))
  })
})
