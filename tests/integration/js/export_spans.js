// Export N inference spans with the OpenTelemetry JavaScript SDK over OTLP/HTTP, as a Node.js service would.
// Usage: node export_spans.js ENDPOINT proto|json COUNT MODEL
"use strict";
const { BasicTracerProvider, BatchSpanProcessor } = require("@opentelemetry/sdk-trace-base");
const { resourceFromAttributes } = require("@opentelemetry/resources");

async function main() {
  const [endpoint, protocol, count, model] = process.argv.slice(2);
  const { OTLPTraceExporter } =
    protocol === "json"
      ? require("@opentelemetry/exporter-trace-otlp-http")
      : require("@opentelemetry/exporter-trace-otlp-proto");
  const exporter = new OTLPTraceExporter({ url: `${endpoint}/v1/traces` });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": "node-scorer", "ml.hardware.class": "cpu" }),
    spanProcessors: [new BatchSpanProcessor(exporter, { maxExportBatchSize: 128, maxQueueSize: 100000 })],
  });
  const tracer = provider.getTracer("inferwatch-tests");
  for (let number = 0; number < Number(count); number++) {
    const span = tracer.startSpan("predict");
    span.setAttribute("ml.model.name", model);
    span.setAttribute("ml.model.version", "js");
    span.setAttribute("gen_ai.usage.input_tokens", number);
    span.end();
  }
  await provider.forceFlush();
  await provider.shutdown();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
