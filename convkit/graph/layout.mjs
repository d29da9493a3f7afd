// Lays out a model graph with Graphviz (compiled to WebAssembly, @hpcc-js/wasm-graphviz from package-lock.json)
// and prints the SVG. Reads {document, collapsed} as JSON on stdin; never fetches anything.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import vm from "node:vm";

const here = dirname(fileURLToPath(import.meta.url));
vm.runInThisContext(readFileSync(join(here, "dot.js"), "utf8"), { filename: "dot.js" });

const nodeRoot = process.argv[2];
const { Graphviz } = await import(pathToFileURL(join(nodeRoot, "node_modules", "@hpcc-js", "wasm-graphviz", "dist", "index.js")).href);

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const { dot, boxes } = globalThis.convkitDot.toDot(request.document, new Set(request.collapsed));
const graphviz = await Graphviz.load();
const svg = graphviz.layout(dot, "svg", "dot");
process.stdout.write(JSON.stringify({ svg, boxes, graphviz: graphviz.version() }));
