// Builds the demo app into demo-app/dist with the repository's esbuild:
// app.js and launch.js bundled (ES modules, top-level await for the SDK's
// WebAssembly start-up), the SDK's .wasm next to them where the package
// looks for it, the pages and the style sheet. `@flare/smart` resolves like
// an installed package (node_modules/@flare/smart, a link to pkg/).
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync, existsSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "dist");
const require = createRequire(import.meta.url);
const pkgDir = dirname(realpathSync(require.resolve("@flare/smart/package.json")));
const wasm = join(pkgDir, "dist/flare_sdk_bg.wasm");
if (!existsSync(wasm)) {
  console.error(`${wasm} is missing: run scripts/build-sdk.sh first`);
  process.exit(1);
}
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "dist"), { recursive: true });
await build({
  entryPoints: [join(here, "src/app.js"), join(here, "src/launch.js")],
  outdir: out,
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: true,
  logLevel: "warning",
});
// The package loads new URL("./dist/flare_sdk_bg.wasm", import.meta.url): next to the bundle.
copyFileSync(wasm, join(out, "dist/flare_sdk_bg.wasm"));
for (const f of ["index.html", "launch.html"]) copyFileSync(join(here, f), join(out, f));
copyFileSync(join(here, "src/app.css"), join(out, "app.css"));
console.error(`demo app built into ${out}`);
