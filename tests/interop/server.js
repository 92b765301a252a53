// A tiny OPC UA server built on node-opcua (not on asyncua), for the driver's interop test.
// Usage: node server.js <port> <pki-dir>. Prints "READY <endpoint>" once it listens.
"use strict";
const path = require("path");
const { OPCUAServer } = require("node-opcua-server");
const { DataType, Variant } = require("node-opcua-variant");
const { StatusCodes } = require("node-opcua-status-code");
const { OPCUACertificateManager } = require("node-opcua-certificate-manager");
const { LocalizedText } = require("node-opcua-data-model");

async function main() {
  const port = parseInt(process.argv[2] || "4841", 10);
  const pki = process.argv[3] || path.join(__dirname, "pki");
  // "--distrust": unknown client certificates are rejected (they land in <pki>/rejected), as a
  // production server does until someone trusts the client.
  const distrust = process.argv.includes("--distrust");
  const serverCertificateManager = new OPCUACertificateManager({ rootFolder: pki, automaticallyAcceptUnknownCertificate: !distrust });
  const server = new OPCUAServer({
    port,
    hostname: "127.0.0.1",
    resourcePath: "/interop",
    serverCertificateManager,
    buildInfo: { productName: "shopfloor interop (node-opcua)" },
    serverCapabilities: { operationLimits: { maxNodesPerRead: 3, maxMonitoredItemsPerCall: 2 } },
  });
  await server.initialize();
  const addressSpace = server.engine.addressSpace;
  const ns = addressSpace.registerNamespace("urn:shopfloor-test:node-opcua");
  const machine = ns.addObject({ browseName: "Machine", organizedBy: addressSpace.rootFolder.objects });
  let counter = 0;
  const add = (name, dataType, value, extra = {}) =>
    ns.addVariable({ componentOf: machine, browseName: name, nodeId: `s=Machine.${name}`, dataType, minimumSamplingInterval: 100, ...extra,
      value: { get: () => new Variant({ dataType, value: typeof value === "function" ? value() : value, ...extra.variant }) } });
  add("Counter", DataType.UInt32, () => counter, { minimumSamplingInterval: 100 });
  add("Speed", DataType.Double, 1234.5);
  add("Running", DataType.Boolean, true);
  add("Program", DataType.String, "O1000");
  add("State", DataType.LocalizedText, new LocalizedText({ text: "Running", locale: "en" }));
  add("Axes", DataType.Double, [1.5, -2.25, 3], { valueRank: 1, arrayDimensions: [3], variant: { arrayType: 1 } });
  const bad = ns.addVariable({ componentOf: machine, browseName: "Broken", nodeId: "s=Machine.Broken", dataType: DataType.Double });
  bad.setValueFromSource(new Variant({ dataType: DataType.Double, value: 0 }), StatusCodes.BadSensorFailure);
  const timer = setInterval(() => { counter += 1; }, 100);
  await server.start();
  process.stdout.write(`READY ${server.getEndpointUrl()}\n`);
  const stop = async () => { clearInterval(timer); await server.shutdown(100); process.exit(0); };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => { console.error(err); process.exit(1); });
