// A Sparkplug host built on Eclipse Tahu's JavaScript codec (sparkplug-payload), for the Sparkplug
// sink's conformance test: it decodes the messages a test captured, the way a Tahu-based host would.
//
//   node sparkplug_host.js < messages.jsonl > decoded.jsonl
//
// Input: one JSON object per line, {"topic": "...", "payload": "<base64>"}. Output: one line per
// input line, {"topic", "decoded": <Tahu's decodePayload result>, "restored": [aliases]} or
// {"topic", "error": "..."}. Tahu's decodePayload is stateless and reads a value by the metric's
// datatype, which data messages leave out as the specification asks; so, like Tahu's Java host
// (its MetricDataTypeMap), this host remembers each alias's datatype from the births and puts it back
// into a data message (Tahu's own protobuf schema, decode and encode) before calling decodePayload.
// "restored" lists the aliases that needed it. Longs become {"long": "<decimal>"}, bytes
// {"bytes": "<base64>"}, so nothing is rounded on the way to the test.
"use strict";

const readline = require("readline");
const Long = require("long");
const sparkplug = require("sparkplug-payload").get("spBv1.0");
const { Payload } = require("sparkplug-payload/lib/sparkplugPayloadProto").org.eclipse.tahu.protobuf;

const datatypes = new Map(); // "<group>/<edge node>" -> Map(alias -> datatype), from births

function plain(value) {
  if (Long.isLong(value)) return { long: value.toString() };
  if (value instanceof Uint8Array) return { bytes: Buffer.from(value).toString("base64") };
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = plain(v);
    return out;
  }
  return value;
}

function aliasKey(alias) {
  return Long.isLong(alias) ? alias.toString() : String(alias);
}

function decode(topic, bytes) {
  const [, group, type, node] = topic.split("/");
  const key = `${group}/${node}`;
  if (type === "NBIRTH") datatypes.set(key, new Map());
  const known = datatypes.get(key) || new Map();
  const restored = [];
  let raw = bytes;
  if (type === "NDATA" || type === "DDATA") {
    const message = Payload.decode(bytes);
    for (const metric of message.metrics) {
      const alias = aliasKey(metric.alias);
      if (!metric.hasOwnProperty("datatype") && metric.hasOwnProperty("alias") && known.has(alias)) {
        metric.datatype = known.get(alias);
        restored.push(alias);
      }
    }
    raw = Payload.encode(message).finish();
  }
  const decoded = sparkplug.decodePayload(raw);
  if (type === "NBIRTH" || type === "DBIRTH") {
    for (const metric of Payload.decode(bytes).metrics) {
      if (metric.hasOwnProperty("alias")) known.set(aliasKey(metric.alias), metric.datatype);
    }
    datatypes.set(key, known);
  }
  return { decoded: plain(decoded), restored };
}

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (!line.trim()) return;
  const { topic, payload } = JSON.parse(line);
  try {
    process.stdout.write(JSON.stringify({ topic, ...decode(topic, Buffer.from(payload, "base64")) }) + "\n");
  } catch (err) {
    process.stdout.write(JSON.stringify({ topic, error: String(err && err.message ? err.message : err) }) + "\n");
  }
});
