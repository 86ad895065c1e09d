// Checks what Kubernetes' own schemas cannot: the chart's custom resources and its PromQL.
//
//   node crcheck.mjs <input.json>     (run from the directory holding node_modules)
//
// input:  {"resources": [{"id": "...", "doc": {...}}], "expressions": [{"id": "...", "expr": "..."}]}
// output (stdout, JSON):
//   {"resources":   [{"id", "errors": ["..."]}],
//    "expressions": [{"id", "errors": ["..."], "selectors": [{"metric", "labels": [...]}],
//                     "grouping": [...]}]}
//
// Custom resources (ServiceMonitor, PrometheusRule, ScaledObject, TriggerAuthentication) are checked
// twice against @kubernetes-models/*, which are generated from the operators' Go API types (the
// types their CRD schemas are generated from):
//   1. the package's compiled validator: types, required fields, enums and patterns;
//   2. the TypeScript compiler, with each document as an object literal typed by the package's
//      interface: excess-property checks reject every unknown key at any depth, which the
//      validators (and the CRDs' structural schemas, which prune instead) let through.
// PromQL is parsed with @prometheus-io/lezer-promql, the grammar of Prometheus' own UI: a syntax
// error is reported with its position; selectors give the metric names and matcher labels.

import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { parser } from "@prometheus-io/lezer-promql";

const KINDS = {
  "keda.sh/v1alpha1/ScaledObject": ["@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject", "ScaledObject"],
  "keda.sh/v1alpha1/TriggerAuthentication": [
    "@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication",
    "TriggerAuthentication",
  ],
  "monitoring.coreos.com/v1/ServiceMonitor": [
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor",
    "ServiceMonitor",
  ],
  "monitoring.coreos.com/v1/PrometheusRule": [
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule",
    "PrometheusRule",
  ],
};

const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = { resources: [], expressions: [] };

// 1. The packaged validators.
const results = [];
for (const r of input.resources) {
  const key = `${r.doc.apiVersion}/${r.doc.kind}`;
  const entry = { id: r.id, errors: [] };
  results.push(entry);
  const known = KINDS[key];
  if (!known) {
    entry.errors.push(`no schema for ${key}`);
    continue;
  }
  const mod = await import(known[0]);
  try {
    new mod[known[1]](structuredClone(r.doc)).validate();
  } catch (e) {
    entry.errors.push(`validator: ${e.message}`);
  }
}

// 2. The TypeScript compiler: one typed constant per document, one document per line.
const dir = mkdtempSync(join(process.cwd(), ".crcheck-"));
try {
  const imports = new Set();
  const lines = [];
  input.resources.forEach((r, n) => {
    const known = KINDS[`${r.doc.apiVersion}/${r.doc.kind}`];
    if (!known) {
      lines.push("");
      return;
    }
    const type = `I${known[1]}`;
    imports.add(`import type { ${type} } from "${known[0]}";`);
    lines.push(`export const r${n}: ${type} = ${JSON.stringify(r.doc)};`);
  });
  const header = [...imports];
  const file = join(dir, "resources.ts");
  writeFileSync(file, [...header, ...lines].join("\n") + "\n");
  const program = ts.createProgram([file], {
    strict: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    skipLibCheck: true,
    types: [],
  });
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const text = ts.flattenDiagnosticMessageText(d.messageText, " ");
    if (!d.file || d.file.fileName !== file) {
      // A problem of the type packages themselves would make every check meaningless.
      throw new Error(`TypeScript: ${text}`);
    }
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    const index = line - header.length;
    const target = results[index];
    // The path to the offending key, from the JSON text before it.
    const before = lines[index].slice(0, character);
    const keys = [...before.matchAll(/"([^"\\]*)":/g)].map((m) => m[1]);
    const near = keys.slice(-4).join(" > ");
    if (target) target.errors.push(`type: ${text} (near ${near})`);
    else throw new Error(`TypeScript at line ${line + 1}: ${text}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
out.resources = results;

// 3. PromQL.
for (const e of input.expressions) {
  const entry = { id: e.id, errors: [], selectors: [], grouping: [] };
  const tree = parser.parse(e.expr);
  tree.iterate({
    enter: (node) => {
      if (node.type.isError) {
        entry.errors.push(`syntax error at ${node.from}: ...${e.expr.slice(Math.max(0, node.from - 20), node.from + 20)}...`);
      }
      if (node.name === "VectorSelector") {
        const sel = { metric: null, labels: [] };
        const n = node.node;
        const id = n.getChild("Identifier");
        if (id) sel.metric = e.expr.slice(id.from, id.to);
        const matchers = n.getChild("LabelMatchers");
        if (matchers) {
          for (let c = matchers.firstChild; c; c = c.nextSibling) {
            const name = c.getChild("LabelName");
            if (name) sel.labels.push(e.expr.slice(name.from, name.to));
          }
        }
        entry.selectors.push(sel);
      }
      if (node.name === "GroupingLabels") {
        for (let c = node.node.firstChild; c; c = c.nextSibling) {
          if (c.name === "LabelName") entry.grouping.push(e.expr.slice(c.from, c.to));
        }
      }
    },
  });
  out.expressions.push(entry);
}

process.stdout.write(JSON.stringify(out));
