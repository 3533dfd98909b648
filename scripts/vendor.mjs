// Copies exactly the files the templates use from node_modules into core/static/vendor
// and records their versions. Run only when upgrading: `npm ci && npm run vendor`.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

const out = "core/static/vendor";
const files = {
  "htmx.org": ["dist/htmx.min.js", "LICENSE"],
  "chart.js": ["dist/chart.umd.min.js", "LICENSE.md"],
  drawflow: ["dist/drawflow.min.js", "dist/drawflow.min.css", "LICENSE"],  // the bot flow editor (bots/)
};
// Entries vendored by hand (air-datepicker, copied from its npm tarball) are kept, not dropped.
const versions = existsSync(join(out, "VERSIONS.json")) ? JSON.parse(readFileSync(join(out, "VERSIONS.json"), "utf8")) : {};
for (const [pkg, paths] of Object.entries(files)) {
  const meta = JSON.parse(readFileSync(join("node_modules", pkg, "package.json"), "utf8"));
  versions[pkg] = { version: meta.version, license: meta.license, files: paths };
  for (const p of paths) {
    const target = join(out, pkg, p.replace(/^dist\//, ""));
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(join("node_modules", pkg, p), target);
  }
}
writeFileSync(join(out, "VERSIONS.json"), JSON.stringify(versions, null, 2) + "\n");
console.log(versions);
