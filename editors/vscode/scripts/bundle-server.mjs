// Copies a built splice-lsp into server/, where the extension looks first when
// "splice.serverPath" is not set; `npm run package` then ships it inside the .vsix. The binary
// is for this machine's platform only: package with `--target` to say so.
// Usage: npm run bundle-server [-- /path/to/splice-lsp]   (default: $SPLICE_LSP, else
// ../../target/release/splice-lsp, built by `make server` at the repository's root)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const exe = process.platform === 'win32' ? 'splice-lsp.exe' : 'splice-lsp';
const source = path.resolve(
  process.argv[2] ?? process.env.SPLICE_LSP ?? path.join(root, '..', '..', 'target', 'release', exe),
);
if (!fs.existsSync(source)) {
  console.error(`bundle-server: no splice-lsp at ${source}; run \`make server\` at the repository's root`);
  process.exit(1);
}
const target = path.join(root, 'server', exe);
fs.mkdirSync(path.dirname(target), { recursive: true });
fs.copyFileSync(source, target);
fs.chmodSync(target, 0o755);
console.log(`bundle-server: ${source} -> ${path.relative(root, target)}`);
