// Copies exactly the files the templates use from node_modules into core/static/vendor
// and records their versions. Run only when upgrading: `npm ci && npm run vendor`.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

const out = "core/static/vendor";
const files = {
  "htmx.org": ["dist/htmx.min.js", "LICENSE"],
  "chart.js": ["dist/chart.umd.min.js", "LICENSE.md"],
};
const versions = {};
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
